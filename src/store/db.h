/* The store interface: one API, two drivers (SQLite, PostgreSQL). SQL is written once with
 * $1..$n placeholders and runs on both. A `db` is a pool; a `db_conn` is one connection
 * borrowed from it for a unit of work (one request, one job) and given back.
 *
 * Conventions both drivers honour:
 *  - times are RFC 3339 UTC text with milliseconds ("2026-11-25T14:58:23.123Z") on the way in
 *    and out, whatever the column type (TIMESTAMPTZ on PostgreSQL, TEXT on SQLite);
 *  - booleans come back as integers 0/1 (db_col_int); pass them as DB_BOOL;
 *  - uuids are lowercase text.
 * Errors are stored on the connection (db_errmsg) for the caller to log once; they never
 * reach a client. */
#ifndef PRAXIS_STORE_DB_H
#define PRAXIS_STORE_DB_H

#include "core/common.h"
#include <stdint.h>

typedef enum { DB_SQLITE = 1, DB_POSTGRES = 2 } db_driver;

typedef struct db db;
typedef struct db_conn db_conn;
typedef struct db_rows db_rows;

typedef enum { DBP_NULL = 0, DBP_TEXT, DBP_INT, DBP_DOUBLE, DBP_BOOL, DBP_BLOB } db_param_type;

typedef struct {
    db_param_type type;
    const char *text; /* DBP_TEXT (NUL-terminated), DBP_BLOB (len bytes) */
    size_t len;
    int64_t i;        /* DBP_INT, DBP_BOOL */
    double d;         /* DBP_DOUBLE */
} db_param;

#define DB_NULL ((db_param){.type = DBP_NULL})
/* A function, not `(s) ? … : …`, so passing a char array does not trip -Waddress. */
static inline db_param_type db_text_type(const char *s)
{
    return s ? DBP_TEXT : DBP_NULL;
}
#define DB_TEXT(s) ((db_param){.type = db_text_type(s), .text = (s)})
#define DB_INT(v) ((db_param){.type = DBP_INT, .i = (int64_t)(v)})
#define DB_DOUBLE(v) ((db_param){.type = DBP_DOUBLE, .d = (double)(v)})
#define DB_BOOL(v) ((db_param){.type = DBP_BOOL, .i = (v) ? 1 : 0})
#define DB_BLOB(p, n) ((db_param){.type = DBP_BLOB, .text = (const char *)(p), .len = (n)})

/* Result codes. DB_ECONSTRAINT distinguishes unique/foreign-key/check violations so services
 * can answer 409 without parsing messages. */
enum {
    DB_OK = 0,
    DB_ERROR = -1,
    DB_ECONSTRAINT = -2, /* unique, foreign key, check, not null */
    DB_EUNAVAILABLE = -3, /* could not connect / connection lost and reconnect failed */
    DB_EBUSY = -4,        /* lock timeout */
};

typedef struct {
    const char *url;  /* sqlite:///abs.db, sqlite://./rel.db, postgres://… or postgresql://… */
    int pool_size;    /* PostgreSQL connections (and SQLite reader connections); >= 1 */
    int busy_timeout_ms; /* SQLite busy timeout / PostgreSQL connect+statement wait; 0 = 5000 */
} db_options;

/* Parses the URL and opens the pool, connecting eagerly once so a bad URL fails here with a
 * message in err (never containing the password). SQLite: the directory must exist; the
 * file is created. */
int db_open(const db_options *opts, db **out, char *err, size_t errlen) WUR;
void db_close(db *d);
db_driver db_kind(const db *d);
/* 1 if url is syntactically a URL db_open understands; err says why not. */
int db_url_valid(const char *url, char *err, size_t errlen);

/* Borrows a connection, waiting up to the pool timeout; NULL if none could be had (pool
 * exhausted past the timeout, or the server is unreachable). A connection given back is reset
 * first (an open transaction rolled back). */
db_conn *db_acquire(db *d);
void db_release(db_conn *c);

/* Liveness check used by /health/ready: a round trip on a fresh borrow. 0 when healthy. */
int db_ping(db *d, char *err, size_t errlen) WUR;

/* Runs one statement (no rows expected). *affected (may be NULL) gets the changed row count. */
int db_exec(db_conn *c, const char *sql, const db_param *params, size_t nparams,
            int64_t *affected) WUR;
/* Runs a script of several statements without parameters (migrations). */
int db_exec_script(db_conn *c, const char *sql) WUR;

/* Runs a query; on success *out is a cursor to step with db_rows_next and free with
 * db_rows_free. Prepared statements are cached per connection by SQL text. */
int db_query(db_conn *c, const char *sql, const db_param *params, size_t nparams,
             db_rows **out) WUR;
/* 1 = a row is current, 0 = done, <0 = error (code as above). */
int db_rows_next(db_rows *r);
void db_rows_free(db_rows *r);
size_t db_col_count(const db_rows *r);
const char *db_col_name(const db_rows *r, size_t i);
int db_col_is_null(const db_rows *r, size_t i);
/* Valid until the next db_rows_next / db_rows_free. NULL for SQL NULL. */
const char *db_col_text(const db_rows *r, size_t i);
int64_t db_col_int(const db_rows *r, size_t i);
double db_col_double(const db_rows *r, size_t i);
/* For bytea/blob columns; *len gets the size. Valid until the next step. */
const void *db_col_blob(const db_rows *r, size_t i, size_t *len);

/* Transactions. SQLite: BEGIN IMMEDIATE under the single-writer lock, so writers queue in the
 * process instead of failing with SQLITE_BUSY. Nesting is not supported (returns DB_ERROR). */
int db_begin(db_conn *c) WUR;
int db_commit(db_conn *c) WUR;
void db_rollback(db_conn *c);

/* The last error on the connection: for logs only. */
const char *db_errmsg(const db_conn *c);
db_driver db_conn_kind(const db_conn *c);

#endif
