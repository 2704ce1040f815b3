/* Tests src/store/db*.c: the same cases run on SQLite (a temp file) and, when
 * PRAXIS_TEST_PG_URL is set, on PostgreSQL (a database created for the run and dropped after). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    db_driver kind;
    char url[1024];
    char path[600];       /* SQLite file */
    char admin_url[1024]; /* PostgreSQL: where the test database is created and dropped */
    char dbname[64];
    db *d;
} ctx;

/* ---- helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *tmp_dir(void)
{
    const char *t = getenv("PRAXIS_TEST_TMP");
    if (!t || !*t)
        t = "/tmp";
    mkdir(t, 0755);
    return t;
}

static ctx *need(void **state)
{
    ctx *t = *state;
    if (!t->d)
        skip();
    return t;
}

static db_conn *borrow(ctx *t)
{
    db_conn *c = db_acquire(t->d);
    assert_non_null(c);
    return c;
}

static void exec_ok(db_conn *c, const char *sql)
{
    int rc = db_exec(c, sql, NULL, 0, NULL);
    if (rc != DB_OK)
        fail_msg("%s: %s", sql, db_errmsg(c));
}

/* DDL differs between the drivers; everything else in these tests is written once. */
static void ddl(ctx *t, db_conn *c, const char *table, const char *sqlite_cols, const char *pg_cols)
{
    char sql[1024];
    snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
    exec_ok(c, sql);
    snprintf(sql, sizeof(sql), "CREATE TABLE %s (%s)", table,
             t->kind == DB_SQLITE ? sqlite_cols : pg_cols);
    exec_ok(c, sql);
}

static int64_t count_rows(db_conn *c, const char *sql)
{
    db_rows *r = NULL;
    int rc = db_query(c, sql, NULL, 0, &r);
    if (rc != DB_OK)
        fail_msg("%s: %s", sql, db_errmsg(c));
    assert_int_equal(db_rows_next(r), 1);
    int64_t n = db_col_int(r, 0);
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    return n;
}

/* Replaces the database name in a postgres URL. */
static void url_with_db(const char *url, const char *name, char *out, size_t n)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *slash = strchr(auth, '/');
    const char *query = strchr(auth, '?');
    if (slash && query && slash > query)
        slash = NULL;
    size_t head = slash ? (size_t)(slash - url) : (query ? (size_t)(query - url) : strlen(url));
    snprintf(out, n, "%.*s/%s%s", (int)head, url, name, query ? query : "");
}

static int pg_admin(const char *url, const char *sql)
{
    db_options o = {.url = url, .pool_size = 1};
    char err[256];
    db *d = NULL;
    if (db_open(&o, &d, err, sizeof(err)) != DB_OK) {
        fprintf(stderr, "cannot open %s: %s\n", url, err);
        return -1;
    }
    db_conn *c = db_acquire(d);
    int rc = c ? db_exec_script(c, sql) : DB_ERROR;
    if (rc != DB_OK && c)
        fprintf(stderr, "%s: %s\n", sql, db_errmsg(c));
    db_release(c);
    db_close(d);
    return rc;
}

/* ---- group setup ---- */

