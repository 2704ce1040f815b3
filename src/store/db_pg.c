/* The PostgreSQL driver (libpq): connections set to UTC, statements prepared once per
 * connection and cached by SQL text, parameters sent as text (blobs as binary), results
 * normalised so db_col_text reads the same as on SQLite (RFC 3339 ms times, 1/0 booleans), and
 * recovery of connections the server dropped (checked when borrowed, retried when safe). */
#include "store/db_driver.h"

#include "core/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#define PG_CACHE_SIZE 128
#define PG_INLINE_PARAMS 16

/* Type OIDs from pg_type.h (stable across versions). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184

typedef struct {
    char *sql;
    uint64_t hash;
    char name[24];
    int nparams;
    uint64_t used;
} pg_stmt;

typedef struct {
    struct db_conn base;
    PGconn *pg;
    pg_stmt cache[PG_CACHE_SIZE];
    size_t ncache;
    uint64_t tick;
    uint64_t seq;    /* statement names are never reused within a connection's life */
    int server_gone; /* the server sent a FATAL while we were not waiting: the session is over */
} pg_conn;

typedef struct {
    struct db_rows base;
    PGresult *res;
    int nrows;
    int ncols;
    int row;              /* -1 before the first db_rows_next */
    char (*tbuf)[40];     /* per column: normalised time text of the current row */
    unsigned char **bbuf; /* per column: unescaped bytea of the current row */
    size_t *blen;
} pg_rows;

static int pg_init(db *d, char *err, size_t errlen);
static void pg_fini(db *d);
static db_conn *pg_connect(db *d, char *err, size_t errlen);
static void pg_disconnect(db_conn *c);
static int pg_check(db_conn *c);
static void pg_reset(db_conn *c);
static int pg_exec(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                   int64_t *affected);
static int pg_exec_script(db_conn *c, const char *sql);
static int pg_query(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                    db_rows **out);
static int pg_rows_next(db_rows *r);
static void pg_rows_free(db_rows *r);
static size_t pg_col_count(const db_rows *r);
static const char *pg_col_name(const db_rows *r, size_t i);
static int pg_col_is_null(const db_rows *r, size_t i);
static const char *pg_col_text(const db_rows *r, size_t i);
static int64_t pg_col_int(const db_rows *r, size_t i);
static double pg_col_double(const db_rows *r, size_t i);
static const void *pg_col_blob(const db_rows *r, size_t i, size_t *len);
static int pg_begin(db_conn *c);
static int pg_commit(db_conn *c);
static void pg_rollback(db_conn *c);

const struct db_ops db_pg_ops = {
    .init = pg_init,
    .fini = pg_fini,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .check = pg_check,
    .reset = pg_reset,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .query = pg_query,
    .rows_next = pg_rows_next,
    .rows_free = pg_rows_free,
    .col_count = pg_col_count,
    .col_name = pg_col_name,
    .col_is_null = pg_col_is_null,
    .col_text = pg_col_text,
    .col_int = pg_col_int,
    .col_double = pg_col_double,
    .col_blob = pg_col_blob,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
};

/* ---- URL ---- */

int db_pg_url_check(const char *url, char **password, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    *password = NULL;
    if (!opts) {
        (void)snprintf(err, errlen, "invalid PostgreSQL URL: %s", msg ? msg : "cannot be parsed");
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        PQfreemem(msg);
        return DB_ERROR;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            *password = strdup(o->val);
    }
    PQconninfoFree(opts);
    return DB_OK;
}

/* ---- connections ---- */

static int pg_init(db *d, char *err, size_t errlen)
{
    (void)d;
    (void)err;
    (void)errlen;
    return DB_OK;
}

static void pg_fini(db *d)
{
    (void)d;
}

/* libpq prints NOTICEs to stderr by default; the store never prints. It also hands over as a
 * "notice" an error that arrives while the connection is idle, which is how a terminated
 * backend's FATAL 57P01 shows up: remember it, the session is gone. */
