/* POST /v1/billing/checkout, /portal and /cancel: the caller pays for a plan, manages the
 * payment method, or stops renewing. With BILLING_PROVIDER=stripe each one is a Stripe call
 * (made with no database connection held, under an Idempotency-Key derived from the caller's
 * own key when it sends one); with the local provider they are links to local pages. */
#include "services/billing/internal.h"

#include "cache/ratelimit.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/app.h"
#include "services/users/users.h"

#include <stdio.h>
#include <string.h>

#define REQUEST_KEY_MAX 200

/* ---- shared pieces -------------------------------------------------------------------------- */

/* The caller's Idempotency-Key (NULL when absent) or, when malformed, a 422 and -1. */
static int request_key(http_req *req, http_res *res, const char **out)
{
    const char *k = http_req_header(req, "Idempotency-Key");
    *out = NULL;
    if (!k)
        return 0;
    size_t n = strlen(k);
    int ok = n > 0 && n <= REQUEST_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = k[i] > 0x20 && k[i] < 0x7f;
    if (!ok) {
        json_t *errors = json_array();
        json_errors_add(errors, "Idempotency-Key",
                        "must be 1 to 200 visible ASCII characters (e.g. a UUID)");
        http_res_problem(req, res, 422, "The Idempotency-Key header is invalid.", errors);
        json_decref(errors);
        return -1;
    }
    *out = k;
    return 0;
}

/* The Stripe key for op: from the caller's key when given, else fresh (a retry of the same
 * request inside this process still reuses it: the HTTP client sends it on every attempt). */
static void op_key(const char *op, const char *user_id, const char *extra,
                   const char *caller_key, char out[STRIPE_IDEMPOTENCY_KEY_LEN])
{
    char fresh[UUID_STR_LEN];
    if (!caller_key) {
        id_uuid7(fresh);
        caller_key = fresh;
    }
    stripe_idempotency_key(op, user_id, extra, caller_key, out);
}

/* Answers the failure of a Stripe call; 1 when it did. */
static int stripe_failed(http_req *req, http_res *res, stripe_outcome o, const stripe_result *sr)
{
    if (o == STRIPE_OK)
        return 0;
    if (o == STRIPE_UNAVAILABLE)
        billing_unavailable(req, res, sr->retry_after_s);
    else
        billing_stripe_error(req, res);
    return 1;
}