static int setup_sqlite(void **state)
{
    ctx *t = calloc(1, sizeof(*t));
    char err[512];
    t->kind = DB_SQLITE;
    snprintf(t->path, sizeof(t->path), "%s/praxis-dbtest-%d.db", tmp_dir(), (int)getpid());
    unlink(t->path);
    snprintf(t->url, sizeof(t->url), "sqlite://%s", t->path);
    db_options o = {.url = t->url, .pool_size = 8};
    if (db_open(&o, &t->d, err, sizeof(err)) != DB_OK) {
        fprintf(stderr, "sqlite open failed: %s\n", err);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int setup_pg(void **state)
{
    ctx *t = calloc(1, sizeof(*t));
    char err[512];
    const char *url = getenv("PRAXIS_TEST_PG_URL");
    t->kind = DB_POSTGRES;
    *state = t;
    if (!url || !*url) {
        printf("PRAXIS_TEST_PG_URL is not set: skipping the PostgreSQL tests\n");
        return 0;
    }
    snprintf(t->admin_url, sizeof(t->admin_url), "%s", url);
    snprintf(t->dbname, sizeof(t->dbname), "praxis_dbtest_%d", (int)getpid());
    char sql[256];
    /* Separate calls: a multi-statement script is one transaction, and these refuse that. */
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->dbname);
    if (pg_admin(url, sql) != DB_OK)
        return -1;
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->dbname);
    if (pg_admin(url, sql) != DB_OK)
        return -1;
    url_with_db(url, t->dbname, t->url, sizeof(t->url));
    db_options o = {.url = t->url, .pool_size = 8};
    if (db_open(&o, &t->d, err, sizeof(err)) != DB_OK) {
        fprintf(stderr, "postgres open failed: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    ctx *t = *state;
    db_close(t->d);
    if (t->kind == DB_SQLITE) {
        char p[700];
        unlink(t->path);
        snprintf(p, sizeof(p), "%s-wal", t->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", t->path);
        unlink(p);
    } else if (t->dbname[0]) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->dbname);
        (void)pg_admin(t->admin_url, sql);
    }
    free(t);
    return 0;
}

/* ---- URLs and opening (no database needed) ---- */

static void test_url_validation(void **state)
{
    (void)state;
    char err[256];
    const char *good[] = {
        "sqlite:///tmp/praxis.db",
        "sqlite://./data/praxis.db",
        "sqlite::memory:",
        "postgres://u:p@localhost:5432/db",
        "postgresql://localhost/db",
        "postgres://localhost/db?sslmode=disable",
        "postgres://u@[::1]:5432/praxis",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (!db_url_valid(good[i], err, sizeof(err)))
            fail_msg("%s rejected: %s", good[i], err);
    }
    struct {
        const char *url;
        const char *says;
    } bad[] = {
        {NULL, "empty"},
        {"", "empty"},
        {"mysql://u:p@host/db", "mysql"},
        {"praxis.db", "scheme"},
        {"sqlite://", "no file path"},
        {"sqlite:///", "no file path"},
        {"sqlite://./data/", "directory"},
        {"sqlite:praxis.db", "sqlite://"},
        {"postgres://u:p@host/db?no_such_option=1", "PostgreSQL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(db_url_valid(bad[i].url, err, sizeof(err)), 0);
        if (!strstr(err, bad[i].says))
            fail_msg("error for %s should mention \"%s\": %s", bad[i].url ? bad[i].url : "NULL",
                     bad[i].says, err);
    }
}

static void test_url_errors_hide_password(void **state)
{
    (void)state;
    char err[512];
    /* A malformed URL whose parse error quotes the text around the password. */
    assert_int_equal(db_url_valid("postgres://user:hunter2secret@[::1/db", err, sizeof(err)), 0);
    assert_null(strstr(err, "hunter2secret"));
    assert_int_equal(db_url_valid("postgres://user:hunter2secret@host/db?sslmode=hunter2secret&x=1",
                                  err, sizeof(err)),
                     0);
    assert_null(strstr(err, "hunter2secret"));

    /* Connection refused: the message names the server, never the password. */
    db *d = NULL;
    db_options o = {.url = "postgres://praxis:hunter2secret@127.0.0.1:1/praxis", .pool_size = 1};
    assert_int_not_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    assert_null(d);
    assert_true(strlen(err) > 0);
    assert_null(strstr(err, "hunter2secret"));
    /* Even a password that happens to be part of the message is masked. */
    o.url = "postgres://praxis:127.0.0.1@127.0.0.1:1/praxis";
    assert_int_not_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    assert_null(strstr(err, "127.0.0.1"));
    /* Percent-encoded passwords are masked in both spellings. */
    o.url = "postgres://praxis:p%40ss%2Fw0rd@127.0.0.1:1/praxis";
    assert_int_not_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    assert_null(strstr(err, "p@ss/w0rd"));
    assert_null(strstr(err, "p%40ss%2Fw0rd"));
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[512];
    db *d = NULL;
    db_options o = {.url = "sqlite:///nonexistent-dir-praxis/sub/x.db", .pool_size = 1};
    assert_int_not_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    assert_null(d);
    assert_non_null(strstr(err, "/nonexistent-dir-praxis/sub/x.db"));

    o.url = "ftp://example.org/x";
    assert_int_not_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    assert_non_null(strstr(err, "ftp"));

    char url[700];
    snprintf(url, sizeof(url), "sqlite://%s/praxis-pool0.db", tmp_dir());
    o.url = url;
    o.pool_size = 0;
    assert_int_not_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    assert_non_null(strstr(err, "pool"));
}

static void test_memory_database(void **state)
{
    (void)state;
    char err[256];
    db *d = NULL;
    db_options o = {.url = "sqlite::memory:", .pool_size = 4};
    assert_int_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    exec_ok(c, "CREATE TABLE m (x INTEGER)");
    exec_ok(c, "INSERT INTO m VALUES (1)");
    db_release(c);
    /* The pool is one connection, so the next borrower sees the same database. */
    c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM m"), 1);
    db_release(c);
    db_close(d);
}

/* ---- both drivers ---- */

static void test_ping(void **state)
{
    ctx *t = need(state);
    char err[256];
    assert_int_equal(db_ping(t->d, err, sizeof(err)), DB_OK);
    assert_int_equal(db_kind(t->d), t->kind);
    db_conn *c = borrow(t);
    assert_int_equal(db_conn_kind(c), t->kind);
    db_release(c);
}

static void test_params_and_getters(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_params", "id INTEGER PRIMARY KEY, s TEXT, n INTEGER, d REAL, b INTEGER, data BLOB",
        "id INTEGER PRIMARY KEY, s TEXT, n BIGINT, d DOUBLE PRECISION, b BOOLEAN, data BYTEA");
    static const unsigned char bytes[] = {0x00, 0x01, 0xff, 0x5c, 0x27, 'x', 0x00};
    const char *ins = "INSERT INTO t_params (id, s, n, d, b, data) VALUES ($1, $2, $3, $4, $5, $6)";
    db_param p1[] = {DB_INT(1),         DB_TEXT("h\xc3\xa9llo 'quoted' \\ \xe2\x9c\x93"),
                     DB_INT(INT64_MAX), DB_DOUBLE(3.25),
                     DB_BOOL(1),        DB_BLOB(bytes, sizeof(bytes))};
    int64_t affected = -1;
    assert_int_equal(db_exec(c, ins, p1, 6, &affected), DB_OK);
    assert_int_equal(affected, 1);
    const char *no_text = NULL;
    db_param p2[] = {DB_INT(2), DB_TEXT(no_text), DB_NULL, DB_NULL, DB_NULL, DB_NULL};
    assert_int_equal(db_exec(c, ins, p2, 6, NULL), DB_OK);
    db_param p3[] = {DB_INT(3),       DB_TEXT(""), DB_INT(INT64_MIN),
                     DB_DOUBLE(-0.5), DB_BOOL(0),  DB_BLOB("", 0)};
    assert_int_equal(db_exec(c, ins, p3, 6, NULL), DB_OK);

    db_rows *r = NULL;
    assert_int_equal(
        db_query(c, "SELECT id, s, n, d, b, data FROM t_params ORDER BY id", NULL, 0, &r), DB_OK);
    assert_int_equal(db_col_count(r), 6);
    assert_string_equal(db_col_name(r, 1), "s");
    assert_string_equal(db_col_name(r, 5), "data");
    assert_null(db_col_name(r, 6));

    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 1);
    assert_string_equal(db_col_text(r, 1), "h\xc3\xa9llo 'quoted' \\ \xe2\x9c\x93");
    assert_true(db_col_int(r, 2) == INT64_MAX);
    assert_true(db_col_double(r, 3) == 3.25);
    assert_int_equal(db_col_int(r, 4), 1);
    size_t len = 0;
    const void *blob = db_col_blob(r, 5, &len);
    assert_int_equal(len, sizeof(bytes));
    assert_memory_equal(blob, bytes, sizeof(bytes));
    assert_int_equal(db_col_is_null(r, 1), 0);

    assert_int_equal(db_rows_next(r), 1);
    for (size_t i = 1; i < 6; i++) {
        assert_int_equal(db_col_is_null(r, i), 1);
        assert_null(db_col_text(r, i));
    }
    assert_null(db_col_blob(r, 5, &len));
    assert_int_equal(len, 0);
    assert_int_equal(db_col_int(r, 2), 0);

    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_is_null(r, 1), 0);
    assert_string_equal(db_col_text(r, 1), "");
    assert_true(db_col_int(r, 2) == INT64_MIN);
    assert_true(db_col_double(r, 3) == -0.5);
    assert_int_equal(db_col_int(r, 4), 0);
    assert_int_equal(db_col_is_null(r, 5), 0);
    assert_non_null(db_col_blob(r, 5, &len));
    assert_int_equal(len, 0);

    assert_int_equal(db_rows_next(r), 0);
    assert_int_equal(db_rows_next(r), 0); /* stays done */
    db_rows_free(r);

    /* Parameters in a WHERE clause, text and integer. */
    db_param w[] = {DB_TEXT("")};
    assert_int_equal(db_query(c, "SELECT id FROM t_params WHERE s = $1", w, 1, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 3);
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    db_release(c);
}

