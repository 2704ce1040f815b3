/* The scenario document: validation with field paths, the library lint, defaults, and the
 * candidate's view. The model is plain JSON (jansson) because it is stored as JSON and sent as
 * JSON; these functions are the only place that knows its shape. */
#include "services/content/scenario.h"

#include "core/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { PATH_LEN = 192 };

typedef struct report {
    json_t *errors;
    size_t n;
} report;

static void fail(report *r, const char *path, const char *msg);
static void failf(report *r, const char *path, const char *fmt, ...) PRINTF_LIKE(3, 4);
static size_t utf8_chars(const char *s, size_t bytes);
static int is_blank(const char *s);
static int in_list(const char *s, const char *const *list, size_t n);
static int only_chars(const char *s, const char *extra);
static void path_join(char out[PATH_LEN], const char *prefix, const char *name);
static void path_index(char out[PATH_LEN], const char *prefix, size_t i);
static int check_shape(report *r, const json_t *obj, const json_field_spec *spec, size_t n,
                       const char *prefix);
static int check_string(report *r, const json_t *v, const char *path, size_t max_chars);
static void check_string_items(report *r, const json_t *arr, const char *path, size_t max_chars);
static void check_int_range(report *r, const json_t *obj, const char *key, const char *path,
                            long long lo, long long hi);
static void check_candidate_card(report *r, const json_t *cc);
static void check_patient_card(report *r, const json_t *pc);
static void check_facts(report *r, const json_t *facts);
static void check_cues(report *r, const json_t *cues, const json_t *facts);
static void check_expected_tasks(report *r, const json_t *tasks);

static const char *const professions[] = {
    "medicine",    "nursing",          "dentistry",
    "pharmacy",    "physiotherapy",    "occupational-therapy",
    "dietetics",   "optometry",        "podiatry",
    "radiography", "speech-pathology", "veterinary-science",
};
static const char *const difficulties[] = {"easy", "medium", "hard"};
static const char *const genders[] = {"male", "female", "other"};
/* The flite voices the TTS service ships: slt is female, rms, awb and kal are male. */
static const char *const voices[] = {"slt", "rms", "awb", "kal"};
static const char *const cue_kinds[] = {"concern", "resistance", "question", "remark"};

/* ---- the rules, declared ------------------------------------------------------------- */

static const json_field_spec top_spec[] = {
    {.name = "slug", .type = JF_STRING, .min_len = 1, .max_len = SCENARIO_SLUG_MAX},
    {.name = "title", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 120},
    {.name = "profession", .type = JF_STRING, .required = 1},
    {.name = "setting", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 120},
    {.name = "difficulty", .type = JF_STRING, .required = 1},
    {.name = "tags", .type = JF_ARRAY, .max_len = 8},
    {.name = "prep_seconds", .type = JF_INTEGER},
    {.name = "roleplay_seconds", .type = JF_INTEGER},
    {.name = "candidate_card", .type = JF_OBJECT, .required = 1},
    {.name = "patient_card", .type = JF_OBJECT, .required = 1},
};

static const json_field_spec candidate_spec[] = {
    {.name = "role", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 60},
    {.name = "setting", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 120},
    {.name = "patient", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 120},
    {.name = "background", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 1200},
    {.name = "tasks", .type = JF_ARRAY, .required = 1, .min_len = 3, .max_len = 6},
};

static const json_field_spec patient_spec[] = {
    {.name = "name", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 80},
    {.name = "age", .type = JF_INTEGER, .required = 1},
    {.name = "gender", .type = JF_STRING, .required = 1},
    {.name = "voice", .type = JF_STRING, .required = 1},
    {.name = "persona", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 40},
    {.name = "background", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 1200},
    {.name = "facts", .type = JF_ARRAY, .required = 1, .min_len = 1, .max_len = 60},
    {.name = "cues", .type = JF_ARRAY, .required = 1, .max_len = 30},
    {.name = "concerns", .type = JF_ARRAY, .required = 1, .max_len = 8},
    {.name = "closing_line", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 300},
    {.name = "expected_tasks", .type = JF_ARRAY, .required = 1, .min_len = 1, .max_len = 6},
};

static const json_field_spec fact_spec[] = {
    {.name = "topic", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 40},
    {.name = "triggers", .type = JF_ARRAY, .required = 1, .min_len = 1, .max_len = 12},
    {.name = "answer", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 400},
};

