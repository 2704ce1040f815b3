/* The transactional outbox on both drivers: a committed job runs once, a rolled-back one never;
 * dedupe keys; retries with growing backoff until 'failed'; expired leases are taken again; two
 * dispatchers on two handles run each of 200 jobs exactly once; and a job committed before a
 * "crash" runs exactly once after a restart. */
#include "events/outbox.h"
#include "testdb.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/migrate.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define MAX_JOBS 200
#define TOPIC "test.count"

/* What the handlers saw: how often each job (payload "n") ran, and on which dispatcher. */
typedef struct {
    pthread_mutex_t lock;
    int calls;
    int per_job[MAX_JOBS + 1];
    int by_dispatcher[2];
    int fail;       /* the handler reports failure */
    int long_error; /* ... with a 700-character message */
    int sleep_us;
} counter;

typedef struct {
    counter *k;
    int which;
} handler_ctx;

/* testdb first: the fixture is a testdb (testdb_fixture_setup). */
typedef struct {
    testdb t;
    counter k;
    handler_ctx ctx[2];
} fixture;

static int setup(void **state, int postgres)
{
    int rc = testdb_fixture_setup(state, sizeof(fixture), postgres, "outbox", 4);
    fixture *fx = *state;
    if (!fx)
        return rc; /* skipped, or nothing allocated */
    fx->ctx[0] = (handler_ctx){&fx->k, 0};
    fx->ctx[1] = (handler_ctx){&fx->k, 1};
    if (pthread_mutex_init(&fx->k.lock, NULL) != 0)
        return -1;
    return rc;
}

/* A fresh database per test (on the throwaway cluster for PostgreSQL): reruns start clean. */
static int setup_sqlite(void **state) { return setup(state, 0); }
static int setup_pg(void **state) { return setup(state, 1); }

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx)
        (void)pthread_mutex_destroy(&fx->k.lock);
    return testdb_fixture_teardown(state);
}

static int count_handler(const char *topic, const json_t *payload, void *ud, char *err,
                         size_t errlen)
{
    (void)topic;
    handler_ctx *h = ud;
    counter *k = h->k;
    json_int_t n = json_integer_value(json_object_get(payload, "n"));
    if (k->sleep_us)
        usleep((useconds_t)k->sleep_us);
    /* Runs on the dispatcher thread, where a cmocka assert cannot unwind. */
    (void)pthread_mutex_lock(&k->lock);
    k->calls++;
    if (n >= 0 && n <= MAX_JOBS)
        k->per_job[n]++;
    k->by_dispatcher[h->which]++;
    int fail = k->fail, long_error = k->long_error;
    (void)pthread_mutex_unlock(&k->lock);
    if (!fail)
        return 0;
    if (long_error) {
        /* 700 two-byte characters: last_error must keep 500 whole ones. */
        size_t o = 0;
        for (int i = 0; i < 700 && o + 3 < errlen; i++) {
            err[o++] = (char)0xC3;
            err[o++] = (char)0xA9; /* é */
        }
        err[o] = '\0';
    } else {
        snprintf(err, errlen, "boom");
    }
    return -1;
}

static int calls(fixture *fx)
{
    assert_int_equal(pthread_mutex_lock(&fx->k.lock), 0);
    int n = fx->k.calls;
    assert_int_equal(pthread_mutex_unlock(&fx->k.lock), 0);
    return n;
}

static outbox_dispatcher *dispatcher(fixture *fx, db *d, int which, const outbox_options *o)
{
    outbox_dispatcher *disp = outbox_dispatcher_new(d, o);
    assert_non_null(disp);
    assert_int_equal(outbox_register(disp, TOPIC, count_handler, &fx->ctx[which]), 0);
    return disp;
}

static void enqueue_n(db *d, int n, const char *dedupe_key, int commit)
{
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(db_begin(c), DB_OK);
    json_t *p = json_pack("{s:i, s:s}", "n", n, "secret", "tok-SECRET-123");
    assert_int_equal(outbox_enqueue(c, TOPIC, p, dedupe_key), DB_OK);
    json_decref(p);
    if (commit)
        assert_int_equal(db_commit(c), DB_OK);
    else
        db_rollback(c);
    db_release(c);
}