static void test_same_param_twice(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_twice", "id INTEGER PRIMARY KEY, n INTEGER, label TEXT",
        "id INTEGER PRIMARY KEY, n INTEGER, label TEXT");
    db_param p[] = {DB_INT(7), DB_TEXT("seven")};
    assert_int_equal(
        db_exec(c, "INSERT INTO t_twice (id, n, label) VALUES ($1, $1, $2)", p, 2, NULL), DB_OK);
    /* $2 before $1, and $1 twice in the WHERE clause. */
    db_param q[] = {DB_INT(7), DB_TEXT("seven")};
    db_rows *r = NULL;
    assert_int_equal(
        db_query(c, "SELECT id, n FROM t_twice WHERE label = $2 AND id = $1 AND n = $1", q, 2, &r),
        DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 7);
    assert_int_equal(db_col_int(r, 1), 7);
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    db_release(c);
}

static int is_rfc3339_ms(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static void test_times(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_times",
        "id INTEGER PRIMARY KEY, at TEXT, "
        "created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        "id INTEGER PRIMARY KEY, at TIMESTAMPTZ(3), "
        "created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()");
    const char *in[] = {"2026-11-25T14:58:23.123Z", "2026-01-02T03:04:05.000Z",
                        "1969-12-31T23:59:59.999Z", "2000-02-29T00:00:00.001Z"};
    for (size_t i = 0; i < 4; i++) {
        db_param p[] = {DB_INT(i + 1), DB_TEXT(in[i])};
        assert_int_equal(db_exec(c, "INSERT INTO t_times (id, at) VALUES ($1, $2)", p, 2, NULL),
                         DB_OK);
    }
    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELECT at, created_at FROM t_times ORDER BY id", NULL, 0, &r),
                     DB_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(db_rows_next(r), 1);
        assert_string_equal(db_col_text(r, 0), in[i]);
        if (!is_rfc3339_ms(db_col_text(r, 1)))
            fail_msg("default time not RFC 3339 with ms: %s", db_col_text(r, 1));
    }
    db_rows_free(r);

    /* Comparisons with a time parameter work the same on both (text order on SQLite). */
    db_param p[] = {DB_TEXT("2026-01-02T03:04:05.000Z")};
    assert_int_equal(db_query(c, "SELECT count(*) FROM t_times WHERE at >= $1", p, 1, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 2);
    db_rows_free(r);

    if (t->kind == DB_POSTGRES) {
        /* Any offset in, UTC with milliseconds out; timestamp without time zone too. */
        db_param q[] = {DB_INT(10), DB_TEXT("2026-11-25T16:58:23.5+02:00")};
        assert_int_equal(db_exec(c, "INSERT INTO t_times (id, at) VALUES ($1, $2)", q, 2, NULL),
                         DB_OK);
        assert_int_equal(db_query(c,
                                  "SELECT at, CAST('2026-03-04 05:06:07.891234' AS timestamp), "
                                  "CAST('infinity' AS timestamptz) FROM t_times WHERE id = 10",
                                  NULL, 0, &r),
                         DB_OK);
        assert_int_equal(db_rows_next(r), 1);
        assert_string_equal(db_col_text(r, 0), "2026-11-25T14:58:23.500Z");
        assert_string_equal(db_col_text(r, 1), "2026-03-04T05:06:07.891Z");
        assert_string_equal(db_col_text(r, 2), "infinity");
        db_rows_free(r);
    }
    db_release(c);
}

