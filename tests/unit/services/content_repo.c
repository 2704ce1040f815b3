/* The content store on both drivers: a scenario's life (draft → published → new version →
 * published → archived) with its audit rows, the library seed (twice: the second run changes
 * nothing), and search: the right card ranks first for real queries over the shipped library.
 * PostgreSQL runs need PRAXIS_TEST_PG_URL (a fresh database per test). */
#include "services/content/repo.h"
#include "services/content/scenario.h"
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

/* testdb first: the fixture is a testdb (testdb_fixture_setup). A fresh database per test
 * (on the throwaway cluster for PostgreSQL): reruns start clean. */
typedef struct {
    testdb t;
} fixture;

static int setup_sqlite(void **state)
{
    return testdb_fixture_setup(state, sizeof(fixture), 0, "content", 2);
}
static int setup_pg(void **state)
{
    return testdb_fixture_setup(state, sizeof(fixture), 1, "content", 2);
}
static int teardown(void **state) { return testdb_fixture_teardown(state); }

/* ---- helpers ------------------------------------------------------------------------- */

static const char base_json[] =
    "{\"title\": \"Using a preventer inhaler\", \"profession\": \"pharmacy\","
    " \"setting\": \"Community pharmacy\", \"difficulty\": \"medium\","
    " \"tags\": [\"asthma\", \"inhaler-technique\"],"
    " \"candidate_card\": {\"role\": \"Pharmacist\", \"setting\": \"Community pharmacy\","
    "   \"patient\": \"Ms Ana Lopez, 29\","
    "   \"background\": \"Ms Lopez has been prescribed a preventer inhaler for asthma.\","
    "   \"tasks\": [\"Find out what she knows\", \"Explain how the inhaler works\","
    "     \"Check her technique\"]},"
    " \"patient_card\": {\"name\": \"Ana Lopez\", \"age\": 29, \"gender\": \"female\","
    "   \"voice\": \"slt\", \"persona\": \"sceptical\","
    "   \"background\": \"You are Ana Lopez, 29.\","
    "   \"facts\": [{\"topic\": \"symptoms\", \"triggers\": [\"symptoms\"],"
    "                \"answer\": \"I wheeze at night.\"}],"
    "   \"cues\": [{\"kind\": \"concern\", \"when\": {\"on_start\": true},"
    "               \"line\": \"I do not like steroids.\"}],"
    "   \"concerns\": [\"Steroid side effects\"],"
    "   \"closing_line\": \"All right, I will try it every day.\","
    "   \"expected_tasks\": [{\"id\": \"t1\", \"description\": \"Find out what she knows\","
    "                          \"evidence_phrases\": [\"what do you know\"]}]}}";

/* A valid, normalized document with this title (and slug, when not NULL). */
static json_t *make_doc(const char *title, const char *slug)
{
    json_error_t e;
    json_t *raw = json_loads(base_json, JSON_REJECT_DUPLICATES, &e);
    assert_non_null(raw);
    json_object_set_new(raw, "title", json_string(title));
    if (slug)
        json_object_set_new(raw, "slug", json_string(slug));
    json_t *errors = json_array();
    assert_int_equal(scenario_validate(raw, errors), 0);
    json_decref(errors);
    json_t *doc = scenario_normalize(raw);
    json_decref(raw);
    assert_non_null(doc);
    return doc;
}

/* Ends the transaction the way a route does: commit on success, else roll back. */
static int finish(db_conn *c, int rc)
{
    if (rc == DB_OK)
        return db_commit(c);
    db_rollback(c);
    return rc;
}