static int64_t count_rows(db *d, const char *where)
{
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    char sql[300];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox %s", where);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, sql, NULL, 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    int64_t n = db_col_int(r, 0);
    db_rows_free(r);
    db_release(c);
    return n;
}

static void exec_sql(db *d, const char *sql, const db_param *p, size_t n)
{
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(db_exec(c, sql, p, n, NULL), DB_OK);
    db_release(c);
}

/* The single job's row. */
typedef struct {
    char id[64];
    char status[16];
    int attempts;
    int64_t next_attempt_ms;
    int has_sent_at;
    int has_lock;
    char last_error[2048];
} job_row;

static void read_job(db *d, job_row *row)
{
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    db_rows *r = NULL;
    assert_int_equal(db_query(c,
                              "SELECT id, status, attempts, next_attempt_at, sent_at, "
                              "locked_until, last_error FROM outbox",
                              NULL, 0, &r),
                     DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    snprintf(row->id, sizeof(row->id), "%s", db_col_text(r, 0));
    snprintf(row->status, sizeof(row->status), "%s", db_col_text(r, 1));
    row->attempts = (int)db_col_int(r, 2);
    assert_int_equal(time_parse_rfc3339(db_col_text(r, 3), &row->next_attempt_ms), 0);
    row->has_sent_at = !db_col_is_null(r, 4);
    row->has_lock = !db_col_is_null(r, 5);
    snprintf(row->last_error, sizeof(row->last_error), "%s",
             db_col_is_null(r, 6) ? "" : db_col_text(r, 6));
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    db_release(c);
}

static void wait_for_sent(db *d, int64_t n, int timeout_ms)
{
    int64_t deadline = time_now_ms() + timeout_ms;
    while (count_rows(d, "WHERE status = 'sent'") < n) {
        if (time_now_ms() > deadline)
            fail_msg("only %lld of %lld jobs sent in time",
                     (long long)count_rows(d, "WHERE status = 'sent'"), (long long)n);
        usleep(10000);
    }
}

static void test_committed_job_runs_once(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, NULL);
    enqueue_n(fx->t.d, 7, NULL, 1);
    job_row row;
    read_job(fx->t.d, &row);
    assert_string_equal(row.status, "pending");
    assert_int_equal(row.attempts, 0);

    assert_int_equal(outbox_run_due(o), 1);
    assert_int_equal(calls(fx), 1);
    assert_int_equal(fx->k.per_job[7], 1);
    read_job(fx->t.d, &row);
    assert_string_equal(row.status, "sent");
    assert_int_equal(row.attempts, 1);
    assert_true(row.has_sent_at);
    assert_false(row.has_lock);
    assert_int_equal(outbox_run_due(o), 0);
    assert_int_equal(calls(fx), 1);

    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    assert_non_null(
        strstr(b.ptr, "praxis_outbox_jobs_total{topic=\"test.count\",result=\"sent\"}"));
    buf_free(&b);
    outbox_dispatcher_free(o);
}

static void test_rolled_back_job_never_runs(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, NULL);
    enqueue_n(fx->t.d, 1, NULL, 0);
    assert_int_equal(count_rows(fx->t.d, ""), 0);
    assert_int_equal(outbox_run_due(o), 0);
    assert_int_equal(calls(fx), 0);
    outbox_dispatcher_free(o);
}

static void test_dedupe_key_queues_once(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    /* Twice in one transaction, which stays usable, then again in another one. */
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    assert_int_equal(db_begin(c), DB_OK);
    json_t *p = json_pack("{s:i}", "n", 3);
    assert_int_equal(outbox_enqueue(c, TOPIC, p, "score:abc"), DB_OK);
    assert_int_equal(outbox_enqueue(c, TOPIC, p, "score:abc"), DB_OK);
    assert_int_equal(outbox_enqueue(c, TOPIC, p, "score:other"), DB_OK);
    assert_int_equal(db_commit(c), DB_OK);
    json_decref(p);
    db_release(c);
    enqueue_n(fx->t.d, 3, "score:abc", 1);
    assert_int_equal(count_rows(fx->t.d, ""), 2);

    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, NULL);
    assert_int_equal(outbox_run_due(o), 2);
    assert_int_equal(fx->k.per_job[3], 2);
    /* Still once after it was sent. */
    enqueue_n(fx->t.d, 3, "score:abc", 1);
    assert_int_equal(outbox_run_due(o), 0);
    assert_int_equal(calls(fx), 2);
    outbox_dispatcher_free(o);
}

