/* Rate limits: the counting and header arithmetic of ratelimit_hit on an injected clock, and
 * the middleware end to end on hand-built requests (no network): login-like per IP+email and
 * per IP rules, per-email and per-user rules, skipped rules, the 429 answer and its metric. */
#include "cache/ratelimit.h"

#include "core/log.h"
#include "core/metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static int64_t fake_now = 5000000;

static int64_t fake_clock(void)
{
    return fake_now;
}

static int setup(void **state)
{
    cache *c = cache_memory_new(10000);
    if (!c)
        return -1;
    fake_now = 5000000;
    cache_set_clock(c, fake_clock);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    cache_free(*state);
    return 0;
}

/* ---- ratelimit_hit -------------------------------------------------------------------- */

static void test_hit_counts(void **state)
{
    cache *c = *state;
    const rate_rule rule = {"test", 3, 60, RL_KEY_IP};
    rate_result r;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(ratelimit_hit(c, &rule, "198.51.100.1", &r), CACHE_OK);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 3);
        assert_int_equal(r.remaining, 3 - i);
        assert_int_equal(r.reset_s, 60);
    }
    fake_now += 200; /* 59.8 s left rounds up */
    assert_int_equal(ratelimit_hit(c, &rule, "198.51.100.1", &r), CACHE_OK);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.reset_s, 60);
    fake_now += 59700; /* 100 ms left: still at least one second */
    assert_int_equal(ratelimit_hit(c, &rule, "198.51.100.1", &r), CACHE_OK);
    assert_false(r.allowed);
    assert_int_equal(r.reset_s, 1);
    fake_now += 100; /* the window is over */
    assert_int_equal(ratelimit_hit(c, &rule, "198.51.100.1", &r), CACHE_OK);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 2);
    assert_int_equal(r.reset_s, 60);
}

static void test_hit_subjects_independent(void **state)
{
    cache *c = *state;
    const rate_rule one = {"one", 1, 60, RL_KEY_IP};
    const rate_rule other = {"other", 1, 60, RL_KEY_IP};
    rate_result r;
    assert_int_equal(ratelimit_hit(c, &one, "a", &r), CACHE_OK);
    assert_true(r.allowed);
    assert_int_equal(ratelimit_hit(c, &one, "a", &r), CACHE_OK);
    assert_false(r.allowed);
    assert_int_equal(ratelimit_hit(c, &one, "b", &r), CACHE_OK);
    assert_true(r.allowed);
    assert_int_equal(ratelimit_hit(c, &other, "a", &r), CACHE_OK);
    assert_true(r.allowed);
}

static void test_hit_invalid(void **state)
{
    cache *c = *state;
    const rate_rule no_window = {"w", 1, 0, RL_KEY_IP};
    const rate_rule ok = {"ok", 1, 60, RL_KEY_IP};
    rate_result r;
    assert_int_equal(ratelimit_hit(c, &no_window, "a", &r), CACHE_ERROR);
    assert_int_equal(ratelimit_hit(NULL, &ok, "a", &r), CACHE_ERROR);
    assert_int_equal(ratelimit_hit(c, &ok, NULL, &r), CACHE_ERROR);
    char longsub[600];
    memset(longsub, 'x', sizeof(longsub) - 1);
    longsub[sizeof(longsub) - 1] = '\0';
    assert_int_equal(ratelimit_hit(c, &ok, longsub, &r), CACHE_ERROR);
}

/* ---- the middleware ------------------------------------------------------------------- */

static const rate_rule login_limits[] = {
    {"login-ip-email", 10, 60, RL_KEY_IP_EMAIL},
    {"login-ip", 100, 60, RL_KEY_IP},
    {NULL, 0, 0, 0},
};
static const route_def login_route = {
    .method = HTTP_POST, .path = "/v1/auth/login", .body = BODY_JSON, .rate_limits = login_limits};

static const rate_rule forgot_limits[] = {
    {"forgot-email", 3, 3600, RL_KEY_EMAIL},
    {NULL, 0, 0, 0},
};
static const route_def forgot_route = {.method = HTTP_POST,
                                       .path = "/v1/auth/forgot-password",
                                       .body = BODY_JSON,
                                       .rate_limits = forgot_limits};

