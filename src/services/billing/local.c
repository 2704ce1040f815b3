/* The local billing provider (BILLING_PROVIDER=local, the default; never in production): a
 * checkout is a single-use link that activates the plan at once, the portal a link to a page
 * showing the subscription. Lets development, demos and tests run the whole paid path with no
 * Stripe account. Links are 256-bit tokens stored hashed, valid for an hour. */
#include "services/billing/internal.h"

#include "core/ids.h"
#include "core/timeutil.h"
#include "services/app.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL

int billing_local_enabled(const config *cfg)
{
    return !cfg->billing_stripe && !cfg->production;
}

static void token_hash(const char *token, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/* 1 when s can be a token we issued (43 base64url characters). */
static int token_shape(const char *s)
{
    if (!s || strlen(s) != LOCAL_TOKEN_LEN - 1)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

int billing_local_token_new(db_conn *c, const char *user_id, const char *purpose,
                            const char *plan, char token[LOCAL_TOKEN_LEN])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(token, LOCAL_TOKEN_LEN, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char hash[65], id[UUID_STR_LEN], now[RFC3339_LEN], expires[RFC3339_LEN];
    token_hash(token, hash);
    id_uuid7(id);
    int64_t t = time_now_ms();
    time_format_rfc3339(t, now);
    time_format_rfc3339(t + LOCAL_TOKEN_TTL_S * 1000LL, expires);
    const db_param p[] = {DB_TEXT(id),   DB_TEXT(user_id), DB_TEXT(purpose), DB_TEXT(plan),
                          DB_TEXT(hash), DB_TEXT(expires), DB_TEXT(now)};
    return db_exec(c,
                   "INSERT INTO billing_local_tokens (id, user_id, purpose, plan_id, token_hash, "
                   "expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   p, ARRAY_LEN(p), NULL);
}

/* ms + one calendar month, the day clamped to the new month's length (Jan 31 → Feb 28/29). */
static int64_t add_month(int64_t ms)
{
    char t[RFC3339_LEN];
    time_format_rfc3339(ms, t);
    int y = 0, m = 0, d = 0;
    if (sscanf(t, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return ms + 30 * DAY_MS;
    int64_t day_ms = ms - time_days_from_civil(y, m, d) * DAY_MS;
    if (++m > 12) {
        m = 1;
        y++;
    }
    int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
    int len = (int)(time_days_from_civil(ny, nm, 1) - time_days_from_civil(y, m, 1));
    if (d > len)
        d = len;
    return time_days_from_civil(y, m, d) * DAY_MS + day_ms;
}

int billing_local_activate(db_conn *c, const http_req *req, const char *user_id,
                           const char *plan)
{
    int rc = billing_lock_user(c, user_id);
    entitlement before;
    if (rc == DB_OK)
        rc = billing_entitlement(c, user_id, &before);
    if (rc != DB_OK)
        return rc;
    int64_t t = time_now_ms();
    char now[RFC3339_LEN], end[RFC3339_LEN], id[UUID_STR_LEN];
    time_format_rfc3339(t, now);
    time_format_rfc3339(add_month(t), end);
    id_uuid7(id);
    /* A plan switch: the previous local subscription ends now. */
    const db_param e[] = {DB_TEXT(user_id), DB_TEXT(now)};
    rc = db_exec(c,
                 "UPDATE subscriptions SET status = 'canceled', canceled_at = $2, "
                 "status_changed_at = $2, state_at = $2, updated_at = $2 WHERE user_id = $1 AND "
                 "provider = 'local' AND status IN ('active', 'trialing', 'past_due')",
                 e, 2, NULL);
    const db_param p[] = {DB_TEXT(id), DB_TEXT(user_id), DB_TEXT(plan), DB_TEXT(now),
                          DB_TEXT(end), DB_INT(RANK_UPDATED)};
    if (rc == DB_OK)
        rc = db_exec(c,
                     "INSERT INTO subscriptions (id, user_id, plan_id, provider, status, "
                     "current_period_start, current_period_end, cancel_at_period_end, state_at, "
                     "state_rank, state_event_id, status_changed_at, created_at, updated_at) "
                     "VALUES ($1, $2, $3, 'local', 'active', $4, $5, FALSE, $4, $6, "
                     "'local-checkout', $4, $4, $4)",
                     p, ARRAY_LEN(p), NULL);
    sub_snapshot from = {.plan = before.plan, .status = before.status,
                         .cancel_at_period_end = before.cancel_at_period_end};
    sub_snapshot to = {.plan = plan, .status = "active", .cancel_at_period_end = 0};
    if (rc == DB_OK)
        rc = billing_audit_change(c, req, user_id, user_id, id, "local", &from, &to,
                                  "local-checkout");
    return rc;
}

/* ---- the pages ------------------------------------------------------------------------------ */

static void link_invalid(http_req *req, http_res *res)
{
    http_res_problem(req, res, 404, "This link is invalid, already used or expired.", NULL);
}

static int wants_html(const http_req *req)
{
    const char *accept = http_req_header(req, "Accept");
    return accept && strstr(accept, "text/html") != NULL;
}

/* The subscription as a small page (browsers) or as JSON. */
static void answer(http_req *req, http_res *res, const entitlement *e, const char *heading)
{
    if (!wants_html(req)) {
        http_res_json(req, res, 200, billing_subscription_json(e));
        http_res_header(req, res, "Cache-Control", "no-store");
        return;
    }
    /* Every value shown is ours (plan ids, statuses, times): nothing needs escaping. */
    char *page = arena_printf(
        req->pool,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>OET Praxis "
        "billing (local)</title></head><body><h1>%s</h1><p>Plan: <b>%s</b> (%s)</p>"
        "<p>Current period: %.10s to %.10s%s</p><p>This is the local billing provider: no "
        "payment was taken.</p></body></html>",
        heading, e->plan, e->status, e->period_start, e->period_end,
        e->cancel_at_period_end ? " (ends then, will not renew)" : "");
    res->is_html = 1;
    http_res_bytes(req, res, 200, "text/html; charset=utf-8", page, page ? strlen(page) : 0);
    http_res_header(req, res, "Cache-Control", "no-store");
}

/* GET or POST /v1/billing/local/checkout/{token}: spends the link and activates its plan. */
static void local_checkout(http_req *req, http_res *res)
{
    const config *cfg = ((app *)req->app)->cfg;
    const char *token = http_req_param(req, "token");
    if (!billing_local_enabled(cfg) || !token_shape(token)) {
        link_invalid(req, res);
        return;
    }
    char hash[65], now[RFC3339_LEN], user_id[40] = "", plan[32] = "";
    token_hash(token, hash);
    time_format_rfc3339(time_now_ms(), now);
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(hash), DB_TEXT(now)};
    int64_t spent = 0;
    int rc = db_begin(c);
    db_rows *r = NULL;
    if (rc == DB_OK)
        rc = db_query(c,
                      "SELECT user_id, plan_id FROM billing_local_tokens WHERE token_hash = $1 "
                      "AND purpose = 'checkout' AND used_at IS NULL AND expires_at > $2",
                      p, 2, &r);
    if (rc == DB_OK && db_rows_next(r) == 1) {
        snprintf(user_id, sizeof(user_id), "%s", db_col_text(r, 0));
        snprintf(plan, sizeof(plan), "%s", db_col_text(r, 1));
    }
    db_rows_free(r);
    if (rc == DB_OK && user_id[0])
        rc = db_exec(c,
                     "UPDATE billing_local_tokens SET used_at = $2 WHERE token_hash = $1 AND "
                     "used_at IS NULL",
                     p, 2, &spent);
    if (rc == DB_OK && spent == 1)
        rc = billing_local_activate(c, req, user_id, plan);
    if (rc == DB_OK && spent == 1)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "billing: local checkout");
        db_release(c);
        return;
    }
    if (spent != 1) {
        db_rollback(c);
        db_release(c);
        link_invalid(req, res);
        return;
    }
    entitlement e;
    if (billing_entitlement(c, user_id, &e) != DB_OK)
        service_db_failed(req, res, c, "billing: local checkout");
    else
        answer(req, res, &e, "Subscription active");
    db_release(c);
}

/* GET /v1/billing/local/portal/{token}: the subscription, while the link is valid. */
static void local_portal(http_req *req, http_res *res)
{
    const config *cfg = ((app *)req->app)->cfg;
    const char *token = http_req_param(req, "token");
    if (!billing_local_enabled(cfg) || !token_shape(token)) {
        link_invalid(req, res);
        return;
    }
    char hash[65], now[RFC3339_LEN], user_id[40] = "";
    token_hash(token, hash);
    time_format_rfc3339(time_now_ms(), now);
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(hash), DB_TEXT(now)};
    db_rows *r = NULL;
    int rc = db_query(c,
                      "SELECT user_id FROM billing_local_tokens WHERE token_hash = $1 AND "
                      "purpose = 'portal' AND expires_at > $2",
                      p, 2, &r);
    if (rc == DB_OK && db_rows_next(r) == 1)
        snprintf(user_id, sizeof(user_id), "%s", db_col_text(r, 0));
    db_rows_free(r);
    entitlement e;
    if (rc == DB_OK && user_id[0])
        rc = billing_entitlement(c, user_id, &e);
    if (rc != DB_OK)
        service_db_failed(req, res, c, "billing: local portal");
    else if (!user_id[0])
        link_invalid(req, res);
    else
        answer(req, res, &e, "Your subscription");
    db_release(c);
}

/* ---- the route table ------------------------------------------------------------------------ */

static const int c_local[] = {200, 404, 0};

static const route_def local_routes[] = {
    {.method = HTTP_GET, .path = "/v1/billing/local/checkout/{token}", .handler = local_checkout,
     .service = "billing", .tag = "billing", .responses = c_local,
     .summary = "Local provider (development): spend a checkout link and activate its plan; "
                "404 in production or with BILLING_PROVIDER=stripe"},
    {.method = HTTP_POST, .path = "/v1/billing/local/checkout/{token}", .handler = local_checkout,
     .service = "billing", .tag = "billing", .responses = c_local,
     .summary = "Local provider (development): as GET, for a form's button"},
    {.method = HTTP_GET, .path = "/v1/billing/local/portal/{token}", .handler = local_portal,
     .service = "billing", .tag = "billing", .responses = c_local,
     .summary = "Local provider (development): the subscription behind a portal link"},
};

int billing_register_local_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, local_routes);
}
