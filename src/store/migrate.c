/* Applies the migrations compiled into the binary (migrations_gen.c) in version order. Each
 * version's files for this driver run in one transaction together with its schema_migrations
 * row. Concurrency: PostgreSQL runs hold a session advisory lock; SQLite runs rely on BEGIN
 * IMMEDIATE and re-check the version inside the transaction. */
#include "store/migrate.h"
#include "core/errors.h"

#include "core/timeutil.h"
#include "store/db_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Arbitrary, fixed: "praxis" in ASCII. Every process migrating the same database uses it. */
#define MIGRATE_LOCK_KEY "112105097120105115"
#define MIGRATE_LOCK_WAIT_MS 120000

static const char *const create_sqlite = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                         " version INTEGER PRIMARY KEY,"
                                         " name TEXT NOT NULL,"
                                         " applied_at TEXT NOT NULL)";
static const char *const create_pg = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                     " version INTEGER PRIMARY KEY,"
                                     " name TEXT NOT NULL,"
                                     " applied_at TIMESTAMPTZ(3) NOT NULL)";

static int applies_to(const struct migration_file *f, db_driver kind)
{
    if (strcmp(f->dialect, "all") == 0)
        return 1;
    return strcmp(f->dialect, kind == DB_SQLITE ? "sqlite" : "pg") == 0;
}

int migrate_latest_version(void)
{
    int v = 0;
    for (size_t i = 0; i < migration_files_count; i++) {
        if (migration_files[i].version > v)
            v = migration_files[i].version;
    }
    return v;
}

/* The smallest version greater than after that has a file for this driver, or 0. */
static int next_version(int after, db_driver kind)
{
    int best = 0;
    for (size_t i = 0; i < migration_files_count; i++) {
        const struct migration_file *f = &migration_files[i];
        if (f->version > after && applies_to(f, kind) && (best == 0 || f->version < best))
            best = f->version;
    }
    return best;
}

/* 1 applied, 0 not, <0 error. */
static int is_applied(db_conn *c, int version)
{
    db_rows *r = NULL;
    db_param p[] = {DB_INT(version)};
    int rc = db_query(c, "SELECT 1 FROM schema_migrations WHERE version = $1", p, 1, &r);
    if (rc != DB_OK)
        return rc;
    rc = db_rows_next(r);
    db_rows_free(r);
    return rc;
}

static const char *version_name(int version, db_driver kind)
{
    for (size_t i = 0; i < migration_files_count; i++) {
        if (migration_files[i].version == version && applies_to(&migration_files[i], kind))
            return migration_files[i].name;
    }
    return "?";
}

/* Runs the "all" file, then the driver's own file, of one version. */
static int run_files(db_conn *c, int version, db_driver kind)
{
    static const char *const order[] = {"all", "sqlite", "pg"};
    for (size_t o = 0; o < ARRAY_LEN(order); o++) {
        for (size_t i = 0; i < migration_files_count; i++) {
            const struct migration_file *f = &migration_files[i];
            if (f->version != version || strcmp(f->dialect, order[o]) != 0 || !applies_to(f, kind))
                continue;
            int rc = db_exec_script(c, f->sql);
            if (rc != DB_OK)
                return rc;
        }
    }
    return DB_OK;
}

/* Applies one version unless another process already did. 1 applied, 0 skipped, <0 error. */
static int apply_one(db_conn *c, int version, db_driver kind, char *err, size_t errlen)
{
    char now[32];
    const char *name = version_name(version, kind);
    int rc = db_begin(c);
    if (rc != DB_OK)
        goto fail;
    rc = is_applied(c, version);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        db_rollback(c);
        return 0;
    }
    rc = run_files(c, version, kind);
    if (rc != DB_OK)
        goto fail;
    time_format_rfc3339(time_now_ms(), now);
    db_param p[] = {DB_INT(version), DB_TEXT(name), DB_TEXT(now)};
    rc = db_exec(c, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                 p, ARRAY_LEN(p), NULL);
    if (rc != DB_OK)
        goto fail;
    rc = db_commit(c);
    if (rc != DB_OK)
        goto fail;
    return 1;
