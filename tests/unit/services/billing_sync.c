/* Subscription state from Stripe on both drivers (src/services/billing/sync.c, billing.c):
 * the out-of-order rule (event time, then the kind of event, then the object's own period),
 * the past_due grace period, who a subscription belongs to, the entitlement that follows, and
 * voice seconds counted for the sessions team. PostgreSQL runs need PRAXIS_TEST_PG_URL. */
#include "services/billing/internal.h"

#include "core/ids.h"
#include "core/timeutil.h"
#include "testdb.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#define DAY_MS 86400000LL

typedef struct {
    testdb t;
    config cfg;
    char user[UUID_STR_LEN];
} fixture;

static int setup(void **state, int postgres)
{
    int rc = testdb_fixture_setup(state, sizeof(fixture), postgres, "billing", 2);
    fixture *fx = *state;
    if (rc != 0 || !fx)
        return rc;
    fx->cfg.billing_grace_days = 3;
    fx->cfg.stripe_price_standard = "price_S";
    fx->cfg.stripe_price_premium = "price_P";
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    char now[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    const char *plans[][3] = {{"free", "0", "3"}, {"standard", "2900", "30"},
                              {"premium", "5900", NULL}};
    for (size_t i = 0; i < ARRAY_LEN(plans); i++) {
        const db_param p[] = {DB_TEXT(plans[i][0]), DB_INT(atoi(plans[i][1])),
                              plans[i][2] ? DB_INT(atoi(plans[i][2])) : DB_NULL,
                              DB_BOOL(i > 0), DB_TEXT(now)};
        assert_int_equal(db_exec(c,
                                 "INSERT INTO plans (id, name, price_minor, currency, "
                                 "\"interval\", sessions_per_month, voice, llm, sort_order, "
                                 "created_at, updated_at) VALUES ($1, $1, $2, 'usd', 'month', "
                                 "$3, $4, FALSE, 0, $5, $5)",
                                 p, ARRAY_LEN(p), NULL),
                         DB_OK);
    }
    id_uuid7(fx->user);
    char email[80];
    snprintf(email, sizeof(email), "%s@example.org", fx->user);
    const db_param u[] = {DB_TEXT(fx->user), DB_TEXT(now), DB_TEXT(email)};
    assert_int_equal(db_exec(c,
                             "INSERT INTO users (id, email, password_hash, full_name, profession, "
                             "created_at, updated_at) VALUES ($1, $3, 'x', 'Sam', 'nursing', $2, "
                             "$2)",
                             u, 3, NULL),
                     DB_OK);
    const db_param cu[] = {DB_TEXT(fx->user), DB_TEXT(now)};
    assert_int_equal(db_exec(c,
                             "INSERT INTO billing_customers (user_id, stripe_customer_id, "
                             "created_at) VALUES ($1, 'cus_1', $2)",
                             cu, 2, NULL),
                     DB_OK);
    db_release(c);
    return 0;
}

static int setup_sqlite(void **state) { return setup(state, 0); }
static int setup_pg(void **state) { return setup(state, 1); }
static int teardown(void **state) { return testdb_fixture_teardown(state); }

/* A subscription object as Stripe sends it; period in seconds relative to now. */
static json_t *sub_obj(const char *status, const char *price, int64_t start_s, int64_t end_s,
                       int cancel)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:{s:[{s:{s:s}}]}}", "id", "sub_1",
                     "object", "subscription", "customer", "cus_1", "status", status,
                     "cancel_at_period_end", cancel, "current_period_start", (json_int_t)start_s,
                     "current_period_end", (json_int_t)end_s, "items", "data", "price", "id",
                     price);
}

/* Applies obj as an event at at_s of rank; returns the outcome. */
static apply_outcome apply(fixture *fx, json_t *obj, int64_t at_s, int rank)
{
    sub_state s;
    const char *why = NULL;
    assert_int_equal(billing_sub_read(&fx->cfg, obj, &s, &why), 0);
    json_decref(obj);
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    apply_outcome out = APPLY_IGNORED;
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(billing_sub_apply(c, NULL, &fx->cfg, &s, at_s * 1000, rank, "evt_test",
                                       NULL, &out),
                     DB_OK);
    assert_int_equal(db_commit(c), DB_OK);
    db_release(c);
    return out;
}

static void entitled(fixture *fx, entitlement *e)
{
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    assert_int_equal(billing_entitlement(c, fx->user, e), DB_OK);
    db_release(c);
}

static long long count(fixture *fx, const char *sql)
{
    db_conn *c = db_acquire(fx->t.d);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, sql, NULL, 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    long long n = db_col_int(r, 0);
    db_rows_free(r);
    db_release(c);
    return n;
}

