/* Router: template compilation, typed parameters, specificity, 404/405 and Allow. */
#include "http/router.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void h(struct http_req *req, struct http_res *res)
{
    (void)req;
    (void)res;
}

static const route_def r_health = {.method = HTTP_GET, .path = "/health/live", .handler = h};
static const route_def r_health_post = {.method = HTTP_POST, .path = "/health/live", .handler = h};
static const route_def r_audio = {.method = HTTP_GET, .path = "/v1/sessions/{id:uuid}/turns/{n:int}/audio", .handler = h};
static const route_def r_user_id = {.method = HTTP_GET, .path = "/v1/users/{id}", .handler = h};
static const route_def r_user_me = {.method = HTTP_GET, .path = "/v1/users/me", .handler = h};
static const route_def r_user_me_patch = {.method = HTTP_PATCH, .path = "/v1/users/me", .handler = h};
static const route_def r_root = {.method = HTTP_GET, .path = "/", .handler = h};

static router *make(void)
{
    router *r = router_new();
    assert_non_null(r);
    assert_int_equal(router_add(r, &r_health), 0);
    assert_int_equal(router_add(r, &r_health_post), 0);
    assert_int_equal(router_add(r, &r_audio), 0);
    /* Registered before the literal route on purpose: specificity, not order, decides. */
    assert_int_equal(router_add(r, &r_user_id), 0);
    assert_int_equal(router_add(r, &r_user_me), 0);
    assert_int_equal(router_add(r, &r_user_me_patch), 0);
    assert_int_equal(router_add(r, &r_root), 0);
    return r;
}

static void test_literal_and_head(void **state)
{
    (void)state;
    router *r = make();
    arena *a = arena_new();
    route_match m;
    assert_int_equal(router_match(r, HTTP_GET, "/health/live", a, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route, &r_health);
    assert_string_equal(m.template_path, "/health/live");
    assert_int_equal(router_match(r, HTTP_HEAD, "/health/live", a, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route, &r_health);
    assert_int_equal(router_match(r, HTTP_POST, "/health/live", a, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route, &r_health_post);
    assert_int_equal(router_match(r, HTTP_GET, "/", a, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route, &r_root);
    arena_free(a);
    router_free(r);
}

static void test_typed_params(void **state)
{
    (void)state;
    router *r = make();
    arena *a = arena_new();
    route_match m;
    const char *ok = "/v1/sessions/0190f2a4-5c3b-7d2e-9f10-0123456789ab/turns/12/audio";
    assert_int_equal(router_match(r, HTTP_GET, ok, a, &m), ROUTE_FOUND);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(route_param_str(&m, "id"), "0190f2a4-5c3b-7d2e-9f10-0123456789ab");
    assert_string_equal(route_param_str(&m, "n"), "12");
    assert_int_equal(m.params[1].ival, 12);
    assert_null(route_param_str(&m, "nope"));
    /* A parameter that does not parse as its type is not a match: 404, never a handler call. */
    assert_int_equal(router_match(r, HTTP_GET, "/v1/sessions/not-a-uuid/turns/1/audio", a, &m),
                     ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET,
                                  "/v1/sessions/0190f2a4-5c3b-7d2e-9f10-0123456789ab/turns/-1/audio",
                                  a, &m),
                     ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET,
                                  "/v1/sessions/0190f2a4-5c3b-7d2e-9f10-0123456789ab/turns/1x/audio",
                                  a, &m),
                     ROUTE_NOT_FOUND);
    assert_int_equal(
        router_match(r, HTTP_GET,
                     "/v1/sessions/0190f2a4-5c3b-7d2e-9f10-0123456789ab/turns/99999999999999999999/audio",
                     a, &m),
        ROUTE_NOT_FOUND);
    arena_free(a);
    router_free(r);
}

static void test_specificity(void **state)
{
    (void)state;
    router *r = make();
    arena *a = arena_new();
    route_match m;
    assert_int_equal(router_match(r, HTTP_GET, "/v1/users/me", a, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route, &r_user_me);
    assert_int_equal(router_match(r, HTTP_GET, "/v1/users/someone", a, &m), ROUTE_FOUND);
    assert_ptr_equal(m.route, &r_user_id);
    assert_string_equal(route_param_str(&m, "id"), "someone");
    arena_free(a);
    router_free(r);
}

static void test_not_found_and_405(void **state)
{
    (void)state;
    router *r = make();
    arena *a = arena_new();
    route_match m;
    assert_int_equal(router_match(r, HTTP_GET, "/nope", a, &m), ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/health/live/", a, &m), ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "/health//live", a, &m), ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "health/live", a, &m), ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_GET, "", a, &m), ROUTE_NOT_FOUND);
    assert_int_equal(router_match(r, HTTP_DELETE, "/health/live", a, &m),
                     ROUTE_METHOD_NOT_ALLOWED);
    char allow[96];
    router_allow_header(m.allow, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, POST, OPTIONS");
    assert_int_equal(router_match(r, HTTP_DELETE, "/v1/users/me", a, &m),
                     ROUTE_METHOD_NOT_ALLOWED);
    router_allow_header(m.allow, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, PATCH, OPTIONS");
    arena_free(a);
    router_free(r);
}

static void test_bad_templates(void **state)
{
    (void)state;
    router *r = router_new();
    const route_def bad[] = {
        {.method = HTTP_GET, .path = "no-slash", .handler = h},
        {.method = HTTP_GET, .path = "/a//b", .handler = h},
        {.method = HTTP_GET, .path = "/a/", .handler = h},
        {.method = HTTP_GET, .path = "/a/{id:float}", .handler = h},
        {.method = HTTP_GET, .path = "/a/{}", .handler = h},
        {.method = HTTP_GET, .path = "/a/x{id}", .handler = h},
        {.method = HTTP_GET, .path = "/a/{ID}", .handler = h},
        {.method = HTTP_GET, .path = "/a", .handler = NULL},
        {.method = HTTP_HEAD, .path = "/a", .handler = h},
        {.method = HTTP_GET | HTTP_POST, .path = "/a", .handler = h},
        {.method = HTTP_GET, .path = "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", .handler = h},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(router_add(r, &bad[i]), -1);
    assert_int_equal(router_count(r), 0);
    /* Same method and shape twice is a programming error caught at start-up. */
    const route_def a1 = {.method = HTTP_GET, .path = "/x/{id}", .handler = h};
    const route_def a2 = {.method = HTTP_GET, .path = "/x/{other:uuid}", .handler = h};
    assert_int_equal(router_add(r, &a1), 0);
    assert_int_equal(router_add(r, &a2), -1);
    assert_int_equal(router_count(r), 1);
    assert_ptr_equal(router_at(r, 0), &a1);
    assert_null(router_at(r, 1));
    router_free(r);
}

static void test_methods(void **state)
{
    (void)state;
    assert_int_equal(http_method_parse("GET"), HTTP_GET);
    assert_int_equal(http_method_parse("PATCH"), HTTP_PATCH);
    assert_int_equal(http_method_parse("get"), 0);
    assert_int_equal(http_method_parse("TRACE"), 0);
    assert_int_equal(http_method_parse(NULL), 0);
    assert_string_equal(http_method_name(HTTP_DELETE), "DELETE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_head), cmocka_unit_test(test_typed_params),
        cmocka_unit_test(test_specificity),      cmocka_unit_test(test_not_found_and_405),
        cmocka_unit_test(test_bad_templates),    cmocka_unit_test(test_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
