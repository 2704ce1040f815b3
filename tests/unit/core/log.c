/* Tests for the JSON-lines logger: every line written is one valid JSON object with an RFC 3339
 * UTC timestamp and a level, filtering by level works, and concurrent writers never produce
 * interleaved lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdlib.h>

/* Reads every line of f (from the start) as JSON; fails the test on any that is not an object. */
static json_t *read_lines(FILE *f)
{
    assert_int_equal(fflush(f), 0);
    rewind(f);
    json_t *lines = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) != -1) {
        assert_true(n > 0);
        assert_int_equal(line[n - 1], '\n');
        json_error_t jerr;
        json_t *v = json_loadb(line, (size_t)n, 0, &jerr);
        if (!json_is_object(v))
            fail_msg("not a JSON object: %s (%s)", line, jerr.text);
        assert_int_equal(json_array_append_new(lines, v), 0);
    }
    free(line);
    return lines;
}

static void assert_header(json_t *line, const char *level)
{
    const char *ts = json_string_value(json_object_get(line, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[23], 'Z');
    int64_t ms;
    assert_int_equal(time_parse_rfc3339(ts, &ms), 0);
    int64_t now = time_now_ms();
    assert_true(ms <= now && ms > now - 60000);
    assert_string_equal(json_string_value(json_object_get(line, "level")), level);
    /* ts and level come first so lines read well in a terminal. */
    void *it = json_object_iter(line);
    assert_string_equal(json_object_iter_key(it), "ts");
    assert_string_equal(json_object_iter_key(json_object_iter_next(line, it)), "level");
}

static int teardown(void **state)
{
    (void)state;
    log_init(LOG_INFO, NULL);
    return 0;
}

static void test_messages_and_objects(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_DEBUG, f);
    log_info("user %s logged in %d times", "ada", 3);
    log_debug("quote \" backslash \\ newline \n tab \t done");
    json_t *obj = json_pack("{s:s, s:i, s:s}", "msg", "request", "status", 200, "level", "fake");
    log_json(LOG_WARN, obj);

    json_t *lines = read_lines(f);
    assert_int_equal(json_array_size(lines), 3);
    json_t *l0 = json_array_get(lines, 0);
    assert_header(l0, "info");
    assert_string_equal(json_string_value(json_object_get(l0, "msg")),
                        "user ada logged in 3 times");
    json_t *l1 = json_array_get(lines, 1);
    assert_header(l1, "debug");
    assert_string_equal(json_string_value(json_object_get(l1, "msg")),
                        "quote \" backslash \\ newline \n tab \t done");
    json_t *l2 = json_array_get(lines, 2);
    assert_header(l2, "warn"); /* the caller's "level" does not override the real one */
    assert_string_equal(json_string_value(json_object_get(l2, "msg")), "request");
    assert_int_equal(json_integer_value(json_object_get(l2, "status")), 200);
    json_decref(lines);
    assert_int_equal(fclose(f), 0);
}

static void test_level_filtering(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_WARN, f);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    log_debug("hidden");
    log_info("hidden");
    log_json(LOG_INFO, json_pack("{s:s}", "msg", "hidden")); /* still freed (ASan checks) */
    log_warn("shown warn");
    log_error("shown error");
    json_t *lines = read_lines(f);
    assert_int_equal(json_array_size(lines), 2);
    assert_header(json_array_get(lines, 0), "warn");
    assert_header(json_array_get(lines, 1), "error");
    json_decref(lines);
    assert_int_equal(fclose(f), 0);
}

static void test_invalid_utf8_still_valid_json(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_INFO, f);
    log_info("bad bytes: %s end", "\xff\xc3(\xe2\x82");
    log_info("ok utf8: %s", "héllo 日本");
    json_t *lines = read_lines(f);
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "msg")),
                        "bad bytes: \xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD end");
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 1), "msg")),
                        "ok utf8: héllo 日本");
    json_decref(lines);
    assert_int_equal(fclose(f), 0);
}

static void test_log_json_without_object(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_INFO, f);
    log_json(LOG_ERROR, NULL);
    log_json(LOG_ERROR, json_string("not an object"));
    json_t *lines = read_lines(f);
    assert_int_equal(json_array_size(lines), 2);
    assert_header(json_array_get(lines, 0), "error");
    json_decref(lines);
    assert_int_equal(fclose(f), 0);
}

enum { THREADS = 8, PER_THREAD = 500 };

static void *log_many(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        if (i % 2)
            log_info("thread %d line %d with some padding to make lines longer than a few bytes "
                     "so that a torn write would show",
                     t, i);
        else
            log_json(LOG_INFO, json_pack("{s:i, s:i}", "thread", t, "line", i));
    }
    return NULL;
}

static void test_concurrent_lines_never_interleave(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_INFO, f);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, log_many, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    json_t *lines = read_lines(f);
    assert_int_equal(json_array_size(lines), THREADS * PER_THREAD);
    json_decref(lines);
    assert_int_equal(fclose(f), 0);
}

static void test_level_parse(void **state)
{
    (void)state;
    log_level l = LOG_ERROR;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("info", &l), 0);
    assert_int_equal(l, LOG_INFO);
    assert_int_equal(log_level_parse("WARN", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), -1);
    assert_int_equal(log_level_parse("", &l), -1);
    assert_int_equal(log_level_parse(NULL, &l), -1);
    assert_int_equal(l, LOG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_messages_and_objects, teardown),
        cmocka_unit_test_teardown(test_level_filtering, teardown),
        cmocka_unit_test_teardown(test_invalid_utf8_still_valid_json, teardown),
        cmocka_unit_test_teardown(test_log_json_without_object, teardown),
        cmocka_unit_test_teardown(test_concurrent_lines_never_interleave, teardown),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
