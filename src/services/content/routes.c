/* /v1/scenarios (candidates: published scenarios, candidate view only, cached for 60 s with
 * ETags) and /v1/admin/scenarios (tutors and admins: drafts, versions, publish, archive).
 * Every change drops the cached views (cache_del_prefix "scn:"). */
#include "services/content/content.h"

#include "core/json.h"
#include "core/log.h"
#include "http/server.h"
#include "services/ai/ai.h"
#include "services/app.h"
#include "services/content/repo.h"
#include "services/content/scenario.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ETAG_LEN = 37 }; /* W/" + 32 hex + '"' + NUL */

static const char *const cache_control = "private, max-age=0, must-revalidate";

/* ---- helpers ------------------------------------------------------------------------- */

static void not_found(http_req *req, http_res *res)
{
    http_res_problem(req, res, 404, "No scenario with this id.", NULL);
}

/* Maps a repository result to the answer; logs the database message, never sends it. */
static void answer_error(http_req *req, http_res *res, db_conn *c, int rc, const char *what)
{
    if (rc == SCENARIO_NOT_FOUND) {
        not_found(req, res);
    } else if (rc == SCENARIO_SLUG_TAKEN || rc == DB_ECONSTRAINT) {
        json_t *errors = json_array();
        json_errors_add(errors, "slug", "is already used by another scenario");
        http_res_problem_full(req, res, 409, "duplicate-slug", "Duplicate Slug",
                              "Another scenario has this slug; choose another one.", errors);
        json_decref(errors);
    } else if (rc == DB_EUNAVAILABLE || rc == DB_EBUSY) {
        log_warn("content: %s: %s (request %s)", what, c ? db_errmsg(c) : "no connection",
                 req->request_id ? req->request_id : "-");
        http_res_header(req, res, "Retry-After", "5");
        http_res_problem(req, res, 503, "The database is busy or unavailable; please try again.",
                         NULL);
    } else {
        log_error("content: %s failed: %s (request %s)", what, c ? db_errmsg(c) : "-",
                  req->request_id ? req->request_id : "-");
        http_res_problem(req, res, 500, "Something went wrong on our side; please try again.",
                         NULL);
    }
}

/* NULL for an absent or empty query parameter (forms send "profession="). */
static const char *query(http_req *req, const char *name)
{
    const char *v = http_req_query(req, name);
    return v && *v ? v : NULL;
}

static void invalidate(http_req *req)
{
    app *a = req->app;
    if (a->cache)
        (void)cache_del_prefix(a->cache, CONTENT_CACHE_PREFIX);
}

/* W/"<first 32 hex digits of the SHA-256 of the JSON>": weak, because the same JSON goes out
 * gzipped or not depending on the client, and a strong tag would have to differ per coding. */
static void make_etag(const char *body, size_t len, char out[ETAG_LEN])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    (void)crypto_hash_sha256(h, (const unsigned char *)body, len);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "W/\"", 3);
    for (size_t i = 0; i < 16; i++) {
        out[3 + 2 * i] = hex[h[i] >> 4];
        out[4 + 2 * i] = hex[h[i] & 15];
    }
    out[35] = '"';
    out[36] = '\0';
}

/* If-None-Match: "*" or a comma list of entity tags, compared weakly (RFC 9110 8.8.3.2: a W/
 * prefix is ignored on both sides). */
static int etag_matches(const char *header, const char *etag)
{
    if (!header)
        return 0;
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - start) == elen - 2 && memcmp(start, etag + 2, elen - 2) == 0)
            return 1;
    }
    return 0;
}

/* 200 with the body, or 304 without one when the client holds the same representation. */
static void send_cacheable(http_req *req, http_res *res, const char *body, size_t len)
{
    char etag[ETAG_LEN];
    make_etag(body, len, etag);
    http_res_header(req, res, "ETag", etag);
    http_res_header(req, res, "Cache-Control", cache_control);
    if (etag_matches(http_req_header(req, "If-None-Match"), etag))
        http_res_bytes(req, res, 304, NULL, NULL, 0);
    else
        http_res_bytes(req, res, 200, "application/json", body, len);
}