static void test_booleans(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_bool", "id INTEGER PRIMARY KEY, flag INTEGER NOT NULL CHECK (flag IN (0, 1))",
        "id INTEGER PRIMARY KEY, flag BOOLEAN NOT NULL");
    db_param a[] = {DB_INT(1), DB_BOOL(1)};
    db_param b[] = {DB_INT(2), DB_BOOL(0)};
    assert_int_equal(db_exec(c, "INSERT INTO t_bool VALUES ($1, $2)", a, 2, NULL), DB_OK);
    assert_int_equal(db_exec(c, "INSERT INTO t_bool VALUES ($1, $2)", b, 2, NULL), DB_OK);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELECT flag FROM t_bool ORDER BY id", NULL, 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_string_equal(db_col_text(r, 0), "1");
    assert_int_equal(db_col_int(r, 0), 1);
    assert_int_equal(db_rows_next(r), 1);
    assert_string_equal(db_col_text(r, 0), "0");
    assert_int_equal(db_col_int(r, 0), 0);
    db_rows_free(r);
    db_param w[] = {DB_BOOL(1)};
    assert_int_equal(db_query(c, "SELECT id FROM t_bool WHERE flag = $1", w, 1, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 1);
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    /* TRUE/FALSE literals are understood by both dialects. */
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_bool WHERE flag = FALSE"), 1);
    db_release(c);
}