static void test_out_of_order(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    int64_t now = time_now_ms() / 1000, end = now + 30 * 86400;
    assert_int_equal(apply(fx, sub_obj("active", "price_S", now - 60, end, 0), now - 10,
                           RANK_UPDATED),
                     APPLY_APPLIED);
    entitlement e;
    entitled(fx, &e);
    assert_string_equal(e.plan, "standard");
    assert_string_equal(e.provider, "stripe");
    assert_string_equal(e.stripe_subscription_id, "sub_1");
    assert_true(e.paid);
    /* An older event arrives late: recorded by the caller, changes nothing here. */
    assert_int_equal(apply(fx, sub_obj("incomplete", "price_P", now - 60, end, 1), now - 20,
                           RANK_UPDATED),
                     APPLY_STALE);
    /* Same second: created loses to the updated that already wrote; deleted wins. */
    assert_int_equal(apply(fx, sub_obj("incomplete", "price_S", now - 60, end, 0), now - 10,
                           RANK_CREATED),
                     APPLY_STALE);
    entitled(fx, &e);
    assert_string_equal(e.plan, "standard");
    assert_string_equal(e.status, "active");
    assert_false(e.cancel_at_period_end);
    /* Newer: a plan change and cancel_at_period_end. */
    assert_int_equal(apply(fx, sub_obj("active", "price_P", now - 60, end, 1), now - 5,
                           RANK_UPDATED),
                     APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.plan, "premium");
    assert_true(e.cancel_at_period_end);
    assert_int_equal(e.sessions_limit, -1);
    /* A newer event carrying an earlier period (the object's own clock) is stale too. */
    assert_int_equal(apply(fx, sub_obj("active", "price_S", now - 90 * 86400, now - 60 * 86400, 0),
                           now, RANK_UPDATED),
                     APPLY_STALE);
    assert_int_equal(apply(fx, sub_obj("canceled", "price_P", now - 60, end, 0), now - 5,
                           RANK_DELETED),
                     APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.plan, "free");
    assert_false(e.paid);
    /* Three changes, three audit rows; the stale ones wrote none. */
    assert_int_equal(count(fx, "SELECT count(*) FROM audit_logs WHERE action = "
                               "'billing.subscription_changed'"),
                     3);
    assert_int_equal(count(fx, "SELECT count(*) FROM subscriptions"), 1);
}

static void test_past_due_grace(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    int64_t now = time_now_ms() / 1000, end = now + 30 * 86400;
    assert_int_equal(apply(fx, sub_obj("active", "price_S", now - 60, end, 0), now - 2 * 86400,
                           RANK_CREATED),
                     APPLY_APPLIED);
    /* Payment failed two days ago: inside the three-day grace the plan still applies. */
    assert_int_equal(apply(fx, sub_obj("past_due", "price_S", now - 60, end, 0),
                           now - 2 * 86400 + 1, RANK_UPDATED),
                     APPLY_APPLIED);
    entitlement e;
    entitled(fx, &e);
    assert_string_equal(e.plan, "standard");
    assert_string_equal(e.status, "past_due");
    char want[RFC3339_LEN];
    time_format_rfc3339((now - 2 * 86400 + 1) * 1000 + 3 * DAY_MS, want);
    assert_string_equal(e.grace_until, want);
    /* Another past_due event later does not restart the grace period. */
    assert_int_equal(apply(fx, sub_obj("past_due", "price_S", now - 60, end, 0), now - 100,
                           RANK_UPDATED),
                     APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.grace_until, want);
    /* Four days after the change the grace is over: the free plan. */
    db_conn *c = db_acquire(fx->t.d);
    char old[RFC3339_LEN];
    time_format_rfc3339(time_now_ms() - DAY_MS, old);
    const db_param p[] = {DB_TEXT(old)};
    assert_int_equal(db_exec(c, "UPDATE subscriptions SET grace_until = $1", p, 1, NULL), DB_OK);
    db_release(c);
    entitled(fx, &e);
    assert_string_equal(e.plan, "free");
    /* With BILLING_GRACE_DAYS=0 a new past_due gives no grace at all. */
    fx->cfg.billing_grace_days = 0;
    assert_int_equal(apply(fx, sub_obj("active", "price_S", now - 60, end, 0), now - 50,
                           RANK_UPDATED),
                     APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.plan, "standard");
    assert_int_equal(apply(fx, sub_obj("past_due", "price_S", now - 60, end, 0), now - 40,
                           RANK_UPDATED),
                     APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.plan, "free");
    /* unpaid, canceled, incomplete_expired, paused: the free plan whatever the period. */
    const char *over[] = {"unpaid", "canceled", "incomplete_expired", "paused", "incomplete"};
    for (size_t i = 0; i < ARRAY_LEN(over); i++) {
        assert_int_equal(apply(fx, sub_obj(over[i], "price_S", now - 60, end, 0),
                               now - 30 + (int64_t)i, RANK_UPDATED),
                         APPLY_APPLIED);
        entitled(fx, &e);
        assert_string_equal(e.plan, "free");
    }
    assert_int_equal(apply(fx, sub_obj("trialing", "price_P", now - 60, end, 0), now - 10,
                           RANK_UPDATED),
                     APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.plan, "premium");
}