fail:
    err_set(err, errlen, "migration %04d_%s failed: %s", version, name, db_errmsg(c));
    db_rollback(c);
    return rc < 0 ? rc : DB_ERROR;
}

/* Session-level advisory lock, polled so a stuck holder is reported instead of waited on
 * forever (and so lock_timeout on the connection does not cut the wait short). */
static int pg_lock(db_conn *c, char *err, size_t errlen)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
    for (int waited = 0; waited < MIGRATE_LOCK_WAIT_MS; waited += 50) {
        db_rows *r = NULL;
        int rc = db_query(c, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")", NULL, 0, &r);
        if (rc != DB_OK) {
            err_set(err, errlen, "cannot take the migration lock: %s", db_errmsg(c));
            return rc;
        }
        int got = db_rows_next(r) == 1 && db_col_int(r, 0) == 1;
        db_rows_free(r);
        if (got)
            return DB_OK;
        (void)nanosleep(&pause, NULL);
    }
    err_set(err, errlen, "timed out after %d s waiting for another migration run",
            MIGRATE_LOCK_WAIT_MS / 1000);
    return DB_EBUSY;
}

static void pg_unlock(db_conn *c)
{
    db_rows *r = NULL;
    /* If this fails the lock still goes when the session ends. */
    if (db_query(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", NULL, 0, &r) == DB_OK)
        db_rows_free(r);
}

int migrate_run(db *d, int *applied, char *err, size_t errlen)
{
    db_driver kind = db_kind(d);
    int locked = 0;
    int count = 0;
    int rc;

    if (applied)
        *applied = 0;
    db_conn *c = db_acquire(d);
    if (!c) {
        err_set(err, errlen, "no database connection available for migrations");
        return DB_EUNAVAILABLE;
    }
    if (kind == DB_POSTGRES) {
        /* Lock before CREATE TABLE: two concurrent CREATE TABLE IF NOT EXISTS can still
         * collide in PostgreSQL's catalog. */
        rc = pg_lock(c, err, errlen);
        if (rc != DB_OK)
            goto out;
        locked = 1;
        rc = db_exec(c, create_pg, NULL, 0, NULL);
    } else {
        rc = db_begin(c);
        if (rc == DB_OK)
            rc = db_exec(c, create_sqlite, NULL, 0, NULL);
        if (rc == DB_OK)
            rc = db_commit(c);
        else
            db_rollback(c);
    }
    if (rc != DB_OK) {
        err_set(err, errlen, "cannot create schema_migrations: %s", db_errmsg(c));
        goto out;
    }
    for (int v = next_version(0, kind); v > 0; v = next_version(v, kind)) {
        rc = apply_one(c, v, kind, err, errlen);
        if (rc < 0)
            goto out;
        count += rc;
    }
    rc = DB_OK;
out:
    if (locked)
        pg_unlock(c);
    db_release(c);
    if (applied)
        *applied = count;
    return rc;
}

int migrate_current_version(db *d)
{
    static const char *const exists_sqlite =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
    static const char *const exists_pg =
        "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'schema_migrations' "
        "AND schemaname = ANY (current_schemas(false))";
    db_rows *r = NULL;
    int version = -1;
    db_conn *c = db_acquire(d);
    if (!c)
        return -1;
    if (db_query(c, db_kind(d) == DB_SQLITE ? exists_sqlite : exists_pg, NULL, 0, &r) != DB_OK)
        goto out;
    int exists = db_rows_next(r) == 1 && db_col_int(r, 0) > 0;
    db_rows_free(r);
    r = NULL;
    if (!exists) {
        version = 0;
        goto out;
    }
    if (db_query(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL, 0, &r) !=
        DB_OK)
        goto out;
    if (db_rows_next(r) == 1)
        version = (int)db_col_int(r, 0);
    db_rows_free(r);
out:
    db_release(c);
    return version;
}
