/* The driver-independent half of the store: URL parsing and validation, the bounded connection
 * pool (mutex + condvar), dispatch to the SQLite/PostgreSQL vtables, and the transaction rule
 * both drivers share (after an error inside a transaction only a rollback is possible). */
#include "store/db_driver.h"
#include "core/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A parsed DATABASE_URL. */
typedef struct {
    db_driver kind;
    char *target;     /* SQLite path, or the PostgreSQL URL as given */
    char *secret;     /* PostgreSQL password (decoded), if any */
    char *secret_raw; /* the same as written in the URL (may be percent-encoded) */
    int memory;       /* SQLite in-memory database */
} db_url;

static int url_parse(const char *url, db_url *out, char *err, size_t errlen);
static void url_free(db_url *u);
static int starts_with(const char *s, const char *prefix);
static char *dup_range(const char *s, size_t n);
static void scrub_one(char *msg, size_t cap, const char *secret);
static void one_line(char *msg);
static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* The password as written between "user:" and "@" in the authority part, if any. */
static char *raw_password(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return NULL;
    p += 3;
    size_t auth_len = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++) {
        if (p[i] == '@')
            at = p + i;
    }
    if (!at)
        return NULL;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon || colon + 1 == at)
        return NULL;
    return dup_range(colon + 1, (size_t)(at - colon - 1));
}

static int url_parse(const char *url, db_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!url || !*url) {
        err_set(err, errlen, "database URL is empty");
        return DB_ERROR;
    }
    if (starts_with(url, "sqlite:")) {
        const char *path;
        out->kind = DB_SQLITE;
        if (strcmp(url, "sqlite::memory:") == 0 || strcmp(url, "sqlite://:memory:") == 0) {
            out->memory = 1;
            path = ":memory:";
        } else if (starts_with(url, "sqlite://")) {
            path = url + strlen("sqlite://");
        } else {
            err_set(err, errlen,
                    "sqlite URL must start with sqlite:// (sqlite:///abs/path.db or "
                    "sqlite://./rel.db)");
            return DB_ERROR;
        }
        size_t n = strlen(path);
        if (n == 0 || strcmp(path, "/") == 0) {
            err_set(err, errlen,
                    "sqlite URL has no file path (use sqlite:///abs/path.db or "
                    "sqlite://./rel.db)");
            return DB_ERROR;
        }
        if (path[n - 1] == '/' || strcmp(path, ".") == 0 || strcmp(path, "..") == 0) {
            err_set(err, errlen, "sqlite URL names a directory, not a database file");
            return DB_ERROR;
        }
        out->target = strdup(path);
        if (!out->target) {
            err_set(err, errlen, "out of memory");
            return DB_ERROR;
        }
        return DB_OK;
    }
    if (starts_with(url, "postgres://") || starts_with(url, "postgresql://")) {
        out->kind = DB_POSTGRES;
        out->secret_raw = raw_password(url);
        int rc = db_pg_url_check(url, &out->secret, err, errlen);
        if (rc != DB_OK) {
            /* libpq may quote parts of the URL in its message. */
            if (err && errlen) {
                one_line(err);
                scrub_one(err, errlen, out->secret_raw);
                scrub_one(err, errlen, out->secret);
            }
            url_free(out);
            return DB_ERROR;
        }
        out->target = strdup(url);
        if (!out->target) {
            url_free(out);
            err_set(err, errlen, "out of memory");
            return DB_ERROR;
        }
        return DB_OK;
    }
    const char *colon = strchr(url, ':');
    size_t scheme_len = colon ? (size_t)(colon - url) : 0;
    if (scheme_len > 0 && scheme_len < 20)
        err_set(err, errlen,
                "unsupported database URL scheme \"%.*s\" (expected sqlite:// or postgres://)",
                (int)scheme_len, url);
    else
        err_set(err, errlen, "database URL has no scheme (expected sqlite:// or postgres://)");
    return DB_ERROR;
}

static void url_free(db_url *u)
{
    free(u->target);
    free(u->secret);
    free(u->secret_raw);
    memset(u, 0, sizeof(*u));
}

int db_url_valid(const char *url, char *err, size_t errlen)
{
    db_url u;
    if (url_parse(url, &u, err, errlen) != DB_OK)
        return 0;
    url_free(&u);
    return 1;
}

