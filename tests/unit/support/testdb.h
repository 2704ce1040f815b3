/* Test databases: a fresh, empty database per test on either driver, in a temp dir owned by
 * the test run. PostgreSQL needs PRAXIS_TEST_PG_URL (scripts/test.sh sets it); without it the
 * PostgreSQL variant reports "skip" with a printed reason. */
#ifndef PRAXIS_TESTS_TESTDB_H
#define PRAXIS_TESTS_TESTDB_H

#include "store/db.h"

typedef struct testdb {
    db *d;              /* the open, migrated database (testdb_fixture_setup) */
    char dir[512];      /* a new temp dir (for SQLite files, blobs, …) */
    char url[700];      /* DATABASE_URL of the fresh database */
    char pg_admin[512]; /* PostgreSQL: the cluster URL used to create and drop it */
    char pg_db[80];
} testdb;

enum { TESTDB_OK = 0, TESTDB_SKIP = 1, TESTDB_ERROR = -1 };

/* Makes the temp dir and the empty database; tag names it (e.g. "seed"). */
int testdb_create(testdb *t, int postgres, const char *tag);
/* Opens t->url with pool connections and applies every migration. */
int testdb_open_migrated(const testdb *t, int pool, db **out);
/* Drops the PostgreSQL database and removes the temp dir (closing t->d first). */
void testdb_destroy(testdb *t);

/* cmocka setup/teardown for fixtures whose FIRST member is a testdb: allocates size zeroed
 * bytes, creates and opens a migrated database. A skipped PostgreSQL run leaves *state NULL
 * (tests then call skip()). */
int testdb_fixture_setup(void **state, size_t size, int postgres, const char *tag, int pool);
int testdb_fixture_teardown(void **state);

#endif
