/* Scenarios in the store: versions are rows that are never updated; the scenarios row points
 * at the published one (current_version) and the newest one (latest_version) and carries
 * copies of what lists filter on. Full-text search is the one part written per driver: an
 * FTS5 table ranked with bm25 on SQLite, a weighted tsvector ranked with ts_rank on
 * PostgreSQL, both fed from the same words. */
#include "services/content/repo.h"

#include "core/json.h"
#include "core/timeutil.h"
#include "services/audit.h"
#include "services/content/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *json_col(const db_rows *r, size_t i);
static json_t *text_or_null(const db_rows *r, size_t i);
static json_t *int_or_null(const db_rows *r, size_t i);
static char *join_strings(const json_t *arr, const char *sep);
static void search_tags(const json_t *tags, char *out, size_t outlen);
static int slug_owner(db_conn *c, const char *slug, char id[UUID_STR_LEN]);
static int insert_version(db_conn *c, const char *id, long long version, const json_t *doc,
                          const char *actor, const char *now);
static int write_search_row(db_conn *c, const char *id, const json_t *doc);
static int audit(db_conn *c, const scenario_actor *who, const char *action, const char *id,
                 json_t *details);

/* ---- helpers ------------------------------------------------------------------------- */

static json_t *json_col(const db_rows *r, size_t i)
{
    const char *t = db_col_text(r, i);
    return t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
}

static json_t *text_or_null(const db_rows *r, size_t i)
{
    const char *v = db_col_text(r, i);
    return v ? json_string(v) : json_null();
}

static json_t *int_or_null(const db_rows *r, size_t i)
{
    return db_col_is_null(r, i) ? json_null() : json_integer(db_col_int(r, i));
}

/* The strings of arr joined by sep; caller frees. */
static char *join_strings(const json_t *arr, const char *sep)
{
    size_t len = 1, i;
    json_t *v;
    json_array_foreach(arr, i, v) len += json_string_length(v) + strlen(sep);
    char *out = malloc(len);
    if (!out)
        return NULL;
    out[0] = '\0';
    size_t o = 0;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (o > 0) {
            memcpy(out + o, sep, strlen(sep));
            o += strlen(sep);
        }
        memcpy(out + o, s, json_string_length(v));
        o += json_string_length(v);
        out[o] = '\0';
    }
    return out;
}

/* ",tag1,tag2," (or "" without tags): a tag filter is then LIKE '%,tag,%' on both drivers. */
static void search_tags(const json_t *tags, char *out, size_t outlen)
{
    size_t i;
    json_t *t;
    out[0] = '\0';
    size_t o = 0;
    json_array_foreach(tags, i, t)
    {
        int n = snprintf(out + o, outlen - o, "%s%s,", o == 0 ? "," : "", json_string_value(t));
        if (n < 0 || (size_t)n >= outlen - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)n;
    }
}

