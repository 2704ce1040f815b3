/* The scenario model: each validation rule answers with the right field path, the candidate
 * view never carries the patient card, and every shipped library file passes the validator
 * and the library lint (36+ files, 3 per profession, easy + medium + hard each). */
#include "services/content/scenario.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A small valid document: 2 facts, 2 cues, 3 tasks (valid, but too thin for the library). */
static const char base_json[] =
    "{\"slug\": \"pharmacy-inhaler-test\", \"title\": \"Using a preventer inhaler\","
    " \"profession\": \"pharmacy\", \"setting\": \"Community pharmacy\","
    " \"difficulty\": \"medium\", \"tags\": [\"asthma\", \"inhaler-technique\"],"
    " \"prep_seconds\": 180, \"roleplay_seconds\": 300,"
    " \"candidate_card\": {\"role\": \"Pharmacist\", \"setting\": \"Community pharmacy\","
    "   \"patient\": \"Ms Ana Lopez, 29\","
    "   \"background\": \"Ms Lopez has been prescribed a preventer inhaler for asthma.\","
    "   \"tasks\": [\"Find out what she knows\", \"Explain how the inhaler works\","
    "     \"Check her technique\"]},"
    " \"patient_card\": {\"name\": \"Ana Lopez\", \"age\": 29, \"gender\": \"female\","
    "   \"voice\": \"slt\", \"persona\": \"sceptical\","
    "   \"background\": \"You are Ana Lopez, 29. SECRET-PATIENT-BACKGROUND.\","
    "   \"facts\": [{\"topic\": \"symptoms\", \"triggers\": [\"symptoms\", \"how are you\"],"
    "                \"answer\": \"I wheeze at night.\"},"
    "              {\"topic\": \"current_inhaler\", \"triggers\": [\"blue inhaler\"],"
    "                \"answer\": \"I use the blue one most days.\"}],"
    "   \"cues\": [{\"kind\": \"concern\", \"when\": {\"on_start\": true},"
    "               \"line\": \"I do not like steroids.\"},"
    "              {\"kind\": \"resistance\", \"when\": {\"after_topic\": \"symptoms\"},"
    "               \"line\": \"I only need it when I am ill.\"}],"
    "   \"concerns\": [\"Steroid side effects\"],"
    "   \"closing_line\": \"All right, I will try it every day.\","
    "   \"expected_tasks\": [{\"id\": \"t1\", \"description\": \"Find out what she knows\","
    "                          \"evidence_phrases\": [\"what do you know\"]},"
    "                        {\"id\": \"t2\", \"description\": \"Explain the inhaler\","
    "                          \"evidence_phrases\": [\"reduces the swelling\"]}]}}";

static json_t *base(void)
{
    json_error_t e;
    json_t *d = json_loads(base_json, JSON_REJECT_DUPLICATES, &e);
    if (!d)
        fail_msg("base document: %s (line %d)", e.text, e.line);
    return d;
}

static json_t *at(json_t *doc, const char *path)
{
    /* "patient_card.facts.1" style: object keys and array indexes separated by dots. */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = doc;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
    assert_non_null(v);
    return v;
}

static void dump_errors(const json_t *errors)
{
    char *s = json_dumps(errors, JSON_INDENT(1));
    fprintf(stderr, "%s\n", s ? s : "?");
    free(s);
}

/* Validates doc (stolen) and requires an error at field whose message contains msg (NULL: any).
 */
static void expect(json_t *doc, const char *field, const char *msg)
{
    json_t *errors = json_array();
    size_t n = scenario_validate(doc, errors);
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *m = json_string_value(json_object_get(e, "message"));
        if (f && strcmp(f, field) == 0 && (!msg || (m && strstr(m, msg))))
            found = 1;
    }
    if (!found || n != json_array_size(errors)) {
        fprintf(stderr, "expected an error at \"%s\" (%s); got %zu:\n", field, msg ? msg : "any",
                n);
        dump_errors(errors);
    }
    assert_true(found);
    assert_int_equal(n, json_array_size(errors));
    json_decref(errors);
    json_decref(doc);
}

