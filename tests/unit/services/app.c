/* Service selection for --services. */
#include "services/app.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_services(void **state)
{
    (void)state;
    unsigned s;
    char err[256];
    assert_int_equal(app_parse_services("all", &s, err, sizeof(err)), 0);
    assert_int_equal(s, SERVICE_ALL);
    assert_int_equal(app_parse_services("gateway,users", &s, err, sizeof(err)), 0);
    assert_int_equal(s, SERVICE_GATEWAY | SERVICE_USERS);
    assert_int_equal(app_parse_services("content,billing,webrtc,ai,sessions", &s, err, sizeof(err)), 0);
    assert_int_equal(s, SERVICE_CONTENT | SERVICE_BILLING | SERVICE_RTC | SERVICE_AI | SERVICE_SESSIONS);
    assert_int_equal(app_parse_services("gateway,payments", &s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--services"));
    assert_non_null(strstr(err, "\"payments\""));
    assert_int_equal(app_parse_services("", &s, err, sizeof(err)), -1);
    assert_int_equal(app_parse_services("users,", &s, err, sizeof(err)), 0);
    assert_int_equal(s, SERVICE_USERS);
    assert_int_equal(app_parse_services(",", &s, err, sizeof(err)), -1);
}

static void test_routes(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(app_register_routes(r, SERVICE_ALL), 0);
    assert_true(router_count(r) >= 5);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
