/* Fixed-window rate limits: one cache counter per rule and subject, opened with the window's
 * TTL by the first hit. The middleware derives each rule's subject from the request (address,
 * body email, user), counts every hit, and answers 429 when any rule is over its limit. */
#include "cache/ratelimit.h"

#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/email.h"

#include <ctype.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>

#define RL_METRIC "praxis_rate_limited_total"
#define RL_METRIC_HELP "Requests answered 429 by a rate limit, by rule."

/* The "email" of the JSON body, read at most once per request. */
typedef struct body_email {
    int looked;
    const char *email; /* NULL: no body, not JSON, or no string "email" */
    char buf[EMAIL_MAX + 1];
} body_email;

static metric_family *rate_limited_family(void);
static void email_fallback(const char *raw, char *out, size_t outlen);
static const char *body_email_get(const http_req *req, body_email *be);
static const char *rule_subject(http_req *req, const rate_rule *rule, body_email *be);
static int more_restrictive(const rate_result *a, const rate_result *b);
static void set_int_header(http_req *req, http_res *res, const char *name, int v);
static int ratelimit_before(http_req *req, http_res *res, void *ud);

/* Set once at start-up from RATE_LIMIT_WINDOW_SCALE (a documented process setting, like the
 * logger): lets tests see a window end without waiting a real minute. */
static _Atomic double window_scale = 1.0;

void ratelimit_set_window_scale(double scale)
{
    window_scale = scale > 0 && scale <= 1 ? scale : 1.0;
}

int ratelimit_hit(cache *c, const rate_rule *rule, const char *subject, rate_result *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!c || !rule || !rule->name || !subject || !out || rule->limit < 0 || rule->window_s <= 0)
        return CACHE_ERROR;
    char key[1024];
    int n = snprintf(key, sizeof(key), "rl:%s:%s", rule->name, subject);
    if (n < 0 || (size_t)n >= sizeof(key))
        return CACHE_ERROR;
    int64_t window_ms = (int64_t)((double)rule->window_s * 1000.0 * window_scale);
    if (window_ms < 100)
        window_ms = 100;
    int64_t count, ttl_left;
    if (cache_incr(c, key, 1, window_ms, &count, &ttl_left) != CACHE_OK)
        return CACHE_ERROR;
    int64_t remaining = (int64_t)rule->limit - count;
    /* A counter without TTL cannot come from cache_incr with a window; if one was planted by
     * other means, report a whole window rather than "now". */
    int64_t reset = ttl_left < 0 ? rule->window_s : (ttl_left + 999) / 1000;
    out->limit = rule->limit;
    out->allowed = count <= rule->limit;
    out->remaining = remaining > 0 ? (int)remaining : 0;
    out->reset_s = reset < 1 ? 1 : reset > INT_MAX ? INT_MAX : (int)reset;
    return CACHE_OK;
}

http_middleware ratelimit_middleware(cache *c)
{
    /* Registered up front so the family is in /metrics before the first 429. */
    (void)rate_limited_family();
    return (http_middleware){"ratelimit", ratelimit_before, NULL, c};
}

/* Looked up by name each time (the registry returns the existing family) rather than kept in
 * a static: a metrics_reset in tests would leave a static dangling. Only 429s pay for it. */
static metric_family *rate_limited_family(void)
{
    static const char *const labels[] = {"rule", NULL};
    return metrics_counter(RL_METRIC, RL_METRIC_HELP, labels);
}

/* An address email_normalize rejects still gets a stable subject, so an invalid address
 * cannot be varied in case or spacing to dodge its counter (the handler answers 422 anyway). */
static void email_fallback(const char *raw, char *out, size_t outlen)
{
    while (*raw && isspace((unsigned char)*raw))
        raw++;
    size_t n = strlen(raw);
    while (n && isspace((unsigned char)raw[n - 1]))
        n--;
    if (n > outlen - 1)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)raw[i]);
    out[n] = '\0';
}

