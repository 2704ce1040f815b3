/* Tests src/store/migrate.c and the schema in src/store/migrations on SQLite and (when
 * PRAXIS_TEST_PG_URL is set) PostgreSQL: fresh apply, idempotent rerun, concurrent runs from
 * threads and processes, and the constraints the schema promises. Each test gets a fresh
 * database (a new file, or a new PostgreSQL database dropped at the end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/db.h"
#include "store/migrate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRESH 16

typedef struct {
    db_driver kind;
    const char *pg_url; /* admin URL; NULL when PostgreSQL is not configured */
    int seq;
    char created[MAX_FRESH][700]; /* files or database names to remove at the end */
    int ncreated;
} ctx;

/* Every migration version this binary has for the driver. */
static int versions_for(db_driver kind)
{
    int n = 0;
    for (int v = 1; v <= migrate_latest_version(); v++) {
        for (size_t i = 0; i < migration_files_count; i++) {
            const struct migration_file *f = &migration_files[i];
            if (f->version == v && (strcmp(f->dialect, "all") == 0 ||
                                    strcmp(f->dialect, kind == DB_SQLITE ? "sqlite" : "pg") == 0)) {
                n++;
                break;
            }
        }
    }
    return n;
}

static const char *tmp_dir(void)
{
    const char *t = getenv("PRAXIS_TEST_TMP");
    if (!t || !*t)
        t = "/tmp";
    mkdir(t, 0755);
    return t;
}

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
        fprintf(stderr, "cannot open admin database: %s\n", err);
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

/* Makes a new empty database and writes its URL into url. */
static void fresh_db(ctx *t, char *url, size_t n)
{
    assert_true(t->ncreated < MAX_FRESH);
    int k = t->seq++;
    if (t->kind == DB_SQLITE) {
        char *path = t->created[t->ncreated++];
        snprintf(path, 700, "%s/praxis-migtest-%d-%d.db", tmp_dir(), (int)getpid(), k);
        unlink(path);
        snprintf(url, n, "sqlite://%s", path);
        return;
    }
    char *name = t->created[t->ncreated++];
    char sql[256];
    snprintf(name, 700, "praxis_migtest_%d_%d", (int)getpid(), k);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    assert_int_equal(pg_admin(t->pg_url, sql), DB_OK);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    assert_int_equal(pg_admin(t->pg_url, sql), DB_OK);
    url_with_db(t->pg_url, name, url, n);
}

static db *open_url(const char *url, int pool)
{
    char err[512];
    db *d = NULL;
    db_options o = {.url = url, .pool_size = pool};
    if (db_open(&o, &d, err, sizeof(err)) != DB_OK)
        fail_msg("open %s: %s", url, err);
    return d;
}

static db *fresh_migrated(ctx *t)
{
    char url[1024];
    char err[512];
    int applied = -1;
    fresh_db(t, url, sizeof(url));
    db *d = open_url(url, 4);
    if (migrate_run(d, &applied, err, sizeof(err)) != DB_OK)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, versions_for(t->kind));
    return d;
}

static ctx *need(void **state)
{
    ctx *t = *state;
    if (t->kind == DB_POSTGRES && !t->pg_url)
        skip();
    return t;
}

static int setup_sqlite(void **state)
{
    ctx *t = calloc(1, sizeof(*t));
    t->kind = DB_SQLITE;
    *state = t;
    return 0;
}

static int setup_pg(void **state)
{
    ctx *t = calloc(1, sizeof(*t));
    t->kind = DB_POSTGRES;
    t->pg_url = getenv("PRAXIS_TEST_PG_URL");
    if (t->pg_url && !*t->pg_url)
        t->pg_url = NULL;
    if (!t->pg_url)
        printf("PRAXIS_TEST_PG_URL is not set: skipping the PostgreSQL tests\n");
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    ctx *t = *state;
    for (int i = 0; i < t->ncreated; i++) {
        if (t->kind == DB_SQLITE) {
            char p[720];
            unlink(t->created[i]);
            snprintf(p, sizeof(p), "%s-wal", t->created[i]);
            unlink(p);
            snprintf(p, sizeof(p), "%s-shm", t->created[i]);
            unlink(p);
        } else {
            char sql[800];
            snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->created[i]);
            (void)pg_admin(t->pg_url, sql);
        }
    }
    free(t);
    return 0;
}