static json_t *str_array(size_t n, const char *item)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char s[64];
        snprintf(s, sizeof(s), "%s%zu", item, i);
        json_array_append_new(a, json_string(s));
    }
    return a;
}

static json_t *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    json_t *v = json_string(s);
    free(s);
    return v;
}

static void test_valid_base(void **state)
{
    (void)state;
    json_t *d = base();
    json_t *errors = json_array();
    size_t n = scenario_validate(d, errors);
    if (n)
        dump_errors(errors);
    assert_int_equal(n, 0);
    /* Optional fields may be left out. */
    json_object_del(d, "slug");
    json_object_del(d, "tags");
    json_object_del(d, "prep_seconds");
    json_object_del(d, "roleplay_seconds");
    assert_int_equal(scenario_validate(d, errors), 0);
    json_decref(errors);
    json_decref(d);
}

static void test_top_level_rules(void **state)
{
    (void)state;
    json_t *d;
    expect(json_string("x"), "", "object");
    d = base();
    json_object_set_new(d, "foo", json_true());
    expect(d, "foo", "not a known field");
    d = base();
    json_object_set_new(d, "title", repeat('a', 121));
    expect(d, "title", "at most 120");
    d = base();
    json_object_set_new(d, "title", json_string("   "));
    expect(d, "title", "blank");
    d = base();
    json_object_del(d, "title");
    expect(d, "title", "required");
    d = base();
    json_object_set_new(d, "profession", json_string("surgery"));
    expect(d, "profession", "must be one of");
    d = base();
    json_object_set_new(d, "difficulty", json_string("extreme"));
    expect(d, "difficulty", NULL);
    d = base();
    json_object_set_new(d, "setting", repeat('s', 121));
    expect(d, "setting", "at most 120");
    d = base();
    json_object_set_new(d, "slug", json_string("Bad Slug"));
    expect(d, "slug", "a-z");
    d = base();
    json_object_set_new(d, "slug", repeat('a', 81));
    expect(d, "slug", "at most 80");
    d = base();
    json_object_set_new(d, "tags", json_pack("[s]", "Bad Tag"));
    expect(d, "tags[0]", "a-z");
    d = base();
    json_object_set_new(d, "tags", str_array(9, "t"));
    expect(d, "tags", "at most 8");
    d = base();
    json_object_set_new(d, "tags", json_pack("[s, s]", "asthma", "asthma"));
    expect(d, "tags[1]", "duplicates tags[0]");
    d = base();
    json_object_set_new(d, "tags", json_pack("[o]", repeat('a', 31)));
    expect(d, "tags[0]", "at most 30");
    d = base();
    json_object_set_new(d, "prep_seconds", json_integer(10));
    expect(d, "prep_seconds", "between 30 and 900");
    d = base();
    json_object_set_new(d, "roleplay_seconds", json_integer(1201));
    expect(d, "roleplay_seconds", "between 60 and 1200");
    d = base();
    json_object_set_new(d, "prep_seconds", json_string("180"));
    expect(d, "prep_seconds", "integer");
    d = base();
    json_object_del(d, "patient_card");
    expect(d, "patient_card", "required");
}

static void test_candidate_card_rules(void **state)
{
    (void)state;
    json_t *d;
    d = base();
    json_object_set_new(at(d, "candidate_card"), "extra", json_true());
    expect(d, "candidate_card.extra", "not a known field");
    d = base();
    json_object_set_new(at(d, "candidate_card"), "tasks", json_array());
    expect(d, "candidate_card.tasks", "at least 3");
    d = base();
    json_object_set_new(at(d, "candidate_card"), "tasks", str_array(7, "Do "));
    expect(d, "candidate_card.tasks", "at most 6");
    d = base();
    json_array_set_new(at(d, "candidate_card.tasks"), 1, json_string(""));
    expect(d, "candidate_card.tasks[1]", "at least 1");
    d = base();
    json_array_set_new(at(d, "candidate_card.tasks"), 2, repeat('x', 201));
    expect(d, "candidate_card.tasks[2]", "at most 200");
    d = base();
    json_array_set_new(at(d, "candidate_card.tasks"), 0, json_integer(3));
    expect(d, "candidate_card.tasks[0]", "string");
    d = base();
    json_object_del(at(d, "candidate_card"), "background");
    expect(d, "candidate_card.background", "required");
    d = base();
    json_object_set_new(at(d, "candidate_card"), "background", repeat('b', 1201));
    expect(d, "candidate_card.background", "at most 1200");
    d = base();
    json_object_set_new(at(d, "candidate_card"), "role", repeat('r', 61));
    expect(d, "candidate_card.role", "at most 60");
    d = base();
    json_object_set_new(d, "candidate_card", json_array());
    expect(d, "candidate_card", "object");
}