static void test_failing_job_backs_off_then_fails(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_init(LOG_WARN, logf);
    fx->k.fail = 1;
    outbox_options opts = {.max_attempts = 4, .base_backoff_ms = 1000};
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, &opts);
    enqueue_n(fx->t.d, 1, NULL, 1);

    int64_t prev_delay = 0;
    job_row row;
    for (int attempt = 1; attempt <= 4; attempt++) {
        fx->k.long_error = attempt == 4;
        int64_t before = time_now_ms();
        assert_int_equal(outbox_run_due(o), 1);
        int64_t after = time_now_ms();
        read_job(fx->t.d, &row);
        assert_int_equal(row.attempts, attempt);
        assert_false(row.has_lock);
        if (attempt < 4) {
            assert_string_equal(row.status, "pending");
            assert_string_equal(row.last_error, "boom");
            /* base * 2^(n-1) +-20%, measured from around the run. */
            int64_t nominal = 1000LL << (attempt - 1);
            int64_t delay = row.next_attempt_ms - before;
            assert_true(delay >= nominal * 8 / 10);
            assert_true(row.next_attempt_ms - after <= nominal * 12 / 10);
            assert_true(delay > prev_delay);
            prev_delay = delay;
            /* Not due yet: nothing runs until the backoff has passed. */
            assert_int_equal(outbox_run_due(o), 0);
            char past[RFC3339_LEN];
            time_format_rfc3339(time_now_ms() - 1000, past);
            db_param p[] = {DB_TEXT(past)};
            exec_sql(fx->t.d, "UPDATE outbox SET next_attempt_at = $1", p, 1);
        }
    }
    assert_string_equal(row.status, "failed");
    assert_false(row.has_sent_at);
    /* 500 characters of "é", whole: 1000 bytes of valid UTF-8. */
    assert_int_equal(strlen(row.last_error), 1000);
    assert_int_equal(outbox_run_due(o), 0);
    assert_int_equal(calls(fx), 4);

    /* One warning per failure, naming topic and id, never the payload. */
    log_init(LOG_ERROR, NULL);
    assert_int_equal(fflush(logf), 0);
    rewind(logf);
    char line[8192];
    int warnings = 0;
    while (fgets(line, sizeof(line), logf)) {
        assert_null(strstr(line, "tok-SECRET-123"));
        if (strstr(line, row.id) && strstr(line, TOPIC))
            warnings++;
    }
    assert_int_equal(warnings, 4);
    assert_int_equal(fclose(logf), 0);
    outbox_dispatcher_free(o);
}

static void test_unknown_topic_fails(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    assert_int_equal(db_begin(c), DB_OK);
    json_t *p = json_pack("{s:s}", "x", "y");
    assert_int_equal(outbox_enqueue(c, "nobody.listens", p, NULL), DB_OK);
    json_decref(p);
    assert_int_equal(db_commit(c), DB_OK);
    db_release(c);
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, NULL);
    assert_int_equal(outbox_run_due(o), 1);
    job_row row;
    read_job(fx->t.d, &row);
    assert_string_equal(row.status, "failed");
    assert_string_equal(row.last_error, "no handler");
    assert_int_equal(row.attempts, 1);
    assert_int_equal(outbox_run_due(o), 0);
    outbox_dispatcher_free(o);
}

