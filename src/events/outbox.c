/* The transactional outbox (see docs/internals/outbox.md): outbox_enqueue writes a job row in
 * the caller's transaction; the dispatcher thread finds due rows, claims each with a lease by
 * an optimistic UPDATE (so two processes never run the same job at the same time), runs the
 * handler with no transaction open, then records sent / retry with backoff / failed. */
#include "events/outbox.h"

#include "core/utf8.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define OUTBOX_BATCH 16
#define OUTBOX_PAYLOAD_MAX (1024 * 1024)
#define OUTBOX_ERROR_CHARS 500 /* last_error keeps this many characters */
#define OUTBOX_BACKOFF_CAP_MS (3600 * 1000LL)
#define OUTBOX_WORKER_ID_LEN 160

struct handler {
    char *topic;
    outbox_handler_fn fn;
    void *ud;
};

struct outbox_dispatcher {
    db *d;
    outbox_options opts;
    char worker_id[OUTBOX_WORKER_ID_LEN]; /* locked_by: host:pid:random, unique per dispatcher */
    struct handler *handlers;
    size_t nhandlers;
    metric_family *jobs_total;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC; signalled by outbox_kick and on stop */
    int kicked;
    int stop; /* read without the lock between jobs: atomics */
    int started;
    pthread_t thread;
};

/* One due row, copied out of the cursor so no statement stays open while the handler runs. */
struct due_job {
    char id[UUID_STR_LEN];
    char *topic;
    char *payload;
};

enum job_result { JOB_SENT, JOB_RETRY, JOB_FAILED };

static void options_fill(outbox_options *dst, const outbox_options *src);
static int cond_init_monotonic(pthread_cond_t *cv);
static void deadline_after_ms(struct timespec *ts, int ms);
static int stopping(outbox_dispatcher *o);
static void *dispatcher_main(void *arg);
static int fetch_due(outbox_dispatcher *o, int64_t cutoff_ms, struct due_job *jobs, size_t *n);
static void due_jobs_free(struct due_job *jobs, size_t n);
static int run_one(outbox_dispatcher *o, const struct due_job *job);
static int claim(outbox_dispatcher *o, const char *id, int *attempts);
static const struct handler *handler_find(const outbox_dispatcher *o, const char *topic);
static void finish(outbox_dispatcher *o, const struct due_job *job, enum job_result result,
                   int attempts, const char *error, int64_t retry_ms);
static int64_t backoff_ms(const outbox_options *opts, int attempts);
static void error_text(const char *in, char *out, size_t outlen);

int outbox_enqueue(db_conn *c, const char *topic, const json_t *payload, const char *dedupe_key)
{
    if (!c || !topic || !*topic || !payload || (dedupe_key && !*dedupe_key))
        return DB_ERROR;
    char *text = json_dump_compact(payload);
    if (!text)
        return DB_ERROR;
    if (strlen(text) > OUTBOX_PAYLOAD_MAX) {
        free(text);
        return DB_ERROR;
    }
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    db_param p[] = {DB_TEXT(id), DB_TEXT(topic), DB_TEXT(text), DB_TEXT(now), DB_TEXT(dedupe_key)};
    /* A repeated dedupe key is not an error: ON CONFLICT keeps the caller's transaction usable. */
    const char *sql =
        dedupe_key ? "INSERT INTO outbox (id, topic, payload, status, attempts, next_attempt_at, "
                     "dedupe_key, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4) "
                     "ON CONFLICT (dedupe_key) DO NOTHING"
                   : "INSERT INTO outbox (id, topic, payload, status, attempts, next_attempt_at, "
                     "dedupe_key, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4)";
    int rc = db_exec(c, sql, p, ARRAY_LEN(p), NULL);
    free(text);
    return rc;
}

