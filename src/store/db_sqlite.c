/* The SQLite driver: WAL connections with foreign keys on, a per-connection cache of prepared
 * statements keyed by SQL text, $N placeholders bound by name, and the one-writer rule: a
 * writer lock shared by the pool serialises writers inside the process, so they queue here
 * instead of failing with SQLITE_BUSY (other processes are handled by busy_timeout). */
#include "store/db_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#define SQ_CACHE_SIZE 64

/* The writer lock: a flag under a mutex rather than a bare mutex, so it can be waited on with
 * a timeout and released by whichever thread ends the transaction. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int held;
} sq_writer;

typedef struct {
    char *sql;
    uint64_t hash;
    sqlite3_stmt *st;
    uint64_t used; /* LRU tick */
    int busy;      /* a cursor is stepping it */
} sq_stmt;

typedef struct {
    struct db_conn base;
    sqlite3 *h;
    sq_stmt cache[SQ_CACHE_SIZE];
    size_t ncache;
    uint64_t tick;
    int holds_writer;
} sq_conn;

typedef struct {
    struct db_rows base;
    sqlite3_stmt *st;
    sq_stmt *entry; /* NULL when the statement is not cached (finalized on free) */
    int first_rc;   /* result of the first step, taken in db_query so errors surface there */
    int started;
    int done;
    int holds_writer; /* an autocommit write (e.g. INSERT … RETURNING) holds it until done */
} sq_rows;

static int sq_init(db *d, char *err, size_t errlen);
static void sq_fini(db *d);
static db_conn *sq_connect(db *d, char *err, size_t errlen);
static void sq_disconnect(db_conn *c);
static int sq_check(db_conn *c);
static void sq_reset(db_conn *c);
static int sq_exec(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                   int64_t *affected);
static int sq_exec_script(db_conn *c, const char *sql);
static int sq_query(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                    db_rows **out);
static int sq_rows_next(db_rows *r);
static void sq_rows_free(db_rows *r);
static size_t sq_col_count(const db_rows *r);
static const char *sq_col_name(const db_rows *r, size_t i);
static int sq_col_is_null(const db_rows *r, size_t i);
static const char *sq_col_text(const db_rows *r, size_t i);
static int64_t sq_col_int(const db_rows *r, size_t i);
static double sq_col_double(const db_rows *r, size_t i);
static const void *sq_col_blob(const db_rows *r, size_t i, size_t *len);
static int sq_begin(db_conn *c);
static int sq_commit(db_conn *c);
static void sq_rollback(db_conn *c);

const struct db_ops db_sqlite_ops = {
    .init = sq_init,
    .fini = sq_fini,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .check = sq_check,
    .reset = sq_reset,
    .exec = sq_exec,
    .exec_script = sq_exec_script,
    .query = sq_query,
    .rows_next = sq_rows_next,
    .rows_free = sq_rows_free,
    .col_count = sq_col_count,
    .col_name = sq_col_name,
    .col_is_null = sq_col_is_null,
    .col_text = sq_col_text,
    .col_int = sq_col_int,
    .col_double = sq_col_double,
    .col_blob = sq_col_blob,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
};

/* ---- errors ---- */

static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return DB_ECONSTRAINT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DB_EBUSY;
    case SQLITE_CANTOPEN:
        return DB_EUNAVAILABLE;
    default:
        return DB_ERROR;
    }
}

static int sq_fail(sq_conn *sc, int rc)
{
    return db_fail(&sc->base, map_code(rc), "sqlite: %s (code %d)", sqlite3_errmsg(sc->h), rc);
}

/* ---- the writer lock ---- */

static int writer_lock(sq_conn *sc)
{
    sq_writer *w = sc->base.owner->drv;
    struct timespec deadline;
    int rc = 0;

    db_deadline(&deadline, sc->base.owner->timeout_ms);
    if (pthread_mutex_lock(&w->mu) != 0)
        return db_fail(&sc->base, DB_ERROR, "sqlite: writer lock failed");
    while (w->held && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
    if (!w->held) {
        w->held = 1;
        rc = 0;
    }
    (void)pthread_mutex_unlock(&w->mu);
    if (rc == ETIMEDOUT)
        return db_fail(&sc->base, DB_EBUSY,
                       "sqlite: timed out waiting for the writer lock (a transaction held it "
                       "for more than %d ms)",
                       sc->base.owner->timeout_ms);
    sc->holds_writer = 1;
    return DB_OK;
}

static void writer_unlock(sq_conn *sc)
{
    sq_writer *w = sc->base.owner->drv;
    if (!sc->holds_writer)
        return;
    sc->holds_writer = 0;
    (void)pthread_mutex_lock(&w->mu);
    w->held = 0;
    (void)pthread_cond_signal(&w->cv);
    (void)pthread_mutex_unlock(&w->mu);
}

/* ---- driver setup ---- */

static int sq_init(db *d, char *err, size_t errlen)
{
    sq_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        (void)snprintf(err, errlen, "out of memory");
        return DB_ERROR;
    }
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        (void)snprintf(err, errlen, "cannot initialise the sqlite writer lock");
        return DB_ERROR;
    }
    if (db_cond_init(&w->cv) != 0) {
        (void)pthread_mutex_destroy(&w->mu);
        free(w);
        (void)snprintf(err, errlen, "cannot initialise the sqlite writer lock");
        return DB_ERROR;
    }
    d->drv = w;
    return DB_OK;
}