static const char *body_email_get(const http_req *req, body_email *be)
{
    if (be->looked)
        return be->email;
    be->looked = 1;
    /* A body that does not parse is skipped here: the handler answers the 400. */
    json_t *obj = json_parse_object(req->body.ptr, req->body.len, NULL, 0);
    if (!obj)
        return NULL;
    const char *raw = json_get_str(obj, "email", NULL);
    if (raw) {
        const char *why;
        if (email_normalize(raw, be->buf, sizeof(be->buf), &why) != 0)
            email_fallback(raw, be->buf, sizeof(be->buf));
        be->email = be->buf;
    }
    json_decref(obj);
    return be->email;
}

/* NULL when the rule's key is absent from this request (the rule is skipped). */
static const char *rule_subject(http_req *req, const rate_rule *rule, body_email *be)
{
    const char *email;
    switch (rule->key) {
    case RL_KEY_IP:
        return req->remote_ip;
    case RL_KEY_EMAIL:
        return body_email_get(req, be);
    case RL_KEY_IP_EMAIL:
        email = body_email_get(req, be);
        if (!req->remote_ip || !email)
            return NULL;
        /* '|' never occurs in an address, so (ip, email) pairs cannot collide. */
        return arena_printf(req->pool, "%s|%s", req->remote_ip, email);
    case RL_KEY_USER:
        return req->user_id;
    }
    return NULL;
}

/* Fewer remaining first; on a tie, the later reset. */
static int more_restrictive(const rate_result *a, const rate_result *b)
{
    return a->remaining < b->remaining || (a->remaining == b->remaining && a->reset_s > b->reset_s);
}

static void set_int_header(http_req *req, http_res *res, const char *name, int v)
{
    char text[16];
    snprintf(text, sizeof(text), "%d", v);
    http_res_header(req, res, name, text);
}

static int ratelimit_before(http_req *req, http_res *res, void *ud)
{
    cache *c = ud;
    if (req->route_status != ROUTE_FOUND || !req->match.route || !req->match.route->rate_limits)
        return HTTP_NEXT;
    body_email be = {0};
    rate_result shown = {0};
    int have_shown = 0, retry_s = 0;
    const rate_rule *blocking = NULL;
    const rate_rule *failed = NULL;
    /* Every rule is counted, even after one is already over: all hits count. */
    for (const rate_rule *rule = req->match.route->rate_limits; rule->name; rule++) {
        const char *subject = rule_subject(req, rule, &be);
        if (!subject)
            continue;
        rate_result r;
        if (ratelimit_hit(c, rule, subject, &r) != CACHE_OK) {
            if (!failed)
                failed = rule;
            continue;
        }
        if (!have_shown || more_restrictive(&r, &shown)) {
            shown = r;
            have_shown = 1;
        }
        if (!r.allowed && r.reset_s > retry_s) {
            blocking = rule;
            retry_s = r.reset_s;
        }
    }
    /* A broken cache must not lock everybody out: let the request through, say so once. */
    if (failed)
        log_warn("rate limit: cache error on rule %s (route %s); request allowed", failed->name,
                 req->route_label ? req->route_label : "?");
    if (have_shown) {
        set_int_header(req, res, "RateLimit-Limit", shown.limit);
        set_int_header(req, res, "RateLimit-Remaining", shown.remaining);
        set_int_header(req, res, "RateLimit-Reset", shown.reset_s);
    }
    if (!blocking)
        return HTTP_NEXT;
    const char *lv[] = {blocking->name};
    metrics_inc(rate_limited_family(), lv, 1);
    char detail[96];
    snprintf(detail, sizeof(detail), "Too many attempts; try again in %d second%s.", retry_s,
             retry_s == 1 ? "" : "s");
    http_res_problem_full(req, res, 429, "rate-limited", NULL, detail, NULL);
    set_int_header(req, res, "Retry-After", retry_s);
    return HTTP_DONE;
}
