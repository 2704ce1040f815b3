/* Tests for request-body JSON: the messages a client sees for empty, malformed, duplicate-key
 * and non-object bodies, and every field validation message in its documented order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/json.h"

#include <stdlib.h>

static char err[512];

static json_t *parse(const char *s)
{
    return json_parse_object(s, strlen(s), err, sizeof(err));
}

static void expect_parse_error(const char *body, const char *message)
{
    err[0] = '\0';
    json_t *v = parse(body);
    if (v)
        fail_msg("expected %s to be rejected", body);
    assert_string_equal(err, message);
}

/* errors rendered compactly, to compare whole lists at once */
static void expect_errors(json_t *errors, const char *expected)
{
    char *s = json_dump_compact(errors);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
}

static void test_parse_valid_object(void **state)
{
    (void)state;
    json_t *v = parse("{\"name\": \"Ada\", \"age\": 36, \"tags\": [\"a\"]}");
    assert_non_null(v);
    assert_string_equal(json_get_str(v, "name", NULL), "Ada");
    assert_int_equal(json_get_int(v, "age", -1), 36);
    json_decref(v);
    /* The body need not be NUL-terminated: only len bytes are read. */
    const char body[] = "{\"a\":1}garbage";
    v = json_parse_object(body, 7, err, sizeof(err));
    assert_non_null(v);
    json_decref(v);
}

static void test_empty_bodies(void **state)
{
    (void)state;
    expect_parse_error("", "Request body is empty");
    expect_parse_error("  \r\n\t ", "Request body is empty");
    err[0] = '\0';
    assert_null(json_parse_object(NULL, 0, err, sizeof(err)));
    assert_string_equal(err, "Request body is empty");
}

static void test_non_objects(void **state)
{
    (void)state;
    expect_parse_error("[1, 2]", "Request body must be a JSON object");
    expect_parse_error("42", "Request body must be a JSON object");
    expect_parse_error("\"text\"", "Request body must be a JSON object");
    expect_parse_error("null", "Request body must be a JSON object");
}

static void test_malformed_reports_line_and_column(void **state)
{
    (void)state;
    expect_parse_error("{\n  \"a\": 1,\n  \"b\": }",
                       "Malformed JSON at line 3, column 8: unexpected token near '}'");
    expect_parse_error("{\"a\":tru}",
                       "Malformed JSON at line 1, column 8: invalid token near 'tru'");
    expect_parse_error("{\"a\":1",
                       "Malformed JSON at line 1, column 6: '}' expected near end of file");
    expect_parse_error("{} x", "Malformed JSON at line 1, column 4: end of file expected near 'x'");
    /* Columns count from 1 even when jansson says 0. */
    expect_parse_error("\xff", "Malformed JSON at line 1, column 1: unable to decode byte 0xff");
}

static void test_duplicate_keys_rejected(void **state)
{
    (void)state;
    expect_parse_error("{\"a\":1,\"a\":2}",
                       "Malformed JSON at line 1, column 10: duplicate object key near '\"a\"'");
}

static const json_field_spec profile_spec[] = {
    {"email", JF_STRING, 1, 0, 3, 20},  {"age", JF_INTEGER, 1, 0, 0, 0},
    {"score", JF_NUMBER, 0, 0, 0, 0},   {"active", JF_BOOLEAN, 0, 0, 0, 0},
    {"address", JF_OBJECT, 0, 1, 0, 0}, {"tags", JF_ARRAY, 0, 0, 1, 3},
};

static size_t validate(const char *body, int reject_unknown, json_t **errors)
{
    json_t *v = parse(body);
    if (!v)
        fail_msg("test body did not parse: %s", err);
    *errors = json_array();
    size_t n = json_validate(v, profile_spec, ARRAY_LEN(profile_spec), reject_unknown, *errors);
    json_decref(v);
    assert_int_equal(n, json_array_size(*errors));
    return n;
}

static void test_valid_input_has_no_errors(void **state)
{
    (void)state;
    json_t *errors;
    assert_int_equal(validate("{\"email\":\"a@b.co\",\"age\":3,\"score\":1.5,\"active\":true,"
                              "\"address\":null,\"tags\":[\"x\"]}",
                              1, &errors),
                     0);
    json_decref(errors);
    /* Optional fields may be absent; a number accepts an integer. */
    assert_int_equal(validate("{\"email\":\"abc\",\"age\":-1,\"score\":2}", 1, &errors), 0);
    json_decref(errors);
}

static void test_missing_and_null(void **state)
{
    (void)state;
    json_t *errors;
    assert_int_equal(validate("{\"tags\":null}", 0, &errors), 3);
    expect_errors(errors, "[{\"field\":\"email\",\"message\":\"is required\"},"
                          "{\"field\":\"age\",\"message\":\"is required\"},"
                          "{\"field\":\"tags\",\"message\":\"must not be null\"}]");
    json_decref(errors);
    assert_int_equal(validate("{\"email\":null,\"age\":1}", 0, &errors), 1);
    expect_errors(errors, "[{\"field\":\"email\",\"message\":\"must not be null\"}]");
    json_decref(errors);
}