static void sq_fini(db *d)
{
    sq_writer *w = d->drv;
    if (!w)
        return;
    (void)pthread_mutex_destroy(&w->mu);
    (void)pthread_cond_destroy(&w->cv);
    free(w);
    d->drv = NULL;
}

static db_conn *sq_connect(db *d, char *err, size_t errlen)
{
    static const char *const pragmas[] = {
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous = NORMAL",
    };
    sq_conn *sc = calloc(1, sizeof(*sc));
    char *msg = NULL;
    int memory = strcmp(d->target, ":memory:") == 0;
    int rc;

    if (!sc) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sc->base.owner = d;
    rc = sqlite3_open_v2(d->target, &sc->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        (void)snprintf(err, errlen,
                       "cannot open SQLite database %s: %s (does the directory exist and is it "
                       "writable?)",
                       d->target, sc->h ? sqlite3_errmsg(sc->h) : sqlite3_errstr(rc));
        goto fail;
    }
    (void)sqlite3_extended_result_codes(sc->h, 1);
    /* Set before anything else: switching to WAL itself may have to wait for other openers. */
    (void)sqlite3_busy_timeout(sc->h, d->timeout_ms);
    if (!memory) {
        sqlite3_stmt *st = NULL;
        /* Switching a fresh file to WAL while another process does the same can answer BUSY
         * at once: SQLite does not call the busy handler in that lock state. Retry until the
         * busy timeout instead of failing a concurrent start. */
        for (int waited_ms = 0;; waited_ms += 10) {
            rc = st ? SQLITE_OK : sqlite3_prepare_v2(sc->h, "PRAGMA journal_mode = WAL", -1, &st,
                                                     NULL);
            if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
            if (rc == SQLITE_ROW || (rc & 0xff) != SQLITE_BUSY || waited_ms >= d->timeout_ms)
                break;
            (void)usleep(10 * 1000);
            if (st)
                (void)sqlite3_reset(st);
        }
        if (rc != SQLITE_ROW) {
            (void)snprintf(err, errlen, "cannot switch SQLite database %s to WAL: %s", d->target,
                           sqlite3_errmsg(sc->h));
            (void)sqlite3_finalize(st);
            goto fail;
        }
        const unsigned char *mode = sqlite3_column_text(st, 0);
        if (!mode || strcmp((const char *)mode, "wal") != 0) {
            (void)snprintf(err, errlen, "SQLite database %s refused WAL mode (got %s)", d->target,
                           mode ? (const char *)mode : "nothing");
            (void)sqlite3_finalize(st);
            goto fail;
        }
        (void)sqlite3_finalize(st);
    }
    for (size_t i = 0; i < ARRAY_LEN(pragmas); i++) {
        rc = sqlite3_exec(sc->h, pragmas[i], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            (void)snprintf(err, errlen, "SQLite %s failed: %s", pragmas[i],
                           msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            goto fail;
        }
    }
    return &sc->base;
fail:
    (void)sqlite3_close(sc->h);
    free(sc);
    return NULL;
}

static void cache_drop(sq_stmt *e)
{
    (void)sqlite3_finalize(e->st);
    free(e->sql);
    memset(e, 0, sizeof(*e));
}

static void sq_disconnect(db_conn *c)
{
    sq_conn *sc = (sq_conn *)c;
    for (size_t i = 0; i < sc->ncache; i++)
        cache_drop(&sc->cache[i]);
    writer_unlock(sc);
    (void)sqlite3_close(sc->h);
    free(sc);
}

static int sq_check(db_conn *c)
{
    (void)c;
    return DB_OK;
}

static void sq_reset(db_conn *c)
{
    sq_conn *sc = (sq_conn *)c;
    /* A transaction opened behind the API's back (db_exec "BEGIN") must not leak to the next
     * borrower. */
    if (!sqlite3_get_autocommit(sc->h))
        (void)sqlite3_exec(sc->h, "ROLLBACK", NULL, NULL, NULL);
    writer_unlock(sc);
}

/* ---- statements ---- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int only_space(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != ';')
            return 0;
    }
    return 1;
}

static int prepare(sq_conn *sc, const char *sql, unsigned flags, sqlite3_stmt **st)
{
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(sc->h, sql, -1, flags, st, &tail);
    if (rc != SQLITE_OK)
        return sq_fail(sc, rc);
    if (!*st)
        return db_fail(&sc->base, DB_ERROR, "sqlite: empty statement");
    if (tail && !only_space(tail)) {
        (void)sqlite3_finalize(*st);
        *st = NULL;
        return db_fail(&sc->base, DB_ERROR,
                       "sqlite: several statements given where one is expected (use "
                       "db_exec_script)");
    }
    return DB_OK;
}

/* Finds or prepares the statement for sql. *entry is NULL when the statement is private to
 * this call (the cached one is in use by an open cursor, or the cache is full of busy ones). */
static int stmt_get(sq_conn *sc, const char *sql, sqlite3_stmt **st, sq_stmt **entry)
{
    uint64_t h = fnv1a(sql);
    sq_stmt *victim = NULL;
    int rc;

    *st = NULL;
    *entry = NULL;
    sc->tick++;
    for (size_t i = 0; i < sc->ncache; i++) {
        sq_stmt *e = &sc->cache[i];
        if (e->hash == h && strcmp(e->sql, sql) == 0) {
            if (e->busy)
                return prepare(sc, sql, 0, st);
            e->used = sc->tick;
            e->busy = 1;
            *st = e->st;
            *entry = e;
            return DB_OK;
        }
    }
    rc = prepare(sc, sql, SQLITE_PREPARE_PERSISTENT, st);
    if (rc != DB_OK)
        return rc;
    if (sc->ncache < SQ_CACHE_SIZE) {
        victim = &sc->cache[sc->ncache++];
    } else {
        for (size_t i = 0; i < sc->ncache; i++) {
            sq_stmt *e = &sc->cache[i];
            if (!e->busy && (!victim || e->used < victim->used))
                victim = e;
        }
        if (!victim)
            return DB_OK; /* every entry is being stepped: keep this one private */
        cache_drop(victim);
    }
    victim->sql = strdup(sql);
    if (!victim->sql) {
        /* Out of memory for the key: the slot stays empty only if it was the last one. */
        if (victim == &sc->cache[sc->ncache - 1])
            sc->ncache--;
        return DB_OK;
    }
    victim->hash = h;
    victim->st = *st;
    victim->used = sc->tick;
    victim->busy = 1;
    *entry = victim;
    return DB_OK;
}

static void stmt_put(sqlite3_stmt *st, sq_stmt *entry)
{
    if (!st)
        return;
    if (entry) {
        (void)sqlite3_reset(st);
        (void)sqlite3_clear_bindings(st);
        entry->busy = 0;
    } else {
        (void)sqlite3_finalize(st);
    }
}

/* Binds params[k-1] to every "$k" in the statement. SQLite gives repeated names one index, so
 * "$1 … $1" is bound once. Like PostgreSQL, the highest $k must equal nparams. */
static int bind_params(sq_conn *sc, sqlite3_stmt *st, const db_param *params, size_t nparams)
{
    int count = sqlite3_bind_parameter_count(st);
    size_t highest = 0;

    for (int idx = 1; idx <= count; idx++) {
        const char *name = sqlite3_bind_parameter_name(st, idx);
        char *end = NULL;
        if (!name || name[0] != '$' || name[1] < '1' || name[1] > '9')
            return db_fail(&sc->base, DB_ERROR, "sqlite: placeholder %s is not of the form $1..$n",
                           name ? name : "?");
        errno = 0;
        unsigned long k = strtoul(name + 1, &end, 10);
        if (errno || *end != '\0' || k == 0)
            return db_fail(&sc->base, DB_ERROR,
                           "sqlite: placeholder %s is not of the form $1..$n (casts like ::type "
                           "are PostgreSQL-only)",
                           name);
        if (k > nparams)
            return db_fail(&sc->base, DB_ERROR,
                           "sqlite: statement uses $%lu but only %zu parameters were given", k,
                           nparams);
        if (k > highest)
            highest = k;
        const db_param *p = &params[k - 1];
        int rc;
        switch (p->type) {
        case DBP_TEXT:
            rc = p->text ? sqlite3_bind_text64(st, idx, p->text, strlen(p->text), SQLITE_TRANSIENT,
                                               SQLITE_UTF8)
                         : sqlite3_bind_null(st, idx);
            break;
        case DBP_INT:
        case DBP_BOOL:
            rc = sqlite3_bind_int64(st, idx, p->i);
            break;
        case DBP_DOUBLE:
            rc = sqlite3_bind_double(st, idx, p->d);
            break;
        case DBP_BLOB:
            /* A zero-length blob is a value, not NULL: bind an empty buffer. */
            rc = sqlite3_bind_blob64(st, idx, p->text ? (const void *)p->text : "", p->len,
                                     SQLITE_TRANSIENT);
            break;
        case DBP_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        default:
            return db_fail(&sc->base, DB_ERROR, "sqlite: unknown parameter type %d", (int)p->type);
        }
        if (rc != SQLITE_OK)
            return sq_fail(sc, rc);
    }
    if (highest != nparams)
        return db_fail(&sc->base, DB_ERROR,
                       "sqlite: %zu parameters given but the statement uses %zu", nparams, highest);
    return DB_OK;
}

/* Outside a transaction a statement that writes takes the writer lock for its duration. */
static int needs_writer(sq_conn *sc, sqlite3_stmt *st)
{
    return !sc->base.in_txn && !sc->holds_writer && !sqlite3_stmt_readonly(st);
}

static int sq_exec(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                   int64_t *affected)
{
    sq_conn *sc = (sq_conn *)c;
    sqlite3_stmt *st = NULL;
    sq_stmt *entry = NULL;
    int took_writer = 0;
    int rc = stmt_get(sc, sql, &st, &entry);
    if (rc != DB_OK)
        return rc;
    rc = bind_params(sc, st, params, nparams);
    if (rc != DB_OK)
        goto out;
    if (needs_writer(sc, st)) {
        rc = writer_lock(sc);
        if (rc != DB_OK)
            goto out;
        took_writer = 1;
    }
    sqlite3_int64 before = sqlite3_total_changes64(sc->h);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (step != SQLITE_DONE) {
        rc = sq_fail(sc, step);
        goto out;
    }
    /* sqlite3_changes64 keeps the count of the last DML statement even after DDL; only trust
     * it when this statement changed something. */
    if (affected)
        *affected = sqlite3_total_changes64(sc->h) != before ? sqlite3_changes64(sc->h) : 0;
    rc = DB_OK;
out:
    stmt_put(st, entry);
    if (took_writer)
        writer_unlock(sc);
    return rc;
}

static int sq_exec_script(db_conn *c, const char *sql)
{
    sq_conn *sc = (sq_conn *)c;
    char *msg = NULL;
    int took_writer = 0;
    int rc;

    if (!c->in_txn && !sc->holds_writer) {
        rc = writer_lock(sc);
        if (rc != DB_OK)
            return rc;
        took_writer = 1;
    }
    int src = sqlite3_exec(sc->h, sql, NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        rc =
            db_fail(c, map_code(src), "sqlite: %s (code %d)", msg ? msg : sqlite3_errstr(src), src);
        sqlite3_free(msg);
    } else {
        rc = DB_OK;
    }
    if (took_writer)
        writer_unlock(sc);
    return rc;
}

/* The statement has run to its end (or failed): reset it so an autocommit write commits and a
 * read ends its snapshot, then let the writer lock go. Resetting before unlocking matters. The
 * statement itself stays with the cursor until db_rows_free, so column names and counts remain
 * readable as on PostgreSQL. */
static void rows_complete(sq_rows *r)
{
    if (r->st)
        (void)sqlite3_reset(r->st);
    if (r->holds_writer) {
        r->holds_writer = 0;
        writer_unlock((sq_conn *)r->base.conn);
    }
}

static void rows_finish(sq_rows *r)
{
    rows_complete(r);
    stmt_put(r->st, r->entry);
    r->st = NULL;
    r->entry = NULL;
}

static int sq_query(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                    db_rows **out)
{
    sq_conn *sc = (sq_conn *)c;
    sq_rows *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return db_fail(c, DB_ERROR, "sqlite: out of memory");
    r->base.conn = c;
    rc = stmt_get(sc, sql, &r->st, &r->entry);
    if (rc != DB_OK)
        goto fail;
    rc = bind_params(sc, r->st, params, nparams);
    if (rc != DB_OK)
        goto fail;
    if (needs_writer(sc, r->st)) {
        rc = writer_lock(sc);
        if (rc != DB_OK)
            goto fail;
        r->holds_writer = 1;
    }
    r->first_rc = sqlite3_step(r->st);
    if (r->first_rc != SQLITE_ROW && r->first_rc != SQLITE_DONE) {
        rc = sq_fail(sc, r->first_rc);
        goto fail;
    }
    if (r->first_rc == SQLITE_DONE)
        rows_complete(r);
    *out = &r->base;
    return DB_OK;
fail:
    rows_finish(r);
    free(r);
    return rc;
}

static int sq_rows_next(db_rows *base)
{
    sq_rows *r = (sq_rows *)base;
    int rc;

    if (r->done)
        return 0;
    if (!r->started) {
        r->started = 1;
        rc = r->first_rc;
    } else {
        rc = sqlite3_step(r->st);
    }
    if (rc == SQLITE_ROW)
        return 1;
    r->done = 1;
    if (rc == SQLITE_DONE) {
        rows_complete(r);
        return 0;
    }
    int code = sq_fail((sq_conn *)base->conn, rc);
    rows_complete(r);
    return code;
}

static void sq_rows_free(db_rows *base)
{
    sq_rows *r = (sq_rows *)base;
    rows_finish(r);
    free(r);
}

/* Value getters: only meaningful while a row is current (after db_rows_next returned 1). */
static sqlite3_stmt *cur(const db_rows *base)
{
    const sq_rows *r = (const sq_rows *)base;
    return r->started && !r->done ? r->st : NULL;
}

static size_t sq_col_count(const db_rows *base)
{
    const sq_rows *r = (const sq_rows *)base;
    int n = r->st ? sqlite3_column_count(r->st) : 0;
    return n > 0 ? (size_t)n : 0;
}

static const char *sq_col_name(const db_rows *base, size_t i)
{
    const sq_rows *r = (const sq_rows *)base;
    return r->st ? sqlite3_column_name(r->st, (int)i) : NULL;
}

static int sq_col_is_null(const db_rows *r, size_t i)
{
    sqlite3_stmt *st = cur(r);
    return !st || sqlite3_column_type(st, (int)i) == SQLITE_NULL;
}

static const char *sq_col_text(const db_rows *r, size_t i)
{
    sqlite3_stmt *st = cur(r);
    return st ? (const char *)sqlite3_column_text(st, (int)i) : NULL;
}

static int64_t sq_col_int(const db_rows *r, size_t i)
{
    sqlite3_stmt *st = cur(r);
    return st ? sqlite3_column_int64(st, (int)i) : 0;
}

static double sq_col_double(const db_rows *r, size_t i)
{
    sqlite3_stmt *st = cur(r);
    return st ? sqlite3_column_double(st, (int)i) : 0.0;
}

static const void *sq_col_blob(const db_rows *r, size_t i, size_t *len)
{
    sqlite3_stmt *st = cur(r);
    if (!st || sqlite3_column_type(st, (int)i) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(st, (int)i);
    int n = sqlite3_column_bytes(st, (int)i);
    *len = n > 0 ? (size_t)n : 0;
    return p ? p : ""; /* SQLite returns NULL for an empty blob; it is a value, not NULL */
}

/* ---- transactions ---- */

static int sq_begin(db_conn *c)
{
    sq_conn *sc = (sq_conn *)c;
    char *msg = NULL;
    int rc = writer_lock(sc);
    if (rc != DB_OK)
        return rc;
    /* IMMEDIATE takes SQLite's write lock now, so the transaction cannot fail later with
     * SQLITE_BUSY when it first writes (other processes wait in busy_timeout here). */
    int src = sqlite3_exec(sc->h, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        rc = db_fail(c, map_code(src), "sqlite: BEGIN IMMEDIATE failed: %s",
                     msg ? msg : sqlite3_errstr(src));
        sqlite3_free(msg);
        writer_unlock(sc);
        return rc;
    }
    return DB_OK;
}

static int sq_commit(db_conn *c)
{
    sq_conn *sc = (sq_conn *)c;
    char *msg = NULL;
    int rc = DB_OK;
    int src = sqlite3_exec(sc->h, "COMMIT", NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        rc =
            db_fail(c, map_code(src), "sqlite: COMMIT failed: %s", msg ? msg : sqlite3_errstr(src));
        sqlite3_free(msg);
        if (!sqlite3_get_autocommit(sc->h))
            (void)sqlite3_exec(sc->h, "ROLLBACK", NULL, NULL, NULL);
    }
    writer_unlock(sc);
    return rc;
}

static void sq_rollback(db_conn *c)
{
    sq_conn *sc = (sq_conn *)c;
    if (!sqlite3_get_autocommit(sc->h))
        (void)sqlite3_exec(sc->h, "ROLLBACK", NULL, NULL, NULL);
    writer_unlock(sc);
}
