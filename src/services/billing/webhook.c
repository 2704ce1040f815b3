/* POST /v1/webhooks/stripe: Stripe's events, verified against the raw body before anything
 * reads it, stored once by id and applied in the same transaction as the row that records
 * them, so a replay (Stripe retries, an attacker with an old delivery) changes nothing.
 * Events we do not act on are recorded and answered 200 like the others. */
#include "services/billing/internal.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "events/email.h"
#include "services/app.h"
#include "services/users/users.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define WEBHOOK_BODY_MAX (256u << 10)
#define EVENT_ID_MAX 255
#define DAY_MS 86400000LL

typedef struct event_ctx {
    db_conn *c;
    http_req *req;
    const config *cfg;
    const char *id;
    const char *type;
    int64_t at_ms;      /* the event's `created`, ms */
    const json_t *obj;  /* data.object */
    int emailed;        /* an email was queued: kick the outbox after commit */
} event_ctx;

static int on_checkout_completed(event_ctx *e, apply_outcome *out) WUR;
static int on_subscription(event_ctx *e, int rank, apply_outcome *out) WUR;
static int on_invoice(event_ctx *e, apply_outcome *out) WUR;

/* ---- the route ------------------------------------------------------------------------------ */

static void bad_event(http_req *req, http_res *res, const char *detail)
{
    http_res_problem_full(req, res, 400, "invalid-event", "Invalid Event", detail, NULL);
}

static void webhook_stripe(http_req *req, http_res *res)
{
    app *a = req->app;
    const config *cfg = a->cfg;
    if (!cfg->billing_stripe) {
        billing_no_provider(req, res,
                            "Stripe is not the billing provider of this server "
                            "(BILLING_PROVIDER=local).");
        return;
    }
    /* Nothing reads the body before the signature holds. */
    stripe_sig_result v =
        stripe_signature_verify(http_req_header(req, "Stripe-Signature"), req->body.ptr,
                                req->body.len, cfg->stripe_webhook_secret, time_now_ms() / 1000,
                                STRIPE_SIG_TOLERANCE_S);
    if (v == STRIPE_SIG_BAD) {
        http_res_problem_full(req, res, 400, "bad-signature", "Bad Signature",
                              "The Stripe-Signature header does not sign this body with a "
                              "configured secret.",
                              NULL);
        return;
    }
    if (v == STRIPE_SIG_STALE) {
        http_res_problem_full(req, res, 400, "stale-signature", "Stale Signature",
                              "The signature's timestamp is more than 5 minutes from now.", NULL);
        return;
    }
    char err[256];
    json_t *ev = json_parse_object(req->body.ptr ? req->body.ptr : "", req->body.len, err,
                                   sizeof(err));
    if (!ev) {
        http_res_problem_full(req, res, 400, "malformed-json", "Malformed JSON", err, NULL);
        return;
    }
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    const json_t *created = json_object_get(ev, "created");
    const json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    if (!id || !*id || strlen(id) > EVENT_ID_MAX || !type || !*type || strlen(type) > 100 ||
        !json_is_integer(created) || json_integer_value(created) <= 0 ||
        json_integer_value(created) > 253402300799LL || !json_is_object(obj)) {
        bad_event(req, res, "An event needs id, type, created (Unix time) and data.object.");
        json_decref(ev);
        return;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c) {
        json_decref(ev);
        return;
    }
    event_ctx e = {.c = c, .req = req, .cfg = cfg, .id = id, .type = type,
                   .at_ms = (int64_t)json_integer_value(created) * 1000, .obj = obj};
    char created_at[RFC3339_LEN], now[RFC3339_LEN];
    time_format_rfc3339(e.at_ms, created_at);
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(id),
                          DB_TEXT(type),
                          DB_TEXT(created_at),
                          DB_BOOL(json_is_true(json_object_get(ev, "livemode"))),
                          DB_TEXT(req->body.ptr),
                          DB_TEXT(now)};
    int64_t inserted = 0;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "INSERT INTO stripe_events (id, type, created, livemode, payload, "
                     "received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                     p, ARRAY_LEN(p), &inserted);
    if (rc == DB_OK && inserted == 0) {
        /* Seen before: its effects are already committed with it. */
        db_rollback(c);
        db_release(c);
        json_decref(ev);
        http_res_json(req, res, 200, json_pack("{s:b, s:b}", "received", 1, "duplicate", 1));
        return;
    }
    apply_outcome outcome = APPLY_IGNORED;
    if (rc == DB_OK) {
        if (strcmp(type, "checkout.session.completed") == 0)
            rc = on_checkout_completed(&e, &outcome);
        else if (strcmp(type, "customer.subscription.created") == 0)
            rc = on_subscription(&e, RANK_CREATED, &outcome);
        else if (strcmp(type, "customer.subscription.updated") == 0)
            rc = on_subscription(&e, RANK_UPDATED, &outcome);
        else if (strcmp(type, "customer.subscription.deleted") == 0)
            rc = on_subscription(&e, RANK_DELETED, &outcome);
        else if (strncmp(type, "invoice.", 8) == 0)
            rc = on_invoice(&e, &outcome);
    }
    if (rc == DB_OK) {
        const db_param u[] = {DB_TEXT(now), DB_TEXT(billing_apply_outcome_name(outcome)),
                              DB_TEXT(id)};
        rc = db_exec(c, "UPDATE stripe_events SET processed_at = $1, outcome = $2 WHERE id = $3",
                     u, 3, NULL);
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        /* Nothing was recorded: Stripe delivers the event again later. */
        db_rollback(c);
        service_db_failed(req, res, c, "billing: stripe event");
        db_release(c);
        json_decref(ev);
        return;
    }
    db_release(c);
    if (e.emailed)
        app_kick_outbox(a);
    if (outcome != APPLY_APPLIED)
        log_info("billing: stripe event %s (%s): %s", id, type,
                 billing_apply_outcome_name(outcome));
    http_res_json(req, res, 200,
                  json_pack("{s:b, s:s}", "received", 1, "outcome",
                            billing_apply_outcome_name(outcome)));
    json_decref(ev);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static const char *ref_id(const json_t *v)
{
    if (json_is_object(v))
        v = json_object_get(v, "id");
    const char *s = json_string_value(v);
    return billing_stripe_id_valid(s) ? s : NULL;
}