static void test_type_messages(void **state)
{
    (void)state;
    json_t *errors;
    assert_int_equal(validate("{\"email\":5,\"age\":1.5,\"score\":\"9\",\"active\":1,"
                              "\"address\":[],\"tags\":{}}",
                              0, &errors),
                     6);
    expect_errors(errors, "[{\"field\":\"email\",\"message\":\"must be a string\"},"
                          "{\"field\":\"age\",\"message\":\"must be an integer\"},"
                          "{\"field\":\"score\",\"message\":\"must be a number\"},"
                          "{\"field\":\"active\",\"message\":\"must be a boolean\"},"
                          "{\"field\":\"address\",\"message\":\"must be an object\"},"
                          "{\"field\":\"tags\",\"message\":\"must be an array\"}]");
    json_decref(errors);
}

static void test_string_length_counts_characters_not_bytes(void **state)
{
    (void)state;
    json_t *errors;
    /* "日本" is 2 characters but 6 bytes: too short for min 3. */
    assert_int_equal(validate("{\"email\":\"日本\",\"age\":1}", 0, &errors), 1);
    expect_errors(errors, "[{\"field\":\"email\",\"message\":\"must be at least 3 characters\"}]");
    json_decref(errors);
    /* 20 two-byte characters (40 bytes) are within max 20. */
    assert_int_equal(validate("{\"email\":\"éééééééééééééééééééé\",\"age\":1}", 0, &errors), 0);
    json_decref(errors);
    assert_int_equal(validate("{\"email\":\"ééééééééééééééééééééé\",\"age\":1}", 0, &errors), 1);
    expect_errors(errors, "[{\"field\":\"email\",\"message\":\"must be at most 20 characters\"}]");
    json_decref(errors);
}

static void test_array_item_counts(void **state)
{
    (void)state;
    json_t *errors;
    assert_int_equal(validate("{\"email\":\"abc\",\"age\":1,\"tags\":[]}", 0, &errors), 1);
    expect_errors(errors, "[{\"field\":\"tags\",\"message\":\"must have at least 1 item\"}]");
    json_decref(errors);
    assert_int_equal(validate("{\"email\":\"abc\",\"age\":1,\"tags\":[1,2,3,4]}", 0, &errors), 1);
    expect_errors(errors, "[{\"field\":\"tags\",\"message\":\"must have at most 3 items\"}]");
    json_decref(errors);
}

static void test_unknown_fields_come_after_spec_errors(void **state)
{
    (void)state;
    json_t *errors;
    const char *body = "{\"zeta\":1,\"email\":\"ab\",\"alpha\":2}";
    assert_int_equal(validate(body, 1, &errors), 4);
    expect_errors(errors, "[{\"field\":\"email\",\"message\":\"must be at least 3 characters\"},"
                          "{\"field\":\"age\",\"message\":\"is required\"},"
                          "{\"field\":\"zeta\",\"message\":\"is not a known field\"},"
                          "{\"field\":\"alpha\",\"message\":\"is not a known field\"}]");
    json_decref(errors);
    /* Without reject_unknown, extra fields are fine. */
    assert_int_equal(validate(body, 0, &errors), 2);
    json_decref(errors);
}

static void test_singular_character(void **state)
{
    (void)state;
    const json_field_spec spec[] = {{"name", JF_STRING, 1, 0, 1, 0}};
    json_t *v = parse("{\"name\":\"\"}");
    assert_non_null(v);
    json_t *errors = json_array();
    assert_int_equal(json_validate(v, spec, 1, 0, errors), 1);
    expect_errors(errors, "[{\"field\":\"name\",\"message\":\"must be at least 1 character\"}]");
    json_decref(errors);
    json_decref(v);
}

static void test_getters_and_dump(void **state)
{
    (void)state;
    json_t *v = parse("{\"s\":\"x\",\"i\":7,\"r\":1.5,\"n\":null}");
    assert_non_null(v);
    assert_string_equal(json_get_str(v, "s", "def"), "x");
    assert_string_equal(json_get_str(v, "i", "def"), "def");
    assert_string_equal(json_get_str(v, "missing", "def"), "def");
    assert_int_equal(json_get_int(v, "i", -1), 7);
    assert_int_equal(json_get_int(v, "r", -1), -1);
    assert_int_equal(json_get_int(v, "s", -1), -1);
    assert_int_equal(json_get_int(NULL, "i", -2), -2);
    char *s = json_dump_compact(v);
    assert_string_equal(s, "{\"s\":\"x\",\"i\":7,\"r\":1.5,\"n\":null}");
    free(s);
    json_decref(v);
    json_t *str = json_string("bare");
    s = json_dump_compact(str);
    assert_string_equal(s, "\"bare\"");
    free(s);
    json_decref(str);

    json_t *errors = json_array();
    json_errors_add(errors, "f", "m");
    expect_errors(errors, "[{\"field\":\"f\",\"message\":\"m\"}]");
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid_object),
        cmocka_unit_test(test_empty_bodies),
        cmocka_unit_test(test_non_objects),
        cmocka_unit_test(test_malformed_reports_line_and_column),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_valid_input_has_no_errors),
        cmocka_unit_test(test_missing_and_null),
        cmocka_unit_test(test_type_messages),
        cmocka_unit_test(test_string_length_counts_characters_not_bytes),
        cmocka_unit_test(test_array_item_counts),
        cmocka_unit_test(test_unknown_fields_come_after_spec_errors),
        cmocka_unit_test(test_singular_character),
        cmocka_unit_test(test_getters_and_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