/* Answers from the cache when key is there; 1 if it did. */
static int answer_from_cache(http_req *req, http_res *res, const char *key)
{
    app *a = req->app;
    char *val = NULL;
    size_t len = 0;
    if (!a->cache || cache_get(a->cache, key, &val, &len) != CACHE_OK)
        return 0;
    send_cacheable(req, res, val, len);
    free(val);
    return 1;
}

/* Serialises body (stolen), caches it under key and answers with it. */
static void answer_and_cache(http_req *req, http_res *res, const char *key, json_t *body)
{
    app *a = req->app;
    char *text = body ? json_dump_compact(body) : NULL;
    json_decref(body);
    if (!text) {
        http_res_problem(req, res, 500, "Something went wrong on our side; please try again.",
                         NULL);
        return;
    }
    size_t len = strlen(text);
    if (a->cache && cache_set(a->cache, key, text, len, CONTENT_CACHE_TTL_MS) != CACHE_OK)
        log_warn("content: could not cache %s", key);
    send_cacheable(req, res, text, len);
    free(text);
}

/* ---- candidates ---------------------------------------------------------------------- */

static void scenarios_list(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    const char *profession = query(req, "profession");
    const char *difficulty = query(req, "difficulty");
    const char *tag = query(req, "tag");
    const char *q = query(req, "q");
    char words[256] = "";
    json_t *errors = json_array();
    if (profession && !scenario_profession_valid(profession))
        json_errors_add(errors, "profession",
                        "must be one of medicine, nursing, dentistry, pharmacy, physiotherapy, "
                        "occupational-therapy, dietetics, optometry, podiatry, radiography, "
                        "speech-pathology, veterinary-science");
    if (difficulty && !scenario_difficulty_valid(difficulty))
        json_errors_add(errors, "difficulty", "must be easy, medium or hard");
    if (tag && !scenario_tag_valid(tag))
        json_errors_add(errors, "tag", "must be a tag: 1 to 30 characters of a-z, 0-9 and -");
    if (q && strlen(q) > 200)
        json_errors_add(errors, "q", "must be at most 200 characters");
    else if (q && scenario_search_words(q, words, sizeof(words)) == 0)
        json_errors_add(errors, "q", "must contain a letter or a digit");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Invalid filters.", errors);
        json_decref(errors);
        return;
    }
    json_decref(errors);
    /* The key holds the validated filters and the normalized words, so "Asthma, inhaler" and
     * "asthma inhaler" share an entry; every part is short and free of '|'. */
    char key[512];
    (void)snprintf(key, sizeof(key), CONTENT_CACHE_PREFIX "list:%s|%s|%s|%s|%d|%d",
                   profession ? profession : "", difficulty ? difficulty : "", tag ? tag : "",
                   words, page, per_page);
    if (answer_from_cache(req, res, key))
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    scenario_query sq = {.profession = profession,
                         .difficulty = difficulty,
                         .tag = tag,
                         .words = q ? words : NULL,
                         .page = page,
                         .per_page = per_page};
    json_t *items = NULL;
    long long total = 0;
    int rc = scenario_repo_list_published(c, &sq, &items, &total);
    if (rc != DB_OK) {
        answer_error(req, res, c, rc, "scenario list");
        db_release(c);
        return;
    }
    db_release(c);
    answer_and_cache(req, res, key, http_list_body(items, page, per_page, total));
}