static void test_linking(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    int64_t now = time_now_ms() / 1000;
    /* Unknown customer, no metadata: nobody's. */
    json_t *o = sub_obj("active", "price_S", now - 60, now + 86400, 0);
    json_object_set_new(o, "customer", json_string("cus_unknown"));
    assert_int_equal(apply(fx, o, now, RANK_CREATED), APPLY_UNLINKED);
    /* metadata.user_id (set by our checkout) links it, any case. */
    o = sub_obj("active", "price_S", now - 60, now + 86400, 0);
    json_object_set_new(o, "customer", json_string("cus_unknown"));
    char upper[UUID_STR_LEN];
    for (size_t i = 0; i < UUID_STR_LEN; i++)
        upper[i] = (char)toupper((unsigned char)fx->user[i]);
    json_object_set_new(o, "metadata", json_pack("{s:s}", "user_id", upper));
    assert_int_equal(apply(fx, o, now, RANK_CREATED), APPLY_APPLIED);
    entitlement e;
    entitled(fx, &e);
    assert_string_equal(e.plan, "standard");
    /* A price that is not ours: no plan to record for a new subscription. */
    o = sub_obj("active", "price_other", now - 60, now + 86400, 0);
    json_object_set_new(o, "id", json_string("sub_2"));
    assert_int_equal(apply(fx, o, now, RANK_CREATED), APPLY_IGNORED);
    /* The newer API shape: the period on the first item. */
    o = json_pack("{s:s, s:s, s:s, s:b, s:{s:[{s:{s:s}, s:I, s:I}]}}", "id", "sub_3", "customer",
                  "cus_1", "status", "active", "cancel_at_period_end", 0, "items", "data",
                  "price", "id", "price_P", "current_period_start", (json_int_t)(now - 60),
                  "current_period_end", (json_int_t)(now + 40 * 86400));
    assert_int_equal(apply(fx, o, now, RANK_CREATED), APPLY_APPLIED);
    entitled(fx, &e);
    assert_string_equal(e.plan, "premium"); /* it runs longest */
    /* Objects we cannot read are refused with a reason. */
    sub_state s;
    const char *why = NULL;
    json_t *bad[] = {
        json_pack("{s:s}", "status", "active"),
        json_pack("{s:s, s:s}", "id", "sub_1", "status", "weird"),
        json_pack("{s:s, s:s, s:s}", "id", "sub 1", "status", "active", "object", "subscription"),
        json_pack("{s:s, s:s, s:s}", "id", "sub_1", "status", "active", "object", "invoice"),
        json_pack("{s:s, s:s, s:s}", "id", "sub_1", "status", "active", "current_period_end",
                  "tomorrow"),
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(billing_sub_read(&fx->cfg, bad[i], &s, &why), -1);
        assert_non_null(why);
        json_decref(bad[i]);
    }
}

static void test_voice_seconds(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    db_conn *c = db_acquire(fx->t.d);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(billing_record_voice_seconds(c, fx->user, NULL, 61), DB_OK);
    assert_int_equal(billing_record_voice_seconds(c, fx->user, NULL, 0), DB_OK);
    assert_int_equal(billing_record_voice_seconds(c, fx->user, NULL, 60), DB_OK);
    assert_int_equal(db_commit(c), DB_OK);
    assert_int_equal(billing_record_voice_seconds(c, fx->user, NULL, -1), DB_ERROR);
    entitlement e;
    assert_int_equal(billing_entitlement(c, fx->user, &e), DB_OK);
    assert_int_equal(e.voice_seconds_used, 121);
    assert_int_equal(e.sessions_used, 0);
    assert_string_equal(e.plan, "free");
    /* A rolled-back transaction counts nothing. */
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(billing_record_voice_seconds(c, fx->user, NULL, 600), DB_OK);
    db_rollback(c);
    assert_int_equal(billing_entitlement(c, fx->user, &e), DB_OK);
    assert_int_equal(e.voice_seconds_used, 121);
    db_release(c);
    assert_int_equal(count(fx, "SELECT count(*) FROM usage_events WHERE kind = 'voice_seconds'"),
                     2);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_out_of_order, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_past_due_grace, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_linking, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_voice_seconds, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_out_of_order, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_past_due_grace, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_linking, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_voice_seconds, setup_pg, teardown),
    };
    int failed = cmocka_run_group_tests_name("billing_sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("billing_postgres", pg_tests, NULL, NULL);
    return failed;
}