static int64_t count_rows(db_conn *c, const char *sql)
{
    db_rows *r = NULL;
    if (db_query(c, sql, NULL, 0, &r) != DB_OK)
        fail_msg("%s: %s", sql, db_errmsg(c));
    assert_int_equal(db_rows_next(r), 1);
    int64_t n = db_col_int(r, 0);
    db_rows_free(r);
    return n;
}

/* ---- tests ---- */

static void test_embedded_files(void **state)
{
    (void)state;
    assert_true(migration_files_count > 0);
    assert_true(migrate_latest_version() >= 7);
    /* Every version exists for both drivers, or the two schemas drift apart. */
    assert_int_equal(versions_for(DB_SQLITE), versions_for(DB_POSTGRES));
    for (size_t i = 0; i < migration_files_count; i++) {
        const struct migration_file *f = &migration_files[i];
        assert_true(f->version > 0);
        assert_true(strlen(f->sql) > 0);
        assert_true(strcmp(f->dialect, "all") == 0 || strcmp(f->dialect, "sqlite") == 0 ||
                    strcmp(f->dialect, "pg") == 0);
    }
}

static void test_fresh_and_rerun(void **state)
{
    ctx *t = need(state);
    char url[1024];
    char err[512];
    int applied = -1;
    fresh_db(t, url, sizeof(url));
    db *d = open_url(url, 2);
    assert_int_equal(migrate_current_version(d), 0);
    assert_int_equal(migrate_run(d, &applied, err, sizeof(err)), DB_OK);
    assert_int_equal(applied, versions_for(t->kind));
    assert_int_equal(migrate_current_version(d), migrate_latest_version());

    /* Second run: nothing to do. */
    applied = -1;
    assert_int_equal(migrate_run(d, &applied, err, sizeof(err)), DB_OK);
    assert_int_equal(applied, 0);

    db_conn *c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM schema_migrations"),
                     versions_for(t->kind));
    db_rows *r = NULL;
    assert_int_equal(db_query(c,
                              "SELECT version, name, applied_at FROM schema_migrations "
                              "ORDER BY version",
                              NULL, 0, &r),
                     DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 1);
    assert_string_equal(db_col_text(r, 1), "users");
    const char *at = db_col_text(r, 2);
    assert_int_equal(strlen(at), 24);
    assert_int_equal(at[10], 'T');
    assert_int_equal(at[23], 'Z');
    db_rows_free(r);
    /* Every table of the design exists. */
    const char *tables[] = {"users",
                            "refresh_tokens",
                            "email_tokens",
                            "plans",
                            "subscriptions",
                            "scenarios",
                            "scenario_versions",
                            "sessions",
                            "turns",
                            "feedback_reports",
                            "progress_snapshots",
                            "audit_logs",
                            "usage_events",
                            "stripe_events",
                            "outbox",
                            "invoices",
                            "billing_customers"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(count_rows(c, sql), 0);
    }
    db_release(c);
    db_close(d);
}

struct runner {
    const char *url;
    int rc;
    int applied;
    char err[600];
};

static void *runner_main(void *p)
{
    struct runner *a = p;
    char err[512];
    db *d = NULL;
    /* A db handle each, as two processes would have. */
    db_options o = {.url = a->url, .pool_size = 2, .busy_timeout_ms = 30000};
    a->rc = db_open(&o, &d, err, sizeof(err));
    if (a->rc != DB_OK) {
        snprintf(a->err, sizeof(a->err), "open: %s", err);
        return NULL;
    }
    a->rc = migrate_run(d, &a->applied, a->err, sizeof(a->err));
    db_close(d);
    return NULL;
}