static int64_t count_where(db_conn *c, const char *sql, const char *param)
{
    db_param p[] = {DB_TEXT(param)};
    db_rows *r = NULL;
    assert_int_equal(db_query(c, sql, p, param ? 1 : 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    int64_t n = db_col_int(r, 0);
    db_rows_free(r);
    return n;
}

/* Published summaries for a search (raw text as a user types it) and filters. */
static json_t *list(db_conn *c, const char *q, const char *profession, const char *difficulty,
                    const char *tag, int page, int per_page, long long *total)
{
    char words[256];
    if (q)
        assert_true(scenario_search_words(q, words, sizeof(words)) > 0);
    scenario_query sq = {.profession = profession,
                         .difficulty = difficulty,
                         .tag = tag,
                         .words = q ? words : NULL,
                         .page = page,
                         .per_page = per_page};
    json_t *items = NULL;
    long long t = 0;
    int rc = scenario_repo_list_published(c, &sq, &items, &t);
    if (rc != DB_OK)
        fail_msg("list (q=%s): %d %s", q ? q : "-", rc, db_errmsg(c));
    if (total)
        *total = t;
    return items;
}

static const char *title_of(const json_t *o)
{
    return json_string_value(json_object_get(o, "title"));
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_search_words(void **state)
{
    (void)state;
    char w[256];
    assert_int_equal(
        scenario_search_words("  Asthma, INHALER! \"x\" OR (y) -z* 'drop table'", w, sizeof(w)), 8);
    assert_string_equal(w, "asthma inhaler x or y z drop table");
    assert_int_equal(scenario_search_words("!!! ---", w, sizeof(w)), 0);
    assert_string_equal(w, "");
    assert_int_equal(scenario_search_words("a b c d e f g h i j k l m n o", w, sizeof(w)), 12);
    assert_string_equal(w, "a b c d e f g h i j k l");
    /* Words that do not fit are dropped, never cut. */
    assert_int_equal(scenario_search_words("alpha beta", w, 8), 1);
    assert_string_equal(w, "alpha");
    assert_int_equal(scenario_search_words("caf\xc3\xa9 dog", w, sizeof(w)), 2);
    assert_string_equal(w, "caf dog");
}

static void test_lifecycle(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    char id[UUID_STR_LEN];
    json_t *doc = make_doc("Using a preventer inhaler", NULL);

    /* Draft, version 1, slug from the title; candidates cannot see it. */
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_create(c, NULL, doc, id)), DB_OK);
    json_t *v = NULL;
    assert_int_equal(scenario_repo_admin_view(c, id, &v), DB_OK);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "draft");
    assert_string_equal(json_string_value(json_object_get(v, "slug")), "using-a-preventer-inhaler");
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 1);
    assert_true(json_is_null(json_object_get(v, "current_version")));
    assert_non_null(json_object_get(json_object_get(v, "patient_card"), "facts"));
    assert_int_equal(json_integer_value(json_object_get(v, "prep_seconds")), 180);
    json_decref(v);
    v = NULL;
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), SCENARIO_NOT_FOUND);
    long long total = -1;
    json_t *items = list(c, NULL, NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 0);
    json_decref(items);

    /* The same slug again is refused before anything is written. */
    char id2[UUID_STR_LEN];
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_create(c, NULL, doc, id2)), SCENARIO_SLUG_TAKEN);
    json_decref(doc);

    /* Publish: version 1 visible; publishing again changes nothing. */
    long long version = 0;
    int changed = 0;
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_publish(c, NULL, id, &version, &changed)), DB_OK);
    assert_int_equal(version, 1);
    assert_int_equal(changed, 1);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_publish(c, NULL, id, &version, &changed)), DB_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), DB_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 1);
    assert_string_equal(title_of(v), "Using a preventer inhaler");
    assert_null(json_object_get(v, "patient_card"));
    json_decref(v);

    /* A new version: the candidate still sees version 1 until it is published. */
    doc = make_doc("Starting a preventer inhaler", NULL);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_update(c, NULL, id, doc, &version)), DB_OK);
    assert_int_equal(version, 2);
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), DB_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 1);
    assert_string_equal(title_of(v), "Using a preventer inhaler");
    json_decref(v);
    assert_int_equal(scenario_repo_admin_view(c, id, &v), DB_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "latest_version")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "current_version")), 1);
    assert_string_equal(title_of(v), "Starting a preventer inhaler");
    /* Without a slug in the document the scenario keeps its own. */
    assert_string_equal(json_string_value(json_object_get(v, "slug")), "using-a-preventer-inhaler");
    json_decref(v);
    /* The search row still holds the published text. */
    items = list(c, "using", NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 1);
    json_decref(items);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_publish(c, NULL, id, &version, &changed)), DB_OK);
    assert_int_equal(version, 2);
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), DB_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 2);
    assert_string_equal(title_of(v), "Starting a preventer inhaler");
    json_decref(v);
    items = list(c, "starting", NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 1);
    json_decref(items);
    items = list(c, "using", NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 0);
    json_decref(items);

    /* Versions 1 and 2 are both kept; version 1 reads back unchanged. */
    assert_int_equal(scenario_repo_versions(c, id, 1, 20, &items, &total), DB_OK);
    assert_int_equal(total, 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "version")), 1);
    assert_true(json_is_false(json_object_get(json_array_get(items, 0), "published")));
    assert_true(json_is_true(json_object_get(json_array_get(items, 1), "published")));
    json_decref(items);
    assert_int_equal(scenario_repo_load_version(c, id, 1, &v), DB_OK);
    assert_string_equal(title_of(v), "Using a preventer inhaler");
    json_decref(v);

    /* Renaming to a slug another scenario has is refused; to a free one works. */
    json_t *other = make_doc("Another card", "another-card");
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_create(c, NULL, other, id2)), DB_OK);
    json_object_set_new(doc, "slug", json_string("another-card"));
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_update(c, NULL, id, doc, &version)),
                     SCENARIO_SLUG_TAKEN);
    json_object_set_new(doc, "slug", json_string("preventer-inhaler"));
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_update(c, NULL, id, doc, &version)), DB_OK);
    assert_int_equal(version, 3);
    char found[UUID_STR_LEN];
    assert_int_equal(scenario_repo_find_slug(c, "preventer-inhaler", found), DB_OK);
    assert_string_equal(found, id);
    json_decref(other);

    /* Archive: gone for candidates (detail, list and search); archiving again is a no-op. */
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_archive(c, NULL, id, &changed)), DB_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_archive(c, NULL, id, &changed)), DB_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), SCENARIO_NOT_FOUND);
    items = list(c, "starting", NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 0);
    json_decref(items);
    items = list(c, NULL, NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 0);
    json_decref(items);
    assert_int_equal(count_where(c, "SELECT count(*) FROM scenario_search", NULL), 0);
    /* The admin list still has both, with their states. */
    scenario_query aq = {.state = "archived", .page = 1, .per_page = 20};
    assert_int_equal(scenario_repo_list_admin(c, &aq, &items, &total), DB_OK);
    assert_int_equal(total, 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "slug")),
                        "preventer-inhaler");
    json_decref(items);
    aq.state = NULL;
    assert_int_equal(scenario_repo_list_admin(c, &aq, &items, &total), DB_OK);
    assert_int_equal(total, 2);
    json_decref(items);

    /* Publishing an archived scenario brings its latest version back. */
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_publish(c, NULL, id, &version, &changed)), DB_OK);
    assert_int_equal(version, 3);
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), DB_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 3);
    json_decref(v);

    /* Unknown ids. */
    const char *nobody = "0192d4e0-0000-7000-8000-000000000099";
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_update(c, NULL, nobody, doc, &version)),
                     SCENARIO_NOT_FOUND);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_publish(c, NULL, nobody, &version, &changed)),
                     SCENARIO_NOT_FOUND);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(finish(c, scenario_repo_archive(c, NULL, nobody, &changed)),
                     SCENARIO_NOT_FOUND);
    assert_int_equal(scenario_repo_admin_view(c, nobody, &v), SCENARIO_NOT_FOUND);
    assert_int_equal(scenario_repo_versions(c, nobody, 1, 20, &items, &total), SCENARIO_NOT_FOUND);
    json_decref(doc);

    /* One audit row per change, none for the no-ops or the refusals. */
    assert_int_equal(count_where(c,
                                 "SELECT count(*) FROM audit_logs WHERE target_id = $1 AND "
                                 "action = 'scenario.create'",
                                 id),
                     1);
    assert_int_equal(count_where(c,
                                 "SELECT count(*) FROM audit_logs WHERE target_id = $1 AND "
                                 "action = 'scenario.update'",
                                 id),
                     2);
    assert_int_equal(count_where(c,
                                 "SELECT count(*) FROM audit_logs WHERE target_id = $1 AND "
                                 "action = 'scenario.publish'",
                                 id),
                     3);
    assert_int_equal(count_where(c,
                                 "SELECT count(*) FROM audit_logs WHERE target_id = $1 AND "
                                 "action = 'scenario.archive'",
                                 id),
                     1);
    assert_int_equal(count_where(c,
                                 "SELECT count(*) FROM audit_logs WHERE target_type = $1 AND "
                                 "actor_id IS NOT NULL",
                                 "scenario"),
                     0);
    db_release(c);
}