outbox_dispatcher *outbox_dispatcher_new(db *d, const outbox_options *opts)
{
    if (!d)
        return NULL;
    outbox_dispatcher *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->d = d;
    options_fill(&o->opts, opts);
    if (pthread_mutex_init(&o->lock, NULL) != 0) {
        free(o);
        return NULL;
    }
    if (cond_init_monotonic(&o->wake) != 0) {
        (void)pthread_mutex_destroy(&o->lock);
        free(o);
        return NULL;
    }
    char host[64] = "localhost", uuid[UUID_STR_LEN];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    id_uuid7(uuid);
    /* The uuid's last group is random: two dispatchers in one process still differ. */
    snprintf(o->worker_id, sizeof(o->worker_id), "%s:%d:%s", host, (int)getpid(), uuid + 24);
    static const char *const labels[] = {"topic", "result", NULL};
    o->jobs_total =
        metrics_counter("praxis_outbox_jobs_total",
                        "Outbox jobs run, by topic and result (sent, retry, failed).", labels);
    return o;
}

static void options_fill(outbox_options *dst, const outbox_options *src)
{
    outbox_options def = {
        .poll_ms = 200, .max_attempts = 8, .base_backoff_ms = 1000, .lease_ms = 60000};
    *dst = def;
    if (!src)
        return;
    if (src->poll_ms > 0)
        dst->poll_ms = src->poll_ms;
    if (src->max_attempts > 0)
        dst->max_attempts = src->max_attempts;
    if (src->base_backoff_ms > 0)
        dst->base_backoff_ms = src->base_backoff_ms;
    if (src->lease_ms > 0)
        dst->lease_ms = src->lease_ms;
}

static int cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &attr);
    (void)pthread_condattr_destroy(&attr);
    return rc;
}

int outbox_register(outbox_dispatcher *o, const char *topic, outbox_handler_fn fn, void *ud)
{
    /* The thread reads the table without a lock, so it is fixed once the thread runs. */
    if (!o || !topic || !*topic || !fn || o->started)
        return -1;
    for (size_t i = 0; i < o->nhandlers; i++)
        if (strcmp(o->handlers[i].topic, topic) == 0)
            return -1;
    struct handler *h = realloc(o->handlers, (o->nhandlers + 1) * sizeof(*h));
    if (!h)
        return -1;
    o->handlers = h;
    char *t = strdup(topic);
    if (!t)
        return -1;
    o->handlers[o->nhandlers++] = (struct handler){.topic = t, .fn = fn, .ud = ud};
    return 0;
}

int outbox_dispatcher_start(outbox_dispatcher *o)
{
    if (!o || o->started)
        return -1;
    /* Like the worker pool: the thread blocks every signal so SIGTERM reaches the main thread. */
    sigset_t all, old;
    (void)sigfillset(&all);
    int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    int rc = pthread_create(&o->thread, NULL, dispatcher_main, o);
    if (masked)
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    o->started = 1;
    return 0;
}

void outbox_kick(outbox_dispatcher *o)
{
    if (!o || pthread_mutex_lock(&o->lock) != 0)
        return;
    o->kicked = 1;
    (void)pthread_cond_signal(&o->wake);
    (void)pthread_mutex_unlock(&o->lock);
}

void outbox_dispatcher_free(outbox_dispatcher *o)
{
    if (!o)
        return;
    if (pthread_mutex_lock(&o->lock) == 0) {
        __atomic_store_n(&o->stop, 1, __ATOMIC_RELEASE);
        (void)pthread_cond_broadcast(&o->wake);
        (void)pthread_mutex_unlock(&o->lock);
    } else {
        __atomic_store_n(&o->stop, 1, __ATOMIC_RELEASE);
    }
    if (o->started)
        (void)pthread_join(o->thread, NULL);
    for (size_t i = 0; i < o->nhandlers; i++)
        free(o->handlers[i].topic);
    free(o->handlers);
    (void)pthread_cond_destroy(&o->wake);
    (void)pthread_mutex_destroy(&o->lock);
    free(o);
}

static int stopping(outbox_dispatcher *o)
{
    return __atomic_load_n(&o->stop, __ATOMIC_ACQUIRE);
}