static void scenarios_get(http_req *req, http_res *res)
{
    const char *id = http_req_param(req, "id");
    char key[128];
    (void)snprintf(key, sizeof(key), CONTENT_CACHE_PREFIX "item:%s", id);
    if (answer_from_cache(req, res, key))
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    json_t *view = NULL;
    int rc = scenario_repo_candidate_view(c, id, &view);
    if (rc == SCENARIO_NOT_FOUND)
        http_res_problem(req, res, 404, "No published scenario with this id.", NULL);
    else if (rc != DB_OK)
        answer_error(req, res, c, rc, "scenario get");
    db_release(c);
    if (rc == DB_OK)
        answer_and_cache(req, res, key, view);
}

/* ---- staff --------------------------------------------------------------------------- */

/* The request body as a valid, normalized document; NULL after answering 400/422. */
static json_t *read_document(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return NULL;
    json_t *errors = json_array();
    json_t *doc = NULL;
    if (scenario_validate(body, errors) > 0)
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
    else if (!(doc = scenario_normalize(body)))
        http_res_problem(req, res, 500, "Something went wrong on our side; please try again.",
                         NULL);
    json_decref(errors);
    json_decref(body);
    return doc;
}

/* Answers status with the admin view of id (after a change has committed). */
static void answer_admin_view(http_req *req, http_res *res, db_conn *c, const char *id, int status)
{
    json_t *view = NULL;
    int rc = scenario_repo_admin_view(c, id, &view);
    if (rc != DB_OK) {
        answer_error(req, res, c, rc, "scenario admin view");
        return;
    }
    http_res_json(req, res, status, view);
}

/* Commits when rc is DB_OK, else rolls back; the final result. */
static int finish(db_conn *c, int rc)
{
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK)
        db_rollback(c);
    return rc;
}

static void admin_create(http_req *req, http_res *res)
{
    json_t *doc = read_document(req, res);
    if (!doc)
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c) {
        json_decref(doc);
        return;
    }
    scenario_actor who = {.user_id = req->user_id, .req = req};
    char id[UUID_STR_LEN];
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = scenario_repo_create(c, &who, doc, id);
    rc = finish(c, rc);
    json_decref(doc);
    if (rc != DB_OK) {
        answer_error(req, res, c, rc, "scenario create");
    } else {
        char location[96];
        (void)snprintf(location, sizeof(location), "/v1/admin/scenarios/%s", id);
        http_res_header(req, res, "Location", location);
        answer_admin_view(req, res, c, id, 201);
    }
    db_release(c);
}

static void admin_list(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    const char *state = query(req, "state");
    const char *profession = query(req, "profession");
    const char *difficulty = query(req, "difficulty");
    json_t *errors = json_array();
    if (state && strcmp(state, "draft") != 0 && strcmp(state, "published") != 0 &&
        strcmp(state, "archived") != 0)
        json_errors_add(errors, "state", "must be draft, published or archived");
    if (profession && !scenario_profession_valid(profession))
        json_errors_add(errors, "profession", "must be one of the 12 professions");
    if (difficulty && !scenario_difficulty_valid(difficulty))
        json_errors_add(errors, "difficulty", "must be easy, medium or hard");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Invalid filters.", errors);
        json_decref(errors);
        return;
    }
    json_decref(errors);
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    scenario_query sq = {.state = state,
                         .profession = profession,
                         .difficulty = difficulty,
                         .page = page,
                         .per_page = per_page};
    json_t *items = NULL;
    long long total = 0;
    int rc = scenario_repo_list_admin(c, &sq, &items, &total);
    if (rc != DB_OK)
        answer_error(req, res, c, rc, "admin scenario list");
    else
        http_res_json(req, res, 200, http_list_body(items, page, per_page, total));
    db_release(c);
}

static void admin_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    answer_admin_view(req, res, c, http_req_param(req, "id"), 200);
    db_release(c);
}