static void test_constraints(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    exec_ok(c, "DROP TABLE IF EXISTS t_child");
    ddl(t, c, "t_con",
        "id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, role TEXT CHECK (role IN ('a', 'b'))",
        "id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, role TEXT CHECK (role IN ('a', 'b'))");
    ddl(t, c, "t_child", "id INTEGER PRIMARY KEY, parent INTEGER REFERENCES t_con (id)",
        "id INTEGER PRIMARY KEY, parent INTEGER REFERENCES t_con (id)");
    const char *ins = "INSERT INTO t_con (id, email, role) VALUES ($1, $2, $3)";
    db_param ok[] = {DB_INT(1), DB_TEXT("a@example.org"), DB_TEXT("a")};
    assert_int_equal(db_exec(c, ins, ok, 3, NULL), DB_OK);

    db_param dup[] = {DB_INT(2), DB_TEXT("a@example.org"), DB_TEXT("a")};
    assert_int_equal(db_exec(c, ins, dup, 3, NULL), DB_ECONSTRAINT);
    assert_true(strlen(db_errmsg(c)) > 0);
    db_param dup_pk[] = {DB_INT(1), DB_TEXT("b@example.org"), DB_TEXT("a")};
    assert_int_equal(db_exec(c, ins, dup_pk, 3, NULL), DB_ECONSTRAINT);
    db_param null_email[] = {DB_INT(3), DB_NULL, DB_TEXT("a")};
    assert_int_equal(db_exec(c, ins, null_email, 3, NULL), DB_ECONSTRAINT);
    db_param bad_role[] = {DB_INT(4), DB_TEXT("c@example.org"), DB_TEXT("z")};
    assert_int_equal(db_exec(c, ins, bad_role, 3, NULL), DB_ECONSTRAINT);

    db_param fk_bad[] = {DB_INT(1), DB_INT(999)};
    assert_int_equal(db_exec(c, "INSERT INTO t_child VALUES ($1, $2)", fk_bad, 2, NULL),
                     DB_ECONSTRAINT);
    db_param fk_ok[] = {DB_INT(1), DB_INT(1)};
    assert_int_equal(db_exec(c, "INSERT INTO t_child VALUES ($1, $2)", fk_ok, 2, NULL), DB_OK);
    assert_int_equal(db_exec(c, "DELETE FROM t_con", NULL, 0, NULL), DB_ECONSTRAINT);
    /* The connection is fine after the errors. */
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_con"), 1);
    db_release(c);
}

static void test_transactions(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    db_conn *other = borrow(t);
    ddl(t, c, "t_txn", "id INTEGER PRIMARY KEY", "id INTEGER PRIMARY KEY");

    assert_int_equal(db_begin(c), DB_OK);
    exec_ok(c, "INSERT INTO t_txn VALUES (1)");
    db_rollback(c);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_txn"), 0);

    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(db_begin(c), DB_ERROR); /* no nesting */
    exec_ok(c, "INSERT INTO t_txn VALUES (2)");
    /* Not visible to another connection before commit. */
    assert_int_equal(count_rows(other, "SELECT count(*) FROM t_txn"), 0);
    assert_int_equal(db_commit(c), DB_OK);
    assert_int_equal(count_rows(other, "SELECT count(*) FROM t_txn"), 1);

    assert_int_equal(db_commit(c), DB_ERROR); /* nothing to commit */
    db_rollback(c);                           /* harmless */
    db_release(other);
    db_release(c);
}

static void test_error_aborts_transaction(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_abort", "id INTEGER PRIMARY KEY", "id INTEGER PRIMARY KEY");
    assert_int_equal(db_begin(c), DB_OK);
    exec_ok(c, "INSERT INTO t_abort VALUES (1)");
    assert_int_equal(db_exec(c, "INSERT INTO t_abort VALUES (1)", NULL, 0, NULL), DB_ECONSTRAINT);
    /* Same rule on both drivers: after an error only a rollback helps. */
    assert_int_equal(db_exec(c, "INSERT INTO t_abort VALUES (2)", NULL, 0, NULL), DB_ERROR);
    assert_int_equal(db_commit(c), DB_ERROR);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_abort"), 0);
    assert_int_equal(db_begin(c), DB_OK);
    exec_ok(c, "INSERT INTO t_abort VALUES (3)");
    assert_int_equal(db_commit(c), DB_OK);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_abort"), 1);
    db_release(c);
}

static void test_release_rolls_back(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_rel", "id INTEGER PRIMARY KEY", "id INTEGER PRIMARY KEY");
    assert_int_equal(db_begin(c), DB_OK);
    exec_ok(c, "INSERT INTO t_rel VALUES (1)");
    db_release(c); /* forgot to commit */

    c = borrow(t);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_rel"), 0);
    /* The writer lock (SQLite) went with the rollback: another transaction starts at once. */
    int64_t start = now_ms();
    assert_int_equal(db_begin(c), DB_OK);
    assert_true(now_ms() - start < 1000);
    exec_ok(c, "INSERT INTO t_rel VALUES (2)");
    assert_int_equal(db_commit(c), DB_OK);
    db_release(c);
}