/* DB_OK with id filled when a scenario has the slug, SCENARIO_NOT_FOUND when none does. */
static int slug_owner(db_conn *c, const char *slug, char id[UUID_STR_LEN])
{
    const db_param p[] = {DB_TEXT(slug)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT id FROM scenarios WHERE slug = $1", p, 1, &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1)
        (void)snprintf(id, UUID_STR_LEN, "%s", db_col_text(r, 0));
    db_rows_free(r);
    return step == 1 ? DB_OK : step == 0 ? SCENARIO_NOT_FOUND : step;
}

static int insert_version(db_conn *c, const char *id, long long version, const json_t *doc,
                          const char *actor, const char *now)
{
    const json_t *cc = json_object_get(doc, "candidate_card");
    char *tags = json_dumps(json_object_get(doc, "tags"), JSON_COMPACT);
    char *card = json_dumps(cc, JSON_COMPACT);
    char *patient = json_dumps(json_object_get(doc, "patient_card"), JSON_COMPACT);
    int rc = DB_ERROR;
    if (tags && card && patient) {
        const db_param p[] = {
            DB_TEXT(id),
            DB_INT(version),
            DB_TEXT(json_string_value(json_object_get(doc, "title"))),
            DB_TEXT(json_string_value(json_object_get(doc, "profession"))),
            DB_TEXT(json_string_value(json_object_get(doc, "setting"))),
            DB_TEXT(json_string_value(json_object_get(cc, "role"))),
            DB_TEXT(json_string_value(json_object_get(doc, "difficulty"))),
            DB_TEXT(tags),
            DB_INT(json_integer_value(json_object_get(doc, "prep_seconds"))),
            DB_INT(json_integer_value(json_object_get(doc, "roleplay_seconds"))),
            DB_TEXT(card),
            DB_TEXT(patient),
            DB_TEXT(actor),
            DB_TEXT(now),
        };
        rc = db_exec(c,
                     "INSERT INTO scenario_versions (scenario_id, version, title, profession, "
                     "setting, role, difficulty, tags, prep_seconds, roleplay_seconds, "
                     "candidate_card, patient_card, created_by, created_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                     p, ARRAY_LEN(p), NULL);
    }
    free(tags);
    free(card);
    free(patient);
    return rc;
}

/* The searchable text of the published version: title, setting (the card's own setting too
 * when it says more), the candidate's background and the tasks. */
static int write_search_row(db_conn *c, const char *id, const json_t *doc)
{
    const json_t *cc = json_object_get(doc, "candidate_card");
    const char *title = json_string_value(json_object_get(doc, "title"));
    const char *setting = json_string_value(json_object_get(doc, "setting"));
    const char *card_setting = json_string_value(json_object_get(cc, "setting"));
    const char *background = json_string_value(json_object_get(cc, "background"));
    char *tasks = join_strings(json_object_get(cc, "tasks"), "\n");
    char *settings = NULL;
    if (!tasks)
        return DB_ERROR;
    if (card_setting && setting && strcmp(card_setting, setting) != 0) {
        size_t n = strlen(setting) + strlen(card_setting) + 2;
        settings = malloc(n);
        if (settings)
            (void)snprintf(settings, n, "%s\n%s", setting, card_setting);
    }
    const db_param p[] = {DB_TEXT(id), DB_TEXT(title ? title : ""),
                          DB_TEXT(settings  ? settings
                                  : setting ? setting
                                            : ""),
                          DB_TEXT(background ? background : ""), DB_TEXT(tasks)};
    int rc;
    if (db_conn_kind(c) == DB_POSTGRES) {
        rc = db_exec(c,
                     "INSERT INTO scenario_search (scenario_id, document) VALUES ($1, "
                     "setweight(to_tsvector('english', CAST($2 AS TEXT)), 'A') || "
                     "setweight(to_tsvector('english', CAST($3 AS TEXT)), 'B') || "
                     "setweight(to_tsvector('english', CAST($5 AS TEXT)), 'B') || "
                     "setweight(to_tsvector('english', CAST($4 AS TEXT)), 'C')) "
                     "ON CONFLICT (scenario_id) DO UPDATE SET document = excluded.document",
                     p, ARRAY_LEN(p), NULL);
    } else {
        rc = db_exec(c, "DELETE FROM scenario_search WHERE scenario_id = $1", p, 1, NULL);
        if (rc == DB_OK)
            rc = db_exec(c,
                         "INSERT INTO scenario_search (scenario_id, title, setting, background, "
                         "tasks) VALUES ($1, $2, $3, $4, $5)",
                         p, ARRAY_LEN(p), NULL);
    }
    free(tasks);
    free(settings);
    return rc;
}

/* Steals details. */
static int audit(db_conn *c, const scenario_actor *who, const char *action, const char *id,
                 json_t *details)
{
    audit_entry e = {.action = action,
                     .actor_id = who ? who->user_id : NULL,
                     .target_type = "scenario",
                     .target_id = id,
                     .details = details};
    int rc = audit_write(c, who ? who->req : NULL, &e);
    json_decref(details);
    return rc;
}

/* ---- writes -------------------------------------------------------------------------- */

int scenario_repo_create(db_conn *c, const scenario_actor *who, const json_t *doc,
                         char id[UUID_STR_LEN])
{
    char slug[SCENARIO_SLUG_MAX + 1], owner[UUID_STR_LEN], now[RFC3339_LEN], tags[512];
    const char *given = json_string_value(json_object_get(doc, "slug"));
    if (given)
        (void)snprintf(slug, sizeof(slug), "%s", given);
    else
        scenario_slug_from_title(json_string_value(json_object_get(doc, "title")), slug);
    /* Checked first: inside a transaction a failed INSERT leaves nothing but a rollback. */
    int rc = slug_owner(c, slug, owner);
    if (rc == DB_OK)
        return SCENARIO_SLUG_TAKEN;
    if (rc != SCENARIO_NOT_FOUND)
        return rc;
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    search_tags(json_object_get(doc, "tags"), tags, sizeof(tags));
    const char *actor = who ? who->user_id : NULL;
    const db_param p[] = {
        DB_TEXT(id),
        DB_TEXT(slug),
        DB_TEXT(json_string_value(json_object_get(doc, "profession"))),
        DB_TEXT(json_string_value(json_object_get(doc, "difficulty"))),
        DB_TEXT(tags),
        DB_TEXT(actor),
        DB_TEXT(now),
    };
    rc = db_exec(c,
                 "INSERT INTO scenarios (id, slug, state, profession, difficulty, latest_version, "
                 "search_tags, created_by, created_at, updated_at) "
                 "VALUES ($1, $2, 'draft', $3, $4, 1, $5, $6, $7, $7)",
                 p, ARRAY_LEN(p), NULL);
    if (rc == DB_OK)
        rc = insert_version(c, id, 1, doc, actor, now);
    if (rc == DB_OK)
        rc = audit(c, who, "scenario.create", id,
                   json_pack("{s:s, s:i}", "slug", slug, "version", 1));
    return rc;
}

int scenario_repo_update(db_conn *c, const scenario_actor *who, const char *id, const json_t *doc,
                         long long *version)
{
    char slug[SCENARIO_SLUG_MAX + 1], owner[UUID_STR_LEN], now[RFC3339_LEN];
    const db_param pid[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT slug FROM scenarios WHERE id = $1", pid, 1, &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1)
        (void)snprintf(slug, sizeof(slug), "%s", db_col_text(r, 0));
    db_rows_free(r);
    if (step != 1)
        return step == 0 ? SCENARIO_NOT_FOUND : step;
    const char *given = json_string_value(json_object_get(doc, "slug"));
    if (given && strcmp(given, slug) != 0) {
        rc = slug_owner(c, given, owner);
        if (rc == DB_OK)
            return SCENARIO_SLUG_TAKEN;
        if (rc != SCENARIO_NOT_FOUND)
            return rc;
        (void)snprintf(slug, sizeof(slug), "%s", given);
    }
    time_format_rfc3339(time_now_ms(), now);
    /* The increment takes the row lock, so concurrent edits get consecutive numbers. A draft
     * (never published) lists under its newest profession and difficulty. */
    const db_param p[] = {DB_TEXT(id), DB_TEXT(now), DB_TEXT(slug),
                          DB_TEXT(json_string_value(json_object_get(doc, "profession"))),
                          DB_TEXT(json_string_value(json_object_get(doc, "difficulty")))};
    rc = db_query(c,
                  "UPDATE scenarios SET latest_version = latest_version + 1, updated_at = $2, "
                  "slug = $3, "
                  "profession = CASE WHEN current_version IS NULL THEN $4 ELSE profession END, "
                  "difficulty = CASE WHEN current_version IS NULL THEN $5 ELSE difficulty END "
                  "WHERE id = $1 RETURNING latest_version",
                  p, ARRAY_LEN(p), &r);
    if (rc != DB_OK)
        return rc;
    long long v = 0;
    step = db_rows_next(r);
    if (step == 1)
        v = db_col_int(r, 0);
    db_rows_free(r);
    if (step != 1)
        return step == 0 ? SCENARIO_NOT_FOUND : step;
    rc = insert_version(c, id, v, doc, who ? who->user_id : NULL, now);
    if (rc == DB_OK)
        rc = audit(c, who, "scenario.update", id,
                   json_pack("{s:s, s:I}", "slug", slug, "version", (json_int_t)v));
    if (rc == DB_OK && version)
        *version = v;
    return rc;
}

/* state, current_version (0 when NULL), latest_version of a scenario. */
static int load_state(db_conn *c, const char *id, char state[16], long long *current,
                      long long *latest)
{
    const db_param p[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    int rc = db_query(
        c, "SELECT state, current_version, latest_version FROM scenarios WHERE id = $1", p, 1, &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1) {
        (void)snprintf(state, 16, "%s", db_col_text(r, 0));
        *current = db_col_is_null(r, 1) ? 0 : db_col_int(r, 1);
        *latest = db_col_int(r, 2);
    }
    db_rows_free(r);
    return step == 1 ? DB_OK : step == 0 ? SCENARIO_NOT_FOUND : step;
}

int scenario_repo_publish(db_conn *c, const scenario_actor *who, const char *id, long long *version,
                          int *changed)
{
    char state[16], now[RFC3339_LEN], tags[512];
    long long current = 0, latest = 0;
    *changed = 0;
    int rc = load_state(c, id, state, &current, &latest);
    if (rc != DB_OK)
        return rc;
    if (version)
        *version = latest;
    if (strcmp(state, "published") == 0 && current == latest)
        return DB_OK;
    json_t *doc = NULL;
    rc = scenario_repo_load_version(c, id, latest, &doc);
    if (rc != DB_OK)
        return rc;
    time_format_rfc3339(time_now_ms(), now);
    search_tags(json_object_get(doc, "tags"), tags, sizeof(tags));
    const db_param p[] = {DB_TEXT(id),
                          DB_INT(latest),
                          DB_TEXT(json_string_value(json_object_get(doc, "profession"))),
                          DB_TEXT(json_string_value(json_object_get(doc, "difficulty"))),
                          DB_TEXT(tags),
                          DB_TEXT(now)};
    rc = db_exec(c,
                 "UPDATE scenarios SET state = 'published', current_version = $2, "
                 "profession = $3, difficulty = $4, search_tags = $5, published_at = $6, "
                 "updated_at = $6, archived_at = NULL WHERE id = $1",
                 p, ARRAY_LEN(p), NULL);
    if (rc == DB_OK)
        rc = write_search_row(c, id, doc);
    if (rc == DB_OK)
        rc = audit(c, who, "scenario.publish", id,
                   json_pack("{s:I, s:s}", "version", (json_int_t)latest, "from_state", state));
    json_decref(doc);
    if (rc == DB_OK)
        *changed = 1;
    return rc;
}

int scenario_repo_archive(db_conn *c, const scenario_actor *who, const char *id, int *changed)
{
    char state[16], now[RFC3339_LEN];
    long long current = 0, latest = 0;
    *changed = 0;
    int rc = load_state(c, id, state, &current, &latest);
    if (rc != DB_OK || strcmp(state, "archived") == 0)
        return rc;
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(id), DB_TEXT(now)};
    rc = db_exec(c,
                 "UPDATE scenarios SET state = 'archived', archived_at = $2, updated_at = $2 "
                 "WHERE id = $1",
                 p, ARRAY_LEN(p), NULL);
    if (rc == DB_OK)
        rc = db_exec(c, "DELETE FROM scenario_search WHERE scenario_id = $1", p, 1, NULL);
    if (rc == DB_OK)
        rc = audit(c, who, "scenario.archive", id, json_pack("{s:s}", "from_state", state));
    if (rc == DB_OK)
        *changed = 1;
    return rc;
}

/* ---- single reads ---------------------------------------------------------------------- */

int scenario_repo_candidate_view(db_conn *c, const char *id, json_t **out)
{
    *out = NULL;
    const db_param p[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    /* No patient_card column here: what is not read cannot leak. */
    int rc = db_query(c,
                      "SELECT v.version, v.title, v.profession, v.setting, v.difficulty, v.tags, "
                      "v.prep_seconds, v.roleplay_seconds, v.candidate_card "
                      "FROM scenarios s JOIN scenario_versions v ON v.scenario_id = s.id AND "
                      "v.version = s.current_version WHERE s.id = $1 AND s.state = 'published'",
                      p, 1, &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1) {
        json_t *doc = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o}", "title", text_or_null(r, 1), "profession",
            text_or_null(r, 2), "setting", text_or_null(r, 3), "difficulty", text_or_null(r, 4),
            "tags", json_col(r, 5), "prep_seconds", (json_int_t)db_col_int(r, 6),
            "roleplay_seconds", (json_int_t)db_col_int(r, 7), "candidate_card", json_col(r, 8));
        *out = doc ? scenario_candidate_view(id, db_col_int(r, 0), doc) : NULL;
        json_decref(doc);
        rc = *out ? DB_OK : DB_ERROR;
    } else {
        rc = step == 0 ? SCENARIO_NOT_FOUND : step;
    }
    db_rows_free(r);
    return rc;
}

#define VERSION_DOC_COLUMNS                                                                        \
    "s.slug, v.title, v.profession, v.setting, v.difficulty, v.tags, v.prep_seconds, "             \
    "v.roleplay_seconds, v.candidate_card, v.patient_card"

/* The document from a row starting with VERSION_DOC_COLUMNS at column `at`. */
static json_t *doc_from_row(const db_rows *r, size_t at)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o}", "slug",
                     text_or_null(r, at), "title", text_or_null(r, at + 1), "profession",
                     text_or_null(r, at + 2), "setting", text_or_null(r, at + 3), "difficulty",
                     text_or_null(r, at + 4), "tags", json_col(r, at + 5), "prep_seconds",
                     (json_int_t)db_col_int(r, at + 6), "roleplay_seconds",
                     (json_int_t)db_col_int(r, at + 7), "candidate_card", json_col(r, at + 8),
                     "patient_card", json_col(r, at + 9));
}