static void deadline_after_ms(struct timespec *ts, int ms)
{
    if (clock_gettime(CLOCK_MONOTONIC, ts) != 0) {
        ts->tv_sec = 0;
        ts->tv_nsec = 0;
    }
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *dispatcher_main(void *arg)
{
    outbox_dispatcher *o = arg;
    while (!stopping(o)) {
        int ran = outbox_run_due(o);
        if (pthread_mutex_lock(&o->lock) != 0)
            break;
        /* Work was found: look again at once, new jobs may have been queued meanwhile. A kick
         * that arrived while running is not lost either: it set `kicked` under the lock. */
        if (ran == 0 && !o->kicked && !o->stop) {
            struct timespec deadline;
            deadline_after_ms(&deadline, o->opts.poll_ms);
            (void)pthread_cond_timedwait(&o->wake, &o->lock, &deadline);
        }
        o->kicked = 0;
        (void)pthread_mutex_unlock(&o->lock);
    }
    return NULL;
}

int outbox_run_due(outbox_dispatcher *o)
{
    if (!o)
        return 0;
    /* Everything due at the start of the call, once: a retried job is due again only after
     * now + backoff (>= 1 ms), a claimed one after its lease, so the loop ends. */
    int64_t cutoff = time_now_ms();
    int ran = 0;
    while (!stopping(o)) {
        struct due_job jobs[OUTBOX_BATCH];
        size_t n = 0;
        if (fetch_due(o, cutoff, jobs, &n) != 0 || n == 0)
            break;
        int claimed = 0;
        for (size_t i = 0; i < n && !stopping(o); i++) {
            if (run_one(o, &jobs[i]) == 1) {
                claimed++;
                ran++;
            }
        }
        due_jobs_free(jobs, n);
        /* A short batch was everything; a batch taken entirely by another dispatcher means
         * it is busy on them, and our next poll will see what is left. */
        if (n < OUTBOX_BATCH || claimed == 0)
            break;
    }
    return ran;
}

static int fetch_due(outbox_dispatcher *o, int64_t cutoff_ms, struct due_job *jobs, size_t *n)
{
    *n = 0;
    db_conn *c = db_acquire(o->d);
    if (!c) {
        log_warn("outbox: no database connection, jobs wait for the next poll");
        return -1;
    }
    char cutoff[RFC3339_LEN];
    time_format_rfc3339(cutoff_ms, cutoff);
    db_param p[] = {DB_TEXT(cutoff), DB_INT(OUTBOX_BATCH)};
    db_rows *r = NULL;
    /* A 'processing' row whose lease ran out belongs to a worker that died or hung. */
    int rc = db_query(c,
                      "SELECT id, topic, payload FROM outbox "
                      "WHERE (status = 'pending' AND next_attempt_at <= $1) "
                      "OR (status = 'processing' AND locked_until < $1) "
                      "ORDER BY next_attempt_at, id LIMIT $2",
                      p, ARRAY_LEN(p), &r);
    if (rc != DB_OK) {
        log_warn("outbox: polling for due jobs failed: %s", db_errmsg(c));
        db_release(c);
        return -1;
    }
    while (*n < OUTBOX_BATCH && db_rows_next(r) == 1) {
        const char *id = db_col_text(r, 0);
        const char *topic = db_col_text(r, 1);
        const char *payload = db_col_text(r, 2);
        if (!id || strlen(id) >= UUID_STR_LEN || !topic || !payload)
            continue;
        struct due_job *j = &jobs[*n];
        snprintf(j->id, sizeof(j->id), "%s", id);
        j->topic = strdup(topic);
        j->payload = strdup(payload);
        if (!j->topic || !j->payload) {
            free(j->topic);
            free(j->payload);
            break;
        }
        (*n)++;
    }
    db_rows_free(r);
    db_release(c);
    return 0;
}

static void due_jobs_free(struct due_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].topic);
        free(jobs[i].payload);
    }
}