static void test_patient_card_rules(void **state)
{
    (void)state;
    json_t *d;
    d = base();
    json_object_set_new(at(d, "patient_card"), "mood", json_true());
    expect(d, "patient_card.mood", "not a known field");
    d = base();
    json_object_set_new(at(d, "patient_card"), "age", json_integer(121));
    expect(d, "patient_card.age", "between 0 and 120");
    d = base();
    json_object_set_new(at(d, "patient_card"), "gender", json_string("robot"));
    expect(d, "patient_card.gender", NULL);
    d = base();
    json_object_set_new(at(d, "patient_card"), "voice", json_string("robot"));
    expect(d, "patient_card.voice", "voice not available");
    d = base();
    json_object_set_new(at(d, "patient_card"), "persona", repeat('p', 41));
    expect(d, "patient_card.persona", "at most 40");
    d = base();
    json_object_set_new(at(d, "patient_card"), "name", repeat('n', 81));
    expect(d, "patient_card.name", "at most 80");
    d = base();
    json_object_set_new(at(d, "patient_card"), "background", repeat('b', 1201));
    expect(d, "patient_card.background", "at most 1200");
    d = base();
    json_object_set_new(at(d, "patient_card"), "closing_line", json_string(""));
    expect(d, "patient_card.closing_line", "at least 1");
    d = base();
    json_object_set_new(at(d, "patient_card"), "concerns", str_array(9, "worry "));
    expect(d, "patient_card.concerns", "at most 8");
    d = base();
    json_array_set_new(at(d, "patient_card.concerns"), 0, repeat('c', 301));
    expect(d, "patient_card.concerns[0]", "at most 300");
    d = base();
    json_object_set_new(at(d, "patient_card"), "facts", json_array());
    expect(d, "patient_card.facts", "at least 1");
}

static void test_fact_rules(void **state)
{
    (void)state;
    json_t *d;
    d = base();
    json_object_set_new(at(d, "patient_card.facts.1"), "topic", json_string("symptoms"));
    expect(d, "patient_card.facts[1].topic", "duplicates facts[0]");
    d = base();
    json_object_set_new(at(d, "patient_card.facts.0"), "topic", json_string("Not Snake"));
    /* The cue naming "symptoms" now names nothing: two errors, both reported. */
    expect(json_incref(d), "patient_card.facts[0].topic", "snake_case");
    expect(d, "patient_card.cues[1].when.after_topic", "fact topic");
    d = base();
    json_object_set_new(at(d, "patient_card.facts.1"), "topic", repeat('a', 41));
    expect(d, "patient_card.facts[1].topic", "at most 40");
    d = base();
    json_object_set_new(at(d, "patient_card.facts.0"), "triggers", json_array());
    expect(d, "patient_card.facts[0].triggers", "at least 1");
    d = base();
    json_object_set_new(at(d, "patient_card.facts.0"), "triggers", str_array(13, "w"));
    expect(d, "patient_card.facts[0].triggers", "at most 12");
    d = base();
    json_array_set_new(at(d, "patient_card.facts.1.triggers"), 0, repeat('t', 81));
    expect(d, "patient_card.facts[1].triggers[0]", "at most 80");
    d = base();
    json_object_set_new(at(d, "patient_card.facts.1"), "answer", repeat('a', 401));
    expect(d, "patient_card.facts[1].answer", "at most 400");
    d = base();
    json_object_set_new(at(d, "patient_card.facts.1"), "hint", json_string("x"));
    expect(d, "patient_card.facts[1].hint", "not a known field");
    d = base();
    json_array_append_new(at(d, "patient_card.facts"), json_string("fact"));
    expect(d, "patient_card.facts[2]", "object");
}