int scenario_repo_load_version(db_conn *c, const char *id, long long version, json_t **doc)
{
    *doc = NULL;
    const db_param p[] = {DB_TEXT(id), DB_INT(version)};
    db_rows *r = NULL;
    int rc = db_query(c,
                      "SELECT " VERSION_DOC_COLUMNS " FROM scenarios s JOIN scenario_versions v "
                      "ON v.scenario_id = s.id WHERE s.id = $1 AND v.version = "
                      "CASE WHEN $2 = 0 THEN s.latest_version ELSE $2 END",
                      p, ARRAY_LEN(p), &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1) {
        *doc = doc_from_row(r, 0);
        rc = *doc ? DB_OK : DB_ERROR;
    } else {
        rc = step == 0 ? SCENARIO_NOT_FOUND : step;
    }
    db_rows_free(r);
    return rc;
}

int scenario_repo_admin_view(db_conn *c, const char *id, json_t **out)
{
    *out = NULL;
    const db_param p[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    int rc = db_query(c,
                      "SELECT " VERSION_DOC_COLUMNS ", s.id, s.state, v.version, "
                      "s.current_version, s.latest_version, s.created_by, s.created_at, "
                      "s.updated_at, s.published_at, s.archived_at FROM scenarios s "
                      "JOIN scenario_versions v ON v.scenario_id = s.id AND "
                      "v.version = s.latest_version WHERE s.id = $1",
                      p, 1, &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1) {
        json_t *doc = doc_from_row(r, 0);
        json_t *o = json_pack("{s:o, s:o, s:I, s:o, s:I}", "id", text_or_null(r, 10), "state",
                              text_or_null(r, 11), "version", (json_int_t)db_col_int(r, 12),
                              "current_version", int_or_null(r, 13), "latest_version",
                              (json_int_t)db_col_int(r, 14));
        if (doc && o && json_object_update(o, doc) == 0 &&
            json_object_set_new(o, "created_by", text_or_null(r, 15)) == 0 &&
            json_object_set_new(o, "created_at", text_or_null(r, 16)) == 0 &&
            json_object_set_new(o, "updated_at", text_or_null(r, 17)) == 0 &&
            json_object_set_new(o, "published_at", text_or_null(r, 18)) == 0 &&
            json_object_set_new(o, "archived_at", text_or_null(r, 19)) == 0) {
            *out = o;
            o = NULL;
        }
        json_decref(o);
        json_decref(doc);
        rc = *out ? DB_OK : DB_ERROR;
    } else {
        rc = step == 0 ? SCENARIO_NOT_FOUND : step;
    }
    db_rows_free(r);
    return rc;
}

int scenario_repo_find_slug(db_conn *c, const char *slug, char id[UUID_STR_LEN])
{
    return slug_owner(c, slug, id);
}

/* ---- lists --------------------------------------------------------------------------- */

size_t scenario_search_words(const char *q, char *out, size_t outlen)
{
    size_t n = 0, o = 0;
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    const char *p = q ? q : "";
    while (*p && n < SCENARIO_SEARCH_WORDS_MAX) {
        while (*p &&
               !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            p++;
        const char *start = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || o + len + (o > 0) + 1 > outlen)
            continue;
        if (o > 0)
            out[o++] = ' ';
        for (size_t i = 0; i < len; i++)
            out[o++] =
                (start[i] >= 'A' && start[i] <= 'Z') ? (char)(start[i] - 'A' + 'a') : start[i];
        out[o] = '\0';
        n++;
    }
    return n;
}

/* The engine's query from the words: FTS5 `"w1" OR "w2"`, tsquery `w1 | w2`. The words are
 * [a-z0-9]+ only, so neither syntax can be injected. Caller frees. */
static char *search_expression(db_driver kind, const char *words)
{
    size_t n = strlen(words);
    char *out = malloc(n * 6 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    int pg = kind == DB_POSTGRES;
    for (const char *p = words; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (o > 0) {
            const char *sep = pg ? " | " : " OR ";
            memcpy(out + o, sep, strlen(sep));
            o += strlen(sep);
        }
        if (!pg)
            out[o++] = '"';
        memcpy(out + o, p, len);
        o += len;
        if (!pg)
            out[o++] = '"';
        p += len;
        if (*p == ' ')
            p++;
    }
    out[o] = '\0';
    return out;
}

/* Shared by the count and the page: $1 profession, $2 difficulty, $3 tag. */
#define PUBLISHED_JOIN                                                                             \
    " JOIN scenarios s ON s.id = hits.scenario_id JOIN scenario_versions v ON "                    \
    "v.scenario_id = s.id AND v.version = s.current_version"
#define PUBLISHED_FROM                                                                             \
    " FROM scenarios s JOIN scenario_versions v ON v.scenario_id = s.id AND "                      \
    "v.version = s.current_version"
#define PUBLISHED_WHERE                                                                            \
    " WHERE s.state = 'published' AND (CAST($1 AS TEXT) IS NULL OR s.profession = $1) AND "        \
    "(CAST($2 AS TEXT) IS NULL OR s.difficulty = $2) AND "                                         \
    "(CAST($3 AS TEXT) IS NULL OR s.search_tags LIKE '%,' || CAST($3 AS TEXT) || ',%')"
#define SUMMARY_COLUMNS                                                                            \
    "s.id, v.version, v.title, v.profession, v.setting, v.difficulty, v.tags, v.prep_seconds, "    \
    "v.roleplay_seconds"
/* bm25: lower is better; the weights follow the columns (scenario_id, title, setting,
 * background, tasks). ts_rank: higher is better, so it is negated to sort the same way. */
#define HITS_SQLITE                                                                                \
    "WITH hits AS MATERIALIZED (SELECT scenario_id, "                                              \
    "bm25(scenario_search, 0.0, 10.0, 5.0, 2.0, 5.0) AS score FROM scenario_search "               \
    "WHERE scenario_search MATCH $4) "
#define HITS_PG                                                                                    \
    "WITH hits AS (SELECT scenario_id, -ts_rank(document, to_tsquery('english', $4)) AS score "    \
    "FROM scenario_search WHERE document @@ to_tsquery('english', $4)) "

static long long count_query(db_conn *c, const char *sql, const db_param *p, size_t n, int *rc)
{
    db_rows *r = NULL;
    long long total = 0;
    *rc = db_query(c, sql, p, n, &r);
    if (*rc != DB_OK)
        return 0;
    int step = db_rows_next(r);
    if (step == 1)
        total = db_col_int(r, 0);
    else
        *rc = step < 0 ? step : DB_ERROR;
    db_rows_free(r);
    return total;
}

int scenario_repo_list_published(db_conn *c, const scenario_query *q, json_t **items,
                                 long long *total)
{
    *items = NULL;
    *total = 0;
    char *expr = NULL;
    if (q->words && *q->words) {
        expr = search_expression(db_conn_kind(c), q->words);
        if (!expr)
            return DB_ERROR;
    }
    const char *hits = db_conn_kind(c) == DB_POSTGRES ? HITS_PG : HITS_SQLITE;
    const db_param p[] = {DB_TEXT(q->profession),
                          DB_TEXT(q->difficulty),
                          DB_TEXT(q->tag),
                          expr ? DB_TEXT(expr) : DB_INT(q->per_page),
                          expr ? DB_INT(q->per_page)
                               : DB_INT((long long)(q->page - 1) * q->per_page),
                          DB_INT((long long)(q->page - 1) * q->per_page)};
    char count_sql[1024], page_sql[1536];
    if (expr) {
        (void)snprintf(count_sql, sizeof(count_sql), "%s%s", hits,
                       "SELECT count(*) FROM hits" PUBLISHED_JOIN PUBLISHED_WHERE);
        (void)snprintf(page_sql, sizeof(page_sql), "%s%s", hits,
                       "SELECT " SUMMARY_COLUMNS " FROM hits" PUBLISHED_JOIN PUBLISHED_WHERE
                       " ORDER BY hits.score, v.title, s.id LIMIT $5 OFFSET $6");
    } else {
        (void)snprintf(count_sql, sizeof(count_sql), "%s",
                       "SELECT count(*)" PUBLISHED_FROM PUBLISHED_WHERE);
        (void)snprintf(page_sql, sizeof(page_sql), "%s",
                       "SELECT " SUMMARY_COLUMNS PUBLISHED_FROM PUBLISHED_WHERE
                       " ORDER BY v.profession, v.title, s.id LIMIT $4 OFFSET $5");
    }
    int rc;
    *total = count_query(c, count_sql, p, expr ? 4 : 3, &rc);
    db_rows *r = NULL;
    if (rc == DB_OK)
        rc = db_query(c, page_sql, p, expr ? 6 : 5, &r);
    free(expr);
    if (rc != DB_OK)
        return rc;
    json_t *arr = json_array();
    int step;
    while ((step = db_rows_next(r)) == 1) {
        json_t *o = json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:I}", "id",
                              text_or_null(r, 0), "version", (json_int_t)db_col_int(r, 1), "title",
                              text_or_null(r, 2), "profession", text_or_null(r, 3), "setting",
                              text_or_null(r, 4), "difficulty", text_or_null(r, 5), "tags",
                              json_col(r, 6), "prep_seconds", (json_int_t)db_col_int(r, 7),
                              "roleplay_seconds", (json_int_t)db_col_int(r, 8));
        if (!o || json_array_append_new(arr, o) != 0) {
            step = DB_ERROR;
            break;
        }
    }
    db_rows_free(r);
    if (step < 0 || !arr) {
        json_decref(arr);
        return step < 0 ? step : DB_ERROR;
    }
    *items = arr;
    return DB_OK;
}

