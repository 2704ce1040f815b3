/* Stripe's subscription objects into our subscriptions rows: reading an object (either API
 * version's shape) and the one write path every Stripe-sourced change takes, with the
 * out-of-order rule (docs/billing.md): a row remembers the event time and kind that last
 * wrote it, and nothing older changes it. */
#include "services/billing/internal.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/users/users.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL
/* 9999-12-31: Stripe times are seconds since the epoch; anything later is not a time. */
#define UNIX_MAX_S 253402300799LL

const char *billing_apply_outcome_name(apply_outcome o)
{
    switch (o) {
    case APPLY_APPLIED:
        return "applied";
    case APPLY_STALE:
        return "stale";
    case APPLY_UNLINKED:
        return "unlinked";
    case APPLY_IGNORED:
        break;
    }
    return "ignored";
}

/* A Stripe time (integer seconds) as RFC 3339 into out; "" for null/absent. -1 when it is
 * there but not a plausible time. */
static int unix_time(const json_t *v, char out[32])
{
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UNIX_MAX_S)
        return -1;
    time_format_rfc3339((int64_t)json_integer_value(v) * 1000, out);
    return 0;
}

/* A Stripe reference: the id string, or an expanded object's "id". */
static const char *ref_id(const json_t *v)
{
    if (json_is_object(v))
        v = json_object_get(v, "id");
    const char *s = json_string_value(v);
    return billing_stripe_id_valid(s) ? s : NULL;
}

int billing_sub_read(const config *cfg, const json_t *o, sub_state *s, const char **why)
{
    memset(s, 0, sizeof(*s));
    const char *id = ref_id(json_object_get(o, "id"));
    const char *object = json_string_value(json_object_get(o, "object"));
    if (!id || (object && strcmp(object, "subscription") != 0)) {
        *why = "not a subscription object with an id";
        return -1;
    }
    snprintf(s->stripe_id, sizeof(s->stripe_id), "%s", id);
    const char *customer = ref_id(json_object_get(o, "customer"));
    if (customer)
        snprintf(s->customer, sizeof(s->customer), "%s", customer);
    const char *status = json_string_value(json_object_get(o, "status"));
    if (!billing_status_valid(status)) {
        *why = "unknown subscription status";
        return -1;
    }
    snprintf(s->status, sizeof(s->status), "%s", status);
    /* The first item carries the price (and, from API version 2025-03-31, the period). */
    const json_t *item = json_array_get(json_object_get(json_object_get(o, "items"), "data"), 0);
    const char *price = ref_id(json_object_get(item, "price"));
    if (!price)
        price = ref_id(json_object_get(item, "plan"));
    const char *plan = billing_plan_for_price(cfg, price);
    if (plan)
        snprintf(s->plan, sizeof(s->plan), "%s", plan);
    const json_t *ps = json_object_get(o, "current_period_start");
    const json_t *pe = json_object_get(o, "current_period_end");
    if (!ps && !pe && item) {
        ps = json_object_get(item, "current_period_start");
        pe = json_object_get(item, "current_period_end");
    }
    if (unix_time(ps, s->period_start) != 0 || unix_time(pe, s->period_end) != 0 ||
        unix_time(json_object_get(o, "canceled_at"), s->canceled_at) != 0 ||
        unix_time(json_object_get(o, "trial_end"), s->trial_end) != 0) {
        *why = "a time field is not a Unix time";
        return -1;
    }
    s->cancel_at_period_end = json_is_true(json_object_get(o, "cancel_at_period_end"));
    const char *uid = json_string_value(json_object_get(json_object_get(o, "metadata"), "user_id"));
    if (uid && id_is_uuid(uid, strlen(uid))) {
        for (size_t i = 0; i < 36; i++)
            s->user_id[i] = (char)tolower((unsigned char)uid[i]);
        s->user_id[36] = '\0';
    }
    return 0;
}

/* ---- the write -------------------------------------------------------------------------- */

typedef struct sub_row {
    int found;
    char id[40], user_id[40], plan[32], status[24];
    char state_at[32], period_start[32], status_changed_at[32], grace_until[32];
    int state_rank, cancel_at_period_end;
} sub_row;

static void copy_col(const db_rows *r, size_t i, char *out, size_t outlen)
{
    const char *v = db_col_text(r, i);
    snprintf(out, outlen, "%s", v ? v : "");
}