static void test_concurrent_threads(void **state)
{
    ctx *t = need(state);
    char url[1024];
    fresh_db(t, url, sizeof(url));
    enum { N = 4 };
    pthread_t th[N];
    struct runner run[N];
    for (int i = 0; i < N; i++) {
        run[i] = (struct runner){.url = url};
        assert_int_equal(pthread_create(&th[i], NULL, runner_main, &run[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (run[i].rc != DB_OK)
            fail_msg("runner %d: %d %s", i, run[i].rc, run[i].err);
        total += run[i].applied;
    }
    assert_int_equal(total, versions_for(t->kind));
    db *d = open_url(url, 1);
    db_conn *c = db_acquire(d);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM schema_migrations"),
                     versions_for(t->kind));
    assert_int_equal(count_rows(c, "SELECT count(DISTINCT version) FROM schema_migrations"),
                     versions_for(t->kind));
    db_release(c);
    db_close(d);
}

static void test_concurrent_processes(void **state)
{
    ctx *t = need(state);
    char url[1024];
    fresh_db(t, url, sizeof(url));
    enum { N = 3 };
    pid_t pids[N];
    fflush(NULL);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct runner r = {.url = url};
            runner_main(&r);
            if (r.rc != DB_OK)
                fprintf(stderr, "child %d: %s\n", i, r.err);
            /* The exit status carries how many versions this process applied. */
            _exit(r.rc == DB_OK ? r.applied : 255);
        }
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_not_equal(WEXITSTATUS(status), 255);
        total += WEXITSTATUS(status);
    }
    assert_int_equal(total, versions_for(t->kind));
    db *d = open_url(url, 1);
    db_conn *c = db_acquire(d);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM schema_migrations"),
                     versions_for(t->kind));
    db_release(c);
    db_close(d);
}

/* ---- the schema ---- */

#define U1 "00000000-0000-7000-8000-000000000001"
#define U2 "00000000-0000-7000-8000-000000000002"
#define U3 "00000000-0000-7000-8000-000000000003"
#define S1 "00000000-0000-7000-8000-0000000000a1"
#define SE1 "00000000-0000-7000-8000-0000000000b1"
#define NOW "2026-11-25T14:58:23.123Z"
#define LATER "2026-12-25T14:58:23.123Z"
#define KEY64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int insert_user(db_conn *c, const char *id, const char *email, const char *profession,
                       const char *role)
{
    db_param p[] = {
        DB_TEXT(id),        DB_TEXT(email),      DB_TEXT("$argon2id$v=19$m=65536,t=2,p=1$x$y"),
        DB_TEXT("Dr Test"), DB_TEXT(profession), DB_TEXT(role)};
    return db_exec(c,
                   "INSERT INTO users (id, email, password_hash, full_name, profession, role) "
                   "VALUES ($1, $2, $3, $4, $5, $6)",
                   p, 6, NULL);
}

static void must(db_conn *c, int rc, const char *what)
{
    if (rc != DB_OK)
        fail_msg("%s: %d %s", what, rc, db_errmsg(c));
}

static void must_violate(db_conn *c, int rc, const char *what)
{
    if (rc != DB_ECONSTRAINT)
        fail_msg("%s: expected a constraint violation, got %d (%s)", what, rc, db_errmsg(c));
}

static int exec_p(db_conn *c, const char *sql, const db_param *p, size_t n)
{
    return db_exec(c, sql, p, n, NULL);
}