static void test_cue_rules(void **state)
{
    (void)state;
    json_t *d;
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0"), "kind", json_string("shout"));
    expect(d, "patient_card.cues[0].kind", NULL);
    d = base();
    json_object_set_new(at(d, "patient_card.cues.1.when"), "after_topic", json_string("diet"));
    expect(d, "patient_card.cues[1].when.after_topic", "does not name a fact topic");
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0.when"), "after_seconds", json_integer(10));
    expect(d, "patient_card.cues[0].when", "exactly one");
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0"), "when", json_object());
    expect(d, "patient_card.cues[0].when", "exactly one");
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0"), "when",
                        json_pack("{s:i}", "after_seconds", 3601));
    expect(d, "patient_card.cues[0].when.after_seconds", "between 0 and 3600");
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0"), "when", json_pack("{s:b}", "on_start", 0));
    expect(d, "patient_card.cues[0].when.on_start", "must be true");
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0.when"), "later", json_true());
    expect(d, "patient_card.cues[0].when.later", "not a known field");
    d = base();
    json_object_set_new(at(d, "patient_card.cues.0"), "line", repeat('l', 301));
    expect(d, "patient_card.cues[0].line", "at most 300");
    d = base();
    json_object_del(at(d, "patient_card.cues.1"), "when");
    expect(d, "patient_card.cues[1].when", "required");
}

static void test_expected_task_rules(void **state)
{
    (void)state;
    json_t *d;
    d = base();
    json_object_set_new(at(d, "patient_card.expected_tasks.1"), "id", json_string("t1"));
    expect(d, "patient_card.expected_tasks[1].id", "duplicates expected_tasks[0]");
    d = base();
    json_object_set_new(at(d, "patient_card.expected_tasks.0"), "id", json_string("T 1"));
    expect(d, "patient_card.expected_tasks[0].id", "a-z");
    d = base();
    json_object_set_new(at(d, "patient_card.expected_tasks.0"), "evidence_phrases", json_array());
    expect(d, "patient_card.expected_tasks[0].evidence_phrases", "at least 1");
    d = base();
    json_array_set_new(at(d, "patient_card.expected_tasks.0.evidence_phrases"), 0,
                       repeat('e', 121));
    expect(d, "patient_card.expected_tasks[0].evidence_phrases[0]", "at most 120");
    d = base();
    json_object_set_new(at(d, "patient_card.expected_tasks.1"), "description", repeat('d', 301));
    expect(d, "patient_card.expected_tasks[1].description", "at most 300");
}

static void test_lint_rules(void **state)
{
    (void)state;
    json_t *d = base();
    json_t *errors = json_array();
    /* Valid, but far too thin for the shipped library. */
    assert_true(scenario_lint_library(d, errors) > 0);
    const char *want[] = {"patient_card.facts",
                          "patient_card.facts[1].triggers",
                          "patient_card.cues",
                          "patient_card.expected_tasks",
                          "patient_card.expected_tasks[0].evidence_phrases",
                          "patient_card.concerns"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        int found = 0;
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) found |=
            strcmp(json_string_value(json_object_get(e, "field")), want[w]) == 0;
        if (!found) {
            fprintf(stderr, "lint: expected an error at %s\n", want[w]);
            dump_errors(errors);
        }
        assert_true(found);
    }
    json_decref(errors);
    /* One phrase may not trigger two topics; the background is written to the patient. */
    json_array_append_new(at(d, "patient_card.facts.1.triggers"), json_string("How are you "));
    json_object_set_new(at(d, "patient_card"), "background", json_string("She is Ana."));
    errors = json_array();
    (void)scenario_lint_library(d, errors);
    int shared = 0, bg = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *m = json_string_value(json_object_get(e, "message"));
        shared |= strcmp(f, "patient_card.facts[1].triggers[1]") == 0 &&
                  strstr(m, "facts[0] (symptoms)") != NULL;
        bg |= strcmp(f, "patient_card.background") == 0;
    }
    assert_true(shared);
    assert_true(bg);
    json_decref(errors);
    /* A medium card without resistance; two cues opening the scene. */
    json_object_set_new(at(d, "patient_card.cues.1"), "kind", json_string("question"));
    json_object_set_new(at(d, "patient_card.cues.1"), "when", json_pack("{s:b}", "on_start", 1));
    errors = json_array();
    (void)scenario_lint_library(d, errors);
    int resistance = 0, opening = 0;
    json_array_foreach(errors, i, e)
    {
        const char *f = json_string_value(json_object_get(e, "field"));
        const char *m = json_string_value(json_object_get(e, "message"));
        resistance |= strcmp(f, "patient_card.cues") == 0 && strstr(m, "resistance") != NULL;
        opening |= strcmp(f, "patient_card.cues[1].when.on_start") == 0;
    }
    assert_true(resistance);
    assert_true(opening);
    json_decref(errors);
    /* An easy card needs no resistance cue. */
    json_object_set_new(d, "difficulty", json_string("easy"));
    errors = json_array();
    (void)scenario_lint_library(d, errors);
    json_array_foreach(errors, i, e)
        assert_null(strstr(json_string_value(json_object_get(e, "message")), "resistance"));
    json_decref(errors);
    json_decref(d);
}