static void test_statement_reuse(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_reuse", "id INTEGER PRIMARY KEY, v TEXT NOT NULL",
        "id INTEGER PRIMARY KEY, v TEXT NOT NULL");
    assert_int_equal(db_begin(c), DB_OK);
    for (int i = 0; i < 500; i++) {
        char v[32];
        snprintf(v, sizeof(v), "v%d", i);
        db_param p[] = {DB_INT(i), DB_TEXT(v)};
        assert_int_equal(db_exec(c, "INSERT INTO t_reuse (id, v) VALUES ($1, $2)", p, 2, NULL),
                         DB_OK);
    }
    assert_int_equal(db_commit(c), DB_OK);
    for (int i = 0; i < 500; i += 7) {
        char v[32];
        snprintf(v, sizeof(v), "v%d", i);
        db_param p[] = {DB_INT(i)};
        db_rows *r = NULL;
        assert_int_equal(db_query(c, "SELECT v FROM t_reuse WHERE id = $1", p, 1, &r), DB_OK);
        assert_int_equal(db_rows_next(r), 1);
        assert_string_equal(db_col_text(r, 0), v);
        db_rows_free(r);
    }
    /* More distinct statements than the cache holds, then the first again. */
    for (int i = 0; i < 200; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT %d + id FROM t_reuse WHERE id = 1", i);
        db_rows *r = NULL;
        assert_int_equal(db_query(c, sql, NULL, 0, &r), DB_OK);
        assert_int_equal(db_rows_next(r), 1);
        assert_int_equal(db_col_int(r, 0), i + 1);
        db_rows_free(r);
    }
    db_param p[] = {DB_INT(3)};
    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELECT v FROM t_reuse WHERE id = $1", p, 1, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_string_equal(db_col_text(r, 0), "v3");
    db_rows_free(r);

    /* The same SQL open twice at once (nested loops over one query). */
    const char *q = "SELECT id FROM t_reuse WHERE id < 3 ORDER BY id";
    db_rows *outer = NULL;
    int pairs = 0;
    assert_int_equal(db_query(c, q, NULL, 0, &outer), DB_OK);
    while (db_rows_next(outer) == 1) {
        db_rows *inner = NULL;
        assert_int_equal(db_query(c, q, NULL, 0, &inner), DB_OK);
        while (db_rows_next(inner) == 1)
            pairs++;
        db_rows_free(inner);
    }
    db_rows_free(outer);
    assert_int_equal(pairs, 9);
    db_release(c);
}

static void test_returning_and_affected(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_ret", "id INTEGER PRIMARY KEY, v INTEGER NOT NULL",
        "id INTEGER PRIMARY KEY, v INTEGER NOT NULL");
    db_param p[] = {DB_INT(1), DB_INT(10)};
    db_rows *r = NULL;
    assert_int_equal(
        db_query(c, "INSERT INTO t_ret (id, v) VALUES ($1, $2) RETURNING id, v", p, 2, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 1), 10);
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    exec_ok(c, "INSERT INTO t_ret (id, v) VALUES (2, 20)");
    int64_t n = -1;
    assert_int_equal(db_exec(c, "UPDATE t_ret SET v = v + 1", NULL, 0, &n), DB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(db_exec(c, "DELETE FROM t_ret WHERE id = 99", NULL, 0, &n), DB_OK);
    assert_int_equal(n, 0);
    assert_int_equal(db_exec(c, "CREATE INDEX t_ret_v ON t_ret (v)", NULL, 0, &n), DB_OK);
    assert_int_equal(n, 0);
    /* A query that returns no rows at all still describes its columns. */
    assert_int_equal(db_query(c, "SELECT id, v AS value FROM t_ret WHERE id < 0", NULL, 0, &r),
                     DB_OK);
    assert_int_equal(db_col_count(r), 2);
    assert_string_equal(db_col_name(r, 1), "value");
    assert_null(db_col_text(r, 0)); /* no current row */
    assert_int_equal(db_rows_next(r), 0);
    assert_int_equal(db_col_count(r), 2);
    assert_string_equal(db_col_name(r, 0), "id");
    assert_null(db_col_text(r, 0));
    db_rows_free(r);
    /* A cursor left open half-way releases everything when freed (SQLite: the writer lock of
     * an autocommit INSERT ... RETURNING). */
    db_param p2[] = {DB_INT(3), DB_INT(30)};
    assert_int_equal(
        db_query(c, "INSERT INTO t_ret (id, v) VALUES ($1, $2) RETURNING id", p2, 2, &r), DB_OK);
    db_rows_free(r);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(db_commit(c), DB_OK);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_ret"), 3);
    db_release(c);
}