static void admin_put(http_req *req, http_res *res)
{
    const char *id = http_req_param(req, "id");
    json_t *doc = read_document(req, res);
    if (!doc)
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c) {
        json_decref(doc);
        return;
    }
    scenario_actor who = {.user_id = req->user_id, .req = req};
    long long version = 0;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = scenario_repo_update(c, &who, id, doc, &version);
    rc = finish(c, rc);
    json_decref(doc);
    if (rc != DB_OK) {
        answer_error(req, res, c, rc, "scenario update");
    } else {
        invalidate(req);
        answer_admin_view(req, res, c, id, 200);
    }
    db_release(c);
}

static void admin_publish(http_req *req, http_res *res)
{
    const char *id = http_req_param(req, "id");
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    scenario_actor who = {.user_id = req->user_id, .req = req};
    long long version = 0;
    int changed = 0;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = scenario_repo_publish(c, &who, id, &version, &changed);
    rc = finish(c, rc);
    if (rc != DB_OK) {
        answer_error(req, res, c, rc, "scenario publish");
    } else {
        invalidate(req);
        /* The recogniser's model of the new version, now rather than at the first word. */
        app *a = req->app;
        if (a->stt && ai_prepare_scenario_model(a->stt, c, id) != 0)
            log_msg(LOG_WARN, "content: no language model for scenario %s yet", id);
        answer_admin_view(req, res, c, id, 200);
    }
    db_release(c);
}

static void admin_archive(http_req *req, http_res *res)
{
    const char *id = http_req_param(req, "id");
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    scenario_actor who = {.user_id = req->user_id, .req = req};
    int changed = 0;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = scenario_repo_archive(c, &who, id, &changed);
    rc = finish(c, rc);
    if (rc != DB_OK) {
        answer_error(req, res, c, rc, "scenario archive");
    } else {
        invalidate(req);
        answer_admin_view(req, res, c, id, 200);
    }
    db_release(c);
}

static void admin_versions(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    json_t *items = NULL;
    long long total = 0;
    int rc = scenario_repo_versions(c, http_req_param(req, "id"), page, per_page, &items, &total);
    if (rc != DB_OK)
        answer_error(req, res, c, rc, "scenario versions");
    else
        http_res_json(req, res, 200, http_list_body(items, page, per_page, total));
    db_release(c);
}

/* ---- the table ----------------------------------------------------------------------- */

static const int c_list[] = {200, 304, 401, 403, 422, 503, 0};
static const int c_get[] = {200, 304, 401, 403, 404, 503, 0};
static const int c_admin_list[] = {200, 401, 403, 422, 503, 0};
static const int c_admin_get[] = {200, 401, 403, 404, 503, 0};
static const int c_create[] = {201, 400, 401, 403, 409, 413, 415, 422, 503, 0};
static const int c_put[] = {200, 400, 401, 403, 404, 409, 413, 415, 422, 503, 0};
static const int c_state[] = {200, 401, 403, 404, 503, 0};
static const int c_versions[] = {200, 401, 403, 404, 422, 503, 0};