/* A UUID from outside, lowercased into out; 0 when s is not one. */
static int uuid_in(const char *s, char out[40])
{
    if (!s || !id_is_uuid(s, strlen(s)))
        return 0;
    for (size_t i = 0; i < 36; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[36] = '\0';
    return 1;
}

static int user_of_customer(db_conn *c, const char *customer, char user_id[40])
{
    user_id[0] = '\0';
    if (!customer)
        return DB_OK;
    const db_param p[] = {DB_TEXT(customer)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT user_id FROM billing_customers WHERE stripe_customer_id = $1", p,
                      1, &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) == 1)
        snprintf(user_id, 40, "%s", db_col_text(r, 0));
    db_rows_free(r);
    return DB_OK;
}

/* ---- checkout.session.completed ------------------------------------------------------------- */

/* Links the customer and the subscription to the user who checked out (client_reference_id).
 * When the subscription's own events have not arrived yet, a placeholder row (incomplete, so
 * no access) remembers whose it is; the first subscription event then fills it in. */
static int on_checkout_completed(event_ctx *e, apply_outcome *out)
{
    const char *mode = json_string_value(json_object_get(e->obj, "mode"));
    char user_id[40];
    if (!mode || strcmp(mode, "subscription") != 0)
        return DB_OK;
    if (!uuid_in(json_string_value(json_object_get(e->obj, "client_reference_id")), user_id)) {
        *out = APPLY_UNLINKED;
        return DB_OK;
    }
    char email[320], name[256];
    int found = users_contact(e->c, user_id, email, sizeof(email), name, sizeof(name));
    if (found < 0)
        return found;
    if (found == 0) {
        *out = APPLY_UNLINKED;
        return DB_OK;
    }
    int rc = billing_lock_user(e->c, user_id);
    if (rc != DB_OK)
        return rc;
    const char *customer = ref_id(json_object_get(e->obj, "customer"));
    const char *sub = ref_id(json_object_get(e->obj, "subscription"));
    char now[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    if (customer) {
        const db_param p[] = {DB_TEXT(user_id), DB_TEXT(customer), DB_TEXT(now)};
        rc = db_exec(e->c,
                     "INSERT INTO billing_customers (user_id, stripe_customer_id, created_at) "
                     "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                     p, 3, NULL);
        if (rc != DB_OK)
            return rc;
    }
    const char *plan = json_string_value(
        json_object_get(json_object_get(e->obj, "metadata"), "plan"));
    if (sub && plan && billing_price_for_plan(e->cfg, plan)) {
        char id[UUID_STR_LEN], epoch[RFC3339_LEN];
        id_uuid7(id);
        time_format_rfc3339(0, epoch);
        const db_param p[] = {DB_TEXT(id),    DB_TEXT(user_id), DB_TEXT(plan), DB_TEXT(sub),
                              DB_TEXT(customer), DB_TEXT(epoch), DB_INT(RANK_PLACEHOLDER),
                              DB_TEXT(e->id), DB_TEXT(now)};
        rc = db_exec(e->c,
                     "INSERT INTO subscriptions (id, user_id, plan_id, provider, status, "
                     "stripe_subscription_id, stripe_customer_id, state_at, state_rank, "
                     "state_event_id, status_changed_at, created_at, updated_at) VALUES ($1, $2, "
                     "$3, 'stripe', 'incomplete', $4, $5, $6, $7, $8, $9, $9, $9) "
                     "ON CONFLICT (stripe_subscription_id) DO NOTHING",
                     p, ARRAY_LEN(p), NULL);
        if (rc != DB_OK)
            return rc;
    }
    *out = APPLY_APPLIED;
    return DB_OK;
}

/* ---- customer.subscription.* ------------------------------------------------------------- */

static int on_subscription(event_ctx *e, int rank, apply_outcome *out)
{
    sub_state s;
    const char *why = NULL;
    if (billing_sub_read(e->cfg, e->obj, &s, &why) != 0) {
        log_warn("billing: stripe event %s: %s", e->id, why);
        return DB_OK;
    }
    /* A deleted subscription is over whatever the object says. */
    if (rank == RANK_DELETED && strcmp(s.status, "incomplete_expired") != 0)
        snprintf(s.status, sizeof(s.status), "canceled");
    return billing_sub_apply(e->c, e->req, e->cfg, &s, e->at_ms, rank, e->id, NULL, out);
}

/* ---- invoice.* ------------------------------------------------------------------------------ */

static int invoice_status_valid(const char *s)
{
    static const char *const v[] = {"draft", "open", "paid", "uncollectible", "void"};
    for (size_t i = 0; s && i < ARRAY_LEN(v); i++)
        if (strcmp(s, v[i]) == 0)
            return 1;
    return 0;
}

/* An optional string field of at most max bytes; NULL when absent, null or too long. */
static const char *opt_str(const json_t *o, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && strlen(s) <= max ? s : NULL;
}

/* Amounts in the currency's major unit, for the email ("29.00 USD", "500 JPY"). */
static void money(long long minor, const char *currency, char *out, size_t outlen)
{
    static const char *const zero_decimal[] = {"bif", "clp", "djf", "gnf", "jpy", "kmf",
                                               "krw", "mga", "pyg", "rwf", "ugx", "vnd",
                                               "vuv", "xaf", "xof", "xpf"};
    char cur[4];
    for (size_t i = 0; i < 3; i++)
        cur[i] = (char)toupper((unsigned char)currency[i]);
    cur[3] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(zero_decimal); i++) {
        if (strcmp(currency, zero_decimal[i]) == 0) {
            snprintf(out, outlen, "%lld %s", minor, cur);
            return;
        }
    }
    snprintf(out, outlen, "%lld.%02lld %s", minor / 100, minor % 100, cur);
}

/* The past_due handling of a failed payment: an active or trialing subscription becomes
 * past_due now (its grace starts), unless a newer state was written already. Stripe's
 * customer.subscription.updated says the same, in whatever order it arrives. */
static int mark_past_due(event_ctx *e, const char *stripe_sub, char grace_out[32])
{
    grace_out[0] = '\0';
    const db_param p[] = {DB_TEXT(stripe_sub)};
    db_rows *r = NULL;
    int rc = db_query(e->c,
                      "SELECT id, user_id, plan_id, status, state_at, state_rank, grace_until, "
                      "cancel_at_period_end FROM subscriptions WHERE stripe_subscription_id = $1",
                      p, 1, &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) != 1) {
        db_rows_free(r);
        return DB_OK;
    }
    char id[40], user_id[40], plan[32], status[24], grace_was[32];
    snprintf(id, sizeof(id), "%s", db_col_text(r, 0));
    snprintf(user_id, sizeof(user_id), "%s", db_col_text(r, 1));
    snprintf(plan, sizeof(plan), "%s", db_col_text(r, 2));
    snprintf(status, sizeof(status), "%s", db_col_text(r, 3));
    int64_t state_ms = -1;
    if (time_parse_rfc3339(db_col_text(r, 4), &state_ms) != 0)
        state_ms = -1;
    int state_rank = (int)db_col_int(r, 5);
    snprintf(grace_was, sizeof(grace_was), "%s", db_col_text(r, 6) ? db_col_text(r, 6) : "");
    int cape = (int)db_col_int(r, 7);
    db_rows_free(r);
    if (strcmp(status, "past_due") == 0) {
        snprintf(grace_out, 32, "%s", grace_was);
        return DB_OK;
    }
    if ((strcmp(status, "active") != 0 && strcmp(status, "trialing") != 0) ||
        e->at_ms < state_ms || (e->at_ms == state_ms && RANK_UPDATED < state_rank))
        return DB_OK;
    char at[RFC3339_LEN], now[RFC3339_LEN];
    time_format_rfc3339(e->at_ms, at);
    time_format_rfc3339(e->at_ms + (int64_t)e->cfg->billing_grace_days * DAY_MS, grace_out);
    time_format_rfc3339(time_now_ms(), now);
    const db_param u[] = {DB_TEXT(id),         DB_TEXT(at),  DB_INT(RANK_UPDATED),
                          DB_TEXT(e->id),      DB_TEXT(grace_out), DB_TEXT(now)};
    rc = db_exec(e->c,
                 "UPDATE subscriptions SET status = 'past_due', state_at = $2, state_rank = $3, "
                 "state_event_id = $4, status_changed_at = $2, grace_until = $5, updated_at = $6 "
                 "WHERE id = $1",
                 u, ARRAY_LEN(u), NULL);
    if (rc != DB_OK)
        return rc;
    sub_snapshot from = {.plan = plan, .status = status, .cancel_at_period_end = cape};
    sub_snapshot to = {.plan = plan, .status = "past_due", .cancel_at_period_end = cape};
    return billing_audit_change(e->c, e->req, NULL, user_id, id, "stripe", &from, &to, e->id);
}