/* An http(s) URL from a Stripe answer, or NULL. */
static const char *answer_url(const json_t *obj)
{
    const char *u = json_string_value(json_object_get(obj, "url"));
    if (!u || strlen(u) > 2000 || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
        return NULL;
    return u;
}

static int load_customer(db_conn *c, const char *user_id, char customer[STRIPE_ID_MAX])
{
    customer[0] = '\0';
    const db_param p[] = {DB_TEXT(user_id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT stripe_customer_id FROM billing_customers WHERE user_id = $1", p,
                      1, &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) == 1)
        snprintf(customer, STRIPE_ID_MAX, "%s", db_col_text(r, 0));
    db_rows_free(r);
    return DB_OK;
}

static void answer_url_json(http_req *req, http_res *res, const char *url)
{
    http_res_json(req, res, 200, json_pack("{s:s}", "url", url));
    http_res_header(req, res, "Cache-Control", "no-store");
}

/* ---- checkout ------------------------------------------------------------------------------- */

/* The user's Stripe customer, created (POST /v1/customers) and stored on the first checkout.
 * Its Idempotency-Key depends on the user and email only, so a checkout retried after Stripe
 * created the customer but before we stored it finds the same customer. */
static int ensure_customer(http_req *req, http_res *res, const config *cfg, const char *user_id,
                           char customer[STRIPE_ID_MAX])
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return -1;
    char email[320] = "", name[256] = "";
    int rc = load_customer(c, user_id, customer);
    int found = rc == DB_OK && !customer[0]
                    ? users_contact(c, user_id, email, sizeof(email), name, sizeof(name))
                    : 1;
    if (rc != DB_OK || found < 0) {
        service_db_failed(req, res, c, "billing: customer");
        db_release(c);
        return -1;
    }
    db_release(c);
    if (customer[0])
        return 0;
    if (found == 0) {
        http_res_problem(req, res, 404, "The account no longer exists.", NULL);
        return -1;
    }
    json_t *params = json_pack("{s:s, s:s, s:{s:s}}", "email", email, "name", name, "metadata",
                               "user_id", user_id);
    char key[STRIPE_IDEMPOTENCY_KEY_LEN];
    stripe_idempotency_key("customer", user_id, email, NULL, key);
    stripe_api api;
    billing_stripe_api(cfg, &api);
    stripe_result sr;
    stripe_outcome o = stripe_post(&api, "/v1/customers", params, key, &sr);
    json_decref(params);
    const char *id = o == STRIPE_OK ? json_string_value(json_object_get(sr.object, "id")) : NULL;
    if (o == STRIPE_OK && !billing_stripe_id_valid(id)) {
        log_warn("stripe: POST /v1/customers answered without a customer id");
        o = STRIPE_REJECTED;
    }
    if (stripe_failed(req, res, o, &sr)) {
        stripe_result_free(&sr);
        return -1;
    }
    char created[STRIPE_ID_MAX];
    snprintf(created, sizeof(created), "%s", id);
    stripe_result_free(&sr);
    c = service_db_acquire(req, res);
    if (!c)
        return -1;
    char now[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(user_id), DB_TEXT(created), DB_TEXT(now)};
    /* Two first checkouts at once: Stripe gave both the same customer (same key) or the first
     * stored one; whichever row is there is the customer. */
    rc = db_exec(c,
                 "INSERT INTO billing_customers (user_id, stripe_customer_id, created_at) "
                 "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                 p, 3, NULL);
    if (rc == DB_OK)
        rc = load_customer(c, user_id, customer);
    if (rc != DB_OK || !customer[0]) {
        service_db_failed(req, res, c, "billing: store customer");
        db_release(c);
        return -1;
    }
    db_release(c);
    return 0;
}

static void checkout_stripe(http_req *req, http_res *res, const config *cfg, const char *plan,
                            const char *caller_key)
{
    char customer[STRIPE_ID_MAX];
    if (ensure_customer(req, res, cfg, req->user_id, customer) != 0)
        return;
    char success[700], cancel[700];
    snprintf(success, sizeof(success), "%s/billing/success?session_id={CHECKOUT_SESSION_ID}",
             cfg->public_url);
    snprintf(cancel, sizeof(cancel), "%s/billing/cancel", cfg->public_url);
    json_t *params = json_pack(
        "{s:s, s:[{s:s, s:i}], s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:{s:s, s:s}}}", "mode",
        "subscription", "line_items", "price", billing_price_for_plan(cfg, plan), "quantity", 1,
        "client_reference_id", req->user_id, "customer", customer, "success_url", success,
        "cancel_url", cancel, "metadata", "user_id", req->user_id, "plan", plan,
        "subscription_data", "metadata", "user_id", req->user_id, "plan", plan);
    char key[STRIPE_IDEMPOTENCY_KEY_LEN];
    op_key("checkout", req->user_id, plan, caller_key, key);
    stripe_api api;
    billing_stripe_api(cfg, &api);
    stripe_result sr;
    stripe_outcome o = stripe_post(&api, "/v1/checkout/sessions", params, key, &sr);
    json_decref(params);
    const char *url = o == STRIPE_OK ? answer_url(sr.object) : NULL;
    if (o == STRIPE_OK && !url) {
        log_warn("stripe: POST /v1/checkout/sessions answered without a url");
        o = STRIPE_REJECTED;
    }
    if (!stripe_failed(req, res, o, &sr))
        answer_url_json(req, res, url);
    stripe_result_free(&sr);
}

static const json_field_spec checkout_spec[] = {
    {.name = "plan", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 32},
};

static void pay_checkout(http_req *req, http_res *res)
{
    const config *cfg = ((app *)req->app)->cfg;
    const char *caller_key;
    if (request_key(req, res, &caller_key) != 0)
        return;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    json_validate(body, checkout_spec, ARRAY_LEN(checkout_spec), 1, errors);
    char plan[33] = "";
    if (json_array_size(errors) == 0)
        snprintf(plan, sizeof(plan), "%s", json_string_value(json_object_get(body, "plan")));
    json_decref(body);
    db_conn *c = NULL;
    if (json_array_size(errors) > 0)
        goto invalid;
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    const db_param p[] = {DB_TEXT(plan)};
    db_rows *r = NULL;
    long long price = -1;
    if (db_query(c, "SELECT price_minor FROM plans WHERE id = $1 AND active = TRUE", p, 1, &r) !=
        DB_OK) {
        service_db_failed(req, res, c, "billing: checkout plan");
        goto out;
    }
    if (db_rows_next(r) == 1)
        price = db_col_int(r, 0);
    db_rows_free(r);
    if (price <= 0 || (cfg->billing_stripe && !billing_price_for_plan(cfg, plan))) {
        json_errors_add(errors, "plan",
                        price == 0 ? "the free plan needs no checkout"
                                   : "must be a paid plan: standard or premium");
        goto invalid;
    }
    entitlement e;
    if (billing_entitlement(c, req->user_id, &e) != DB_OK) {
        service_db_failed(req, res, c, "billing: checkout entitlement");
        goto out;
    }
    if (e.paid && strcmp(e.plan, plan) == 0) {
        billing_conflict(req, res, "plan-active", "Plan Already Active",
                         "This plan is already active on the account.");
        goto out;
    }
    if (cfg->billing_stripe) {
        if (e.paid && strcmp(e.provider, "stripe") == 0) {
            billing_conflict(req, res, "subscription-active", "Subscription Already Active",
                             "Change plans in the billing portal (POST /v1/billing/portal); a "
                             "second subscription would bill twice.");
            goto out;
        }
        db_release(c); /* no connection is held while Stripe answers */
        c = NULL;
        checkout_stripe(req, res, cfg, plan, caller_key);
        goto out;
    }
    if (!billing_local_enabled(cfg)) {
        billing_no_provider(req, res,
                            "No payment provider is configured: set BILLING_PROVIDER=stripe (the "
                            "local provider is for development only).");
        goto out;
    }
    char token[LOCAL_TOKEN_LEN];
    if (billing_local_token_new(c, req->user_id, "checkout", plan, token) != DB_OK) {
        service_db_failed(req, res, c, "billing: local checkout");
        goto out;
    }
    answer_url_json(req, res,
                    arena_printf(req->pool, "%s/v1/billing/local/checkout/%s", cfg->public_url,
                                 token));
    goto out;
invalid:
    http_res_problem(req, res, 422, "Some fields are invalid.", errors);
out:
    if (c)
        db_release(c);
    json_decref(errors);
}

/* ---- portal --------------------------------------------------------------------------------- */

static void pay_portal(http_req *req, http_res *res)
{
    const config *cfg = ((app *)req->app)->cfg;
    const char *caller_key;
    if (request_key(req, res, &caller_key) != 0)
        return;
    if (!cfg->billing_stripe && !billing_local_enabled(cfg)) {
        billing_no_provider(req, res, "No payment provider is configured on this server.");
        return;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    char customer[STRIPE_ID_MAX] = "";
    int rc;
    long long subs = 0;
    if (cfg->billing_stripe) {
        rc = load_customer(c, req->user_id, customer);
    } else {
        const db_param p[] = {DB_TEXT(req->user_id)};
        db_rows *r = NULL;
        rc = db_query(c, "SELECT count(*) FROM subscriptions WHERE user_id = $1", p, 1, &r);
        if (rc == DB_OK && db_rows_next(r) == 1)
            subs = db_col_int(r, 0);
        db_rows_free(r);
    }
    if (rc != DB_OK) {
        service_db_failed(req, res, c, "billing: portal");
        db_release(c);
        return;
    }
    if (cfg->billing_stripe ? !customer[0] : subs == 0) {
        db_release(c);
        billing_conflict(req, res, "no-customer", "No Billing Account",
                         "There is nothing to manage yet: subscribe with POST "
                         "/v1/billing/checkout first.");
        return;
    }
    if (!cfg->billing_stripe) {
        char token[LOCAL_TOKEN_LEN];
        rc = billing_local_token_new(c, req->user_id, "portal", NULL, token);
        if (rc != DB_OK)
            service_db_failed(req, res, c, "billing: local portal");
        else
            answer_url_json(req, res,
                            arena_printf(req->pool, "%s/v1/billing/local/portal/%s",
                                         cfg->public_url, token));
        db_release(c);
        return;
    }
    db_release(c);
    char back[700];
    snprintf(back, sizeof(back), "%s/billing", cfg->public_url);
    json_t *params = json_pack("{s:s, s:s}", "customer", customer, "return_url", back);
    char key[STRIPE_IDEMPOTENCY_KEY_LEN];
    op_key("portal", req->user_id, customer, caller_key, key);
    stripe_api api;
    billing_stripe_api(cfg, &api);
    stripe_result sr;
    stripe_outcome o = stripe_post(&api, "/v1/billing_portal/sessions", params, key, &sr);
    json_decref(params);
    const char *url = o == STRIPE_OK ? answer_url(sr.object) : NULL;
    if (o == STRIPE_OK && !url) {
        log_warn("stripe: POST /v1/billing_portal/sessions answered without a url");
        o = STRIPE_REJECTED;
    }
    if (!stripe_failed(req, res, o, &sr))
        answer_url_json(req, res, url);
    stripe_result_free(&sr);
}

/* ---- cancel --------------------------------------------------------------------------------- */

/* The caller's subscription after a change, as GET /v1/billing/subscription shows it. */
static void answer_view(http_req *req, http_res *res, db_conn *c)
{
    entitlement e;
    if (billing_entitlement(c, req->user_id, &e) != DB_OK) {
        service_db_failed(req, res, c, "billing: subscription view");
        return;
    }
    http_res_json(req, res, 200, billing_subscription_json(&e));
}

static int cancel_local(http_req *req, db_conn *c, const entitlement *e)
{
    char now[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(e->subscription_id), DB_TEXT(now)};
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = billing_lock_user(c, req->user_id);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "UPDATE subscriptions SET cancel_at_period_end = TRUE, updated_at = $2 "
                     "WHERE id = $1",
                     p, 2, NULL);
    sub_snapshot from = {.plan = e->plan, .status = e->status, .cancel_at_period_end = 0};
    sub_snapshot to = {.plan = e->plan, .status = e->status, .cancel_at_period_end = 1};
    if (rc == DB_OK)
        rc = billing_audit_change(c, req, req->user_id, req->user_id, e->subscription_id,
                                  "local", &from, &to, "cancel");
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK)
        db_rollback(c);
    return rc;
}