static int load_row(db_conn *c, const char *stripe_id, sub_row *row)
{
    memset(row, 0, sizeof(*row));
    const db_param p[] = {DB_TEXT(stripe_id)};
    db_rows *r = NULL;
    int rc = db_query(c,
                      "SELECT id, user_id, plan_id, status, state_at, state_rank, "
                      "current_period_start, status_changed_at, grace_until, cancel_at_period_end "
                      "FROM subscriptions WHERE stripe_subscription_id = $1",
                      p, 1, &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) == 1) {
        row->found = 1;
        copy_col(r, 0, row->id, sizeof(row->id));
        copy_col(r, 1, row->user_id, sizeof(row->user_id));
        copy_col(r, 2, row->plan, sizeof(row->plan));
        copy_col(r, 3, row->status, sizeof(row->status));
        copy_col(r, 4, row->state_at, sizeof(row->state_at));
        row->state_rank = (int)db_col_int(r, 5);
        copy_col(r, 6, row->period_start, sizeof(row->period_start));
        copy_col(r, 7, row->status_changed_at, sizeof(row->status_changed_at));
        copy_col(r, 8, row->grace_until, sizeof(row->grace_until));
        row->cancel_at_period_end = (int)db_col_int(r, 9);
    }
    db_rows_free(r);
    return DB_OK;
}

/* The user a subscription belongs to when we have no row yet: its metadata (set by our
 * checkout), else the owner of its customer. "" when neither is known. */
static int resolve_user(db_conn *c, const sub_state *s, char user_id[40])
{
    user_id[0] = '\0';
    if (s->user_id[0]) {
        char email[320], name[256];
        int found = users_contact(c, s->user_id, email, sizeof(email), name, sizeof(name));
        if (found < 0)
            return found;
        if (found) {
            snprintf(user_id, 40, "%s", s->user_id);
            return DB_OK;
        }
    }
    if (s->customer[0]) {
        const db_param p[] = {DB_TEXT(s->customer)};
        db_rows *r = NULL;
        int rc = db_query(c, "SELECT user_id FROM billing_customers WHERE stripe_customer_id = $1",
                          p, 1, &r);
        if (rc != DB_OK)
            return rc;
        if (db_rows_next(r) == 1)
            copy_col(r, 0, user_id, 40);
        db_rows_free(r);
    }
    return DB_OK;
}

static int64_t ms_of(const char *t)
{
    int64_t ms = -1;
    if (!t || !*t || time_parse_rfc3339(t, &ms) != 0)
        return -1;
    return ms;
}

/* 1 when a write at (at_ms, rank) carrying period_start is older than the row's state. */
static int is_stale(const sub_row *row, int64_t at_ms, int rank, const char *period_start)
{
    int64_t row_at = ms_of(row->state_at);
    if (at_ms < row_at || (at_ms == row_at && rank < row->state_rank))
        return 1;
    /* The object's own clock: a subscription never moves back to an earlier period. */
    int64_t ps = ms_of(period_start), row_ps = ms_of(row->period_start);
    return ps >= 0 && row_ps >= 0 && ps < row_ps;
}