static const rate_rule user_limits[] = {
    {"export-user", 2, 600, RL_KEY_USER},
    {NULL, 0, 0, 0},
};
static const route_def user_route = {
    .method = HTTP_GET, .path = "/v1/users/me/export", .rate_limits = user_limits};

static const rate_rule two_windows[] = {
    {"minute", 5, 60, RL_KEY_IP},
    {"hour", 5, 3600, RL_KEY_IP},
    {NULL, 0, 0, 0},
};
static const route_def two_windows_route = {
    .method = HTTP_POST, .path = "/two", .rate_limits = two_windows};

static const rate_rule metric_limits[] = {
    {"metric-only", 2, 600, RL_KEY_USER},
    {NULL, 0, 0, 0},
};
static const route_def metric_route = {
    .method = HTTP_GET, .path = "/metric", .rate_limits = metric_limits};

static const route_def plain_route = {.method = HTTP_GET, .path = "/v1/scenarios"};

/* One request through the middleware's before(), as the server would run it. */
typedef struct exchange {
    http_req req;
    http_res res;
    int rc;
} exchange;

static void run(cache *c, exchange *x, const route_def *route, const char *ip, const char *body,
                const char *user_id)
{
    memset(x, 0, sizeof(*x));
    x->req.pool = arena_new();
    assert_non_null(x->req.pool);
    x->req.route_status = ROUTE_FOUND;
    x->req.match.route = route;
    x->req.route_label = route->path;
    x->req.remote_ip = ip;
    x->req.user_id = user_id;
    buf_init(&x->req.body, HTTP_BODY_MAX_JSON);
    if (body)
        assert_int_equal(buf_append(&x->req.body, body, strlen(body)), BUF_OK);
    buf_init(&x->res.body, SIZE_MAX / 2);
    http_middleware mw = ratelimit_middleware(c);
    assert_string_equal(mw.name, "ratelimit");
    assert_null(mw.after);
    x->rc = mw.before(&x->req, &x->res, mw.ud);
}

static void done(exchange *x)
{
    buf_free(&x->req.body);
    buf_free(&x->res.body);
    arena_free(x->req.pool);
}

