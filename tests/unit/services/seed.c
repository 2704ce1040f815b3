/* `praxis seed` on both drivers: plans land once, a second run changes nothing, a bad file
 * writes nothing. */
#include "services/seed.h"

#include "store/migrate.h"
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* testdb first: the fixture is a testdb (testdb_fixture_setup). */
typedef struct {
    testdb t;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup_sqlite(void **state)
{
    return testdb_fixture_setup(state, sizeof(fixture), 0, "seed", 2);
}
static int setup_pg(void **state)
{
    return testdb_fixture_setup(state, sizeof(fixture), 1, "seed", 2);
}
static int teardown(void **state) { return testdb_fixture_teardown(state); }

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
    assert_int_equal(seed_run(fx->t.d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 3);
    assert_int_equal(rep.plans_unchanged, 0);
    assert_int_equal(count_plans(fx->t.d, ""), 3);
    assert_int_equal(count_plans(fx->t.d, "WHERE id = 'premium' AND sessions_per_month IS NULL AND voice AND llm"), 1);
    assert_int_equal(count_plans(fx->t.d, "WHERE id = 'free' AND sessions_per_month = 3 AND NOT voice"), 1);
    assert_int_equal(seed_run(fx->t.d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)), 0);
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
    snprintf(path, sizeof(path), "%s/plans.json", fx->t.dir);
    write_file(path, "{\"plans\": [{\"id\": \"free\", \"name\": \"Free\", \"price_minor\": 0, "
                     "\"currency\": \"usd\", \"interval\": \"month\", \"sessions_per_month\": 3, "
                     "\"voice\": false, \"llm\": false}]}");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 1);
    write_file(path, "{\"plans\": [{\"id\": \"free\", \"name\": \"Free\", \"price_minor\": 0, "
                     "\"currency\": \"usd\", \"interval\": \"month\", \"sessions_per_month\": 5, "
                     "\"voice\": false, \"llm\": false}]}");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.plans_written, 1);
    assert_int_equal(count_plans(fx->t.d, "WHERE sessions_per_month = 5"), 1);
    /* A bad second plan: nothing of the file is written, the first plan keeps its value. */
    write_file(path, "{\"plans\": [{\"id\": \"free\", \"name\": \"Free\", \"price_minor\": 0, "
                     "\"currency\": \"usd\", \"interval\": \"month\", \"sessions_per_month\": 9, "
                     "\"voice\": false, \"llm\": false}, {\"id\": \"x\", \"price_minor\": -1}]}");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "plan #2"));
    assert_int_equal(count_plans(fx->t.d, "WHERE sessions_per_month = 5"), 1);
    write_file(path, "{\"plans\": [");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "plans.json"));
    write_file(path, "{\"plans\": []}");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s/missing", fx->t.dir);
    assert_int_equal(seed_run(fx->t.d, path, &rep, err, sizeof(err)), -1);
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