int billing_sub_apply(db_conn *c, const http_req *req, const config *cfg, const sub_state *s,
                      int64_t at_ms, int rank, const char *source, const char *actor_id,
                      apply_outcome *out)
{
    *out = APPLY_IGNORED;
    sub_row row;
    int rc = load_row(c, s->stripe_id, &row);
    if (rc != DB_OK)
        return rc;
    char user_id[40];
    if (row.found) {
        snprintf(user_id, sizeof(user_id), "%s", row.user_id);
    } else {
        rc = resolve_user(c, s, user_id);
        if (rc != DB_OK)
            return rc;
        if (!user_id[0]) {
            *out = APPLY_UNLINKED;
            return DB_OK;
        }
    }
    /* Writers for one user queue here (PostgreSQL row lock; SQLite has one writer); read the
     * row again under the lock, as another event may have written it meanwhile. */
    rc = billing_lock_user(c, user_id);
    if (rc == DB_OK)
        rc = load_row(c, s->stripe_id, &row);
    if (rc != DB_OK)
        return rc;
    if (row.found && is_stale(&row, at_ms, rank, s->period_start)) {
        *out = APPLY_STALE;
        return DB_OK;
    }
    const char *plan = s->plan[0] ? s->plan : (row.found ? row.plan : NULL);
    if (!plan) {
        log_warn("billing: subscription %s has a price that is not STRIPE_PRICE_STANDARD or "
                 "STRIPE_PRICE_PREMIUM; not recorded",
                 s->stripe_id);
        return DB_OK; /* APPLY_IGNORED */
    }
    char at[RFC3339_LEN], now[RFC3339_LEN], grace[RFC3339_LEN], id[40];
    time_format_rfc3339(at_ms, at);
    time_format_rfc3339(time_now_ms(), now);
    const char *changed_at = at, *grace_until = NULL;
    if (strcmp(s->status, "past_due") == 0) {
        time_format_rfc3339(at_ms + (int64_t)cfg->billing_grace_days * DAY_MS, grace);
        grace_until = grace;
    }
    if (row.found && strcmp(row.status, s->status) == 0) {
        /* Same status: the grace period keeps running from the original change. */
        changed_at = row.status_changed_at[0] ? row.status_changed_at : at;
        grace_until = row.grace_until[0] ? row.grace_until : grace_until;
    }
#define OPT(v) DB_TEXT((v)[0] ? (v) : NULL)
    if (row.found) {
        snprintf(id, sizeof(id), "%s", row.id);
        const db_param p[] = {DB_TEXT(id),
                              DB_TEXT(plan),
                              DB_TEXT(s->status),
                              OPT(s->customer),
                              OPT(s->period_start),
                              OPT(s->period_end),
                              DB_BOOL(s->cancel_at_period_end),
                              OPT(s->canceled_at),
                              OPT(s->trial_end),
                              DB_TEXT(at),
                              DB_INT(rank),
                              DB_TEXT(source),
                              DB_TEXT(changed_at),
                              DB_TEXT(grace_until),
                              DB_TEXT(now)};
        rc = db_exec(c,
                     "UPDATE subscriptions SET plan_id = $2, status = $3, stripe_customer_id = "
                     "COALESCE($4, stripe_customer_id), current_period_start = COALESCE($5, "
                     "current_period_start), current_period_end = COALESCE($6, "
                     "current_period_end), cancel_at_period_end = $7, canceled_at = $8, "
                     "trial_end = $9, state_at = $10, state_rank = $11, state_event_id = $12, "
                     "status_changed_at = $13, grace_until = $14, updated_at = $15 WHERE id = $1",
                     p, ARRAY_LEN(p), NULL);
    } else {
        id_uuid7(id);
        const db_param p[] = {DB_TEXT(id),
                              DB_TEXT(user_id),
                              DB_TEXT(plan),
                              DB_TEXT(s->status),
                              DB_TEXT(s->stripe_id),
                              OPT(s->customer),
                              OPT(s->period_start),
                              OPT(s->period_end),
                              DB_BOOL(s->cancel_at_period_end),
                              OPT(s->canceled_at),
                              OPT(s->trial_end),
                              DB_TEXT(at),
                              DB_INT(rank),
                              DB_TEXT(source),
                              DB_TEXT(changed_at),
                              DB_TEXT(grace_until),
                              DB_TEXT(now)};
        rc = db_exec(c,
                     "INSERT INTO subscriptions (id, user_id, plan_id, provider, status, "
                     "stripe_subscription_id, stripe_customer_id, current_period_start, "
                     "current_period_end, cancel_at_period_end, canceled_at, trial_end, state_at, "
                     "state_rank, state_event_id, status_changed_at, grace_until, created_at, "
                     "updated_at) VALUES ($1, $2, $3, 'stripe', $4, $5, $6, $7, $8, $9, $10, $11, "
                     "$12, $13, $14, $15, $16, $17, $17)",
                     p, ARRAY_LEN(p), NULL);
    }
#undef OPT
    if (rc != DB_OK)
        return rc;
    *out = APPLY_APPLIED;
    int changed = !row.found || strcmp(row.plan, plan) != 0 ||
                  strcmp(row.status, s->status) != 0 ||
                  row.cancel_at_period_end != s->cancel_at_period_end;
    if (!changed)
        return DB_OK;
    sub_snapshot from = {.plan = row.found ? row.plan : NULL, .status = row.status,
                         .cancel_at_period_end = row.cancel_at_period_end};
    sub_snapshot to = {.plan = plan, .status = s->status,
                       .cancel_at_period_end = s->cancel_at_period_end};
    return billing_audit_change(c, req, actor_id, user_id, id, "stripe", &from, &to, source);
}