static const json_field_spec cue_spec[] = {
    {.name = "kind", .type = JF_STRING, .required = 1},
    {.name = "when", .type = JF_OBJECT, .required = 1},
    {.name = "line", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 300},
};

static const json_field_spec when_spec[] = {
    {.name = "on_start", .type = JF_BOOLEAN},
    {.name = "after_seconds", .type = JF_INTEGER},
    {.name = "after_topic", .type = JF_STRING},
};

static const json_field_spec task_spec[] = {
    {.name = "id", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 20},
    {.name = "description", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 300},
    {.name = "evidence_phrases", .type = JF_ARRAY, .required = 1, .min_len = 1, .max_len = 12},
};

/* ---- small helpers ------------------------------------------------------------------- */

static void fail(report *r, const char *path, const char *msg)
{
    json_errors_add(r->errors, path, msg);
    r->n++;
}

static void failf(report *r, const char *path, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(ap);
    fail(r, path, msg);
}

/* Code points (jansson has checked the UTF-8 already). */
static size_t utf8_chars(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* 1 when s is non-empty and made of a-z, 0-9 and the characters in extra. */
static int only_chars(const char *s, const char *extra)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
            return 0;
    return 1;
}

static void path_join(char out[PATH_LEN], const char *prefix, const char *name)
{
    int n;
    if (!prefix || !*prefix)
        n = snprintf(out, PATH_LEN, "%s", name);
    else if (!name || !*name)
        n = snprintf(out, PATH_LEN, "%s", prefix);
    else
        n = snprintf(out, PATH_LEN, "%s.%s", prefix, name);
    /* Only a client's very long unknown key gets here: its path is cut, still readable. */
    if (n < 0 || n >= PATH_LEN)
        out[PATH_LEN - 1] = '\0';
}

static void path_index(char out[PATH_LEN], const char *prefix, size_t i)
{
    int n = snprintf(out, PATH_LEN, "%s[%zu]", prefix, i);
    if (n < 0 || n >= PATH_LEN)
        out[PATH_LEN - 1] = '\0';
}

/* Presence, types, lengths and unknown fields (json_validate), reported under prefix; then
 * strings that have the right length but say nothing ("   "). -1 when obj is not an object. */
static int check_shape(report *r, const json_t *obj, const json_field_spec *spec, size_t n,
                       const char *prefix)
{
    json_t *tmp = json_array();
    size_t k = json_validate(obj, spec, n, 1, tmp);
    size_t i;
    json_t *e;
    json_array_foreach(tmp, i, e)
    {
        char path[PATH_LEN];
        path_join(path, prefix, json_string_value(json_object_get(e, "field")));
        json_errors_add(r->errors, path, json_string_value(json_object_get(e, "message")));
    }
    json_decref(tmp);
    r->n += k;
    if (!json_is_object(obj))
        return -1;
    for (i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, spec[i].name);
        if (spec[i].type != JF_STRING || !spec[i].min_len || !json_is_string(v))
            continue;
        size_t chars = utf8_chars(json_string_value(v), json_string_length(v));
        if (chars >= spec[i].min_len && (!spec[i].max_len || chars <= spec[i].max_len) &&
            is_blank(json_string_value(v))) {
            char path[PATH_LEN];
            path_join(path, prefix, spec[i].name);
            fail(r, path, "must not be blank");
        }
    }
    return 0;
}

/* One string of 1..max_chars characters, not blank. */
static int check_string(report *r, const json_t *v, const char *path, size_t max_chars)
{
    if (!json_is_string(v)) {
        fail(r, path, "must be a string");
        return -1;
    }
    size_t chars = utf8_chars(json_string_value(v), json_string_length(v));
    if (chars == 0) {
        fail(r, path, "must be at least 1 character");
        return -1;
    }
    if (chars > max_chars) {
        failf(r, path, "must be at most %zu characters", max_chars);
        return -1;
    }
    if (is_blank(json_string_value(v))) {
        fail(r, path, "must not be blank");
        return -1;
    }
    return 0;
}

static void check_string_items(report *r, const json_t *arr, const char *path, size_t max_chars)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char p[PATH_LEN];
        path_index(p, path, i);
        (void)check_string(r, v, p, max_chars);
    }
}

static void check_int_range(report *r, const json_t *obj, const char *key, const char *path,
                            long long lo, long long hi)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && (json_integer_value(v) < lo || json_integer_value(v) > hi))
        failf(r, path, "must be between %lld and %lld", lo, hi);
}