static size_t library_size(void)
{
    size_t n = 0;
    FILE *p = popen("ls " PRAXIS_SOURCE_DIR "/data/scenarios/*.json | wc -l", "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

static void copy_file(const char *from, const char *to, const char *find, const char *replace)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, in);
    fclose(in);
    text[n] = '\0';
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char *at = find ? strstr(text, find) : NULL;
    if (find)
        assert_non_null(at);
    if (at) {
        fwrite(text, 1, (size_t)(at - text), out);
        fputs(replace, out);
        fputs(at + strlen(find), out);
    } else {
        fputs(text, out);
    }
    fclose(out);
    free(text);
}

static void test_seed_library(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    size_t n = library_size();
    assert_true(n >= 36);
    seed_report rep;
    char err[512];
    if (seed_run(fx->t.d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)) != 0)
        fail_msg("seed: %s", err);
    assert_int_equal(rep.scenarios_created, (int)n);
    assert_int_equal(rep.scenarios_updated, 0);
    assert_int_equal(rep.scenarios_unchanged, 0);
    /* Idempotent: the second run writes nothing. */
    assert_int_equal(seed_run(fx->t.d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.scenarios_created, 0);
    assert_int_equal(rep.scenarios_updated, 0);
    assert_int_equal(rep.scenarios_unchanged, (int)n);
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    assert_int_equal(count_where(c, "SELECT count(*) FROM scenarios WHERE state = $1", "published"),
                     (int64_t)n);
    assert_int_equal(count_where(c, "SELECT count(*) FROM scenario_versions", NULL), (int64_t)n);
    assert_int_equal(
        count_where(c, "SELECT count(*) FROM audit_logs WHERE action = $1", "scenario.publish"),
        (int64_t)n);
    assert_int_equal(
        count_where(c, "SELECT count(*) FROM scenarios WHERE created_by IS NOT NULL", NULL), 0);

    /* A changed file: a new version, published; the rest of the library is left alone. */
    char path[1024], sdir[600];
    snprintf(path, sizeof(path), "%s/plans.json", fx->t.dir);
    copy_file(PRAXIS_SOURCE_DIR "/data/plans.json", path, NULL, NULL);
    snprintf(sdir, sizeof(sdir), "%s/scenarios", fx->t.dir);
    assert_int_equal(mkdir(sdir, 0755), 0);
    snprintf(path, sizeof(path), "%s/medicine-new-hypertension.json", sdir);
    copy_file(PRAXIS_SOURCE_DIR "/data/scenarios/medicine-new-hypertension.json", path,
              "\"Explaining a new diagnosis of high blood pressure\"",
              "\"Explaining a new diagnosis of hypertension\"");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.scenarios_updated, 1);
    assert_int_equal(rep.scenarios_created + rep.scenarios_unchanged, 0);
    char id[UUID_STR_LEN];
    assert_int_equal(scenario_repo_find_slug(c, "medicine-new-hypertension", id), DB_OK);
    json_t *v = NULL;
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), DB_OK);
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 2);
    assert_string_equal(title_of(v), "Explaining a new diagnosis of hypertension");
    json_decref(v);
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), 0);
    assert_int_equal(rep.scenarios_unchanged, 1);

    /* An invalid file stops the whole seed, names the file and its first problem, and writes
     * nothing (the valid file before it is not applied either). */
    snprintf(path, sizeof(path), "%s/medicine-new-hypertension.json", sdir);
    copy_file(PRAXIS_SOURCE_DIR "/data/scenarios/medicine-new-hypertension.json", path,
              "\"Explaining a new diagnosis of high blood pressure\"", "\"Back to the old title\"");
    snprintf(path, sizeof(path), "%s/zz-broken.json", sdir);
    copy_file(PRAXIS_SOURCE_DIR "/data/scenarios/medicine-new-hypertension.json", path,
              "\"voice\": \"rms\"", "\"voice\": \"robot\"");
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "zz-broken.json"));
    assert_non_null(strstr(err, "patient_card.voice"));
    assert_int_equal(scenario_repo_candidate_view(c, id, &v), DB_OK);
    assert_string_equal(title_of(v), "Explaining a new diagnosis of hypertension");
    json_decref(v);
    /* Two files with one slug are refused as well. */
    copy_file(PRAXIS_SOURCE_DIR "/data/scenarios/medicine-new-hypertension.json", path, NULL, NULL);
    assert_int_equal(seed_run(fx->t.d, fx->t.dir, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "also used by"));
    db_release(c);
}