static const route_def content_routes[] = {
    {.method = HTTP_GET,
     .path = "/v1/scenarios",
     .handler = scenarios_list,
     .service = "content",
     .tag = "content",
     .responses = c_list,
     .auth = AUTH_USER,
     .summary = "Published role-plays (?profession=, ?difficulty=, ?tag=, ?q= ranked full-text "
                "search, ?page=, ?per_page=); ETag / If-None-Match"},
    {.method = HTTP_GET,
     .path = "/v1/scenarios/{id:uuid}",
     .handler = scenarios_get,
     .service = "content",
     .tag = "content",
     .responses = c_get,
     .auth = AUTH_USER,
     .summary = "The candidate's view of a published role-play (never the patient card)"},
    {.method = HTTP_POST,
     .path = "/v1/admin/scenarios",
     .handler = admin_create,
     .service = "content",
     .tag = "admin",
     .body = BODY_JSON,
     .responses = c_create,
     .auth = AUTH_STAFF,
     .summary = "Create a draft scenario (version 1) from a full document"},
    {.method = HTTP_GET,
     .path = "/v1/admin/scenarios",
     .handler = admin_list,
     .service = "content",
     .tag = "admin",
     .responses = c_admin_list,
     .auth = AUTH_STAFF,
     .summary = "Scenarios in every state (?state=, ?profession=, ?difficulty=, ?page=)"},
    {.method = HTTP_GET,
     .path = "/v1/admin/scenarios/{id:uuid}",
     .handler = admin_get,
     .service = "content",
     .tag = "admin",
     .responses = c_admin_get,
     .auth = AUTH_STAFF,
     .summary = "The latest version's full document, patient card included, with its state"},
    {.method = HTTP_PUT,
     .path = "/v1/admin/scenarios/{id:uuid}",
     .handler = admin_put,
     .service = "content",
     .tag = "admin",
     .body = BODY_JSON,
     .responses = c_put,
     .auth = AUTH_STAFF,
     .summary = "Write a new immutable version (candidates see it after the next publish)"},
    {.method = HTTP_POST,
     .path = "/v1/admin/scenarios/{id:uuid}/publish",
     .handler = admin_publish,
     .service = "content",
     .tag = "admin",
     .responses = c_state,
     .auth = AUTH_STAFF,
     .summary = "Publish the latest version"},
    {.method = HTTP_POST,
     .path = "/v1/admin/scenarios/{id:uuid}/archive",
     .handler = admin_archive,
     .service = "content",
     .tag = "admin",
     .responses = c_state,
     .auth = AUTH_STAFF,
     .summary = "Archive: candidates no longer see the scenario"},
    {.method = HTTP_GET,
     .path = "/v1/admin/scenarios/{id:uuid}/versions",
     .handler = admin_versions,
     .service = "content",
     .tag = "admin",
     .responses = c_versions,
     .auth = AUTH_STAFF,
     .summary = "Version history: {version, title, created_at, created_by, published}"},
};

int content_register_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, content_routes);
}

int content_published_card(db_conn *c, const char *scenario_id, long long *version,
                           json_t **doc)
{
    *doc = NULL;
    json_t *view = NULL;
    int rc = scenario_repo_candidate_view(c, scenario_id, &view);
    if (rc != DB_OK)
        return rc;
    *version = json_integer_value(json_object_get(view, "version"));
    json_decref(view);
    return scenario_repo_load_version(c, scenario_id, *version, doc);
}

int content_version_card(db_conn *c, const char *scenario_id, long long version, json_t **doc)
{
    return scenario_repo_load_version(c, scenario_id, version, doc);
}

int content_published_summaries(db_conn *c, const char *profession, json_t **items)
{
    *items = NULL;
    const db_param p[] = {DB_TEXT(profession)};
    db_rows *r = NULL;
    /* The candidate card only: recommendations never need the patient side. */
    int rc = db_query(c,
                      "SELECT s.id, v.title, v.difficulty, v.candidate_card FROM scenarios s "
                      "JOIN scenario_versions v ON v.scenario_id = s.id AND "
                      "v.version = s.current_version WHERE s.state = 'published' AND "
                      "(s.profession = $1 OR $1 IS NULL) ORDER BY v.title, s.id",
                      p, 1, &r);
    if (rc != DB_OK)
        return rc;
    json_t *arr = json_array();
    int step;
    while ((step = db_rows_next(r)) == 1) {
        json_error_t e;
        json_t *card = json_loads(db_col_text(r, 3), 0, &e);
        json_t *tasks = json_object_get(card, "tasks");
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "id", db_col_text(r, 0),
                                             "title", db_col_text(r, 1), "difficulty",
                                             db_col_text(r, 2), "tasks",
                                             tasks ? json_incref(tasks) : json_array()));
        json_decref(card);
    }
    db_rows_free(r);
    if (step < 0) {
        json_decref(arr);
        return step;
    }
    *items = arr;
    return DB_OK;
}
