/* `praxis seed`: upserts the shipped plans from <dir>/plans.json and the role-play library from
 * <dir>/scenarios. Every field is validated before anything is written, and each part is written
 * in one transaction, so a bad file changes nothing. */
#include "services/seed.h"

#include "core/timeutil.h"
#include "services/content/repo.h"
#include "services/content/scenario.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_plan(const json_t *p, char *err, size_t errlen, size_t i)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *name = json_string_value(json_object_get(p, "name"));
    const char *cur = json_string_value(json_object_get(p, "currency"));
    const char *interval = json_string_value(json_object_get(p, "interval"));
    json_t *price = json_object_get(p, "price_minor");
    json_t *spm = json_object_get(p, "sessions_per_month");
    if (!id || !*id || strlen(id) > 32 || !name || !*name || !cur || strlen(cur) != 3 ||
        !interval || (strcmp(interval, "month") != 0 && strcmp(interval, "year") != 0) ||
        !json_is_integer(price) || json_integer_value(price) < 0 ||
        !(json_is_null(spm) || (json_is_integer(spm) && json_integer_value(spm) >= 0)) ||
        !json_is_boolean(json_object_get(p, "voice")) ||
        !json_is_boolean(json_object_get(p, "llm"))) {
        snprintf(err, errlen,
                 "plans.json: plan #%zu needs id, name, price_minor >= 0, a 3-letter currency, "
                 "interval month|year, sessions_per_month (integer or null), voice and llm "
                 "(booleans)",
                 i + 1);
        return -1;
    }
    return 0;
}

/* 1 when the stored row already equals p. */
static int plan_unchanged(db_conn *c, const json_t *p, size_t order)
{
    const db_param id[] = {DB_TEXT(json_string_value(json_object_get(p, "id")))};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT name, price_minor, currency, \"interval\", sessions_per_month, "
                 "voice, llm, sort_order FROM plans WHERE id = $1",
                 id, 1, &r) != DB_OK)
        return 0;
    int same = 0;
    if (db_rows_next(r) == 1) {
        json_t *spm = json_object_get(p, "sessions_per_month");
        same = strcmp(db_col_text(r, 0), json_string_value(json_object_get(p, "name"))) == 0 &&
               db_col_int(r, 1) == json_integer_value(json_object_get(p, "price_minor")) &&
               strcmp(db_col_text(r, 2), json_string_value(json_object_get(p, "currency"))) == 0 &&
               strcmp(db_col_text(r, 3), json_string_value(json_object_get(p, "interval"))) == 0 &&
               (json_is_null(spm) ? db_col_is_null(r, 4)
                                  : !db_col_is_null(r, 4) &&
                                        db_col_int(r, 4) == json_integer_value(spm)) &&
               db_col_int(r, 5) == json_is_true(json_object_get(p, "voice")) &&
               db_col_int(r, 6) == json_is_true(json_object_get(p, "llm")) &&
               db_col_int(r, 7) == (int64_t)order;
    }
    db_rows_free(r);
    return same;
}

