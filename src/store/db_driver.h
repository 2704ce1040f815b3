/* Internal to src/store: the vtable between the generic pool/dispatch code (db.c) and the two
 * drivers (db_sqlite.c, db_pg.c), plus the pieces of struct db and struct db_conn they share.
 * Nothing outside src/store includes this file. */
#ifndef PRAXIS_STORE_DB_DRIVER_H
#define PRAXIS_STORE_DB_DRIVER_H

#include "store/db.h"
#include <pthread.h>
#include <stdarg.h>

#define DB_ERRMSG_LEN 512
#define DB_DEFAULT_TIMEOUT_MS 5000

struct db_ops;

/* Every driver connection starts with this header. */
struct db_conn {
    db *owner;
    int in_txn;     /* between db_begin and db_commit/db_rollback */
    int txn_failed; /* a statement failed inside the transaction: only rollback is possible */
    char err[DB_ERRMSG_LEN];
};

/* Every driver cursor starts with this header. */
struct db_rows {
    db_conn *conn;
};

struct db {
    const struct db_ops *ops;
    db_driver kind;
    int pool_size;
    int timeout_ms;
    char *target;     /* SQLite: file path; PostgreSQL: the URL as given (may hold a password) */
    char *secret;     /* PostgreSQL: the password found in the URL, to scrub from messages */
    char *secret_raw; /* the same as written in the URL (may be percent-encoded) */
    void *drv;        /* driver-private state (SQLite: the writer lock) */

    pthread_mutex_t mu; /* guards the pool below */
    pthread_cond_t cv;
    db_conn **idle; /* stack of connections ready to borrow */
    size_t nidle;
    int nopen; /* connections created (idle + borrowed + being created) */
};

struct db_ops {
    /* Driver-wide setup after the URL is parsed (d->target set); 0 or an error with err. */
    int (*init)(db *d, char *err, size_t errlen);
    void (*fini)(db *d);
    /* Opens one connection; NULL with err on failure. */
    db_conn *(*connect)(db *d, char *err, size_t errlen);
    void (*disconnect)(db_conn *c);
    /* Called when a connection is borrowed: repairs it if it can; DB_OK or DB_EUNAVAILABLE. */
    int (*check)(db_conn *c);
    /* Called when a connection is given back (after any open transaction was rolled back). */
    void (*reset)(db_conn *c);

    int (*exec)(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                int64_t *affected);
    int (*exec_script)(db_conn *c, const char *sql);
    int (*query)(db_conn *c, const char *sql, const db_param *params, size_t nparams,
                 db_rows **out);
    int (*rows_next)(db_rows *r);
    void (*rows_free)(db_rows *r);
    size_t (*col_count)(const db_rows *r);
    const char *(*col_name)(const db_rows *r, size_t i);
    int (*col_is_null)(const db_rows *r, size_t i);
    const char *(*col_text)(const db_rows *r, size_t i);
    int64_t (*col_int)(const db_rows *r, size_t i);
    double (*col_double)(const db_rows *r, size_t i);
    const void *(*col_blob)(const db_rows *r, size_t i, size_t *len);

    int (*begin)(db_conn *c);
    int (*commit)(db_conn *c);
    void (*rollback)(db_conn *c);
};

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

/* libpq's syntax check of a postgres:// URL (no connection); on success *password gets the
 * password it holds (malloc'd) or NULL. Implemented in db_pg.c. */
int db_pg_url_check(const char *url, char **password, char *err, size_t errlen);

/* Stores a message on the connection (printf-style) and returns code, so drivers can write
 * `return db_fail(c, DB_ERROR, "...")`. The PostgreSQL password is scrubbed. */
int db_fail(db_conn *c, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Replaces every occurrence of the URL password in msg with "***". */
void db_scrub(const db *d, char *msg);
/* Absolute CLOCK_MONOTONIC deadline timeout_ms from now, for pthread_cond_timedwait on
 * condition variables created with db_cond_init. */
void db_deadline(struct timespec *ts, int timeout_ms);
int db_cond_init(pthread_cond_t *cv);

#endif
