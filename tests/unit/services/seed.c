/* `praxis seed` on both drivers: plans land once, a second run changes nothing, a bad file
 * writes nothing. */
#include "services/seed.h"

#include "store/migrate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    db *d;
    char dir[512];
    char pg_admin_url[512];
    char pg_db[64];
} fixture;

static const char *tmp_base(void)
{
    const char *t = getenv("PRAXIS_TEST_TMP");
    return t && *t ? t : "/tmp";
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup_dir(fixture *fx)
{
    (void)mkdir(tmp_base(), 0755);
    snprintf(fx->dir, sizeof(fx->dir), "%s/seed-%d-XXXXXX", tmp_base(), (int)getpid());
    return mkdtemp(fx->dir) ? 0 : -1;
}

static int setup_sqlite(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx || setup_dir(fx) != 0)
        return -1;
    char url[600], err[256];
    snprintf(url, sizeof(url), "sqlite://%s/seed.db", fx->dir);
    db_options o = {.url = url, .pool_size = 2};
    if (db_open(&o, &fx->d, err, sizeof(err)) != 0 || migrate_run(fx->d, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

/* A fresh database per run on the throwaway cluster, so reruns start clean. */
static int setup_pg(void **state)
{
    const char *base = getenv("PRAXIS_TEST_PG_URL");
    if (!base || !*base) {
        fprintf(stderr, "PRAXIS_TEST_PG_URL is not set: PostgreSQL seed tests skipped\n");
        *state = NULL;
        return 0;
    }
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx || setup_dir(fx) != 0)
        return -1;
    snprintf(fx->pg_admin_url, sizeof(fx->pg_admin_url), "%s", base);
    snprintf(fx->pg_db, sizeof(fx->pg_db), "praxis_seed_%d", (int)getpid());
    char err[256], sql[128], url[600];
    db *admin = NULL;
    db_options ao = {.url = base, .pool_size = 1};
    if (db_open(&ao, &admin, err, sizeof(err)) != 0)
        return -1;
    db_conn *c = db_acquire(admin);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", fx->pg_db);
    int rc = db_exec(c, sql, NULL, 0, NULL);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fx->pg_db);
    if (rc == DB_OK)
        rc = db_exec(c, sql, NULL, 0, NULL);
    db_release(c);
    db_close(admin);
    if (rc != DB_OK)
        return -1;
    const char *slash = strrchr(base, '/');
    snprintf(url, sizeof(url), "%.*s/%s", (int)(slash - base), base, fx->pg_db);
    db_options o = {.url = url, .pool_size = 2};
    if (db_open(&o, &fx->d, err, sizeof(err)) != 0 || migrate_run(fx->d, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (!fx)
        return 0;
    db_close(fx->d);
    if (fx->pg_db[0]) {
        db *admin = NULL;
        char err[256], sql[128];
        db_options ao = {.url = fx->pg_admin_url, .pool_size = 1};
        if (db_open(&ao, &admin, err, sizeof(err)) == 0) {
            db_conn *c = db_acquire(admin);
            snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", fx->pg_db);
            (void)!db_exec(c, sql, NULL, 0, NULL);
            db_release(c);
            db_close(admin);
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    (void)!system(cmd);
    free(fx);
    return 0;
}

static int64_t count_plans(db *d, const char *where)
{
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM plans %s", where);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, sql, NULL, 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    int64_t n = db_col_int(r, 0);
    db_rows_free(r);
    db_release(c);
    return n;
}

static void test_shipped_plans_idempotent(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    seed_report rep;
    char err[256];
    assert_int_equal(seed_run(fx->d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 3);
    assert_int_equal(rep.plans_unchanged, 0);
    assert_int_equal(count_plans(fx->d, ""), 3);
    assert_int_equal(count_plans(fx->d, "WHERE id = 'premium' AND sessions_per_month IS NULL AND voice AND llm"), 1);
    assert_int_equal(count_plans(fx->d, "WHERE id = 'free' AND sessions_per_month = 3 AND NOT voice"), 1);
    assert_int_equal(seed_run(fx->d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 0);
    assert_int_equal(rep.plans_unchanged, 3);
}

static void test_changed_and_bad_files(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    char path[600], err[256];
    seed_report rep;
    snprintf(path, sizeof(path), "%s/plans.json", fx->dir);
    write_file(path, "{\"plans\": [{\"id\": \"free\", \"name\": \"Free\", \"price_minor\": 0, "
                     "\"currency\": \"usd\", \"interval\": \"month\", \"sessions_per_month\": 3, "
                     "\"voice\": false, \"llm\": false}]}");
    assert_int_equal(seed_run(fx->d, fx->dir, &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 1);
    write_file(path, "{\"plans\": [{\"id\": \"free\", \"name\": \"Free\", \"price_minor\": 0, "
                     "\"currency\": \"usd\", \"interval\": \"month\", \"sessions_per_month\": 5, "
                     "\"voice\": false, \"llm\": false}]}");
    assert_int_equal(seed_run(fx->d, fx->dir, &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 1);
    assert_int_equal(count_plans(fx->d, "WHERE sessions_per_month = 5"), 1);
    /* A bad second plan: nothing of the file is written, the first plan keeps its value. */
    write_file(path, "{\"plans\": [{\"id\": \"free\", \"name\": \"Free\", \"price_minor\": 0, "
                     "\"currency\": \"usd\", \"interval\": \"month\", \"sessions_per_month\": 9, "
                     "\"voice\": false, \"llm\": false}, {\"id\": \"x\", \"price_minor\": -1}]}");
    assert_int_equal(seed_run(fx->d, fx->dir, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "plan #2"));
    assert_int_equal(count_plans(fx->d, "WHERE sessions_per_month = 5"), 1);
    write_file(path, "{\"plans\": [");
    assert_int_equal(seed_run(fx->d, fx->dir, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "plans.json"));
    write_file(path, "{\"plans\": []}");
    assert_int_equal(seed_run(fx->d, fx->dir, &rep, err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s/missing", fx->dir);
    assert_int_equal(seed_run(fx->d, path, &rep, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_shipped_plans_idempotent, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_changed_and_bad_files, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_shipped_plans_idempotent, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_changed_and_bad_files, setup_pg, teardown),
    };
    int failed = cmocka_run_group_tests_name("seed_sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("seed_postgres", pg_tests, NULL, NULL);
    return failed;
}