static int seed_plans(db *d, const char *dir, seed_report *rep, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/plans.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    json_t *plans = json_object_get(root, "plans");
    if (!json_is_array(plans) || json_array_size(plans) == 0) {
        snprintf(err, errlen, "%s: expected {\"plans\": [ ... ]}", path);
        json_decref(root);
        return -1;
    }
    size_t i;
    json_t *p;
    json_array_foreach(plans, i, p) if (valid_plan(p, err, errlen, i) != 0)
    {
        json_decref(root);
        return -1;
    }
    db_conn *c = db_acquire(d);
    if (!c) {
        snprintf(err, errlen, "the database is unavailable");
        json_decref(root);
        return -1;
    }
    int rc = db_begin(c);
    char now[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    json_array_foreach(plans, i, p)
    {
        if (rc != DB_OK)
            break;
        if (plan_unchanged(c, p, i)) {
            rep->plans_unchanged++;
            continue;
        }
        json_t *spm = json_object_get(p, "sessions_per_month");
        const db_param params[] = {
            DB_TEXT(json_string_value(json_object_get(p, "id"))),
            DB_TEXT(json_string_value(json_object_get(p, "name"))),
            DB_INT(json_integer_value(json_object_get(p, "price_minor"))),
            DB_TEXT(json_string_value(json_object_get(p, "currency"))),
            DB_TEXT(json_string_value(json_object_get(p, "interval"))),
            json_is_null(spm) ? DB_NULL : DB_INT(json_integer_value(spm)),
            DB_BOOL(json_is_true(json_object_get(p, "voice"))),
            DB_BOOL(json_is_true(json_object_get(p, "llm"))),
            DB_TEXT(now),
            DB_INT(i),
        };
        rc = db_exec(c,
                     "INSERT INTO plans (id, name, price_minor, currency, \"interval\", "
                     "sessions_per_month, voice, llm, sort_order, created_at, updated_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9) "
                     "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                     "price_minor = excluded.price_minor, currency = excluded.currency, "
                     "\"interval\" = excluded.\"interval\", "
                     "sessions_per_month = excluded.sessions_per_month, voice = excluded.voice, "
                     "llm = excluded.llm, sort_order = excluded.sort_order, "
                     "updated_at = excluded.updated_at",
                     params, ARRAY_LEN(params), NULL);
        if (rc == DB_OK)
            rep->plans_written++;
    }
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        snprintf(err, errlen, "writing plans failed: %s", db_errmsg(c));
        db_rollback(c);
    }
    db_release(c);
    json_decref(root);
    return rc == DB_OK ? 0 : -1;
}

/* ---- the role-play library ------------------------------------------------------------ */

typedef struct library_file {
    char *name;  /* file name inside <dir>/scenarios */
    json_t *doc; /* validated and normalized, slug set */
} library_file;

typedef struct library {
    library_file *files;
    size_t n;
} library;

static void library_free(library *lib)
{
    for (size_t i = 0; i < lib->n; i++) {
        free(lib->files[i].name);
        json_decref(lib->files[i].doc);
    }
    free(lib->files);
    lib->files = NULL;
    lib->n = 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const library_file *)a)->name, ((const library_file *)b)->name);
}

/* The .json names of path, sorted; a missing directory is an empty library. */
static int list_files(const char *path, library *lib, char *err, size_t errlen)
{
    DIR *dh = opendir(path);
    if (!dh) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dh)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (lib->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            library_file *nf = realloc(lib->files, ncap * sizeof(*nf));
            if (!nf) {
                rc = -1;
                break;
            }
            lib->files = nf;
            cap = ncap;
        }
        lib->files[lib->n].doc = NULL;
        lib->files[lib->n].name = strdup(de->d_name);
        if (!lib->files[lib->n].name) {
            rc = -1;
            break;
        }
        lib->n++;
    }
    closedir(dh);
    if (rc != 0) {
        snprintf(err, errlen, "%s: out of memory while listing", path);
        return -1;
    }
    if (lib->n > 1)
        qsort(lib->files, lib->n, sizeof(*lib->files), by_name);
    return 0;
}

/* Loads and validates one file into f->doc; err names the file and its first problem. */
static int load_scenario(const char *path, library_file *f, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *raw = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!raw) {
        snprintf(err, errlen, "scenarios/%s: %s (line %d)", f->name, jerr.text, jerr.line);
        return -1;
    }
    json_t *errors = json_array();
    size_t nerr = scenario_validate(raw, errors);
    if (nerr > 0) {
        json_t *first = json_array_get(errors, 0);
        const char *field = json_string_value(json_object_get(first, "field"));
        snprintf(err, errlen, "scenarios/%s: %s%s%s%s", f->name, field && *field ? field : "",
                 field && *field ? ": " : "",
                 json_string_value(json_object_get(first, "message"))
                     ? json_string_value(json_object_get(first, "message"))
                     : "is invalid",
                 nerr > 1 ? " (and more problems)" : "");
        json_decref(errors);
        json_decref(raw);
        return -1;
    }
    json_decref(errors);
    f->doc = scenario_normalize(raw);
    json_decref(raw);
    if (!f->doc) {
        snprintf(err, errlen, "scenarios/%s: out of memory", f->name);
        return -1;
    }
    /* The slug is how a later run finds the scenario again. */
    if (!json_object_get(f->doc, "slug")) {
        char slug[SCENARIO_SLUG_MAX + 1];
        scenario_slug_from_title(json_string_value(json_object_get(f->doc, "title")), slug);
        if (json_object_set_new(f->doc, "slug", json_string(slug)) != 0) {
            snprintf(err, errlen, "scenarios/%s: out of memory", f->name);
            return -1;
        }
    }
    return 0;
}