static void test_normalize_and_slug(void **state)
{
    (void)state;
    char slug[SCENARIO_SLUG_MAX + 1];
    scenario_slug_from_title("  Explaining a New Diagnosis: Type-2 Diabetes! ", slug);
    assert_string_equal(slug, "explaining-a-new-diagnosis-type-2-diabetes");
    scenario_slug_from_title("!!!", slug);
    assert_string_equal(slug, "scenario");
    char long_title[300];
    memset(long_title, 'a', sizeof(long_title) - 1);
    long_title[sizeof(long_title) - 1] = '\0';
    scenario_slug_from_title(long_title, slug);
    assert_int_equal(strlen(slug), SCENARIO_SLUG_MAX);

    json_t *d = base();
    json_object_del(d, "tags");
    json_object_del(d, "prep_seconds");
    json_object_del(d, "roleplay_seconds");
    json_t *n = scenario_normalize(d);
    assert_non_null(n);
    assert_int_equal(json_integer_value(json_object_get(n, "prep_seconds")), 180);
    assert_int_equal(json_integer_value(json_object_get(n, "roleplay_seconds")), 300);
    assert_int_equal(json_array_size(json_object_get(n, "tags")), 0);
    assert_null(json_object_get(d, "prep_seconds")); /* a copy: the input is untouched */
    /* Canonical text ignores key order. */
    json_t *a = json_pack("{s:i, s:s}", "b", 1, "a", "x");
    json_t *b = json_pack("{s:s, s:i}", "a", "x", "b", 1);
    char *ca = scenario_canonical(a), *cb = scenario_canonical(b);
    assert_string_equal(ca, cb);
    free(ca);
    free(cb);
    json_decref(a);
    json_decref(b);
    json_decref(n);
    json_decref(d);
}

static const char *const patient_keys[] = {
    "patient_card",   "facts",   "cues",     "concerns",         "closing_line",
    "expected_tasks", "persona", "triggers", "evidence_phrases", "voice"};

/* Fails when v (recursively) has a patient-card key or a string containing secret. */
static void assert_no_patient_data(const json_t *v, const char *secret)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            for (size_t i = 0; i < sizeof(patient_keys) / sizeof(patient_keys[0]); i++)
                if (strcmp(k, patient_keys[i]) == 0)
                    fail_msg("candidate view has the key %s", k);
            assert_no_patient_data(x, secret);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) assert_no_patient_data(x, secret);
    } else if (json_is_string(v) && secret) {
        assert_null(strstr(json_string_value(v), secret));
    }
}