static void test_schema_constraints(void **state)
{
    ctx *t = need(state);
    db *d = fresh_migrated(t);
    db_conn *c = db_acquire(d);
    assert_non_null(c);

    must(c, insert_user(c, U1, "a@example.org", "nursing", "candidate"), "user");
    must_violate(c, insert_user(c, U2, "b@example.org", "nursing", "superuser"), "bad role");
    must_violate(c, insert_user(c, U2, "b@example.org", "astrology", "candidate"),
                 "bad profession");
    must_violate(c, insert_user(c, U2, "a@example.org", "medicine", "candidate"),
                 "duplicate email");
    must(c, insert_user(c, U2, "b@example.org", "veterinary-science", "tutor"), "second user");
    /* Staff accounts may have no profession; candidates must. */
    must_violate(c, insert_user(c, U3, "c@example.org", NULL, "candidate"),
                 "candidate without a profession");
    db_param admin[] = {DB_TEXT(U3), DB_TEXT("admin@example.org"), DB_TEXT("h"), DB_TEXT("Admin"),
                        DB_TEXT(NOW)};
    must(c,
         exec_p(c,
                "INSERT INTO users (id, email, password_hash, full_name, role, email_verified, "
                "disabled, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, 'admin', TRUE, FALSE, $5, $5)",
                admin, 5),
         "admin without a profession");
    db_param u3[] = {DB_TEXT(U3)};
    must(c, exec_p(c, "DELETE FROM users WHERE id = $1", u3, 1), "delete admin");
    db_param grade[] = {DB_TEXT("B+"), DB_TEXT(U1)};
    must_violate(c, exec_p(c, "UPDATE users SET target_grade = $1 WHERE id = $2", grade, 2),
                 "bad grade");
    db_param date[] = {DB_TEXT("2026-02-30"), DB_TEXT(U1)};
    int rc = exec_p(c, "UPDATE users SET exam_date = $1 WHERE id = $2", date, 2);
    assert_true(rc == DB_ECONSTRAINT || rc == DB_ERROR); /* PostgreSQL: invalid date input */
    db_param date_ok[] = {DB_TEXT("2027-03-01"), DB_TEXT("C+"), DB_TEXT(U1)};
    must(c,
         exec_p(c, "UPDATE users SET exam_date = $1, target_grade = $2 WHERE id = $3", date_ok, 3),
         "good date and grade");

    /* Tokens: foreign key to users, purpose enum, unique hashes. */
    const char *rt = "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) "
                     "VALUES ($1, $2, $3, $4, $5)";
    db_param rt_bad[] = {DB_TEXT(U3), DB_TEXT("00000000-0000-7000-8000-0000000000ff"), DB_TEXT(U3),
                         DB_TEXT("hash1"), DB_TEXT(LATER)};
    must_violate(c, exec_p(c, rt, rt_bad, 5), "refresh token for an unknown user");
    db_param rt_ok[] = {DB_TEXT(U3), DB_TEXT(U1), DB_TEXT(U3), DB_TEXT("hash1"), DB_TEXT(LATER)};
    must(c, exec_p(c, rt, rt_ok, 5), "refresh token");
    db_param rt_dup[] = {DB_TEXT("00000000-0000-7000-8000-000000000004"), DB_TEXT(U1), DB_TEXT(U3),
                         DB_TEXT("hash1"), DB_TEXT(LATER)};
    must_violate(c, exec_p(c, rt, rt_dup, 5), "duplicate token hash");
    const char *et = "INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at) "
                     "VALUES ($1, $2, $3, $4, $5)";
    db_param et_bad[] = {DB_TEXT(U3), DB_TEXT(U1), DB_TEXT("login"), DB_TEXT("e1"), DB_TEXT(LATER)};
    must_violate(c, exec_p(c, et, et_bad, 5), "bad email token purpose");

    /* Content: a published scenario must point at an existing version. */
    db_param sc[] = {DB_TEXT(S1), DB_TEXT("chest-pain"), DB_TEXT("medicine"), DB_TEXT("medium")};
    must(c,
         exec_p(c,
                "INSERT INTO scenarios (id, slug, profession, difficulty) "
                "VALUES ($1, $2, $3, $4)",
                sc, 4),
         "scenario");
    db_param pub[] = {DB_TEXT(S1)};
    must_violate(c, exec_p(c, "UPDATE scenarios SET state = 'published' WHERE id = $1", pub, 1),
                 "published without a version");
    must_violate(c, exec_p(c, "UPDATE scenarios SET current_version = 1 WHERE id = $1", pub, 1),
                 "current version that does not exist");
    const char *sv = "INSERT INTO scenario_versions (scenario_id, version, title, profession, "
                     "setting, role, difficulty, tags, candidate_card, patient_card) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    db_param sv_bad[] = {DB_TEXT(S1),         DB_INT(1),     DB_TEXT("Chest pain"),
                         DB_TEXT("medicine"), DB_TEXT("ED"), DB_TEXT("Doctor"),
                         DB_TEXT("extreme"),  DB_TEXT("[]"), DB_TEXT("{}"),
                         DB_TEXT("{}")};
    must_violate(c, exec_p(c, sv, sv_bad, 10), "bad difficulty");
    db_param sv_json[] = {DB_TEXT(S1),         DB_INT(1),     DB_TEXT("Chest pain"),
                          DB_TEXT("medicine"), DB_TEXT("ED"), DB_TEXT("Doctor"),
                          DB_TEXT("medium"),   DB_TEXT("{}"), DB_TEXT("{}"),
                          DB_TEXT("{}")};
    must_violate(c, exec_p(c, sv, sv_json, 10), "tags that are not an array");
    db_param sv_ok[] = {DB_TEXT(S1),
                        DB_INT(1),
                        DB_TEXT("Chest pain"),
                        DB_TEXT("medicine"),
                        DB_TEXT("Emergency department"),
                        DB_TEXT("Doctor"),
                        DB_TEXT("medium"),
                        DB_TEXT("[\"cardiology\"]"),
                        DB_TEXT("{\"tasks\": [\"Find out\"]}"),
                        DB_TEXT("{\"facts\": []}")};
    must(c, exec_p(c, sv, sv_ok, 10), "scenario version");
    must_violate(c, exec_p(c, sv, sv_ok, 10), "duplicate version");
    must(c,
         exec_p(c, "UPDATE scenarios SET state = 'published', current_version = 1 WHERE id = $1",
                pub, 1),
         "publish");

    /* Sessions and turns. */
    const char *se = "INSERT INTO sessions (id, user_id, scenario_id, scenario_version, mode, "
                     "seed, prep_ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    db_param se_badv[] = {DB_TEXT(SE1),    DB_TEXT(U1), DB_TEXT(S1), DB_INT(2),
                          DB_TEXT("text"), DB_INT(42),  DB_TEXT(NOW)};
    must_violate(c, exec_p(c, se, se_badv, 7), "session of a version that does not exist");
    db_param se_badm[] = {DB_TEXT(SE1),     DB_TEXT(U1), DB_TEXT(S1), DB_INT(1),
                          DB_TEXT("video"), DB_INT(42),  DB_TEXT(NOW)};
    must_violate(c, exec_p(c, se, se_badm, 7), "bad mode");
    db_param se_ok[] = {DB_TEXT(SE1),     DB_TEXT(U1), DB_TEXT(S1), DB_INT(1),
                        DB_TEXT("voice"), DB_INT(42),  DB_TEXT(NOW)};
    must(c, exec_p(c, se, se_ok, 7), "session");
    db_param act[] = {DB_TEXT(SE1)};
    must_violate(c, exec_p(c, "UPDATE sessions SET status = 'active' WHERE id = $1", act, 1),
                 "active without start and end times");
    must_violate(c, exec_p(c, "UPDATE sessions SET status = 'finished' WHERE id = $1", act, 1),
                 "bad status");
    const char *tu = "INSERT INTO turns (id, session_id, n, speaker, text, t_ms, words, "
                     "audio_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    db_param tu_ok[] = {DB_TEXT(U3),
                        DB_TEXT(SE1),
                        DB_INT(1),
                        DB_TEXT("candidate"),
                        DB_TEXT("Hello, I'm, um, the nurse"),
                        DB_INT(1500),
                        DB_TEXT("[{\"w\": \"Hello\"}]"),
                        DB_TEXT(KEY64)};
    must(c, exec_p(c, tu, tu_ok, 8), "turn");
    db_param tu_dup[] = {DB_TEXT("00000000-0000-7000-8000-000000000005"),
                         DB_TEXT(SE1),
                         DB_INT(1),
                         DB_TEXT("patient"),
                         DB_TEXT("Hi"),
                         DB_INT(2000),
                         DB_NULL,
                         DB_NULL};
    must_violate(c, exec_p(c, tu, tu_dup, 8), "two turns with the same n");
    db_param tu_spk[] = {DB_TEXT("00000000-0000-7000-8000-000000000006"),
                         DB_TEXT(SE1),
                         DB_INT(2),
                         DB_TEXT("examiner"),
                         DB_TEXT("Hi"),
                         DB_INT(2000),
                         DB_NULL,
                         DB_NULL};
    must_violate(c, exec_p(c, tu, tu_spk, 8), "bad speaker");

    /* Feedback and progress. */
    const char *fb = "INSERT INTO feedback_reports (id, session_id, status, scorer_version) "
                     "VALUES ($1, $2, $3, $4)";
    db_param fb_ready[] = {DB_TEXT(U3), DB_TEXT(SE1), DB_TEXT("ready"), DB_TEXT("1")};
    must_violate(c, exec_p(c, fb, fb_ready, 4), "ready report without a report");
    db_param fb_ok[] = {DB_TEXT(U3), DB_TEXT(SE1), DB_TEXT("pending"), DB_TEXT("1")};
    must(c, exec_p(c, fb, fb_ok, 4), "pending report");
    db_param fb_two[] = {DB_TEXT("00000000-0000-7000-8000-000000000007"), DB_TEXT(SE1),
                         DB_TEXT("pending"), DB_TEXT("1")};
    must_violate(c, exec_p(c, fb, fb_two, 4), "second report for a session");
    const char *ps = "INSERT INTO progress_snapshots (id, user_id, session_id, mode, "
                     "estimated_score, grade, fluency, appropriateness, grammar_expression, "
                     "relationship_building, patient_perspective, providing_structure, "
                     "information_gathering, information_giving) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    db_param ps_bad[] = {DB_TEXT(U3),  DB_TEXT(U1), DB_TEXT(SE1), DB_TEXT("text"), DB_INT(350),
                         DB_TEXT("B"), DB_INT(7),   DB_INT(4),    DB_INT(4),       DB_INT(2),
                         DB_INT(2),    DB_INT(2),   DB_INT(2),    DB_INT(2)};
    must_violate(c, exec_p(c, ps, ps_bad, 14), "fluency above 6");
    db_param ps_ok[] = {DB_TEXT(U3),  DB_TEXT(U1), DB_TEXT(SE1), DB_TEXT("text"), DB_INT(350),
                        DB_TEXT("B"), DB_INT(5),   DB_INT(4),    DB_INT(4),       DB_INT(2),
                        DB_INT(2),    DB_INT(2),   DB_INT(2),    DB_INT(2)};
    must(c, exec_p(c, ps, ps_ok, 14), "progress snapshot");

    /* Billing. */
    const char *pl = "INSERT INTO plans (id, name, price_minor, currency, interval, "
                     "sessions_per_month, voice, llm) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    db_param pl_free[] = {DB_TEXT("free"),  DB_TEXT("Free"), DB_INT(0),  DB_TEXT("eur"),
                          DB_TEXT("month"), DB_INT(3),       DB_BOOL(0), DB_BOOL(0)};
    must(c, exec_p(c, pl, pl_free, 8), "free plan");
    db_param pl_prem[] = {DB_TEXT("premium"), DB_TEXT("Premium"), DB_INT(2900),
                          DB_TEXT("eur"),     DB_TEXT("month"),   DB_NULL,
                          DB_BOOL(1),         DB_BOOL(1)};
    must(c, exec_p(c, pl, pl_prem, 8), "unlimited plan");
    db_param pl_bad[] = {DB_TEXT("weekly"), DB_TEXT("Weekly"), DB_INT(100), DB_TEXT("eur"),
                         DB_TEXT("week"),   DB_NULL,           DB_BOOL(1),  DB_BOOL(0)};
    must_violate(c, exec_p(c, pl, pl_bad, 8), "bad interval");
    const char *sub = "INSERT INTO subscriptions (id, user_id, plan_id, provider, status, "
                      "stripe_subscription_id, state_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    db_param sub_bad[] = {DB_TEXT(U3),       DB_TEXT(U2),        DB_TEXT("premium"),
                          DB_TEXT("stripe"), DB_TEXT("expired"), DB_TEXT("sub_1"),
                          DB_TEXT(NOW)};
    must_violate(c, exec_p(c, sub, sub_bad, 7), "bad subscription status");
    db_param sub_plan[] = {DB_TEXT(U3),       DB_TEXT(U2),      DB_TEXT("gold"), DB_TEXT("stripe"),
                           DB_TEXT("active"), DB_TEXT("sub_1"), DB_TEXT(NOW)};
    must_violate(c, exec_p(c, sub, sub_plan, 7), "unknown plan");
    db_param sub_ok[] = {DB_TEXT(U3),       DB_TEXT(U2),         DB_TEXT("premium"),
                         DB_TEXT("stripe"), DB_TEXT("past_due"), DB_TEXT("sub_1"),
                         DB_TEXT(NOW)};
    must(c, exec_p(c, sub, sub_ok, 7), "subscription");
    const char *ue = "INSERT INTO usage_events (id, user_id, session_id, kind, quantity) "
                     "VALUES ($1, $2, $3, $4, $5)";
    db_param ue_ok[] = {DB_TEXT(U3), DB_TEXT(U1), DB_TEXT(SE1), DB_TEXT("session_started"),
                        DB_INT(1)};
    must(c, exec_p(c, ue, ue_ok, 5), "usage event");
    db_param ue_twice[] = {DB_TEXT("00000000-0000-7000-8000-000000000008"), DB_TEXT(U1),
                           DB_TEXT(SE1), DB_TEXT("session_started"), DB_INT(1)};
    must_violate(c, exec_p(c, ue, ue_twice, 5), "a session counted twice");
    db_param ue_voice[] = {DB_TEXT("00000000-0000-7000-8000-000000000009"), DB_TEXT(U1),
                           DB_TEXT(SE1), DB_TEXT("voice_seconds"), DB_INT(300)};
    must(c, exec_p(c, ue, ue_voice, 5), "voice usage");
    const char *ev = "INSERT INTO stripe_events (id, type, created, payload) "
                     "VALUES ($1, $2, $3, $4)";
    db_param ev_ok[] = {DB_TEXT("evt_1"), DB_TEXT("invoice.paid"), DB_TEXT(NOW),
                        DB_TEXT("{\"id\": \"evt_1\"}")};
    must(c, exec_p(c, ev, ev_ok, 4), "stripe event");
    must_violate(c, exec_p(c, ev, ev_ok, 4), "the same stripe event twice");

    /* Audit log and outbox. */
    const char *al = "INSERT INTO audit_logs (id, actor_id, action, target_id, ip, details) "
                     "VALUES ($1, $2, $3, $4, $5, $6)";
    db_param al_ok[] = {DB_TEXT(U3), DB_TEXT(U1),          DB_TEXT("auth.login"),
                        DB_TEXT(U1), DB_TEXT("127.0.0.1"), DB_TEXT("{\"ok\": true}")};
    must(c, exec_p(c, al, al_ok, 6), "audit row");
    const char *ob = "INSERT INTO outbox (id, topic, payload, status, dedupe_key) "
                     "VALUES ($1, $2, $3, $4, $5)";
    db_param ob_bad[] = {DB_TEXT(U3), DB_TEXT("email.verify"), DB_TEXT("{}"), DB_TEXT("queued"),
                         DB_NULL};
    must_violate(c, exec_p(c, ob, ob_bad, 5), "bad outbox status");
    db_param ob_ok[] = {DB_TEXT(U3), DB_TEXT("score"), DB_TEXT("{\"session\": 1}"),
                        DB_TEXT("pending"), DB_TEXT("score:" SE1)};
    must(c, exec_p(c, ob, ob_ok, 5), "outbox row");
    db_param ob_dup[] = {DB_TEXT("00000000-0000-7000-8000-00000000000a"), DB_TEXT("score"),
                         DB_TEXT("{}"), DB_TEXT("pending"), DB_TEXT("score:" SE1)};
    must_violate(c, exec_p(c, ob, ob_dup, 5), "the same job queued twice");
    db_param ob_sent[] = {DB_TEXT(U3)};
    must_violate(c, exec_p(c, "UPDATE outbox SET status = 'sent' WHERE id = $1", ob_sent, 1),
                 "sent without sent_at");

    /* Reading back: booleans and times look the same on both drivers. */
    db_rows *r = NULL;
    must(c,
         db_query(c, "SELECT voice, sessions_per_month, created_at FROM plans WHERE id = 'premium'",
                  NULL, 0, &r),
         "read plan");
    assert_int_equal(db_rows_next(r), 1);
    assert_int_equal(db_col_int(r, 0), 1);
    assert_string_equal(db_col_text(r, 0), "1");
    assert_true(db_col_is_null(r, 1));
    assert_int_equal(strlen(db_col_text(r, 2)), 24);
    db_rows_free(r);
    db_param who[] = {DB_TEXT(U1)};
    must(c,
         db_query(c, "SELECT email_verified, exam_date, target_grade FROM users WHERE id = $1", who,
                  1, &r),
         "read user");
    assert_int_equal(db_rows_next(r), 1);
    assert_string_equal(db_col_text(r, 0), "0");
    assert_string_equal(db_col_text(r, 1), "2027-03-01");
    assert_string_equal(db_col_text(r, 2), "C+");
    db_rows_free(r);

    /* Deleting: a user with billing rows cannot be hard-deleted (they are anonymised instead);
     * personal rows cascade; the audit trail loses the actor, not the row. */
    db_param u2[] = {DB_TEXT(U2)};
    must_violate(c, exec_p(c, "DELETE FROM users WHERE id = $1", u2, 1),
                 "deleting a user with a subscription");
    must(c, exec_p(c, "DELETE FROM usage_events WHERE user_id = $1", who, 1), "drop usage");
    must(c, exec_p(c, "DELETE FROM users WHERE id = $1", who, 1), "delete user");
    assert_int_equal(count_rows(c, "SELECT count(*) FROM refresh_tokens"), 0);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM turns"), 0);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM feedback_reports"), 0);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM progress_snapshots"), 0);
    assert_int_equal(count_rows(c, "SELECT count(*) FROM audit_logs WHERE actor_id IS NULL"), 1);
    /* A scenario with no sessions left can go, with its versions. */
    must(c, exec_p(c, "DELETE FROM scenarios WHERE id = $1", pub, 1), "delete scenario");
    assert_int_equal(count_rows(c, "SELECT count(*) FROM scenario_versions"), 0);

    db_release(c);
    db_close(d);
}

int main(void)
{
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_embedded_files),
    };
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_fresh_and_rerun),
        cmocka_unit_test(test_concurrent_threads),
        cmocka_unit_test(test_concurrent_processes),
        cmocka_unit_test(test_schema_constraints),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_fresh_and_rerun),
        cmocka_unit_test(test_concurrent_threads),
        cmocka_unit_test(test_concurrent_processes),
        cmocka_unit_test(test_schema_constraints),
    };
    int failed = cmocka_run_group_tests_name("store/migrate", common, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("store/migrate: sqlite", sqlite_tests, setup_sqlite, teardown);
    failed += cmocka_run_group_tests_name("store/migrate: postgres", pg_tests, setup_pg, teardown);
    return failed;
}