static void check_enum(report *r, const json_t *obj, const char *key, const char *path,
                       const char *const *list, size_t n, const char *msg)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v) && !in_list(json_string_value(v), list, n))
        fail(r, path, msg);
}

/* ---- the document --------------------------------------------------------------------- */

int scenario_profession_valid(const char *s)
{
    return in_list(s, professions, ARRAY_LEN(professions));
}

int scenario_difficulty_valid(const char *s)
{
    return in_list(s, difficulties, ARRAY_LEN(difficulties));
}

int scenario_tag_valid(const char *s)
{
    return s && strlen(s) <= SCENARIO_TAG_MAX && only_chars(s, "-");
}

int scenario_voice_valid(const char *s)
{
    return in_list(s, voices, ARRAY_LEN(voices));
}

size_t scenario_validate(const json_t *doc, json_t *errors)
{
    report r = {.errors = errors, .n = 0};
    if (check_shape(&r, doc, top_spec, ARRAY_LEN(top_spec), "") != 0)
        return r.n;
    json_t *slug = json_object_get(doc, "slug");
    if (json_is_string(slug) && json_string_length(slug) > 0 &&
        !only_chars(json_string_value(slug), "-"))
        fail(&r, "slug", "must contain only a-z, 0-9 and -");
    check_enum(&r, doc, "profession", "profession", professions, ARRAY_LEN(professions),
               "must be one of medicine, nursing, dentistry, pharmacy, physiotherapy, "
               "occupational-therapy, dietetics, optometry, podiatry, radiography, "
               "speech-pathology, veterinary-science");
    check_enum(&r, doc, "difficulty", "difficulty", difficulties, ARRAY_LEN(difficulties),
               "must be easy, medium or hard");
    json_t *tags = json_object_get(doc, "tags");
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        char p[PATH_LEN];
        (void)snprintf(p, sizeof(p), "tags[%zu]", i);
        if (check_string(&r, t, p, SCENARIO_TAG_MAX) != 0)
            continue;
        if (!scenario_tag_valid(json_string_value(t))) {
            fail(&r, p, "must contain only a-z, 0-9 and -");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(tags, j), t)) {
                failf(&r, p, "duplicates tags[%zu]", j);
                break;
            }
    }
    check_int_range(&r, doc, "prep_seconds", "prep_seconds", 30, 900);
    check_int_range(&r, doc, "roleplay_seconds", "roleplay_seconds", 60, 1200);
    json_t *cc = json_object_get(doc, "candidate_card");
    if (json_is_object(cc))
        check_candidate_card(&r, cc);
    json_t *pc = json_object_get(doc, "patient_card");
    if (json_is_object(pc))
        check_patient_card(&r, pc);
    return r.n;
}

static void check_candidate_card(report *r, const json_t *cc)
{
    (void)check_shape(r, cc, candidate_spec, ARRAY_LEN(candidate_spec), "candidate_card");
    json_t *tasks = json_object_get(cc, "tasks");
    if (json_is_array(tasks))
        check_string_items(r, tasks, "candidate_card.tasks", 200);
}

static void check_patient_card(report *r, const json_t *pc)
{
    (void)check_shape(r, pc, patient_spec, ARRAY_LEN(patient_spec), "patient_card");
    check_int_range(r, pc, "age", "patient_card.age", 0, 120);
    check_enum(r, pc, "gender", "patient_card.gender", genders, ARRAY_LEN(genders),
               "must be male, female or other");
    check_enum(r, pc, "voice", "patient_card.voice", voices, ARRAY_LEN(voices),
               "voice not available: use slt (female), rms, awb or kal (male)");
    json_t *facts = json_object_get(pc, "facts");
    if (json_is_array(facts))
        check_facts(r, facts);
    json_t *cues = json_object_get(pc, "cues");
    if (json_is_array(cues))
        check_cues(r, cues, json_is_array(facts) ? facts : NULL);
    json_t *concerns = json_object_get(pc, "concerns");
    if (json_is_array(concerns))
        check_string_items(r, concerns, "patient_card.concerns", 300);
    json_t *tasks = json_object_get(pc, "expected_tasks");
    if (json_is_array(tasks))
        check_expected_tasks(r, tasks);
}