static int payment_failed_email(event_ctx *e, const char *user_id, const char *plan,
                                long long amount, const char *currency, const char *pay_url,
                                const char *grace_until)
{
    char email[320], name[256];
    int found = users_contact(e->c, user_id, email, sizeof(email), name, sizeof(name));
    if (found <= 0)
        return found; /* an erased account gets no mail */
    char amount_text[48], portal[600], until[64] = "", plan_name[40] = "";
    money(amount, currency, amount_text, sizeof(amount_text));
    if (plan) {
        snprintf(plan_name, sizeof(plan_name), "%s ", plan);
        plan_name[0] = (char)toupper((unsigned char)plan_name[0]);
    }
    snprintf(portal, sizeof(portal), "%s/billing", e->cfg->public_url);
    if (grace_until && *grace_until)
        snprintf(until, sizeof(until), "%.10s", grace_until);
    buf text;
    buf_init(&text, 8192);
    int rc = buf_printf(&text,
                        "Hello %s,\n\n"
                        "We could not take your payment of %s for your OET Praxis %splan.\n\n"
                        "Pay the invoice or update your card here:\n%s\n\n",
                        name[0] ? name : "there", amount_text, plan_name,
                        pay_url ? pay_url : portal);
    if (rc == 0 && until[0])
        rc = buf_printf(&text,
                        "Your plan stays active until %s. If the payment has not gone through "
                        "by then, your account moves to the free plan until it does.\n\n",
                        until);
    if (rc == 0)
        rc = buf_puts(&text, "The OET Praxis team\n");
    if (rc != 0) {
        buf_free(&text);
        return DB_ERROR;
    }
    rc = email_enqueue(e->c, email, "Your OET Praxis payment failed", text.ptr);
    buf_free(&text);
    if (rc == DB_OK)
        e->emailed = 1;
    return rc;
}

