/* Problem details: shape, standard slugs and titles, errors only when there are some. */
#include "http/problem.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_shape(void **state)
{
    (void)state;
    json_t *errors = json_array();
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", "email", "message", "is required"));
    json_t *p = problem_new(422, NULL, NULL, "Some fields are invalid.", errors);
    assert_string_equal(json_string_value(json_object_get(p, "type")),
                        "https://oetpraxis.dev/problems/validation-failed");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Validation Failed");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 422);
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "Some fields are invalid.");
    assert_int_equal(json_array_size(json_object_get(p, "errors")), 1);
    json_decref(p);
    /* errors is borrowed */
    assert_int_equal(json_array_size(errors), 1);
    json_decref(errors);
}

static void test_optional_members(void **state)
{
    (void)state;
    json_t *empty = json_array();
    json_t *p = problem_new(404, NULL, NULL, NULL, empty);
    assert_null(json_object_get(p, "detail"));
    assert_null(json_object_get(p, "errors"));
    assert_int_equal(json_object_size(p), 3);
    json_decref(p);
    json_decref(empty);
    p = problem_new(409, "email-taken", "Email already registered", "x", NULL);
    assert_string_equal(json_string_value(json_object_get(p, "type")),
                        "https://oetpraxis.dev/problems/email-taken");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Email already registered");
    json_decref(p);
}

static void test_titles(void **state)
{
    (void)state;
    assert_string_equal(problem_slug(413), "payload-too-large");
    assert_string_equal(problem_slug(415), "unsupported-media-type");
    assert_string_equal(problem_slug(429), "rate-limited");
    assert_string_equal(problem_title(405), "Method Not Allowed");
    assert_string_equal(problem_title(503), "Service Unavailable");
    assert_string_equal(problem_slug(599), "internal-error");
    assert_string_equal(problem_slug(499), "bad-request");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_optional_members),
        cmocka_unit_test(test_titles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