/* 1 if this dispatcher claimed and ran the job, 0 if someone else has it, -1 on error. */
static int run_one(outbox_dispatcher *o, const struct due_job *job)
{
    int attempts = 0;
    int rc = claim(o, job->id, &attempts);
    if (rc != 1)
        return rc;

    /* The claim counts as an attempt, so a job whose worker died on its last attempt (a job
     * that crashes the process, say) is given up here instead of being retried forever. */
    if (attempts > o->opts.max_attempts) {
        finish(o, job, JOB_FAILED, attempts, "abandoned: the worker of the last attempt stopped",
               0);
        return 1;
    }
    const struct handler *h = handler_find(o, job->topic);
    if (!h) {
        finish(o, job, JOB_FAILED, attempts, "no handler", 0);
        return 1;
    }
    json_error_t jerr;
    json_t *payload = json_loads(job->payload, JSON_DECODE_ANY, &jerr);
    if (!payload) {
        finish(o, job, JOB_FAILED, attempts, "payload is not valid JSON", 0);
        return 1;
    }
    char err[2048];
    err[0] = '\0';
    /* No connection is held and no transaction is open while the handler runs: it may be
     * slow (SMTP) and may use the database itself. */
    int hrc = h->fn(job->topic, payload, h->ud, err, sizeof(err));
    json_decref(payload);
    if (hrc == 0)
        finish(o, job, JOB_SENT, attempts, NULL, 0);
    else if (attempts >= o->opts.max_attempts)
        finish(o, job, JOB_FAILED, attempts, err[0] ? err : "handler failed", 0);
    else
        finish(o, job, JOB_RETRY, attempts, err[0] ? err : "handler failed",
               backoff_ms(&o->opts, attempts));
    return 1;
}

/* The optimistic claim: only one UPDATE can move the row from due to leased, so only one
 * dispatcher (of any process) gets 1 back. */
static int claim(outbox_dispatcher *o, const char *id, int *attempts)
{
    db_conn *c = db_acquire(o->d);
    if (!c)
        return -1;
    int64_t now_ms = time_now_ms();
    char now[RFC3339_LEN], until[RFC3339_LEN];
    time_format_rfc3339(now_ms, now);
    time_format_rfc3339(now_ms + o->opts.lease_ms, until);
    db_param p[] = {DB_TEXT(id), DB_TEXT(until), DB_TEXT(o->worker_id), DB_TEXT(now)};
    db_rows *r = NULL;
    int rc = db_query(c,
                      "UPDATE outbox SET status = 'processing', locked_until = $2, "
                      "locked_by = $3, attempts = attempts + 1 "
                      "WHERE id = $1 AND ((status = 'pending' AND next_attempt_at <= $4) "
                      "OR (status = 'processing' AND locked_until < $4)) "
                      "RETURNING attempts",
                      p, ARRAY_LEN(p), &r);
    if (rc != DB_OK) {
        log_warn("outbox: claiming job %s failed: %s", id, db_errmsg(c));
        db_release(c);
        return -1;
    }
    int got = 0;
    int step = db_rows_next(r);
    if (step == 1) {
        *attempts = (int)db_col_int(r, 0);
        got = 1;
    } else if (step < 0) {
        log_warn("outbox: claiming job %s failed: %s", id, db_errmsg(c));
        got = -1;
    }
    db_rows_free(r);
    db_release(c);
    return got;
}

static const struct handler *handler_find(const outbox_dispatcher *o, const char *topic)
{
    for (size_t i = 0; i < o->nhandlers; i++)
        if (strcmp(o->handlers[i].topic, topic) == 0)
            return &o->handlers[i];
    return NULL;
}

/* Records the outcome. Retry and failure only touch a row this dispatcher still holds: if its
 * lease ran out and another worker took the job, that worker's outcome counts. "Sent" is
 * recorded regardless, since the job did run. */