int scenario_repo_list_admin(db_conn *c, const scenario_query *q, json_t **items, long long *total)
{
    *items = NULL;
    *total = 0;
#define ADMIN_WHERE                                                                                \
    " FROM scenarios s JOIN scenario_versions v ON v.scenario_id = s.id AND "                      \
    "v.version = s.latest_version WHERE (CAST($1 AS TEXT) IS NULL OR s.state = $1) AND "           \
    "(CAST($2 AS TEXT) IS NULL OR s.profession = $2) AND (CAST($3 AS TEXT) IS NULL OR "            \
    "s.difficulty = $3)"
    const db_param p[] = {DB_TEXT(q->state), DB_TEXT(q->profession), DB_TEXT(q->difficulty),
                          DB_INT(q->per_page), DB_INT((long long)(q->page - 1) * q->per_page)};
    int rc;
    *total = count_query(c, "SELECT count(*)" ADMIN_WHERE, p, 3, &rc);
    db_rows *r = NULL;
    if (rc == DB_OK)
        rc = db_query(c,
                      "SELECT s.id, s.slug, s.state, v.title, s.profession, s.difficulty, "
                      "s.current_version, s.latest_version, s.created_at, s.updated_at, "
                      "s.published_at, s.archived_at" ADMIN_WHERE
                      " ORDER BY s.updated_at DESC, s.id DESC LIMIT $4 OFFSET $5",
                      p, ARRAY_LEN(p), &r);
    if (rc != DB_OK)
        return rc;
    json_t *arr = json_array();
    int step;
    while ((step = db_rows_next(r)) == 1) {
        json_t *o = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "id",
            text_or_null(r, 0), "slug", text_or_null(r, 1), "state", text_or_null(r, 2), "title",
            text_or_null(r, 3), "profession", text_or_null(r, 4), "difficulty", text_or_null(r, 5),
            "current_version", int_or_null(r, 6), "latest_version", (json_int_t)db_col_int(r, 7),
            "created_at", text_or_null(r, 8), "updated_at", text_or_null(r, 9), "published_at",
            text_or_null(r, 10), "archived_at", text_or_null(r, 11));
        if (!o || json_array_append_new(arr, o) != 0) {
            step = DB_ERROR;
            break;
        }
    }
    db_rows_free(r);
    if (step < 0 || !arr) {
        json_decref(arr);
        return step < 0 ? step : DB_ERROR;
    }
    *items = arr;
    return DB_OK;
}