/* Asks Stripe to stop renewing, then writes the subscription Stripe answers with (as of now,
 * so webhooks from before the call cannot undo it). */
static void cancel_stripe(http_req *req, http_res *res, const config *cfg, const entitlement *e,
                          const char *caller_key)
{
    char path[64 + STRIPE_ID_MAX];
    snprintf(path, sizeof(path), "/v1/subscriptions/%s", e->stripe_subscription_id);
    json_t *params = json_pack("{s:b}", "cancel_at_period_end", 1);
    char key[STRIPE_IDEMPOTENCY_KEY_LEN];
    op_key("cancel", req->user_id, e->stripe_subscription_id, caller_key, key);
    stripe_api api;
    billing_stripe_api(cfg, &api);
    stripe_result sr;
    stripe_outcome o = stripe_post(&api, path, params, key, &sr);
    json_decref(params);
    sub_state s;
    const char *why = NULL;
    if (o == STRIPE_OK && (billing_sub_read(cfg, sr.object, &s, &why) != 0 ||
                           strcmp(s.stripe_id, e->stripe_subscription_id) != 0)) {
        log_warn("stripe: POST %s answered with an unusable subscription: %s", path,
                 why ? why : "another id");
        o = STRIPE_REJECTED;
    }
    if (stripe_failed(req, res, o, &sr)) {
        stripe_result_free(&sr);
        return;
    }
    stripe_result_free(&sr);
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    apply_outcome outcome;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = billing_sub_apply(c, req, cfg, &s, time_now_ms() / 1000 * 1000, RANK_UPDATED, "api",
                               req->user_id, &outcome);
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "billing: cancel");
    } else {
        answer_view(req, res, c);
    }
    db_release(c);
}

