/* Middleware helpers: request id sanity, Accept-Encoding parsing, media types, CORS policy. */
#include "http/middleware.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_request_id(void **state)
{
    (void)state;
    assert_true(request_id_is_sane("abc-123_x.y:z"));
    assert_true(request_id_is_sane("0190f2a4-5c3b-7d2e-9f10-0123456789ab"));
    assert_false(request_id_is_sane(NULL));
    assert_false(request_id_is_sane(""));
    assert_false(request_id_is_sane("a b"));
    assert_false(request_id_is_sane("line\nbreak"));
    assert_false(request_id_is_sane("<script>"));
    char long_id[130];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    assert_false(request_id_is_sane(long_id));
    long_id[128] = '\0';
    assert_true(request_id_is_sane(long_id));
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    assert_true(accepts_gzip("gzip"));
    assert_true(accepts_gzip("gzip, deflate, br"));
    assert_true(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    assert_true(accepts_gzip("*"));
    assert_false(accepts_gzip("gzip;q=0"));
    assert_false(accepts_gzip("identity"));
    assert_false(accepts_gzip("x-gzip-not"));
    assert_false(accepts_gzip(""));
    assert_false(accepts_gzip(NULL));
}

static void test_media(void **state)
{
    (void)state;
    char m[64];
    content_type_media("Application/JSON; charset=utf-8", m, sizeof(m));
    assert_string_equal(m, "application/json");
    content_type_media("  audio/wav", m, sizeof(m));
    assert_string_equal(m, "audio/wav");
    content_type_media(NULL, m, sizeof(m));
    assert_string_equal(m, "");
    content_type_media("application/json", m, 5);
    assert_string_equal(m, "appl");
}

static void test_cors(void **state)
{
    (void)state;
    cors_policy p;
    assert_int_equal(cors_policy_parse(&p, " https://app.example.test/ , http://localhost:5173,,"), 0);
    assert_int_equal(p.n, 2);
    assert_false(p.any);
    assert_true(cors_origin_allowed(&p, "https://app.example.test"));
    assert_true(cors_origin_allowed(&p, "http://localhost:5173"));
    assert_false(cors_origin_allowed(&p, "https://evil.example"));
    assert_false(cors_origin_allowed(&p, "https://app.example.test.evil.example"));
    assert_false(cors_origin_allowed(&p, NULL));
    assert_false(cors_origin_allowed(&p, ""));
    cors_policy_free(&p);
    assert_int_equal(cors_policy_parse(&p, "*"), 0);
    assert_true(p.any);
    assert_true(cors_origin_allowed(&p, "https://anything.example"));
    cors_policy_free(&p);
    assert_int_equal(cors_policy_parse(&p, ""), 0);
    assert_false(cors_origin_allowed(&p, "https://app.example.test"));
    cors_policy_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_accepts_gzip),
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_cors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