/* ---- messages ---- */

static void scrub_one(char *msg, size_t cap, const char *secret)
{
    if (!msg || !secret || !*secret)
        return;
    size_t slen = strlen(secret);
    char *hit = strstr(msg, secret);
    while (hit) {
        size_t tail = strlen(hit + slen);
        size_t pos = (size_t)(hit - msg);
        /* Replace in place, truncating if "***" is longer than the secret and space runs out. */
        if (pos + 3 + tail + 1 > cap)
            tail = cap > pos + 4 ? cap - pos - 4 : 0;
        memmove(hit + 3, hit + slen, tail);
        memcpy(hit, "***", 3);
        hit[3 + tail] = '\0';
        hit = strstr(hit + 3, secret);
    }
}

/* libpq messages span lines ("…failed\n\tIs the server running…"); logs are one line each. */
static void one_line(char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ' || msg[n - 1] == '\t'))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    }
}

void db_scrub(const db *d, char *msg)
{
    if (!d || !msg)
        return;
    scrub_one(msg, DB_ERRMSG_LEN, d->secret);
    scrub_one(msg, DB_ERRMSG_LEN, d->secret_raw);
}

int db_fail(db_conn *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    one_line(c->err);
    db_scrub(c->owner, c->err);
    return code;
}

void db_deadline(struct timespec *ts, int timeout_ms)
{
    if (clock_gettime(CLOCK_MONOTONIC, ts) != 0) {
        ts->tv_sec = 0;
        ts->tv_nsec = 0;
    }
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int db_cond_init(pthread_cond_t *cv)
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

/* ---- the pool ---- */

int db_open(const db_options *opts, db **out, char *err, size_t errlen)
{
    db_url u;
    db *d = NULL;
    int rc = DB_ERROR;
    int inited = 0;

    *out = NULL;
    if (!opts) {
        err_set(err, errlen, "no database options");
        return DB_ERROR;
    }
    if (opts->pool_size < 1) {
        err_set(err, errlen, "database pool size must be at least 1");
        return DB_ERROR;
    }
    if (opts->busy_timeout_ms < 0) {
        err_set(err, errlen, "database busy timeout must not be negative");
        return DB_ERROR;
    }
    if (url_parse(opts->url, &u, err, errlen) != DB_OK)
        return DB_ERROR;

    d = calloc(1, sizeof(*d));
    if (!d) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    d->kind = u.kind;
    d->ops = u.kind == DB_SQLITE ? &db_sqlite_ops : &db_pg_ops;
    /* Every connection to ":memory:" is a database of its own, so the pool must be one. */
    d->pool_size = u.memory ? 1 : opts->pool_size;
    d->timeout_ms = opts->busy_timeout_ms ? opts->busy_timeout_ms : DB_DEFAULT_TIMEOUT_MS;
    d->target = u.target;
    d->secret = u.secret;
    d->secret_raw = u.secret_raw;
    u.target = NULL;
    u.secret = NULL;
    u.secret_raw = NULL;
    d->idle = calloc((size_t)d->pool_size, sizeof(*d->idle));
    if (!d->idle) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    if (pthread_mutex_init(&d->mu, NULL) != 0 || db_cond_init(&d->cv) != 0) {
        err_set(err, errlen, "cannot initialise the database pool lock");
        goto out;
    }
    inited = 1;
    if (d->ops->init(d, err, errlen) != DB_OK)
        goto out;
    inited = 2;

    /* Connect once now so a wrong URL, password or path fails at startup, not later. */
    db_conn *c = d->ops->connect(d, err, errlen);
    if (!c)
        goto out;
    d->idle[d->nidle++] = c;
    d->nopen = 1;
    *out = d;
    d = NULL;
    rc = DB_OK;
out:
    if (d) {
        if (err && errlen) {
            one_line(err);
            /* Whatever a driver wrote must not carry the password. */
            scrub_one(err, errlen, d->secret);
            scrub_one(err, errlen, d->secret_raw);
        }
        if (inited == 2)
            d->ops->fini(d);
        if (inited) {
            (void)pthread_mutex_destroy(&d->mu);
            (void)pthread_cond_destroy(&d->cv);
        }
        free(d->idle);
        free(d->target);
        free(d->secret);
        free(d->secret_raw);
        free(d);
    }
    url_free(&u);
    return rc;
}

void db_close(db *d)
{
    if (!d)
        return;
    /* Connections still borrowed are a caller bug; only idle ones can be closed safely. */
    for (size_t i = 0; i < d->nidle; i++)
        d->ops->disconnect(d->idle[i]);
    d->ops->fini(d);
    (void)pthread_mutex_destroy(&d->mu);
    (void)pthread_cond_destroy(&d->cv);
    free(d->idle);
    free(d->target);
    free(d->secret);
    free(d->secret_raw);
    free(d);
}

db_driver db_kind(const db *d)
{
    return d->kind;
}

db_conn *db_acquire(db *d)
{
    struct timespec deadline;
    db_conn *c = NULL;
    int create = 0;

    if (!d)
        return NULL;
    db_deadline(&deadline, d->timeout_ms);
    if (pthread_mutex_lock(&d->mu) != 0)
        return NULL;
    for (;;) {
        if (d->nidle > 0) {
            c = d->idle[--d->nidle];
            break;
        }
        if (d->nopen < d->pool_size) {
            d->nopen++; /* reserve the slot; connect outside the lock */
            create = 1;
            break;
        }
        int rc = pthread_cond_timedwait(&d->cv, &d->mu, &deadline);
        if (rc == ETIMEDOUT) {
            (void)pthread_mutex_unlock(&d->mu);
            return NULL;
        }
    }
    (void)pthread_mutex_unlock(&d->mu);

    if (create) {
        char err[DB_ERRMSG_LEN];
        c = d->ops->connect(d, err, sizeof(err));
        if (!c) {
            (void)pthread_mutex_lock(&d->mu);
            d->nopen--;
            (void)pthread_cond_signal(&d->cv);
            (void)pthread_mutex_unlock(&d->mu);
            return NULL;
        }
    } else if (d->ops->check(c) != DB_OK) {
        /* Server unreachable: keep the connection object so the next borrow retries it. */
        (void)pthread_mutex_lock(&d->mu);
        d->idle[d->nidle++] = c;
        (void)pthread_cond_signal(&d->cv);
        (void)pthread_mutex_unlock(&d->mu);
        return NULL;
    }
    c->err[0] = '\0';
    c->in_txn = 0;
    c->txn_failed = 0;
    return c;
}

void db_release(db_conn *c)
{
    if (!c)
        return;
    db *d = c->owner;
    if (c->in_txn) {
        d->ops->rollback(c);
        c->in_txn = 0;
        c->txn_failed = 0;
    }
    d->ops->reset(c);
    (void)pthread_mutex_lock(&d->mu);
    d->idle[d->nidle++] = c;
    (void)pthread_cond_signal(&d->cv);
    (void)pthread_mutex_unlock(&d->mu);
}

int db_ping(db *d, char *err, size_t errlen)
{
    db_rows *r = NULL;
    db_conn *c = db_acquire(d);
    if (!c) {
        err_set(err, errlen, "no database connection available");
        return DB_EUNAVAILABLE;
    }
    int rc = db_query(c, "SELECT 1", NULL, 0, &r);
    if (rc == DB_OK) {
        rc = db_rows_next(r);
        if (rc == 1)
            rc = db_col_int(r, 0) == 1 ? DB_OK : DB_ERROR;
        else if (rc == 0)
            rc = DB_ERROR;
        db_rows_free(r);
    }
    if (rc != DB_OK)
        err_set(err, errlen, "%s", c->err[0] ? c->err : "database ping failed");
    db_release(c);
    return rc;
}

/* ---- statements ---- */

/* PostgreSQL aborts a transaction on any error; the SQLite driver is made to behave the same so
 * code tested on one driver does not rely on continuing after a failure on the other. */
static int txn_guard(db_conn *c)
{
    if (c->in_txn && c->txn_failed) {
        (void)db_fail(c, DB_ERROR,
                      "current transaction is aborted after an earlier error; roll it back");
        return DB_ERROR;
    }
    return DB_OK;
}

static int note_result(db_conn *c, int rc)
{
    if (rc < 0 && c->in_txn)
        c->txn_failed = 1;
    return rc;
}

int db_exec(db_conn *c, const char *sql, const db_param *params, size_t nparams, int64_t *affected)
{
    if (affected)
        *affected = 0;
    if (!c)
        return DB_ERROR;
    if (!sql || (nparams > 0 && !params))
        return db_fail(c, DB_ERROR, "db_exec: no SQL or missing parameters");
    if (txn_guard(c) != DB_OK)
        return DB_ERROR;
    return note_result(c, c->owner->ops->exec(c, sql, params, nparams, affected));
}

int db_exec_script(db_conn *c, const char *sql)
{
    if (!c)
        return DB_ERROR;
    if (!sql)
        return db_fail(c, DB_ERROR, "db_exec_script: no SQL");
    if (txn_guard(c) != DB_OK)
        return DB_ERROR;
    return note_result(c, c->owner->ops->exec_script(c, sql));
}

int db_query(db_conn *c, const char *sql, const db_param *params, size_t nparams, db_rows **out)
{
    *out = NULL;
    if (!c)
        return DB_ERROR;
    if (!sql || (nparams > 0 && !params))
        return db_fail(c, DB_ERROR, "db_query: no SQL or missing parameters");
    if (txn_guard(c) != DB_OK)
        return DB_ERROR;
    return note_result(c, c->owner->ops->query(c, sql, params, nparams, out));
}

int db_rows_next(db_rows *r)
{
    if (!r)
        return 0;
    return note_result(r->conn, r->conn->owner->ops->rows_next(r));
}

void db_rows_free(db_rows *r)
{
    if (r)
        r->conn->owner->ops->rows_free(r);
}

size_t db_col_count(const db_rows *r)
{
    return r->conn->owner->ops->col_count(r);
}

const char *db_col_name(const db_rows *r, size_t i)
{
    if (i >= db_col_count(r))
        return NULL;
    return r->conn->owner->ops->col_name(r, i);
}

int db_col_is_null(const db_rows *r, size_t i)
{
    if (i >= db_col_count(r))
        return 1;
    return r->conn->owner->ops->col_is_null(r, i);
}

const char *db_col_text(const db_rows *r, size_t i)
{
    if (i >= db_col_count(r))
        return NULL;
    return r->conn->owner->ops->col_text(r, i);
}

int64_t db_col_int(const db_rows *r, size_t i)
{
    if (i >= db_col_count(r))
        return 0;
    return r->conn->owner->ops->col_int(r, i);
}

double db_col_double(const db_rows *r, size_t i)
{
    if (i >= db_col_count(r))
        return 0.0;
    return r->conn->owner->ops->col_double(r, i);
}

const void *db_col_blob(const db_rows *r, size_t i, size_t *len)
{
    *len = 0;
    if (i >= db_col_count(r))
        return NULL;
    return r->conn->owner->ops->col_blob(r, i, len);
}

/* ---- transactions ---- */

int db_begin(db_conn *c)
{
    if (!c)
        return DB_ERROR;
    if (c->in_txn)
        return db_fail(c, DB_ERROR, "nested transactions are not supported");
    int rc = c->owner->ops->begin(c);
    if (rc == DB_OK) {
        c->in_txn = 1;
        c->txn_failed = 0;
    }
    return rc;
}

int db_commit(db_conn *c)
{
    if (!c)
        return DB_ERROR;
    if (!c->in_txn)
        return db_fail(c, DB_ERROR, "commit without a transaction");
    if (c->txn_failed) {
        /* Keep the original error message: it is the one worth logging. */
        c->owner->ops->rollback(c);
        c->in_txn = 0;
        c->txn_failed = 0;
        return DB_ERROR;
    }
    int rc = c->owner->ops->commit(c);
    c->in_txn = 0;
    return rc;
}

void db_rollback(db_conn *c)
{
    if (!c || !c->in_txn)
        return;
    c->owner->ops->rollback(c);
    c->in_txn = 0;
    c->txn_failed = 0;
}

const char *db_errmsg(const db_conn *c)
{
    return c ? c->err : "no connection";
}

db_driver db_conn_kind(const db_conn *c)
{
    return c->owner->kind;
}