/* snake_case: a-z first, then a-z, 0-9 and single underscores between words. */
static int snake_case(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return 0;
    for (const char *p = s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                 (*p == '_' && p[1] && p[1] != '_');
        if (!ok)
            return 0;
    }
    return 1;
}

static void check_facts(report *r, const json_t *facts)
{
    size_t i;
    json_t *f;
    json_array_foreach(facts, i, f)
    {
        char base[PATH_LEN], p[PATH_LEN];
        (void)snprintf(base, sizeof(base), "patient_card.facts[%zu]", i);
        if (check_shape(r, f, fact_spec, ARRAY_LEN(fact_spec), base) != 0)
            continue;
        json_t *topic = json_object_get(f, "topic");
        path_join(p, base, "topic");
        if (json_is_string(topic) && json_string_length(topic) > 0 &&
            json_string_length(topic) <= 40) {
            if (!snake_case(json_string_value(topic))) {
                fail(r, p, "must be snake_case (a-z, 0-9 and _, starting with a letter)");
            } else {
                for (size_t j = 0; j < i; j++)
                    if (json_equal(json_object_get(json_array_get(facts, j), "topic"), topic)) {
                        failf(r, p, "duplicates facts[%zu]", j);
                        break;
                    }
            }
        }
        json_t *triggers = json_object_get(f, "triggers");
        path_join(p, base, "triggers");
        if (json_is_array(triggers))
            check_string_items(r, triggers, p, 80);
    }
}

static int topic_exists(const json_t *facts, const char *topic)
{
    size_t i;
    json_t *f;
    json_array_foreach(facts, i, f)
    {
        const char *t = json_string_value(json_object_get(f, "topic"));
        if (t && strcmp(t, topic) == 0)
            return 1;
    }
    return 0;
}

static void check_cues(report *r, const json_t *cues, const json_t *facts)
{
    size_t i;
    json_t *cue;
    json_array_foreach(cues, i, cue)
    {
        char base[PATH_LEN], p[PATH_LEN];
        (void)snprintf(base, sizeof(base), "patient_card.cues[%zu]", i);
        if (check_shape(r, cue, cue_spec, ARRAY_LEN(cue_spec), base) != 0)
            continue;
        path_join(p, base, "kind");
        check_enum(r, cue, "kind", p, cue_kinds, ARRAY_LEN(cue_kinds),
                   "must be concern, resistance, question or remark");
        json_t *when = json_object_get(cue, "when");
        if (!json_is_object(when))
            continue;
        char wpath[PATH_LEN];
        path_join(wpath, base, "when");
        size_t before = r->n;
        (void)check_shape(r, when, when_spec, ARRAY_LEN(when_spec), wpath);
        json_t *on_start = json_object_get(when, "on_start");
        json_t *after_s = json_object_get(when, "after_seconds");
        json_t *after_t = json_object_get(when, "after_topic");
        int set = (on_start != NULL) + (after_s != NULL) + (after_t != NULL);
        if (set != 1) {
            fail(r, wpath, "must have exactly one of on_start, after_seconds or after_topic");
            continue;
        }
        if (r->n != before)
            continue;
        if (on_start && !json_is_true(on_start)) {
            path_join(p, wpath, "on_start");
            fail(r, p, "must be true (leave it out otherwise)");
        }
        path_join(p, wpath, "after_seconds");
        check_int_range(r, when, "after_seconds", p, 0, 3600);
        if (after_t) {
            path_join(p, wpath, "after_topic");
            if (!facts || !topic_exists(facts, json_string_value(after_t)))
                fail(r, p, "does not name a fact topic of this patient card");
        }
    }
}

static void check_expected_tasks(report *r, const json_t *tasks)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        char base[PATH_LEN], p[PATH_LEN];
        (void)snprintf(base, sizeof(base), "patient_card.expected_tasks[%zu]", i);
        if (check_shape(r, t, task_spec, ARRAY_LEN(task_spec), base) != 0)
            continue;
        json_t *id = json_object_get(t, "id");
        path_join(p, base, "id");
        if (json_is_string(id) && json_string_length(id) > 0 && json_string_length(id) <= 20) {
            if (!only_chars(json_string_value(id), "_-")) {
                fail(r, p, "must contain only a-z, 0-9, _ and -");
            } else {
                for (size_t j = 0; j < i; j++)
                    if (json_equal(json_object_get(json_array_get(tasks, j), "id"), id)) {
                        failf(r, p, "duplicates expected_tasks[%zu]", j);
                        break;
                    }
            }
        }
        json_t *phrases = json_object_get(t, "evidence_phrases");
        path_join(p, base, "evidence_phrases");
        if (json_is_array(phrases))
            check_string_items(r, phrases, p, 120);
    }
}