static void test_expired_lease_is_taken_again(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    enqueue_n(fx->t.d, 5, NULL, 1);
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, NULL);
    /* A worker holds the job with a live lease: nobody else may run it. */
    char t[RFC3339_LEN];
    time_format_rfc3339(time_now_ms() + 60000, t);
    db_param live[] = {DB_TEXT(t)};
    exec_sql(fx->t.d,
             "UPDATE outbox SET status = 'processing', locked_until = $1, "
             "locked_by = 'other:1:dead', attempts = 1",
             live, 1);
    assert_int_equal(outbox_run_due(o), 0);
    assert_int_equal(calls(fx), 0);
    /* The worker died: once its lease has run out the job is taken again. */
    time_format_rfc3339(time_now_ms() - 1000, t);
    db_param expired[] = {DB_TEXT(t)};
    exec_sql(fx->t.d, "UPDATE outbox SET locked_until = $1", expired, 1);
    assert_int_equal(outbox_run_due(o), 1);
    assert_int_equal(fx->k.per_job[5], 1);
    job_row row;
    read_job(fx->t.d, &row);
    assert_string_equal(row.status, "sent");
    assert_int_equal(row.attempts, 2);
    assert_int_equal(outbox_run_due(o), 0);
    outbox_dispatcher_free(o);
}

/* A job whose worker died during its last attempt (it might be what kills the process) is not
 * run again once its lease runs out: it is marked failed. */
static void test_abandoned_last_attempt_fails(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    enqueue_n(fx->t.d, 4, NULL, 1);
    outbox_options opts = {.max_attempts = 3};
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, &opts);
    char t[RFC3339_LEN];
    time_format_rfc3339(time_now_ms() - 1000, t);
    db_param p[] = {DB_TEXT(t)};
    exec_sql(fx->t.d,
             "UPDATE outbox SET status = 'processing', locked_until = $1, "
             "locked_by = 'other:1:dead', attempts = 3",
             p, 1);
    assert_int_equal(outbox_run_due(o), 1);
    assert_int_equal(calls(fx), 0);
    job_row row;
    read_job(fx->t.d, &row);
    assert_string_equal(row.status, "failed");
    assert_non_null(strstr(row.last_error, "abandoned"));
    assert_int_equal(outbox_run_due(o), 0);
    outbox_dispatcher_free(o);
}

static void test_two_dispatchers_run_each_job_once(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    db *d2 = NULL;
    char err[256];
    db_options o2 = {.url = fx->t.url, .pool_size = 4};
    assert_int_equal(db_open(&o2, &d2, err, sizeof(err)), 0);
    fx->k.sleep_us = 300;
    outbox_options opts = {.poll_ms = 5};
    outbox_dispatcher *a = dispatcher(fx, fx->t.d, 0, &opts);
    outbox_dispatcher *b = dispatcher(fx, d2, 1, &opts);
    assert_int_equal(outbox_dispatcher_start(a), 0);
    assert_int_equal(outbox_dispatcher_start(b), 0);

    /* Queued while both are polling, in batches, so they race for the same rows. */
    for (int i = 1; i <= MAX_JOBS;) {
        db_conn *c = db_acquire(i % 2 ? fx->t.d : d2);
        assert_non_null(c);
        assert_int_equal(db_begin(c), DB_OK);
        for (int k = 0; k < 20 && i <= MAX_JOBS; k++, i++) {
            json_t *p = json_pack("{s:i}", "n", i);
            assert_int_equal(outbox_enqueue(c, TOPIC, p, NULL), DB_OK);
            json_decref(p);
        }
        assert_int_equal(db_commit(c), DB_OK);
        db_release(c);
        outbox_kick(a);
        outbox_kick(b);
    }
    wait_for_sent(fx->t.d, MAX_JOBS, 60000);
    outbox_dispatcher_free(a);
    outbox_dispatcher_free(b);
    for (int i = 1; i <= MAX_JOBS; i++)
        if (fx->k.per_job[i] != 1)
            fail_msg("job %d ran %d times", i, fx->k.per_job[i]);
    assert_int_equal(calls(fx), MAX_JOBS);
    assert_int_equal(count_rows(fx->t.d, "WHERE status = 'sent' AND attempts = 1"), MAX_JOBS);
    fprintf(stderr, "    two dispatchers: %d + %d jobs\n", fx->k.by_dispatcher[0],
            fx->k.by_dispatcher[1]);
    db_close(d2);
}