/* Stores (or updates) the invoice an invoice.* event carries, unless a newer state of it was
 * stored already; a failed payment also marks the subscription past_due and mails the user. */
static int on_invoice(event_ctx *e, apply_outcome *out)
{
    const json_t *o = e->obj;
    const char *inv = ref_id(json_object_get(o, "id"));
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *currency = json_string_value(json_object_get(o, "currency"));
    const json_t *due = json_object_get(o, "amount_due"), *paid = json_object_get(o, "amount_paid");
    const json_t *created = json_object_get(o, "created");
    if (!inv || !invoice_status_valid(status) || !currency || strlen(currency) != 3 ||
        !json_is_integer(due) || json_integer_value(due) < 0 ||
        (paid && !json_is_integer(paid)) || (paid && json_integer_value(paid) < 0)) {
        log_warn("billing: stripe event %s: not an invoice we can store", e->id);
        return DB_OK;
    }
    char cur[4];
    for (size_t i = 0; i < 3; i++)
        cur[i] = (char)tolower((unsigned char)currency[i]);
    cur[3] = '\0';
    /* The subscription: `subscription` until API version 2025-03-31, then under parent. */
    const json_t *details = json_object_get(json_object_get(o, "parent"), "subscription_details");
    if (!details)
        details = json_object_get(o, "subscription_details");
    const char *stripe_sub = ref_id(json_object_get(o, "subscription"));
    if (!stripe_sub)
        stripe_sub = ref_id(json_object_get(details, "subscription"));
    /* Whose: the subscription's owner, else the customer's, else our metadata. */
    char user_id[40] = "", sub_id[40] = "", plan[32] = "";
    if (stripe_sub) {
        const db_param p[] = {DB_TEXT(stripe_sub)};
        db_rows *r = NULL;
        int rc = db_query(e->c,
                          "SELECT id, user_id, plan_id FROM subscriptions WHERE "
                          "stripe_subscription_id = $1",
                          p, 1, &r);
        if (rc != DB_OK)
            return rc;
        if (db_rows_next(r) == 1) {
            snprintf(sub_id, sizeof(sub_id), "%s", db_col_text(r, 0));
            snprintf(user_id, sizeof(user_id), "%s", db_col_text(r, 1));
            snprintf(plan, sizeof(plan), "%s", db_col_text(r, 2));
        }
        db_rows_free(r);
    }
    if (!user_id[0]) {
        int rc = user_of_customer(e->c, ref_id(json_object_get(o, "customer")), user_id);
        if (rc != DB_OK)
            return rc;
    }
    if (!user_id[0] &&
        uuid_in(json_string_value(json_object_get(json_object_get(details, "metadata"), "user_id")),
                user_id)) {
        char email[320], name[256];
        int found = users_contact(e->c, user_id, email, sizeof(email), name, sizeof(name));
        if (found < 0)
            return found;
        if (found == 0)
            user_id[0] = '\0';
    }
    if (!user_id[0]) {
        *out = APPLY_UNLINKED;
        return DB_OK;
    }
    int rc = billing_lock_user(e->c, user_id);
    if (rc != DB_OK)
        return rc;
    char at[RFC3339_LEN], now[RFC3339_LEN], inv_created[32], ps[32], pe[32];
    time_format_rfc3339(e->at_ms, at);
    time_format_rfc3339(time_now_ms(), now);
    long long cr = json_is_integer(created) ? json_integer_value(created) : 0;
    time_format_rfc3339(cr > 0 && cr < 253402300799LL ? cr * 1000 : e->at_ms, inv_created);
    long long pss = json_integer_value(json_object_get(o, "period_start"));
    long long pes = json_integer_value(json_object_get(o, "period_end"));
    if (pss > 0 && pss < 253402300799LL)
        time_format_rfc3339(pss * 1000, ps);
    else
        ps[0] = '\0';
    if (pes > 0 && pes < 253402300799LL)
        time_format_rfc3339(pes * 1000, pe);
    else
        pe[0] = '\0';
    char id[UUID_STR_LEN];
    id_uuid7(id);
    long long amount_due = json_integer_value(due);
    const char *pay_url = opt_str(o, "hosted_invoice_url", 1000);
    const db_param p[] = {DB_TEXT(id),
                          DB_TEXT(user_id),
                          DB_TEXT(sub_id[0] ? sub_id : NULL),
                          DB_TEXT(inv),
                          DB_TEXT(opt_str(o, "number", 100)),
                          DB_TEXT(status),
                          DB_INT(amount_due),
                          DB_INT(paid ? json_integer_value(paid) : 0),
                          DB_TEXT(cur),
                          DB_TEXT(pay_url),
                          DB_TEXT(opt_str(o, "invoice_pdf", 1000)),
                          DB_TEXT(ps[0] ? ps : NULL),
                          DB_TEXT(pe[0] ? pe : NULL),
                          DB_TEXT(at),
                          DB_TEXT(inv_created),
                          DB_TEXT(now)};
    int64_t written = 0;
    /* Older events do not roll an invoice back; inside one second a settled invoice (paid,
     * void, uncollectible) does not go back to draft or open. */
    rc = db_exec(e->c,
                 "INSERT INTO invoices (id, user_id, subscription_id, stripe_invoice_id, number, "
                 "status, amount_due, amount_paid, currency, hosted_invoice_url, invoice_pdf, "
                 "period_start, period_end, state_at, created_at, updated_at) VALUES ($1, $2, $3, "
                 "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
                 "ON CONFLICT (stripe_invoice_id) DO UPDATE SET subscription_id = "
                 "COALESCE(excluded.subscription_id, invoices.subscription_id), number = "
                 "excluded.number, status = excluded.status, amount_due = excluded.amount_due, "
                 "amount_paid = excluded.amount_paid, currency = excluded.currency, "
                 "hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf = "
                 "excluded.invoice_pdf, period_start = excluded.period_start, period_end = "
                 "excluded.period_end, state_at = excluded.state_at, updated_at = "
                 "excluded.updated_at WHERE invoices.state_at < excluded.state_at OR "
                 "(invoices.state_at = excluded.state_at AND NOT (invoices.status IN ('paid', "
                 "'void', 'uncollectible') AND excluded.status IN ('draft', 'open')))",
                 p, ARRAY_LEN(p), &written);
    if (rc != DB_OK)
        return rc;
    if (written == 0) {
        *out = APPLY_STALE;
        return DB_OK;
    }
    *out = APPLY_APPLIED;
    if (strcmp(e->type, "invoice.payment_failed") != 0 || strcmp(status, "paid") == 0)
        return DB_OK;
    char grace[32] = "";
    if (stripe_sub && sub_id[0]) {
        rc = mark_past_due(e, stripe_sub, grace);
        if (rc != DB_OK)
            return rc;
    }
    return payment_failed_email(e, user_id, plan[0] ? plan : NULL, amount_due, cur, pay_url,
                                grace);
}

/* ---- the route table ------------------------------------------------------------------------ */

static const int c_webhook[] = {200, 400, 404, 413, 500, 503, 0};

static const route_def webhook_routes[] = {
    {.method = HTTP_POST, .path = "/v1/webhooks/stripe", .handler = webhook_stripe,
     .service = "billing", .tag = "billing", .body_max = WEBHOOK_BODY_MAX, .responses = c_webhook,
     .summary = "Stripe events (public): verified by Stripe-Signature against the raw body, "
                "applied once per event id; 404 unless BILLING_PROVIDER=stripe"},
};

int billing_register_webhook_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, webhook_routes);
}