/* Each query, typed as a candidate would, must rank its card first. */
static const struct {
    const char *q;
    const char *slug;
} ranking[] = {
    {"asthma inhaler", "pharmacy-asthma-preventer-inhaler"},
    {"diabetic foot", "podiatry-diabetic-foot-ulcer-offloading"},
    {"gallbladder surgery, going home", "nursing-day-surgery-discharge"},
    {"dog treats weight", "veterinary-science-overweight-labrador"},
    {"toddler not talking", "speech-pathology-late-talker-parent"},
    {"MRI claustrophobia", "radiography-mri-claustrophobia"},
    {"cat kidney", "veterinary-science-cat-kidney-disease"},
    {"swallowing after a stroke", "speech-pathology-dysphagia-modified-diet-wife"},
    {"high blood pressure", "medicine-new-hypertension"},
};

static void test_search_and_filters(void **state)
{
    fixture *fx = *state;
    if (!fx)
        skip();
    seed_report rep;
    char err[512];
    if (seed_run(fx->t.d, PRAXIS_SOURCE_DIR "/data", &rep, err, sizeof(err)) != 0)
        fail_msg("seed: %s", err);
    db_conn *c = db_acquire(fx->t.d);
    assert_non_null(c);
    int failures = 0;
    for (size_t i = 0; i < sizeof(ranking) / sizeof(ranking[0]); i++) {
        char id[UUID_STR_LEN];
        assert_int_equal(scenario_repo_find_slug(c, ranking[i].slug, id), DB_OK);
        long long total = 0;
        json_t *items = list(c, ranking[i].q, NULL, NULL, NULL, 1, 5, &total);
        const char *top = json_string_value(json_object_get(json_array_get(items, 0), "id"));
        fprintf(stderr, "  %-8s q=%-34s total=%-2lld top: %s\n",
                db_kind(fx->t.d) == DB_SQLITE ? "sqlite" : "postgres", ranking[i].q, total,
                title_of(json_array_get(items, 0)) ? title_of(json_array_get(items, 0)) : "-");
        if (!top || strcmp(top, id) != 0) {
            fprintf(stderr, "    expected %s first\n", ranking[i].slug);
            failures++;
        }
        json_decref(items);
    }
    assert_int_equal(failures, 0);

    /* Filters: 3 cards per profession, one per difficulty; tags; combinations with search. */
    long long total = 0;
    json_t *items = list(c, NULL, "veterinary-science", NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 3);
    assert_int_equal(json_array_size(items), 3);
    /* Without a search: by profession, then title. */
    for (size_t i = 1; i < json_array_size(items); i++)
        assert_true(strcmp(title_of(json_array_get(items, i - 1)),
                           title_of(json_array_get(items, i))) <= 0);
    json_decref(items);
    items = list(c, NULL, "veterinary-science", "hard", NULL, 1, 20, &total);
    assert_int_equal(total, 1);
    json_decref(items);
    items = list(c, NULL, NULL, "easy", NULL, 1, 20, &total);
    assert_true(total >= 12);
    json_decref(items);
    items = list(c, NULL, NULL, NULL, "asthma", 1, 20, &total);
    assert_true(total >= 1);
    json_t *t;
    size_t i;
    json_array_foreach(items, i, t)
    {
        int has = 0;
        size_t j;
        json_t *tag;
        json_array_foreach(json_object_get(t, "tags"), j, tag) has |=
            strcmp(json_string_value(tag), "asthma") == 0;
        assert_true(has);
    }
    json_decref(items);
    /* A tag is matched whole: "asth" is no tag of anything. */
    items = list(c, NULL, NULL, NULL, "asth", 1, 20, &total);
    assert_int_equal(total, 0);
    json_decref(items);
    items = list(c, "inhaler", "medicine", NULL, NULL, 1, 20, &total);
    json_array_foreach(items, i, t)
        assert_string_equal(json_string_value(json_object_get(t, "profession")), "medicine");
    json_decref(items);
    items = list(c, "zzyzx", NULL, NULL, NULL, 1, 20, &total);
    assert_int_equal(total, 0);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);

    /* Pagination: pages are disjoint and cover the library. */
    items = list(c, NULL, NULL, NULL, NULL, 1, 100, &total);
    long long all = total;
    assert_int_equal((long long)json_array_size(items), all);
    json_t *p1 = list(c, NULL, NULL, NULL, NULL, 1, 10, &total);
    json_t *p2 = list(c, NULL, NULL, NULL, NULL, 2, 10, &total);
    assert_int_equal(total, all);
    assert_int_equal(json_array_size(p1), 10);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p2, 0), "id")),
                        json_string_value(json_object_get(json_array_get(items, 10), "id")));
    json_decref(p1);
    json_decref(p2);
    /* Summaries carry no card text and nothing of the patient. */
    json_array_foreach(items, i, t)
    {
        assert_null(json_object_get(t, "candidate_card"));
        assert_null(json_object_get(t, "patient_card"));
        assert_non_null(json_object_get(t, "version"));
    }
    json_decref(items);
    db_release(c);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_search_words),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_seed_library, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_search_and_filters, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_seed_library, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_search_and_filters, setup_pg, teardown),
    };
    int failed = cmocka_run_group_tests_name("content_sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("content_postgres", pg_tests, NULL, NULL);
    return failed;
}