static void on_notice(void *arg, const PGresult *res)
{
    pg_conn *pc = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        pc->server_gone = 1;
}

static PGconn *open_pg(pg_conn *pc)
{
    db *d = pc->base.owner;
    char timeout[16];
    /* libpq's connect_timeout is in whole seconds, and it treats values below 2 as 2. */
    int secs = (d->timeout_ms + 999) / 1000;
    (void)snprintf(timeout, sizeof(timeout), "%d", secs < 2 ? 2 : secs);
    /* Keywords listed before dbname are defaults the URL may override. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                                "dbname", NULL};
    const char *const vals[] = {timeout, "praxis", "UTF8", d->target, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (pg)
        (void)PQsetNoticeReceiver(pg, on_notice, pc);
    return pg;
}

/* Session settings every connection needs; rerun after any reconnect. */
static int session_setup(pg_conn *pc)
{
    char sql[256];
    (void)snprintf(sql, sizeof(sql),
                   "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET lock_timeout = %d",
                   pc->base.owner->timeout_ms);
    PGresult *res = PQexec(pc->pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        (void)db_fail(&pc->base, DB_EUNAVAILABLE, "postgres: session setup failed: %s",
                      PQresultErrorMessage(res));
    PQclear(res);
    return ok ? DB_OK : DB_EUNAVAILABLE;
}

/* Prepared statements live in the server session: a new session has none. */
static void cache_clear(pg_conn *pc)
{
    for (size_t i = 0; i < pc->ncache; i++)
        free(pc->cache[i].sql);
    memset(pc->cache, 0, sizeof(pc->cache));
    pc->ncache = 0;
}

static db_conn *pg_connect(db *d, char *err, size_t errlen)
{
    pg_conn *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pc->base.owner = d;
    pc->pg = open_pg(pc);
    if (!pc->pg || PQstatus(pc->pg) != CONNECTION_OK) {
        (void)snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                       pc->pg ? PQerrorMessage(pc->pg) : "out of memory");
        goto fail;
    }
    if (session_setup(pc) != DB_OK) {
        (void)snprintf(err, errlen, "%s", pc->base.err);
        goto fail;
    }
    return &pc->base;
fail : {
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}
    PQfinish(pc->pg);
    free(pc);
    return NULL;
}

static void pg_disconnect(db_conn *c)
{
    pg_conn *pc = (pg_conn *)c;
    cache_clear(pc);
    PQfinish(pc->pg);
    free(pc);
}

/* Re-establishes the session: PQreset first, a fresh connection if that fails. */
static int reconnect(pg_conn *pc)
{
    cache_clear(pc);
    pc->server_gone = 0;
    PQreset(pc->pg);
    if (PQstatus(pc->pg) != CONNECTION_OK) {
        PGconn *fresh = open_pg(pc);
        if (!fresh || PQstatus(fresh) != CONNECTION_OK) {
            (void)db_fail(&pc->base, DB_EUNAVAILABLE, "postgres: reconnect failed: %s",
                          fresh ? PQerrorMessage(fresh) : "out of memory");
            PQfinish(fresh);
            return DB_EUNAVAILABLE;
        }
        PQfinish(pc->pg);
        pc->pg = fresh;
    }
    return session_setup(pc);
}

/* An idle connection should have nothing to read: if it does, the server sent something
 * (typically FATAL 57P01 and then EOF when the backend was terminated), so let libpq read it
 * until it has seen the end, which marks the connection bad. */
static void drain_idle(pg_conn *pc)
{
    for (int i = 0; i < 8 && PQstatus(pc->pg) == CONNECTION_OK; i++) {
        struct pollfd pfd = {.fd = PQsocket(pc->pg), .events = POLLIN};
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
            return;
        if (!PQconsumeInput(pc->pg))
            return;
        PGnotify *n;
        while ((n = PQnotifies(pc->pg)) != NULL)
            PQfreemem(n);
    }
}

static int pg_check(db_conn *c)
{
    pg_conn *pc = (pg_conn *)c;
    if (PQstatus(pc->pg) == CONNECTION_OK)
        drain_idle(pc);
    if (PQstatus(pc->pg) == CONNECTION_OK && !pc->server_gone)
        return DB_OK;
    return reconnect(pc);
}

static void pg_reset(db_conn *c)
{
    pg_conn *pc = (pg_conn *)c;
    if (PQstatus(pc->pg) != CONNECTION_OK)
        return; /* repaired on the next borrow */
    PGTransactionStatusType ts = PQtransactionStatus(pc->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(pc->pg, "ROLLBACK"));
}

/* ---- errors ---- */

static int map_sqlstate(const char *state)
{
    if (!state)
        return DB_ERROR;
    if (strncmp(state, "23", 2) == 0)
        return DB_ECONSTRAINT;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
        return DB_EUNAVAILABLE;
    if (strcmp(state, "55P03") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0)
        return DB_EBUSY;
    return DB_ERROR;
}

/* Stores the error of res (or of the connection) and returns its code. The DETAIL line is left
 * out on purpose: for unique violations it quotes the row's values (emails) into the logs. */
static int res_fail(pg_conn *pc, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int code = map_sqlstate(state);
    if (PQstatus(pc->pg) != CONNECTION_OK)
        code = DB_EUNAVAILABLE;
    if (primary)
        return db_fail(&pc->base, code, "postgres: %s (SQLSTATE %s)", primary, state ? state : "?");
    return db_fail(&pc->base, code, "postgres: %s", PQerrorMessage(pc->pg));
}

static const char *res_state(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

static int res_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Gathers the results of the command just sent, keeping the first error. PQexec would return
 * the last one instead, and when the backend was terminated that is libpq's own "server closed
 * the connection" without the server's SQLSTATE (57P01), which is what tells a safe retry. */
static PGresult *collect(pg_conn *pc, int sent, int *had_ok)
{
    PGresult *keep = NULL;
    PGresult *r;
    if (had_ok)
        *had_ok = 0;
    if (!sent)
        return NULL;
    while ((r = PQgetResult(pc->pg)) != NULL) {
        if (had_ok && res_ok(r))
            *had_ok = 1;
        if (!keep || (res_ok(keep) && !res_ok(r))) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
    }
    return keep;
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

static void deallocate(pg_conn *pc, pg_stmt *e)
{
    char sql[48];
    (void)snprintf(sql, sizeof(sql), "DEALLOCATE %s", e->name);
    /* Fails harmlessly inside an aborted transaction; the statement then lives on unused. */
    if (PQtransactionStatus(pc->pg) == PQTRANS_IDLE ||
        PQtransactionStatus(pc->pg) == PQTRANS_INTRANS)
        PQclear(PQexec(pc->pg, sql));
    free(e->sql);
    memset(e, 0, sizeof(*e));
}

static pg_stmt *cache_find(pg_conn *pc, const char *sql, uint64_t h)
{
    for (size_t i = 0; i < pc->ncache; i++) {
        if (pc->cache[i].hash == h && strcmp(pc->cache[i].sql, sql) == 0)
            return &pc->cache[i];
    }
    return NULL;
}

/* Prepares sql on the server under a new name and caches it (evicting the least recently
 * used entry when full). */
static int stmt_prepare(pg_conn *pc, const char *sql, uint64_t h, pg_stmt **out)
{
    pg_stmt *e;
    char name[24];
    int rc;

    (void)snprintf(name, sizeof(name), "praxis_%" PRIu64, ++pc->seq);
    PGresult *res = collect(pc, PQsendPrepare(pc->pg, name, sql, 0, NULL), NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = res_fail(pc, res);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    /* Ask how many parameters the server inferred, so a count mismatch is our error message
     * rather than a protocol violation (SQLSTATE 08P01) that would look like a lost link. */
    res = collect(pc, PQsendDescribePrepared(pc->pg, name), NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = res_fail(pc, res);
        PQclear(res);
        return rc;
    }
    int nparams = PQnparams(res);
    PQclear(res);

    if (pc->ncache < PG_CACHE_SIZE) {
        e = &pc->cache[pc->ncache++];
    } else {
        e = &pc->cache[0];
        for (size_t i = 1; i < pc->ncache; i++) {
            if (pc->cache[i].used < e->used)
                e = &pc->cache[i];
        }
        deallocate(pc, e);
    }
    e->sql = strdup(sql);
    if (!e->sql) {
        if (e == &pc->cache[pc->ncache - 1])
            pc->ncache--;
        return db_fail(&pc->base, DB_ERROR, "postgres: out of memory");
    }
    memcpy(e->name, name, sizeof(name));
    e->hash = h;
    e->nparams = nparams;
    *out = e;
    return DB_OK;
}

static void cache_remove(pg_conn *pc, pg_stmt *e)
{
    size_t i = (size_t)(e - pc->cache);
    free(e->sql);
    pc->cache[i] = pc->cache[pc->ncache - 1];
    memset(&pc->cache[pc->ncache - 1], 0, sizeof(pc->cache[0]));
    pc->ncache--;
}

/* Runs one statement with parameters and returns its result (status COMMAND_OK or TUPLES_OK).
 * Retries once, outside a transaction only, when it is certain nothing ran: the backend had
 * been terminated (57P01: its FATAL message is read as our result), or the cached statement is
 * gone or stale after a schema change. */
static int pg_run(pg_conn *pc, const char *sql, const db_param *params, size_t nparams,
                  PGresult **out)
{
    const char *vinline[PG_INLINE_PARAMS];
    int linline[PG_INLINE_PARAMS];
    int finline[PG_INLINE_PARAMS];
    char ninline[PG_INLINE_PARAMS][32];
    const char **values = vinline;
    int *lengths = linline;
    int *formats = finline;
    char(*nums)[32] = ninline;
    uint64_t h = fnv1a(sql);
    int rc = DB_ERROR;

    *out = NULL;
    if (nparams > PG_INLINE_PARAMS) {
        values = calloc(nparams, sizeof(*values));
        lengths = calloc(nparams, sizeof(*lengths));
        formats = calloc(nparams, sizeof(*formats));
        nums = calloc(nparams, sizeof(*nums));
        if (!values || !lengths || !formats || !nums) {
            rc = db_fail(&pc->base, DB_ERROR, "postgres: out of memory");
            goto out;
        }
    }
    if (nparams > INT32_MAX) {
        rc = db_fail(&pc->base, DB_ERROR, "postgres: too many parameters");
        goto out;
    }
    for (size_t i = 0; i < nparams; i++) {
        const db_param *p = &params[i];
        lengths[i] = 0;
        formats[i] = 0;
        switch (p->type) {
        case DBP_NULL:
            values[i] = NULL;
            break;
        case DBP_TEXT:
            values[i] = p->text;
            break;
        case DBP_INT:
            (void)snprintf(nums[i], sizeof(nums[i]), "%" PRId64, p->i);
            values[i] = nums[i];
            break;
        case DBP_BOOL:
            /* "1"/"0" read as boolean and as integer, whichever the server inferred. */
            values[i] = p->i ? "1" : "0";
            break;
        case DBP_DOUBLE:
            (void)snprintf(nums[i], sizeof(nums[i]), "%.17g", p->d);
            values[i] = nums[i];
            break;
        case DBP_BLOB:
            if (p->len > INT32_MAX) {
                rc = db_fail(&pc->base, DB_ERROR, "postgres: blob parameter too large");
                goto out;
            }
            values[i] = p->text ? p->text : "";
            lengths[i] = (int)p->len;
            formats[i] = 1; /* binary: bytea's binary form is the bytes themselves */
            break;
        default:
            rc = db_fail(&pc->base, DB_ERROR, "postgres: unknown parameter type %d", (int)p->type);
            goto out;
        }
    }

    for (int attempt = 0; attempt < 2; attempt++) {
        int can_retry = attempt == 0 && !pc->base.in_txn;
        pg_stmt *e = cache_find(pc, sql, h);
        if (!e) {
            rc = stmt_prepare(pc, sql, h, &e);
            if (rc != DB_OK) {
                /* Parse failed: nothing ran, so a dead link can be retried as a whole. */
                if (can_retry && rc == DB_EUNAVAILABLE && reconnect(pc) == DB_OK)
                    continue;
                goto out;
            }
        }
        if (!e) { /* stmt_prepare succeeded, so it set e; this keeps the analyser sure of it */
            rc = db_fail(&pc->base, DB_ERROR, "postgres: statement cache failure");
            goto out;
        }
        if ((size_t)e->nparams != nparams) {
            rc = db_fail(&pc->base, DB_ERROR,
                         "postgres: %zu parameters given but the statement uses %d", nparams,
                         e->nparams);
            goto out;
        }
        e->used = ++pc->tick;
        int sent = PQsendQueryPrepared(pc->pg, e->name, (int)nparams, values, lengths, formats, 0);
        int had_ok = 0;
        PGresult *res = collect(pc, sent, &had_ok);
        if (res_ok(res)) {
            *out = res;
            rc = DB_OK;
            goto out;
        }
        char state[6];
        (void)snprintf(state, sizeof(state), "%s", res_state(res));
        rc = res_fail(pc, res);
        PQclear(res);
        /* Not sent at all, or the backend had been terminated before it ran (its FATAL came
         * first; once a completion arrived the outcome is unknown and is not retried). */
        if (can_retry && !had_ok && (!sent || pc->server_gone || strcmp(state, "57P01") == 0) &&
            PQstatus(pc->pg) != CONNECTION_OK && reconnect(pc) == DB_OK)
            continue;
        if (can_retry && (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0)) {
            /* 26000: the session lost the statement; 0A000: "cached plan must not change
             * result type" after an ALTER TABLE. Prepare afresh. */
            deallocate(pc, e);
            cache_remove(pc, e);
            continue;
        }
        goto out;
    }
out:
    if (values != vinline) {
        free(values);
        free(lengths);
        free(formats);
        free(nums);
    }
    return rc;
}

static int pg_exec(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                   int64_t *affected)
{
    pg_conn *pc = (pg_conn *)c;
    PGresult *res = NULL;
    int rc = pg_run(pc, sql, params, nparams, &res);
    if (rc != DB_OK)
        return rc;
    if (affected) {
        const char *n = PQcmdTuples(res);
        *affected = n && *n ? strtoll(n, NULL, 10) : 0;
    }
    PQclear(res);
    return DB_OK;
}

static int pg_exec_script(db_conn *c, const char *sql)
{
    pg_conn *pc = (pg_conn *)c;
    PGresult *res = PQexec(pc->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = DB_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = res_fail(pc, res);
    PQclear(res);
    return rc;
}

static int pg_query(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                    db_rows **out)
{
    pg_conn *pc = (pg_conn *)c;
    PGresult *res = NULL;
    int rc = pg_run(pc, sql, params, nparams, &res);
    if (rc != DB_OK)
        return rc;
    pg_rows *r = calloc(1, sizeof(*r));
    if (!r) {
        PQclear(res);
        return db_fail(c, DB_ERROR, "postgres: out of memory");
    }
    r->base.conn = c;
    r->res = res;
    r->nrows = PQntuples(res);
    r->ncols = PQnfields(res);
    r->row = -1;
    if (r->ncols > 0) {
        size_t n = (size_t)r->ncols;
        r->tbuf = calloc(n, sizeof(*r->tbuf));
        r->bbuf = calloc(n, sizeof(*r->bbuf));
        r->blen = calloc(n, sizeof(*r->blen));
        if (!r->tbuf || !r->bbuf || !r->blen) {
            pg_rows_free(&r->base);
            return db_fail(c, DB_ERROR, "postgres: out of memory");
        }
    }
    *out = &r->base;
    return DB_OK;
}

static void drop_blobs(pg_rows *r)
{
    for (int i = 0; i < r->ncols && r->bbuf; i++) {
        if (r->bbuf[i]) {
            PQfreemem(r->bbuf[i]);
            r->bbuf[i] = NULL;
        }
    }
}

static int pg_rows_next(db_rows *base)
{
    pg_rows *r = (pg_rows *)base;
    drop_blobs(r);
    if (r->row < r->nrows)
        r->row++;
    return r->row < r->nrows ? 1 : 0;
}

static void pg_rows_free(db_rows *base)
{
    pg_rows *r = (pg_rows *)base;
    drop_blobs(r);
    PQclear(r->res);
    free(r->tbuf);
    free(r->bbuf);
    free(r->blen);
    free(r);
}

static int valid_cell(const pg_rows *r, size_t i)
{
    return r->row >= 0 && r->row < r->nrows && i < (size_t)r->ncols;
}

static size_t pg_col_count(const db_rows *base)
{
    const pg_rows *r = (const pg_rows *)base;
    return r->ncols > 0 ? (size_t)r->ncols : 0;
}

static const char *pg_col_name(const db_rows *base, size_t i)
{
    const pg_rows *r = (const pg_rows *)base;
    return PQfname(r->res, (int)i);
}

static int pg_col_is_null(const db_rows *base, size_t i)
{
    const pg_rows *r = (const pg_rows *)base;
    return !valid_cell(r, i) || PQgetisnull(r->res, r->row, (int)i);
}

/* Parses n digits at *s. */
static int digits(const char **s, int n, int64_t *v)
{
    int64_t x = 0;
    for (int k = 0; k < n; k++) {
        if ((*s)[k] < '0' || (*s)[k] > '9')
            return 0;
        x = x * 10 + ((*s)[k] - '0');
    }
    *s += n;
    *v = x;
    return 1;
}

/* Turns the ISO output of timestamp/timestamptz ("2026-11-25 14:58:23.123456+00", offsets like
 * "+05:30", years past 9999) into "2026-11-25T14:58:23.123Z". Fractions are truncated to
 * milliseconds. Returns 0 for what it does not understand (infinity, BC dates). */
static int normalise_time(const char *in, char *out, size_t outlen)
{
    const char *s = in;
    int64_t y = 0, mo, d, hh, mi, ss, frac = 0, oh = 0, om = 0, os = 0;
    int ylen = 0;

    while (s[ylen] >= '0' && s[ylen] <= '9')
        ylen++;
    if (ylen < 4 || ylen > 7 || !digits(&s, ylen, &y) || *s++ != '-' || !digits(&s, 2, &mo) ||
        *s++ != '-' || !digits(&s, 2, &d) || (*s != ' ' && *s != 'T'))
        return 0;
    s++;
    if (!digits(&s, 2, &hh) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
        !digits(&s, 2, &ss))
        return 0;
    if (*s == '.') {
        s++;
        int scale = 100;
        while (*s >= '0' && *s <= '9') {
            frac += (*s - '0') * scale;
            scale /= 10;
            s++;
        }
    }
    if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1;
        s++;
        if (!digits(&s, 2, &oh))
            return 0;
        if (*s == ':') {
            s++;
            if (!digits(&s, 2, &om))
                return 0;
            if (*s == ':') {
                s++;
                if (!digits(&s, 2, &os))
                    return 0;
            }
        }
        oh *= sign;
        om *= sign;
        os *= sign;
    }
    if (*s != '\0')
        return 0; /* " BC" and anything else */
    int64_t days = time_days_from_civil(y, (int)mo, (int)d);
    int64_t ms =
        ((days * 86400 + hh * 3600 + mi * 60 + ss) - (oh * 3600 + om * 60 + os)) * 1000 + frac;
    if (outlen < RFC3339_LEN)
        return 0;
    time_format_rfc3339(ms, out);
    return 1;
}

static const char *pg_col_text(const db_rows *base, size_t i)
{
    pg_rows *r = (pg_rows *)base;
    if (!valid_cell(r, i) || PQgetisnull(r->res, r->row, (int)i))
        return NULL;
    const char *v = PQgetvalue(r->res, r->row, (int)i);
    switch (PQftype(r->res, (int)i)) {
    case OID_BOOL:
        return v[0] == 't' ? "1" : "0";
    case OID_TIMESTAMPTZ:
    case OID_TIMESTAMP:
        return normalise_time(v, r->tbuf[i], sizeof(r->tbuf[i])) ? r->tbuf[i] : v;
    default:
        return v;
    }
}

static int64_t pg_col_int(const db_rows *base, size_t i)
{
    const pg_rows *r = (const pg_rows *)base;
    if (!valid_cell(r, i) || PQgetisnull(r->res, r->row, (int)i))
        return 0;
    const char *v = PQgetvalue(r->res, r->row, (int)i);
    if (PQftype(r->res, (int)i) == OID_BOOL)
        return v[0] == 't' ? 1 : 0;
    return strtoll(v, NULL, 10);
}

static double pg_col_double(const db_rows *base, size_t i)
{
    const pg_rows *r = (const pg_rows *)base;
    if (!valid_cell(r, i) || PQgetisnull(r->res, r->row, (int)i))
        return 0.0;
    return strtod(PQgetvalue(r->res, r->row, (int)i), NULL);
}

static const void *pg_col_blob(const db_rows *base, size_t i, size_t *len)
{
    pg_rows *r = (pg_rows *)base;
    if (!valid_cell(r, i) || PQgetisnull(r->res, r->row, (int)i))
        return NULL;
    const char *v = PQgetvalue(r->res, r->row, (int)i);
    if (PQftype(r->res, (int)i) != OID_BYTEA) {
        int n = PQgetlength(r->res, r->row, (int)i);
        *len = n > 0 ? (size_t)n : 0;
        return v;
    }
    if (!r->bbuf[i]) {
        r->bbuf[i] = PQunescapeBytea((const unsigned char *)v, &r->blen[i]);
        if (!r->bbuf[i])
            return NULL;
    }
    *len = r->blen[i];
    return r->bbuf[i];
}

/* ---- transactions ---- */

static int simple(pg_conn *pc, const char *sql)
{
    PGresult *res = PQexec(pc->pg, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? DB_OK : res_fail(pc, res);
    PQclear(res);
    return rc;
}

static int pg_begin(db_conn *c)
{
    pg_conn *pc = (pg_conn *)c;
    int rc = simple(pc, "BEGIN");
    /* Nothing has happened in the transaction yet, so a dead link is safe to redo. */
    if (rc == DB_EUNAVAILABLE && reconnect(pc) == DB_OK)
        rc = simple(pc, "BEGIN");
    return rc;
}

static int pg_commit(db_conn *c)
{
    pg_conn *pc = (pg_conn *)c;
    PGresult *res = PQexec(pc->pg, "COMMIT");
    int rc;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = res_fail(pc, res);
    } else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
        /* COMMIT of an aborted transaction "succeeds" by rolling back. */
        rc = db_fail(c, DB_ERROR, "postgres: transaction was rolled back by the server");
    } else {
        rc = DB_OK;
    }
    PQclear(res);
    if (rc != DB_OK && PQstatus(pc->pg) == CONNECTION_OK &&
        PQtransactionStatus(pc->pg) != PQTRANS_IDLE)
        PQclear(PQexec(pc->pg, "ROLLBACK"));
    return rc;
}

static void pg_rollback(db_conn *c)
{
    pg_conn *pc = (pg_conn *)c;
    if (PQstatus(pc->pg) == CONNECTION_OK && PQtransactionStatus(pc->pg) != PQTRANS_IDLE)
        PQclear(PQexec(pc->pg, "ROLLBACK"));
}
