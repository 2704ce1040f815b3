/* Entitlements and usage: which plan applies (an active or trialing subscription, a past_due
 * one within its grace period, else the free plan), its period, and the sessions and voice
 * seconds counted in that period from usage_events. */
#include "services/billing/billing.h"

#include "core/ids.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>

/* The free plan's period is the calendar month (UTC). */
static void month_bounds(int64_t now_ms, char start[32], char end[32])
{
    char now[RFC3339_LEN];
    time_format_rfc3339(now_ms, now);
    int y = 0, m = 0;
    sscanf(now, "%4d-%2d", &y, &m);
    snprintf(start, 32, "%04d-%02d-01T00:00:00.000Z", y, m);
    if (++m > 12) {
        m = 1;
        y++;
    }
    snprintf(end, 32, "%04d-%02d-01T00:00:00.000Z", y, m);
}

static int load_plan(db_conn *c, const char *plan_id, entitlement *out)
{
    const db_param p[] = {DB_TEXT(plan_id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT sessions_per_month, voice, llm FROM plans WHERE id = $1", p, 1,
                      &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) == 1) {
        out->sessions_limit = db_col_is_null(r, 0) ? -1 : db_col_int(r, 0);
        out->voice = (int)db_col_int(r, 1);
        out->llm = (int)db_col_int(r, 2);
    } else {
        /* Plans are seeded; without them nothing is allowed rather than everything. */
        out->sessions_limit = 0;
    }
    db_rows_free(r);
    return DB_OK;
}

/* The window usage is counted in: the subscription's period while it runs, else the month. */
static void usage_window(entitlement *out, int64_t now_ms)
{
    int64_t s = -1, e = -1;
    if (out->period_start[0] && out->period_end[0] &&
        time_parse_rfc3339(out->period_start, &s) == 0 &&
        time_parse_rfc3339(out->period_end, &e) == 0 && s <= now_ms && now_ms < e)
        return;
    month_bounds(now_ms, out->period_start, out->period_end);
}

int billing_entitlement(db_conn *c, const char *user_id, entitlement *out)
{
    memset(out, 0, sizeof(*out));
    int64_t now_ms = time_now_ms();
    char now[RFC3339_LEN];
    time_format_rfc3339(now_ms, now);
    const db_param p[] = {DB_TEXT(user_id), DB_TEXT(now)};
    db_rows *r = NULL;
    /* Active and trialing run to the period's end; past_due runs to grace_until, fixed when
     * the status changed. Several rows (a plan switch, a provider change): active before
     * past_due, then the one that runs longest. */
    int rc = db_query(c,
                      "SELECT plan_id, status, current_period_start, current_period_end, "
                      "cancel_at_period_end, provider, id, stripe_subscription_id, grace_until "
                      "FROM subscriptions WHERE user_id = $1 AND "
                      "((status IN ('active', 'trialing') AND current_period_end > $2) OR "
                      "(status = 'past_due' AND grace_until > $2)) "
                      "ORDER BY CASE WHEN status = 'past_due' THEN 1 ELSE 0 END, "
                      "current_period_end DESC, id DESC LIMIT 1",
                      p, 2, &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) == 1) {
        snprintf(out->plan, sizeof(out->plan), "%s", db_col_text(r, 0));
        snprintf(out->status, sizeof(out->status), "%s", db_col_text(r, 1));
        snprintf(out->period_start, sizeof(out->period_start), "%s",
                 db_col_text(r, 2) ? db_col_text(r, 2) : "");
        snprintf(out->period_end, sizeof(out->period_end), "%s",
                 db_col_text(r, 3) ? db_col_text(r, 3) : "");
        out->cancel_at_period_end = (int)db_col_int(r, 4);
        snprintf(out->provider, sizeof(out->provider), "%s", db_col_text(r, 5));
        snprintf(out->subscription_id, sizeof(out->subscription_id), "%s", db_col_text(r, 6));
        snprintf(out->stripe_subscription_id, sizeof(out->stripe_subscription_id), "%s",
                 db_col_text(r, 7) ? db_col_text(r, 7) : "");
        if (strcmp(out->status, "past_due") == 0 && db_col_text(r, 8))
            snprintf(out->grace_until, sizeof(out->grace_until), "%s", db_col_text(r, 8));
        out->paid = 1;
    } else {
        snprintf(out->plan, sizeof(out->plan), "free");
        snprintf(out->status, sizeof(out->status), "active");
    }
    db_rows_free(r);
    usage_window(out, now_ms);
    rc = load_plan(c, out->plan, out);
    if (rc != DB_OK)
        return rc;
    const db_param u[] = {DB_TEXT(user_id), DB_TEXT(out->period_start),
                          DB_TEXT(out->period_end)};
    rc = db_query(c,
                  "SELECT COALESCE(SUM(CASE WHEN kind = 'session_started' THEN quantity ELSE 0 "
                  "END), 0), COALESCE(SUM(CASE WHEN kind = 'voice_seconds' THEN quantity ELSE 0 "
                  "END), 0) FROM usage_events WHERE user_id = $1 AND created_at >= $2 AND "
                  "created_at < $3",
                  u, 3, &r);
    if (rc != DB_OK)
        return rc;
    if (db_rows_next(r) == 1) {
        out->sessions_used = db_col_int(r, 0);
        out->voice_seconds_used = db_col_int(r, 1);
    }
    db_rows_free(r);
    return DB_OK;
}

int billing_lock_user(db_conn *c, const char *user_id)
{
    if (db_conn_kind(c) != DB_POSTGRES)
        return DB_OK; /* BEGIN IMMEDIATE already made this transaction the only writer */
    const db_param p[] = {DB_TEXT(user_id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT id FROM users WHERE id = $1 FOR UPDATE", p, 1, &r);
    if (rc == DB_OK)
        rc = db_rows_next(r) >= 0 ? DB_OK : DB_ERROR;
    db_rows_free(r);
    return rc;
}

int billing_record_session(db_conn *c, const char *user_id, const char *session_id)
{
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(id), DB_TEXT(user_id), DB_TEXT(session_id), DB_TEXT(now)};
    return db_exec(c,
                   "INSERT INTO usage_events (id, user_id, session_id, kind, quantity, created_at) "
                   "VALUES ($1, $2, $3, 'session_started', 1, $4)",
                   p, 4, NULL);
}

int billing_record_voice_seconds(db_conn *c, const char *user_id, const char *session_id,
                                 long long seconds)
{
    if (seconds < 0)
        return DB_ERROR;
    if (seconds == 0)
        return DB_OK;
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(id), DB_TEXT(user_id), DB_TEXT(session_id), DB_INT(seconds),
                          DB_TEXT(now)};
    return db_exec(c,
                   "INSERT INTO usage_events (id, user_id, session_id, kind, quantity, created_at) "
                   "VALUES ($1, $2, $3, 'voice_seconds', $4, $5)",
                   p, 5, NULL);
}