static int load_library(const char *dir, library *lib, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/scenarios", dir);
    if (list_files(path, lib, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < lib->n; i++) {
        char file[4400];
        snprintf(file, sizeof(file), "%s/%s", path, lib->files[i].name);
        if (load_scenario(file, &lib->files[i], err, errlen) != 0)
            return -1;
        const char *slug = json_string_value(json_object_get(lib->files[i].doc, "slug"));
        for (size_t j = 0; j < i; j++)
            if (strcmp(slug, json_string_value(json_object_get(lib->files[j].doc, "slug"))) == 0) {
                snprintf(err, errlen, "scenarios/%s: slug \"%s\" is also used by scenarios/%s",
                         lib->files[i].name, slug, lib->files[j].name);
                return -1;
            }
    }
    return 0;
}

/* 1 when the latest stored version of id says the same as doc (canonical JSON). */
static int same_as_latest(db_conn *c, const char *id, const json_t *doc, int *rc)
{
    json_t *stored = NULL;
    *rc = scenario_repo_load_version(c, id, 0, &stored);
    if (*rc != DB_OK)
        return 0;
    char *a = scenario_canonical(stored);
    char *b = scenario_canonical(doc);
    int same = a && b && strcmp(a, b) == 0;
    if (!a || !b)
        *rc = DB_ERROR;
    free(a);
    free(b);
    json_decref(stored);
    return same;
}

/* Creates, updates or leaves one scenario, inside the caller's transaction. */
static int seed_one(db_conn *c, const json_t *doc, seed_report *rep)
{
    char id[UUID_STR_LEN];
    long long version = 0;
    int changed = 0;
    int rc = scenario_repo_find_slug(c, json_string_value(json_object_get(doc, "slug")), id);
    if (rc == SCENARIO_NOT_FOUND) {
        rc = scenario_repo_create(c, NULL, doc, id);
        if (rc == DB_OK)
            rc = scenario_repo_publish(c, NULL, id, &version, &changed);
        if (rc == DB_OK)
            rep->scenarios_created++;
        return rc;
    }
    if (rc != DB_OK)
        return rc;
    if (same_as_latest(c, id, doc, &rc)) {
        rep->scenarios_unchanged++;
        return DB_OK;
    }
    if (rc != DB_OK)
        return rc;
    rc = scenario_repo_update(c, NULL, id, doc, &version);
    if (rc == DB_OK)
        rc = scenario_repo_publish(c, NULL, id, &version, &changed);
    if (rc == DB_OK)
        rep->scenarios_updated++;
    return rc;
}

static int seed_scenarios(db *d, const char *dir, seed_report *rep, char *err, size_t errlen)
{
    library lib = {0};
    if (load_library(dir, &lib, err, errlen) != 0) {
        library_free(&lib);
        return -1;
    }
    if (lib.n == 0)
        return 0;
    db_conn *c = db_acquire(d);
    if (!c) {
        snprintf(err, errlen, "the database is unavailable");
        library_free(&lib);
        return -1;
    }
    seed_report counts = {0};
    int rc = db_begin(c);
    size_t i = 0;
    for (; rc == DB_OK && i < lib.n; i++)
        rc = seed_one(c, lib.files[i].doc, &counts);
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        if (i > 0 && i <= lib.n)
            snprintf(err, errlen, "scenarios/%s: writing failed: %s", lib.files[i - 1].name,
                     db_errmsg(c));
        else
            snprintf(err, errlen, "writing scenarios failed: %s", db_errmsg(c));
        db_rollback(c);
    } else {
        /* Counted only once committed: a rolled-back run reports nothing written. */
        rep->scenarios_created += counts.scenarios_created;
        rep->scenarios_updated += counts.scenarios_updated;
        rep->scenarios_unchanged += counts.scenarios_unchanged;
    }
    db_release(c);
    library_free(&lib);
    return rc == DB_OK ? 0 : -1;
}

int seed_run(db *d, const char *dir, seed_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    if (seed_plans(d, dir, rep, err, errlen) != 0)
        return -1;
    return seed_scenarios(d, dir, rep, err, errlen);
}