static void test_script_and_errors(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    exec_ok(c, "DROP TABLE IF EXISTS t_script");
    assert_int_equal(db_exec_script(c, "CREATE TABLE t_script (id INTEGER PRIMARY KEY);\n"
                                       "INSERT INTO t_script VALUES (1);\n"
                                       "INSERT INTO t_script VALUES (2);\n"),
                     DB_OK);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_script"), 2);
    assert_int_equal(db_exec_script(c, "INSERT INTO t_script VALUES (1)"), DB_ECONSTRAINT);

    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELEC 1", NULL, 0, &r), DB_ERROR);
    assert_null(r);
    assert_true(strlen(db_errmsg(c)) > 0);
    assert_int_equal(db_query(c, "SELECT * FROM no_such_table", NULL, 0, &r), DB_ERROR);
    /* Parameter count must match the placeholders. */
    db_param two[] = {DB_INT(1), DB_INT(2)};
    assert_int_equal(db_query(c, "SELECT id FROM t_script WHERE id = $1", NULL, 0, &r), DB_ERROR);
    assert_int_equal(db_query(c, "SELECT id FROM t_script WHERE id = $1", two, 2, &r), DB_ERROR);
    assert_non_null(strstr(db_errmsg(c), "parameters"));
    /* One statement per db_exec. */
    assert_int_equal(db_exec(c, "DELETE FROM t_script; DELETE FROM t_script", NULL, 0, NULL),
                     DB_ERROR);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_script"), 2);
    db_release(c);
}

struct writer_arg {
    db *d;
    int id;
    int failures;
    char err[256];
};

#define WRITERS 8
#define WRITES 40

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < WRITES; i++) {
        db_conn *c = db_acquire(a->d);
        if (!c) {
            a->failures++;
            snprintf(a->err, sizeof(a->err), "acquire failed");
            continue;
        }
        db_param ins[] = {DB_INT(a->id * 1000 + i), DB_INT(a->id)};
        int rc;
        if (i % 2 == 0) {
            rc = db_begin(c);
            if (rc == DB_OK)
                rc = db_exec(c, "INSERT INTO t_conc (id, worker) VALUES ($1, $2)", ins, 2, NULL);
            if (rc == DB_OK)
                rc = db_exec(c, "UPDATE t_counter SET n = n + 1 WHERE id = 1", NULL, 0, NULL);
            if (rc == DB_OK)
                rc = db_commit(c);
            else
                db_rollback(c);
        } else {
            rc = db_exec(c, "INSERT INTO t_conc (id, worker) VALUES ($1, $2)", ins, 2, NULL);
            if (rc == DB_OK) {
                db_rows *r = NULL;
                rc = db_query(c, "SELECT count(*) FROM t_conc", NULL, 0, &r);
                if (rc == DB_OK)
                    db_rows_free(r);
            }
        }
        if (rc != DB_OK) {
            a->failures++;
            snprintf(a->err, sizeof(a->err), "%d: %s", rc, db_errmsg(c));
        }
        db_release(c);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    ctx *t = need(state);
    db_conn *c = borrow(t);
    ddl(t, c, "t_conc", "id INTEGER PRIMARY KEY, worker INTEGER NOT NULL",
        "id INTEGER PRIMARY KEY, worker INTEGER NOT NULL");
    ddl(t, c, "t_counter", "id INTEGER PRIMARY KEY, n INTEGER NOT NULL",
        "id INTEGER PRIMARY KEY, n INTEGER NOT NULL");
    exec_ok(c, "INSERT INTO t_counter VALUES (1, 0)");
    db_release(c);

    pthread_t th[WRITERS];
    struct writer_arg args[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (struct writer_arg){.d = t->d, .id = i + 1};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &args[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].failures)
            fail_msg("writer %d had %d failures, last: %s", i, args[i].failures, args[i].err);
    }
    c = borrow(t);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM t_conc"), WRITERS * WRITES);
    assert_int_equal(count_rows(c, "SELECT n FROM t_counter"), WRITERS * WRITES / 2);
    db_release(c);
}

struct release_later {
    db_conn *c;
    int ms;
};

static void *release_later_main(void *p)
{
    struct release_later *a = p;
    sleep_ms(a->ms);
    db_release(a->c);
    return NULL;
}

static void test_pool_exhaustion(void **state)
{
    ctx *t = need(state);
    char err[256];
    db *d = NULL;
    db_options o = {.url = t->url, .pool_size = 2, .busy_timeout_ms = 300};
    assert_int_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    db_conn *a = db_acquire(d);
    db_conn *b = db_acquire(d);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a != b);

    int64_t start = now_ms();
    assert_null(db_acquire(d)); /* all borrowed: waits for the timeout, then gives up */
    int64_t waited = now_ms() - start;
    assert_true(waited >= 250);
    assert_true(waited < 3000);

    /* A connection given back while someone waits goes to the waiter. */
    pthread_t th;
    struct release_later rl = {.c = a, .ms = 100};
    assert_int_equal(pthread_create(&th, NULL, release_later_main, &rl), 0);
    db_conn *c = db_acquire(d);
    pthread_join(th, NULL);
    assert_true(c == a);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELECT 1", NULL, 0, &r), DB_OK);
    db_rows_free(r);
    db_release(c);
    db_release(b);
    db_close(d);
}