int scenario_repo_versions(db_conn *c, const char *id, int page, int per_page, json_t **items,
                           long long *total)
{
    *items = NULL;
    *total = 0;
    const db_param p[] = {DB_TEXT(id), DB_INT(per_page), DB_INT((long long)(page - 1) * per_page)};
    int rc;
    if (count_query(c, "SELECT count(*) FROM scenarios WHERE id = $1", p, 1, &rc) == 0 &&
        rc == DB_OK)
        return SCENARIO_NOT_FOUND;
    if (rc == DB_OK)
        *total = count_query(c, "SELECT count(*) FROM scenario_versions WHERE scenario_id = $1", p,
                             1, &rc);
    db_rows *r = NULL;
    if (rc == DB_OK)
        rc = db_query(c,
                      "SELECT v.version, v.title, v.created_at, v.created_by, "
                      "CASE WHEN s.state = 'published' AND v.version = s.current_version "
                      "THEN 1 ELSE 0 END FROM scenario_versions v JOIN scenarios s ON "
                      "s.id = v.scenario_id WHERE v.scenario_id = $1 ORDER BY v.version "
                      "LIMIT $2 OFFSET $3",
                      p, ARRAY_LEN(p), &r);
    if (rc != DB_OK)
        return rc;
    json_t *arr = json_array();
    int step;
    while ((step = db_rows_next(r)) == 1) {
        json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:b}", "version", (json_int_t)db_col_int(r, 0),
                              "title", text_or_null(r, 1), "created_at", text_or_null(r, 2),
                              "created_by", text_or_null(r, 3), "published", (int)db_col_int(r, 4));
        if (!o || json_array_append_new(arr, o) != 0) {
            step = DB_ERROR;
            break;
        }
    }
    db_rows_free(r);
    if (step < 0 || !arr) {
        json_decref(arr);
        return step < 0 ? step : DB_ERROR;
    }
    *items = arr;
    return DB_OK;
}