static void assert_header(const exchange *x, const char *name, const char *want)
{
    const char *got = http_res_get_header(&x->res, name);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void assert_allowed(const exchange *x, const char *limit, const char *remaining,
                           const char *reset)
{
    assert_int_equal(x->rc, HTTP_NEXT);
    assert_int_equal(x->res.status, 0);
    assert_header(x, "Retry-After", NULL);
    assert_header(x, "RateLimit-Limit", limit);
    assert_header(x, "RateLimit-Remaining", remaining);
    assert_header(x, "RateLimit-Reset", reset);
}

static void test_login_limits(void **state)
{
    cache *c = *state;
    exchange x;
    char remaining[8], reset[8];
    for (int i = 1; i <= 10; i++) {
        run(c, &x, &login_route, "203.0.113.7",
            "{\"email\": \"Alice@Example.com\", \"password\": \"wrong\"}", NULL);
        snprintf(remaining, sizeof(remaining), "%d", 10 - i);
        snprintf(reset, sizeof(reset), "%d", 61 - i); /* one second passes per attempt */
        assert_allowed(&x, "10", remaining, reset);
        done(&x);
        fake_now += 1000;
    }
    /* The 11th, spelled differently: the same normalised address, the same counter. */
    run(c, &x, &login_route, "203.0.113.7", "{\"email\": \"  alice@EXAMPLE.com \"}", NULL);
    assert_int_equal(x.rc, HTTP_DONE);
    assert_int_equal(x.res.status, 429);
    assert_string_equal(x.res.content_type, "application/problem+json");
    assert_header(&x, "Retry-After", "50");
    assert_header(&x, "RateLimit-Limit", "10");
    assert_header(&x, "RateLimit-Remaining", "0");
    assert_header(&x, "RateLimit-Reset", "50");
    assert_non_null(x.res.body.ptr);
    assert_non_null(strstr(x.res.body.ptr, "\"status\":429"));
    assert_non_null(strstr(x.res.body.ptr, "problems/rate-limited"));
    assert_non_null(strstr(x.res.body.ptr, "Too many attempts; try again in 50 seconds."));
    done(&x);

    /* Another address from the same client is its own counter... */
    run(c, &x, &login_route, "203.0.113.7", "{\"email\": \"bob@example.com\"}", NULL);
    assert_allowed(&x, "10", "9", "60");
    done(&x);
    /* ...and the same address from another client too. */
    run(c, &x, &login_route, "198.51.100.20", "{\"email\": \"alice@example.com\"}", NULL);
    assert_allowed(&x, "10", "9", "60");
    done(&x);

    /* The per-IP rule counted all 12 hits of 203.0.113.7 (this is the 13th). */
    rate_result r;
    assert_int_equal(ratelimit_hit(c, &login_limits[1], "203.0.113.7", &r), CACHE_OK);
    assert_int_equal(r.remaining, 100 - 13);

    /* No email in the body (or no JSON at all): only the per-IP rule applies. */
    run(c, &x, &login_route, "203.0.113.7", "{\"password\": \"x\"}", NULL);
    assert_allowed(&x, "100", "86", "50");
    done(&x);
    run(c, &x, &login_route, "203.0.113.7", "not json", NULL);
    assert_allowed(&x, "100", "85", "50");
    done(&x);
    run(c, &x, &login_route, "203.0.113.7", "{\"email\": 42}", NULL);
    assert_allowed(&x, "100", "84", "50");
    done(&x);
    run(c, &x, &login_route, "203.0.113.7", NULL, NULL);
    assert_allowed(&x, "100", "83", "50");
    done(&x);

    /* Once the window is over, alice may try again. */
    fake_now += 50000;
    run(c, &x, &login_route, "203.0.113.7", "{\"email\": \"alice@example.com\"}", NULL);
    assert_allowed(&x, "10", "9", "60");
    done(&x);
}

static void test_per_ip_limit_blocks_every_email(void **state)
{
    cache *c = *state;
    exchange x;
    for (int i = 0; i < 100; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"email\": \"user%d@example.com\"}", i);
        run(c, &x, &login_route, "192.0.2.55", body, NULL);
        assert_int_equal(x.rc, HTTP_NEXT);
        done(&x);
    }
    run(c, &x, &login_route, "192.0.2.55", "{\"email\": \"fresh@example.com\"}", NULL);
    assert_int_equal(x.rc, HTTP_DONE);
    assert_int_equal(x.res.status, 429);
    assert_header(&x, "RateLimit-Limit", "100");
    assert_header(&x, "RateLimit-Remaining", "0");
    assert_header(&x, "Retry-After", "60");
    done(&x);
}