static void finish(outbox_dispatcher *o, const struct due_job *job, enum job_result result,
                   int attempts, const char *error, int64_t retry_ms)
{
    static const char *const result_names[] = {"sent", "retry", "failed"};
    const char *labels[] = {job->topic, result_names[result]};
    metrics_inc(o->jobs_total, labels, 1);

    char last_error[OUTBOX_ERROR_CHARS * 4 + 1];
    error_text(error ? error : "", last_error, sizeof(last_error));
    if (result != JOB_SENT) {
        /* Once per failure, never the payload: it holds addresses and tokens. */
        json_t *line = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "msg",
                                 result == JOB_RETRY ? "outbox job failed, will retry"
                                                     : "outbox job failed for good",
                                 "topic", job->topic, "id", job->id, "attempt", attempts,
                                 "max_attempts", o->opts.max_attempts, "error", last_error);
        if (line && result == JOB_RETRY)
            (void)json_object_set_new(line, "retry_in_ms", json_integer(retry_ms));
        if (line)
            log_json(LOG_WARN, line);
        else
            log_warn("outbox job %s (%s) failed", job->id, job->topic);
    }

    db_conn *c = db_acquire(o->d);
    if (!c) {
        log_warn("outbox: no database connection to record job %s (%s); it runs again after "
                 "its lease",
                 job->id, job->topic);
        return;
    }
    int64_t now_ms = time_now_ms();
    char now[RFC3339_LEN], next[RFC3339_LEN];
    time_format_rfc3339(now_ms, now);
    int rc;
    int64_t affected = 0;
    if (result == JOB_SENT) {
        db_param p[] = {DB_TEXT(job->id), DB_TEXT(now)};
        rc = db_exec(c,
                     "UPDATE outbox SET status = 'sent', sent_at = $2, locked_until = NULL, "
                     "last_error = NULL WHERE id = $1",
                     p, ARRAY_LEN(p), &affected);
    } else if (result == JOB_RETRY) {
        time_format_rfc3339(now_ms + retry_ms, next);
        db_param p[] = {DB_TEXT(job->id), DB_TEXT(next), DB_TEXT(last_error),
                        DB_TEXT(o->worker_id)};
        rc = db_exec(c,
                     "UPDATE outbox SET status = 'pending', next_attempt_at = $2, "
                     "locked_until = NULL, last_error = $3 "
                     "WHERE id = $1 AND status = 'processing' AND locked_by = $4",
                     p, ARRAY_LEN(p), &affected);
    } else {
        db_param p[] = {DB_TEXT(job->id), DB_TEXT(last_error), DB_TEXT(o->worker_id)};
        rc = db_exec(c,
                     "UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $2 "
                     "WHERE id = $1 AND status = 'processing' AND locked_by = $3",
                     p, ARRAY_LEN(p), &affected);
    }
    if (rc != DB_OK)
        log_warn("outbox: recording job %s (%s) failed: %s; it runs again after its lease", job->id,
                 job->topic, db_errmsg(c));
    else if (affected == 0)
        log_warn("outbox: job %s (%s) was taken over by another worker after its lease ran out",
                 job->id, job->topic);
    db_release(c);
}

/* Retry n waits base * 2^(n-1), capped at an hour, with +-20% jitter so jobs that failed
 * together (an SMTP outage) do not come back together. Never 0: the job must not be due again
 * within the same outbox_run_due. */
static int64_t backoff_ms(const outbox_options *opts, int attempts)
{
    int64_t d = opts->base_backoff_ms;
    for (int i = 1; i < attempts && d < OUTBOX_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > OUTBOX_BACKOFF_CAP_MS)
        d = OUTBOX_BACKOFF_CAP_MS;
    if (sodium_init() < 0)
        return d;
    /* 0.8 .. 1.2 in steps of 1/10000 */
    int64_t jitter = 8000 + (int64_t)randombytes_uniform(4001);
    d = d * jitter / 10000;
    if (d > OUTBOX_BACKOFF_CAP_MS)
        d = OUTBOX_BACKOFF_CAP_MS;
    return d < 1 ? 1 : d;
}

/* last_error: at most OUTBOX_ERROR_CHARS characters of valid UTF-8 (PostgreSQL rejects
 * anything else, and the message may quote a remote server); invalid bytes become '?'. */
static void error_text(const char *in, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = strlen(in), i = 0, o = 0, chars = 0;
    while (i < n && chars < OUTBOX_ERROR_CHARS) {
        size_t len = utf8_seq_len(p + i, n - i);
        if (len == 0) {
            if (o + 1 >= outlen)
                break;
            out[o++] = '?';
            i++;
        } else {
            if (o + len >= outlen)
                break;
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        }
        chars++;
    }
    out[o] = '\0';
}