/* ---- the library lint ------------------------------------------------------------------ */

static const char *str_or(const char *s, const char *def)
{
    return s ? s : def;
}

/* Lowercased, trimmed copy of a trigger for comparisons. */
static void trigger_key(const char *s, char *out, size_t outlen)
{
    while (*s == ' ')
        s++;
    size_t n = 0;
    for (; *s && n + 1 < outlen; s++)
        out[n++] = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static void lint_facts(report *r, const json_t *facts)
{
    if (json_array_size(facts) < 12)
        fail(r, "patient_card.facts", "must have at least 12 facts in a library scenario");
    size_t i;
    json_t *f;
    json_array_foreach(facts, i, f)
    {
        json_t *triggers = json_object_get(f, "triggers");
        size_t nt = json_array_size(triggers);
        char p[PATH_LEN];
        if (nt < 3 || nt > 8) {
            (void)snprintf(p, sizeof(p), "patient_card.facts[%zu].triggers", i);
            fail(r, p, "must have 3 to 8 triggers in a library scenario");
        }
        for (size_t j = 0; j < nt; j++) {
            char key[512], other[512];
            trigger_key(str_or(json_string_value(json_array_get(triggers, j)), ""), key,
                        sizeof(key));
            (void)snprintf(p, sizeof(p), "patient_card.facts[%zu].triggers[%zu]", i, j);
            /* A phrase that triggers two topics makes the patient's answer a coin toss. */
            int found = 0;
            for (size_t k = 0; k <= i && !found; k++) {
                const json_t *ot = json_object_get(json_array_get(facts, k), "triggers");
                size_t lim = k == i ? j : json_array_size(ot);
                for (size_t m = 0; m < lim && !found; m++) {
                    trigger_key(str_or(json_string_value(json_array_get(ot, m)), ""), other,
                                sizeof(other));
                    if (strcmp(key, other) != 0)
                        continue;
                    found = 1;
                    if (k == i)
                        failf(r, p, "duplicates triggers[%zu]", m);
                    else
                        failf(r, p, "is also a trigger of facts[%zu] (%s)", k,
                              str_or(json_string_value(
                                         json_object_get(json_array_get(facts, k), "topic")),
                                     "?"));
                }
            }
        }
    }
}

static void lint_cues(report *r, const json_t *cues, const char *difficulty)
{
    size_t concerns = 0, resistance = 0, on_start = 0, i;
    json_t *cue;
    if (json_array_size(cues) < 3)
        fail(r, "patient_card.cues", "must have at least 3 cues in a library scenario");
    json_array_foreach(cues, i, cue)
    {
        const char *kind = json_string_value(json_object_get(cue, "kind"));
        concerns += kind && strcmp(kind, "concern") == 0;
        resistance += kind && strcmp(kind, "resistance") == 0;
        if (json_object_get(json_object_get(cue, "when"), "on_start") && ++on_start > 1) {
            char p[PATH_LEN];
            (void)snprintf(p, sizeof(p), "patient_card.cues[%zu].when.on_start", i);
            fail(r, p, "only one cue may open the scene");
        }
    }
    if (concerns == 0)
        fail(r, "patient_card.cues", "must include a concern cue");
    if (resistance == 0 && difficulty && strcmp(difficulty, "easy") != 0)
        fail(r, "patient_card.cues", "must include a resistance cue in a medium or hard scenario");
}

static void lint_expected_tasks(report *r, const json_t *expected, const json_t *tasks)
{
    if (json_array_size(expected) != json_array_size(tasks))
        failf(r, "patient_card.expected_tasks",
              "must have one entry per candidate_card task (%zu), not %zu", json_array_size(tasks),
              json_array_size(expected));
    size_t i;
    json_t *t;
    json_array_foreach(expected, i, t)
    {
        char want[24], p[PATH_LEN];
        (void)snprintf(want, sizeof(want), "t%zu", i + 1);
        const char *id = json_string_value(json_object_get(t, "id"));
        if (!id || strcmp(id, want) != 0) {
            (void)snprintf(p, sizeof(p), "patient_card.expected_tasks[%zu].id", i);
            failf(r, p, "must be %s (tasks are numbered in card order)", want);
        }
        size_t np = json_array_size(json_object_get(t, "evidence_phrases"));
        if (np < 4 || np > 8) {
            (void)snprintf(p, sizeof(p), "patient_card.expected_tasks[%zu].evidence_phrases", i);
            fail(r, p, "must have 4 to 8 phrases in a library scenario");
        }
    }
}

size_t scenario_lint_library(const json_t *doc, json_t *errors)
{
    report r = {.errors = errors, .n = 0};
    const json_t *cc = json_object_get(doc, "candidate_card");
    const json_t *pc = json_object_get(doc, "patient_card");
    if (!json_is_object(cc) || !json_is_object(pc)) {
        fail(&r, "", "needs a candidate_card and a patient_card");
        return r.n;
    }
    lint_facts(&r, json_object_get(pc, "facts"));
    lint_cues(&r, json_object_get(pc, "cues"),
              json_string_value(json_object_get(doc, "difficulty")));
    lint_expected_tasks(&r, json_object_get(pc, "expected_tasks"), json_object_get(cc, "tasks"));
    const char *bg = json_string_value(json_object_get(pc, "background"));
    if (!bg || strncmp(bg, "You are", 7) != 0)
        fail(&r, "patient_card.background",
             "must be written to the interlocutor, starting \"You are\"");
    size_t nc = json_array_size(json_object_get(pc, "concerns"));
    if (nc < 2 || nc > 4)
        fail(&r, "patient_card.concerns", "must have 2 to 4 concerns in a library scenario");
    return r.n;
}

/* ---- defaults, identity, views --------------------------------------------------------- */

void scenario_slug_from_title(const char *title, char out[SCENARIO_SLUG_MAX + 1])
{
    size_t n = 0;
    int hyphen = 0;
    for (const char *p = title ? title : ""; *p && n < SCENARIO_SLUG_MAX; p++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (hyphen && n > 0 && n + 1 < SCENARIO_SLUG_MAX)
                out[n++] = '-';
            hyphen = 0;
            out[n++] = ch;
        } else {
            hyphen = 1;
        }
    }
    out[n] = '\0';
    if (n == 0)
        (void)snprintf(out, SCENARIO_SLUG_MAX + 1, "scenario");
}