static void test_email_rule(void **state)
{
    cache *c = *state;
    exchange x;
    const char *ips[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
    for (int i = 0; i < 3; i++) {
        run(c, &x, &forgot_route, ips[i], "{\"email\": \"carol@example.com\"}", NULL);
        assert_int_equal(x.rc, HTTP_NEXT);
        assert_header(&x, "RateLimit-Reset", "3600");
        done(&x);
    }
    /* Per address, whichever client asks. */
    run(c, &x, &forgot_route, "192.0.2.99", "{\"email\": \"CAROL@example.com\"}", NULL);
    assert_int_equal(x.res.status, 429);
    assert_header(&x, "Retry-After", "3600");
    assert_non_null(strstr(x.res.body.ptr, "try again in 3600 seconds."));
    done(&x);
    fake_now += 3599500;
    run(c, &x, &forgot_route, "192.0.2.99", "{\"email\": \"carol@example.com\"}", NULL);
    assert_int_equal(x.res.status, 429);
    assert_non_null(strstr(x.res.body.ptr, "try again in 1 second."));
    done(&x);

    /* An invalid address is still one counter, whatever its case and spacing. */
    const char *spellings[] = {"{\"email\": \"Not An Email\"}", "{\"email\": \" not an email \"}",
                               "{\"email\": \"NOT AN EMAIL\"}"};
    for (size_t i = 0; i < 3; i++) {
        run(c, &x, &forgot_route, "192.0.2.1", spellings[i], NULL);
        assert_int_equal(x.rc, HTTP_NEXT);
        done(&x);
    }
    run(c, &x, &forgot_route, "192.0.2.1", "{\"email\": \"not an EMAIL\"}", NULL);
    assert_int_equal(x.res.status, 429);
    done(&x);
}

static void test_user_rule(void **state)
{
    cache *c = *state;
    exchange x;
    /* Anonymous: the rule is skipped and nothing is announced. */
    run(c, &x, &user_route, "192.0.2.1", NULL, NULL);
    assert_allowed(&x, NULL, NULL, NULL);
    done(&x);
    run(c, &x, &user_route, "192.0.2.1", NULL, "0190f2a4-5c3b-7d2e-9f10-0123456789ab");
    assert_allowed(&x, "2", "1", "600");
    done(&x);
    run(c, &x, &user_route, "192.0.2.2", NULL, "0190f2a4-5c3b-7d2e-9f10-0123456789ab");
    assert_allowed(&x, "2", "0", "600");
    done(&x);
    run(c, &x, &user_route, "192.0.2.3", NULL, "0190f2a4-5c3b-7d2e-9f10-0123456789ab");
    assert_int_equal(x.res.status, 429);
    done(&x);
    run(c, &x, &user_route, "192.0.2.3", NULL, "0190f2a4-5c3b-7d2e-9f10-ffffffffffff");
    assert_allowed(&x, "2", "1", "600");
    done(&x);
}

static void test_most_restrictive_rule(void **state)
{
    cache *c = *state;
    exchange x;
    /* Same limit, same count: the tie goes to the later reset. */
    run(c, &x, &two_windows_route, "192.0.2.9", NULL, NULL);
    assert_allowed(&x, "5", "4", "3600");
    done(&x);
    /* A new minute window while the hour goes on: the minute has more left. */
    fake_now += 60000;
    for (int i = 0; i < 4; i++) {
        run(c, &x, &two_windows_route, "192.0.2.9", NULL, NULL);
        done(&x);
    }
    run(c, &x, &two_windows_route, "192.0.2.9", NULL, NULL);
    assert_int_equal(x.res.status, 429);
    /* Only the hour is exceeded (minute: 5 of 5), so it decides both the headers and when to
     * come back. */
    assert_header(&x, "RateLimit-Remaining", "0");
    assert_header(&x, "RateLimit-Reset", "3540");
    assert_header(&x, "Retry-After", "3540");
    done(&x);
}

static void test_skips_and_cache_errors(void **state)
{
    cache *c = *state;
    exchange x;
    /* A route that declares no limits is left alone. */
    run(c, &x, &plain_route, "192.0.2.1", NULL, NULL);
    assert_allowed(&x, NULL, NULL, NULL);
    done(&x);
    /* So is a request that matched no route. */
    memset(&x, 0, sizeof(x));
    x.req.pool = arena_new();
    x.req.route_status = ROUTE_NOT_FOUND;
    buf_init(&x.res.body, SIZE_MAX / 2);
    http_middleware mw = ratelimit_middleware(c);
    assert_int_equal(mw.before(&x.req, &x.res, mw.ud), HTTP_NEXT);
    assert_null(x.res.headers);
    done(&x);
    /* A cache failure (here: a key too long to store) lets the request through. */
    char ip[600];
    memset(ip, '1', sizeof(ip) - 1);
    ip[sizeof(ip) - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        run(c, &x, &login_route, ip, "{\"email\": \"a@example.com\"}", NULL);
        assert_allowed(&x, NULL, NULL, NULL);
        done(&x);
    }
}

static void test_metric(void **state)
{
    cache *c = *state;
    exchange x;
    for (int i = 0; i < 5; i++) {
        run(c, &x, &metric_route, "192.0.2.1", NULL, "metric-user");
        done(&x);
    }
    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), 0);
    assert_non_null(strstr(out.ptr, "# TYPE praxis_rate_limited_total counter"));
    assert_non_null(strstr(out.ptr, "praxis_rate_limited_total{rule=\"metric-only\"} 3"));
    buf_free(&out);
}

int main(void)
{
    log_init(LOG_ERROR, stderr); /* the cache-error test warns on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_subjects_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_ip_limit_blocks_every_email, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_most_restrictive_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skips_and_cache_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metric, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return failed;
}
