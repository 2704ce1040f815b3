/* Fresh databases for unit tests (see testdb.h). */
#include "testdb.h"

#include "store/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_base(void)
{
    const char *t = getenv("PRAXIS_TEST_TMP");
    return t && *t ? t : "/tmp";
}

static int admin_exec(const char *admin_url, const char *sql)
{
    char err[256];
    db *admin = NULL;
    db_options ao = {.url = admin_url, .pool_size = 1};
    if (db_open(&ao, &admin, err, sizeof(err)) != 0) {
        fprintf(stderr, "testdb: %s\n", err);
        return -1;
    }
    db_conn *c = db_acquire(admin);
    int rc = c ? db_exec(c, sql, NULL, 0, NULL) : DB_ERROR;
    if (rc != DB_OK && c)
        fprintf(stderr, "testdb: %s: %s\n", sql, db_errmsg(c));
    if (c)
        db_release(c);
    db_close(admin);
    return rc == DB_OK ? 0 : -1;
}

int testdb_create(testdb *t, int postgres, const char *tag)
{
    static int seq;
    memset(t, 0, sizeof(*t));
    const char *base = getenv("PRAXIS_TEST_PG_URL");
    if (postgres && (!base || !*base)) {
        fprintf(stderr, "PRAXIS_TEST_PG_URL is not set: PostgreSQL %s tests skipped\n", tag);
        return TESTDB_SKIP;
    }
    (void)mkdir(tmp_base(), 0755);
    snprintf(t->dir, sizeof(t->dir), "%s/%s-%d-XXXXXX", tmp_base(), tag, (int)getpid());
    if (!mkdtemp(t->dir))
        return TESTDB_ERROR;
    if (!postgres) {
        snprintf(t->url, sizeof(t->url), "sqlite://%s/%s.db", t->dir, tag);
        return TESTDB_OK;
    }
    snprintf(t->pg_admin, sizeof(t->pg_admin), "%s", base);
    snprintf(t->pg_db, sizeof(t->pg_db), "praxis_%s_%d_%d", tag, (int)getpid(), ++seq);
    for (char *p = t->pg_db; *p; p++)
        if (*p == '-')
            *p = '_';
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", t->pg_db);
    if (admin_exec(base, sql) != 0)
        return TESTDB_ERROR;
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->pg_db);
    if (admin_exec(base, sql) != 0)
        return TESTDB_ERROR;
    const char *slash = strrchr(base, '/');
    snprintf(t->url, sizeof(t->url), "%.*s/%s", (int)(slash - base), base, t->pg_db);
    return TESTDB_OK;
}

int testdb_open_migrated(const testdb *t, int pool, db **out)
{
    char err[256];
    db_options o = {.url = t->url, .pool_size = pool};
    if (db_open(&o, out, err, sizeof(err)) != 0 || migrate_run(*out, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "testdb: %s\n", err);
        return TESTDB_ERROR;
    }
    return TESTDB_OK;
}

void testdb_destroy(testdb *t)
{
    if (t->d) {
        db_close(t->d);
        t->d = NULL;
    }
    if (t->pg_db[0]) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->pg_db);
        (void)admin_exec(t->pg_admin, sql);
        t->pg_db[0] = '\0';
    }
    if (t->dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
        (void)!system(cmd);
        t->dir[0] = '\0';
    }
}

int testdb_fixture_setup(void **state, size_t size, int postgres, const char *tag, int pool)
{
    testdb *t = calloc(1, size);
    if (!t)
        return -1;
    int rc = testdb_create(t, postgres, tag);
    if (rc == TESTDB_SKIP) {
        free(t);
        *state = NULL;
        return 0;
    }
    *state = t;
    if (rc != TESTDB_OK)
        return -1;
    return testdb_open_migrated(t, pool, &t->d) == TESTDB_OK ? 0 : -1;
}

int testdb_fixture_teardown(void **state)
{
    testdb *t = *state;
    if (!t)
        return 0;
    testdb_destroy(t);
    free(t);
    return 0;
}