static int backend_pid_at(db_conn *c, int line)
{
    db_rows *r = NULL;
    if (db_query(c, "SELECT pg_backend_pid()", NULL, 0, &r) != DB_OK)
        fail_msg("pg_backend_pid (line %d): %s", line, db_errmsg(c));
    assert_int_equal(db_rows_next(r), 1);
    int pid = (int)db_col_int(r, 0);
    db_rows_free(r);
    return pid;
}
#define backend_pid(c) backend_pid_at((c), __LINE__)

/* Terminates the backend serving pid and waits until it is gone. */
static void kill_backend(db_conn *killer, int pid)
{
    db_param p[] = {DB_INT(pid)};
    db_rows *r = NULL;
    assert_int_equal(db_query(killer, "SELECT pg_terminate_backend($1)", p, 1, &r), DB_OK);
    db_rows_free(r);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(
            db_query(killer, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", p, 1, &r),
            DB_OK);
        assert_int_equal(db_rows_next(r), 1);
        int64_t n = db_col_int(r, 0);
        db_rows_free(r);
        if (n == 0)
            return;
        sleep_ms(20);
    }
    fail_msg("backend %d did not go away", pid);
}

static void test_pg_reconnect(void **state)
{
    ctx *t = need(state);
    if (t->kind != DB_POSTGRES)
        skip();
    char err[256];
    db *d = NULL;
    db_options o = {.url = t->url, .pool_size = 2};
    assert_int_equal(db_open(&o, &d, err, sizeof(err)), DB_OK);
    db_conn *a = db_acquire(d);
    db_conn *b = db_acquire(d);
    assert_non_null(a);
    assert_non_null(b);

    /* 1. Killed while idle in the pool: the next borrow repairs it. */
    int pid = backend_pid(a);
    kill_backend(b, pid);
    db_release(b);
    db_release(a); /* released last, so borrowed first */
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    assert_true(c == a);
    int pid2 = backend_pid(c);
    assert_int_not_equal(pid2, pid);

    /* 2. Killed while borrowed, outside a transaction: the statement is retried. */
    b = db_acquire(d);
    assert_non_null(b);
    kill_backend(b, pid2);
    int pid3 = backend_pid(c);
    assert_int_not_equal(pid3, pid2);

    /* 3. Killed inside a transaction: the transaction is lost and says so; the connection
     * recovers on the next borrow. */
    assert_int_equal(db_begin(c), DB_OK);
    kill_backend(b, pid3);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELECT 1", NULL, 0, &r), DB_EUNAVAILABLE);
    assert_true(strlen(db_errmsg(c)) > 0);
    db_release(c);
    c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(db_query(c, "SELECT 1", NULL, 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    db_rows_free(r);
    /* Cached statements were re-prepared on the new session. */
    assert_int_not_equal(backend_pid(c), pid3);
    char perr[256];
    db_release(c);
    db_release(b);
    assert_int_equal(db_ping(d, perr, sizeof(perr)), DB_OK);
    db_close(d);
}

#define DRIVER_TESTS                                                                               \
    cmocka_unit_test(test_ping), cmocka_unit_test(test_params_and_getters),                        \
        cmocka_unit_test(test_same_param_twice), cmocka_unit_test(test_times),                     \
        cmocka_unit_test(test_booleans), cmocka_unit_test(test_constraints),                       \
        cmocka_unit_test(test_transactions), cmocka_unit_test(test_error_aborts_transaction),      \
        cmocka_unit_test(test_release_rolls_back), cmocka_unit_test(test_statement_reuse),         \
        cmocka_unit_test(test_returning_and_affected), cmocka_unit_test(test_script_and_errors),   \
        cmocka_unit_test(test_concurrent_writers), cmocka_unit_test(test_pool_exhaustion),         \
        cmocka_unit_test(test_pg_reconnect)

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_url_validation),
        cmocka_unit_test(test_url_errors_hide_password),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_memory_database),
    };
    const struct CMUnitTest sqlite_tests[] = {DRIVER_TESTS};
    const struct CMUnitTest pg_tests[] = {DRIVER_TESTS};
    int failed = cmocka_run_group_tests_name("store/db: urls", common, NULL, NULL);
    failed += cmocka_run_group_tests_name("store/db: sqlite", sqlite_tests, setup_sqlite, teardown);
    failed += cmocka_run_group_tests_name("store/db: postgres", pg_tests, setup_pg, teardown);
    return failed;
}
