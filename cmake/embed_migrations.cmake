# Turns every src/store/migrations/*.sql into one C array, sorted by file name.
# File names: NNNN_name.sql (both drivers), NNNN_name.sqlite.sql or NNNN_name.pg.sql (one driver).
file(GLOB files "${DIR}/*.sql")
list(SORT files)
set(body "")
set(table "")
set(i 0)
foreach(f ${files})
  get_filename_component(name "${f}" NAME)
  if(name MATCHES "^([0-9]+)_([a-z0-9_]+)\\.(sqlite|pg)\\.sql$")
    set(ver "${CMAKE_MATCH_1}")
    set(mname "${CMAKE_MATCH_2}")
    set(dialect "${CMAKE_MATCH_3}")
  elseif(name MATCHES "^([0-9]+)_([a-z0-9_]+)\\.sql$")
    set(ver "${CMAKE_MATCH_1}")
    set(mname "${CMAKE_MATCH_2}")
    set(dialect "all")
  else()
    message(FATAL_ERROR "migration file name not understood: ${name}")
  endif()
  file(READ "${f}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND body "static const unsigned char m${i}[] = {${bytes}0x00};\n")
  math(EXPR v "${ver}")
  string(APPEND table "    {${v}, \"${mname}\", \"${dialect}\", (const char *)m${i}},\n")
  math(EXPR i "${i}+1")
endforeach()
file(WRITE "${OUT}.tmp"
"/* Generated from src/store/migrations by cmake/embed_migrations.cmake. Do not edit. */\n"
"#include \"store/migrate.h\"\n\n"
"${body}\n"
"const struct migration_file migration_files[] = {\n${table}};\n"
"const size_t migration_files_count = ${i};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