static void test_candidate_view(void **state)
{
    (void)state;
    json_t *d = base();
    /* Even a document with extra keys in the candidate card yields only the whitelist. */
    json_object_set_new(at(d, "candidate_card"), "facts", json_string("SECRET-PATIENT-BACKGROUND"));
    json_t *v = scenario_candidate_view("0192d4e0-0000-7000-8000-000000000001", 3, d);
    assert_non_null(v);
    assert_no_patient_data(v, "SECRET-PATIENT-BACKGROUND");
    const char *top[] = {"id",           "version",         "title", "profession",
                         "setting",      "difficulty",      "tags",  "candidate_card",
                         "prep_seconds", "roleplay_seconds"};
    assert_int_equal(json_object_size(v), sizeof(top) / sizeof(top[0]));
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
        assert_non_null(json_object_get(v, top[i]));
    assert_int_equal(json_integer_value(json_object_get(v, "version")), 3);
    json_t *cc = json_object_get(v, "candidate_card");
    assert_int_equal(json_object_size(cc), 5);
    assert_int_equal(json_array_size(json_object_get(cc, "tasks")), 3);
    assert_string_equal(json_string_value(json_object_get(cc, "role")), "Pharmacist");
    json_decref(v);
    json_decref(d);
}

/* ---- the shipped library ------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_library(void **state)
{
    (void)state;
    static const char *const professions[] = {
        "medicine",    "nursing",          "dentistry",
        "pharmacy",    "physiotherapy",    "occupational-therapy",
        "dietetics",   "optometry",        "podiatry",
        "radiography", "speech-pathology", "veterinary-science",
    };
    enum { NPROF = sizeof(professions) / sizeof(professions[0]) };
    int count[NPROF] = {0}, diff[NPROF][3] = {{0}};
    const char *dir = PRAXIS_SOURCE_DIR "/data/scenarios";
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    char *names[512];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL && n < 512) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 && de->d_name[0] != '.')
            names[n++] = strdup(de->d_name);
    }
    closedir(dh);
    qsort(names, n, sizeof(names[0]), by_name);
    size_t bad = 0;
    char *slugs[512];
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        json_error_t e;
        json_t *d = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
        slugs[i] = NULL;
        if (!d) {
            fprintf(stderr, "%s: %s (line %d)\n", names[i], e.text, e.line);
            bad++;
            continue;
        }
        json_t *errors = json_array();
        size_t nv = scenario_validate(d, errors);
        size_t nl = nv ? 0 : scenario_lint_library(d, errors);
        if (nv || nl) {
            fprintf(stderr, "%s: %zu validation and %zu lint problem(s):\n", names[i], nv, nl);
            dump_errors(errors);
            bad++;
        }
        json_decref(errors);
        const char *prof = json_string_value(json_object_get(d, "profession"));
        const char *dif = json_string_value(json_object_get(d, "difficulty"));
        const char *slug = json_string_value(json_object_get(d, "slug"));
        slugs[i] = slug ? strdup(slug) : NULL;
        for (size_t j = 0; slug && j < i; j++)
            if (slugs[j] && strcmp(slugs[j], slug) == 0) {
                fprintf(stderr, "%s: slug %s is also used by %s\n", names[i], slug, names[j]);
                bad++;
            }
        for (size_t p = 0; prof && p < NPROF; p++)
            if (strcmp(prof, professions[p]) == 0) {
                count[p]++;
                if (dif)
                    diff[p][strcmp(dif, "easy") == 0 ? 0 : strcmp(dif, "medium") == 0 ? 1 : 2]++;
            }
        json_decref(d);
    }
    for (size_t p = 0; p < NPROF; p++) {
        if (count[p] != 3 || !diff[p][0] || !diff[p][1] || !diff[p][2]) {
            fprintf(stderr, "%s: %d scenario(s) (easy %d, medium %d, hard %d); want 3, one each\n",
                    professions[p], count[p], diff[p][0], diff[p][1], diff[p][2]);
            bad++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        free(slugs[i]);
    }
    if (n < 36)
        fprintf(stderr, "the library has %zu scenario(s); at least 36 are required\n", n);
    assert_true(n >= 36);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_base),
        cmocka_unit_test(test_top_level_rules),
        cmocka_unit_test(test_candidate_card_rules),
        cmocka_unit_test(test_patient_card_rules),
        cmocka_unit_test(test_fact_rules),
        cmocka_unit_test(test_cue_rules),
        cmocka_unit_test(test_expected_task_rules),
        cmocka_unit_test(test_lint_rules),
        cmocka_unit_test(test_normalize_and_slug),
        cmocka_unit_test(test_candidate_view),
        cmocka_unit_test(test_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