static void test_job_survives_a_crash(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    /* The process queues a job and "dies" before its dispatcher ran it. */
    outbox_options slow = {.poll_ms = 60000};
    outbox_dispatcher *dead = dispatcher(fx, fx->t.d, 0, &slow);
    enqueue_n(fx->t.d, 9, NULL, 1);
    outbox_dispatcher_free(dead);
    db_close(fx->t.d);
    fx->t.d = NULL;
    assert_int_equal(calls(fx), 0);

    /* Restart on the same database: the job is sent, once. */
    char err[256];
    db_options o = {.url = fx->t.url, .pool_size = 4};
    assert_int_equal(db_open(&o, &fx->t.d, err, sizeof(err)), 0);
    outbox_options opts = {.poll_ms = 20};
    outbox_dispatcher *fresh = dispatcher(fx, fx->t.d, 1, &opts);
    assert_int_equal(outbox_dispatcher_start(fresh), 0);
    wait_for_sent(fx->t.d, 1, 10000);
    usleep(100000); /* a few more polls: nothing runs twice */
    outbox_dispatcher_free(fresh);
    assert_int_equal(calls(fx), 1);
    assert_int_equal(fx->k.per_job[9], 1);
}

static void test_kick_wakes_and_free_returns(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    outbox_options opts = {.poll_ms = 60000};
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, &opts);
    assert_int_equal(outbox_dispatcher_start(o), 0);
    usleep(50000); /* let it reach its 60 s sleep */
    enqueue_n(fx->t.d, 2, NULL, 1);
    outbox_kick(o);
    wait_for_sent(fx->t.d, 1, 5000);
    /* Stopping does not wait for the poll interval. */
    int64_t t0 = time_now_ms();
    outbox_dispatcher_free(o);
    assert_true(time_now_ms() - t0 < 5000);
    assert_int_equal(calls(fx), 1);
}

static void test_bad_arguments(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    json_t *p = json_object();
    assert_int_not_equal(outbox_enqueue(c, "", p, NULL), DB_OK);
    assert_int_not_equal(outbox_enqueue(c, TOPIC, NULL, NULL), DB_OK);
    assert_int_not_equal(outbox_enqueue(c, TOPIC, p, ""), DB_OK);
    json_decref(p);
    db_release(c);
    outbox_dispatcher *o = dispatcher(fx, fx->t.d, 0, NULL);
    /* One handler per topic; none added once the thread runs. */
    assert_int_not_equal(outbox_register(o, TOPIC, count_handler, &fx->ctx[0]), 0);
    assert_int_equal(outbox_dispatcher_start(o), 0);
    assert_int_not_equal(outbox_register(o, "late.topic", count_handler, &fx->ctx[0]), 0);
    outbox_dispatcher_free(o);
    assert_int_equal(count_rows(fx->t.d, ""), 0);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TESTS(setup)                                                                               \
    {                                                                                              \
        T(test_committed_job_runs_once, setup), T(test_rolled_back_job_never_runs, setup),         \
            T(test_dedupe_key_queues_once, setup),                                                 \
            T(test_failing_job_backs_off_then_fails, setup), T(test_unknown_topic_fails, setup),   \
            T(test_expired_lease_is_taken_again, setup),                                           \
            T(test_abandoned_last_attempt_fails, setup),                                           \
            T(test_two_dispatchers_run_each_job_once, setup), T(test_job_survives_a_crash, setup), \
            T(test_kick_wakes_and_free_returns, setup), T(test_bad_arguments, setup),              \
    }

int main(void)
{
    log_init(LOG_ERROR, NULL);
    const struct CMUnitTest sqlite_tests[] = TESTS(setup_sqlite);
    const struct CMUnitTest pg_tests[] = TESTS(setup_pg);
    int failed = cmocka_run_group_tests_name("outbox_sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("outbox_postgres", pg_tests, NULL, NULL);
    metrics_reset();
    return failed;
}