static void pay_cancel(http_req *req, http_res *res)
{
    const config *cfg = ((app *)req->app)->cfg;
    const char *caller_key;
    if (request_key(req, res, &caller_key) != 0)
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    entitlement e;
    if (billing_entitlement(c, req->user_id, &e) != DB_OK) {
        service_db_failed(req, res, c, "billing: cancel");
        db_release(c);
        return;
    }
    if (!e.paid) {
        db_release(c);
        billing_conflict(req, res, "no-subscription", "No Paid Subscription",
                         "There is no paid subscription to cancel.");
        return;
    }
    if (e.cancel_at_period_end) {
        answer_view(req, res, c); /* already ends with its period */
        db_release(c);
        return;
    }
    if (strcmp(e.provider, "local") == 0) {
        if (cancel_local(req, c, &e) != DB_OK)
            service_db_failed(req, res, c, "billing: cancel");
        else
            answer_view(req, res, c);
        db_release(c);
        return;
    }
    db_release(c);
    if (!cfg->billing_stripe || !billing_stripe_id_valid(e.stripe_subscription_id)) {
        billing_no_provider(req, res,
                            "This subscription is managed by Stripe, which is not configured "
                            "on this server.");
        return;
    }
    cancel_stripe(req, res, cfg, &e, caller_key);
}