json_t *scenario_normalize(const json_t *doc)
{
    json_t *n = json_deep_copy(doc);
    if (!n)
        return NULL;
    int rc = 0;
    if (!json_object_get(n, "tags"))
        rc |= json_object_set_new(n, "tags", json_array());
    if (!json_object_get(n, "prep_seconds"))
        rc |= json_object_set_new(n, "prep_seconds", json_integer(SCENARIO_PREP_DEFAULT));
    if (!json_object_get(n, "roleplay_seconds"))
        rc |= json_object_set_new(n, "roleplay_seconds", json_integer(SCENARIO_ROLEPLAY_DEFAULT));
    if (rc != 0) {
        json_decref(n);
        return NULL;
    }
    return n;
}

char *scenario_canonical(const json_t *doc)
{
    return json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Copies key from src into dst when present; 0 when absent or copied. */
static int copy_key(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (!v)
        return 0;
    return json_object_set_new(dst, key, json_deep_copy(v));
}

json_t *scenario_candidate_view(const char *id, long long version, const json_t *doc)
{
    static const char *const top[] = {"title", "profession", "setting", "difficulty", "tags"};
    static const char *const card[] = {"role", "setting", "patient", "background", "tasks"};
    json_t *o = json_object();
    json_t *cv = json_object();
    if (!o || !cv) {
        json_decref(o);
        json_decref(cv);
        return NULL;
    }
    int rc = json_object_set_new(o, "id", json_string(id));
    rc |= json_object_set_new(o, "version", json_integer(version));
    for (size_t i = 0; i < ARRAY_LEN(top); i++)
        rc |= copy_key(o, doc, top[i]);
    const json_t *cc = json_object_get(doc, "candidate_card");
    for (size_t i = 0; i < ARRAY_LEN(card); i++)
        rc |= copy_key(cv, cc, card[i]);
    rc |= json_object_set_new(o, "candidate_card", cv);
    rc |= copy_key(o, doc, "prep_seconds");
    rc |= copy_key(o, doc, "roleplay_seconds");
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
