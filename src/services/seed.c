/* `praxis seed`: upserts the shipped plans from <dir>/plans.json. Every field is validated before
 * anything is written, and all rows are written in one transaction, so a bad file changes
 * nothing. */
#include "services/seed.h"

#include "core/timeutil.h"

#include <jansson.h>
#include <stdio.h>
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

int seed_run(db *d, const char *dir, seed_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    return seed_plans(d, dir, rep, err, errlen);
}