/* ---- the route table ------------------------------------------------------------------------ */

static const rate_rule pay_limits[] = {
    {.name = "billing-user", .limit = 20, .window_s = 60, .key = RL_KEY_USER},
    {.name = NULL},
};

static const int c_checkout[] = {200, 400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503, 0};
static const int c_portal[] = {200, 401, 403, 404, 409, 422, 429, 502, 503, 0};
static const int c_cancel[] = {200, 401, 403, 404, 409, 422, 429, 502, 503, 0};

static const route_def pay_routes[] = {
    {.method = HTTP_POST, .path = "/v1/billing/checkout", .handler = pay_checkout,
     .service = "billing", .tag = "billing", .body = BODY_JSON, .responses = c_checkout,
     .auth = AUTH_USER, .rate_limits = pay_limits,
     .summary = "Start paying for a plan: {url} of Stripe Checkout (or of the local provider); "
                "honours Idempotency-Key"},
    {.method = HTTP_POST, .path = "/v1/billing/portal", .handler = pay_portal,
     .service = "billing", .tag = "billing", .responses = c_portal, .auth = AUTH_USER,
     .rate_limits = pay_limits,
     .summary = "{url} of the billing portal (payment method, invoices, plan changes)"},
    {.method = HTTP_POST, .path = "/v1/billing/cancel", .handler = pay_cancel,
     .service = "billing", .tag = "billing", .responses = c_cancel, .auth = AUTH_USER,
     .rate_limits = pay_limits,
     .summary = "Stop renewing: the plan runs to the end of the period; returns the subscription"},
};

int billing_register_pay_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, pay_routes);
}
