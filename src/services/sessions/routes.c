/* /v1/sessions: create, start, text turns, end, read and list practice sessions. Only the owner
 * acts on a session; tutors and admins may read it; anybody else gets 404 (not 403: a session
 * id must not reveal that it exists). */
#include "services/sessions/internal.h"
#include "services/sessions/sessions.h"

#include "cache/ratelimit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "http/server.h"
#include "http/problem.h"
#include "services/app.h"
#include "services/billing/billing.h"
#include "services/content/content.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TURN_TEXT_MAX 2000

static void not_found(http_req *req, http_res *res)
{
    http_res_problem(req, res, 404, "No session with this id.", NULL);
}

static void conflict(http_req *req, http_res *res, const char *detail)
{
    http_res_problem_full(req, res, 409, "wrong-state", "Wrong Session State", detail, NULL);
}

static json_t *text_or_null(const db_rows *r, size_t i)
{
    const char *v = db_col_text(r, i);
    return v ? json_string(v) : json_null();
}

#define SESSION_VIEW_COLUMNS                                                                   \
    "s.id, s.scenario_id, s.scenario_version, s.mode, s.status, s.prep_ends_at, s.started_at, " \
    "s.ends_at, s.completed_at, s.abandoned_at, s.created_at, v.title, v.profession, "         \
    "v.difficulty, s.user_id, s.patient_engine"

static json_t *session_view_row(const db_rows *r)
{
    return json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}, "
                     "s:o}",
                     "id", text_or_null(r, 0), "scenario_id", text_or_null(r, 1),
                     "scenario_version", (json_int_t)db_col_int(r, 2), "mode", text_or_null(r, 3),
                     "status", text_or_null(r, 4), "prep_ends_at", text_or_null(r, 5),
                     "started_at", text_or_null(r, 6), "ends_at", text_or_null(r, 7),
                     "completed_at", text_or_null(r, 8), "abandoned_at", text_or_null(r, 9),
                     "created_at", text_or_null(r, 10), "scenario", "title", text_or_null(r, 11),
                     "profession", text_or_null(r, 12), "difficulty", text_or_null(r, 13),
                     "patient_engine", text_or_null(r, 15));
}

static json_t *turn_json(long long n, const char *speaker, const char *text, int64_t t_ms)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:n}", "n", (json_int_t)n, "speaker", speaker, "text",
                     text, "t_ms", (json_int_t)t_ms, "audio_url");
}

/* The session with its transcript; NULL + *found 0 when absent or not visible to the caller. */
static json_t *session_view(http_req *req, db_conn *c, const char *id, int *found, int *dberr)
{
    *found = 0;
    *dberr = 0;
    const db_param p[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT " SESSION_VIEW_COLUMNS " FROM sessions s JOIN scenario_versions v ON "
                 "v.scenario_id = s.scenario_id AND v.version = s.scenario_version WHERE s.id = $1",
                 p, 1, &r) != DB_OK) {
        *dberr = 1;
        return NULL;
    }
    json_t *view = NULL;
    if (db_rows_next(r) == 1 &&
        (strcmp(db_col_text(r, 14), req->user_id) == 0 || (req->role & AUTH_STAFF)))
        view = session_view_row(r);
    db_rows_free(r);
    if (!view)
        return NULL;
    *found = 1;
    json_t *turns = json_array();
    if (db_query(c,
                 "SELECT n, speaker, text, t_ms, input, duration_ms, words, audio_key, "
                 "CASE WHEN interrupted THEN 1 ELSE 0 END, played_ms "
                 "FROM turns WHERE session_id = $1 ORDER BY n",
                 p, 1, &r) != DB_OK) {
        *dberr = 1;
        json_decref(turns);
        json_decref(view);
        return NULL;
    }
    while (db_rows_next(r) == 1) {
        long long n = db_col_int(r, 0);
        const char *speaker = db_col_text(r, 1);
        json_t *t = turn_json(n, speaker, db_col_text(r, 2), db_col_int(r, 3));
        json_object_set_new(t, "input", text_or_null(r, 4));
        json_object_set_new(t, "duration_ms", db_col_is_null(r, 5)
                                                  ? json_null()
                                                  : json_integer(db_col_int(r, 5)));
        const char *words = db_col_text(r, 6);
        json_error_t e;
        json_t *w = words ? json_loads(words, 0, &e) : NULL;
        json_object_set_new(t, "words", w ? w : json_null());
        /* Patient speech is synthesised on request; a candidate's recording exists for voice
         * turns. */
        if (strcmp(speaker, "patient") == 0 || !db_col_is_null(r, 7))
            json_object_set_new(t, "audio_url",
                                json_string(arena_printf(req->pool,
                                                         "/v1/sessions/%s/turns/%lld/audio", id,
                                                         n)));
        if (strcmp(speaker, "patient") == 0) {
            json_object_set_new(t, "interrupted", json_boolean(db_col_int(r, 8) != 0));
            json_object_set_new(t, "played_ms", db_col_is_null(r, 9)
                                                    ? json_null()
                                                    : json_integer(db_col_int(r, 9)));
        }
        json_array_append_new(turns, t);
    }
    db_rows_free(r);
    json_object_set_new(view, "turns", turns);
    return view;
}

static void answer_view(http_req *req, http_res *res, db_conn *c, const char *id, int status)
{
    int found, dberr;
    json_t *v = session_view(req, c, id, &found, &dberr);
    if (v)
        http_res_json(req, res, status, v);
    else if (dberr)
        service_db_failed(req, res, c, "sessions: read session");
    else
        not_found(req, res);
}

/* 402 naming the plan, its limit, when it resets and where to upgrade. */
static void quota_exceeded(http_req *req, http_res *res, const entitlement *e)
{
    char detail[256];
    snprintf(detail, sizeof(detail),
             "Your %s plan includes %lld practice sessions per period and you have used them; "
             "they renew on %.10s. Upgrade for more.",
             e->plan, e->sessions_limit, e->period_end);
    json_t *p = problem_new(402, "quota-exceeded", "Plan Limit Reached", detail, NULL);
    json_object_set_new(p, "plan", json_string(e->plan));
    json_object_set_new(p, "limit", json_integer(e->sessions_limit));
    json_object_set_new(p, "used", json_integer(e->sessions_used));
    json_object_set_new(p, "resets_at", json_string(e->period_end));
    json_object_set_new(p, "upgrade", json_string("/v1/billing/checkout"));
    http_res_problem_body(req, res, p);
}

/* 402: the plan has no voice sessions. */
static void voice_not_included(http_req *req, http_res *res, const entitlement *e)
{
    char detail[200];
    snprintf(detail, sizeof(detail),
             "Your %s plan includes text sessions only. Upgrade to practise by voice.", e->plan);
    json_t *p = problem_new(402, "voice-not-included", "Plan Limit Reached", detail, NULL);
    json_object_set_new(p, "plan", json_string(e->plan));
    json_object_set_new(p, "upgrade", json_string("/v1/billing/checkout"));
    http_res_problem_body(req, res, p);
}

/* ---- create ----------------------------------------------------------------------------- */

static const json_field_spec create_spec[] = {
    {.name = "scenario_id", .type = JF_STRING, .required = 1, .max_len = 36},
    {.name = "mode", .type = JF_STRING, .required = 1},
};

static void session_create(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    json_t *card = NULL;
    db_conn *c = NULL;
    json_validate(body, create_spec, ARRAY_LEN(create_spec), 1, errors);
    const char *sid = json_string_value(json_object_get(body, "scenario_id"));
    const char *mode = json_string_value(json_object_get(body, "mode"));
    if (sid && !id_is_uuid(sid, strlen(sid)))
        json_errors_add(errors, "scenario_id", "must be a scenario id (UUID)");
    if (mode && strcmp(mode, "text") != 0 && strcmp(mode, "voice") != 0)
        json_errors_add(errors, "mode", "must be text or voice");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    char lower[UUID_STR_LEN];
    for (size_t i = 0; i < UUID_STR_LEN; i++)
        lower[i] = (sid[i] >= 'A' && sid[i] <= 'F') ? (char)(sid[i] - 'A' + 'a') : sid[i];
    long long version = 0;
    int rc = content_published_card(c, lower, &version, &card);
    if (rc == 1) {
        json_errors_add(errors, "scenario_id", "no published scenario has this id");
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    if (rc != DB_OK) {
        service_db_failed(req, res, c, "sessions: load scenario");
        goto out;
    }
    patient_context ctx;
    long long seed = (long long)(randombytes_random() & 0x7fffffff);
    patient_ctx_for(&ctx, card, seed);
    json_t *state = patient_state_new(&ctx);
    char *state_text = state ? json_dumps(state, JSON_COMPACT) : NULL;
    json_decref(state);
    char id[UUID_STR_LEN], now[RFC3339_LEN], prep_end[RFC3339_LEN];
    id_uuid7(id);
    int64_t t = time_now_ms();
    time_format_rfc3339(t, now);
    app *a = req->app;
    long long prep = json_integer_value(json_object_get(card, "prep_seconds"));
    time_format_rfc3339(t + (int64_t)((double)prep * 1000.0 * a->cfg->session_time_scale),
                        prep_end);
    /* The LLM patient is a premium feature, and needs a model to talk to. */
    char engine[12] = "scripted";
    const db_param p[] = {DB_TEXT(id),    DB_TEXT(req->user_id), DB_TEXT(lower), DB_INT(version),
                          DB_TEXT(mode),  DB_INT(seed),          DB_TEXT(prep_end),
                          DB_TEXT(now),   DB_TEXT(state_text),   DB_TEXT(engine)};
    /* The quota check, the session and its usage event commit together, with the user locked
     * (SQLite: single writer; PostgreSQL: row lock): two requests cannot both take the last
     * session of the period. */
    entitlement ent;
    rc = db_begin(c);
    if (rc == DB_OK)
        rc = billing_lock_user(c, req->user_id);
    if (rc == DB_OK)
        rc = billing_entitlement(c, req->user_id, &ent);
    if (rc == DB_OK && strcmp(mode, "voice") == 0 && !ent.voice) {
        db_rollback(c);
        free(state_text);
        voice_not_included(req, res, &ent);
        goto out;
    }
    if (rc == DB_OK && ent.sessions_limit >= 0 && ent.sessions_used >= ent.sessions_limit) {
        db_rollback(c);
        free(state_text);
        quota_exceeded(req, res, &ent);
        goto out;
    }
    if (rc == DB_OK && ent.llm && a->cfg->llm_base_url)
        snprintf(engine, sizeof(engine), "llm");
    if (rc == DB_OK)
        rc = db_exec(c,
                     "INSERT INTO sessions (id, user_id, scenario_id, scenario_version, mode, "
                     "status, seed, prep_ends_at, last_activity_at, created_at, updated_at, "
                     "patient_state, patient_engine) VALUES ($1, $2, $3, $4, $5, 'preparing', "
                     "$6, $7, $8, $8, $8, $9, $10)",
                     p, ARRAY_LEN(p), NULL);
    if (rc == DB_OK)
        rc = billing_record_session(c, req->user_id, id);
    if (rc == DB_OK)
        rc = db_commit(c);
    free(state_text);
    if (rc != DB_OK) {
        db_rollback(c);
        service_db_failed(req, res, c, "sessions: create session");
        goto out;
    }
    http_res_header(req, res, "Location", arena_printf(req->pool, "/v1/sessions/%s", id));
    answer_view(req, res, c, id, 201);
out:
    if (c)
        db_release(c);
    json_decref(card);
    json_decref(errors);
    json_decref(body);
}

/* ---- start ------------------------------------------------------------------------------ */

/* Answers for a turn that was not taken. */
static void turn_refused(http_req *req, http_res *res, db_conn *c, int rc, const char *status)
{
    switch (rc) {
    case TURN_NOT_FOUND:
        not_found(req, res);
        break;
    case TURN_WRONG_STATE:
        conflict(req, res,
                 strcmp(status, "preparing") == 0 ? "The role-play has not started yet."
                                                  : "This session has already ended.");
        break;
    case TURN_TIME_UP:
        conflict(req, res, "The role-play time is over; the session has ended.");
        break;
    case TURN_BUSY:
        conflict(req, res, "Another turn of this session is being processed; try again.");
        break;
    case TURN_UNAVAILABLE:
        http_res_header(req, res, "Retry-After", "5");
        http_res_problem(req, res, 503, "The database is unavailable; please try again.", NULL);
        break;
    case TURN_ENGINE_ERROR:
        http_res_problem(req, res, 500, "The patient could not answer; please try again.",
                         NULL);
        break;
    default:
        service_db_failed(req, res, c, "sessions: take turn");
    }
}

static void session_start(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    turn_outcome o;
    char status[16];
    const char *id = http_req_param(req, "id");
    int rc = session_begin(req->app, c, id, req->user_id, &o, status);
    patient_reply_free(&o.reply);
    if (rc == TURN_OK)
        answer_view(req, res, c, id, 200);
    else if (rc == TURN_WRONG_STATE)
        conflict(req, res,
                 strcmp(status, "active") == 0 ? "The role-play has already started."
                                               : "This session has already ended.");
    else
        turn_refused(req, res, c, rc, status);
    db_release(c);
}

/* ---- turns -------------------------------------------------------------------------------- */

static const json_field_spec turn_spec[] = {
    {.name = "text", .type = JF_STRING, .required = 1, .max_len = TURN_TEXT_MAX},
};

static json_t *outcome_json(http_req *req, const turn_outcome *o, json_t *candidate)
{
    json_t *patient = turn_json(o->n + 1, "patient", o->reply.text, o->t_ms);
    json_object_set_new(patient, "audio_url",
                        json_string(arena_printf(req->pool, "/v1/sessions/%s/turns/%lld/audio",
                                                 http_req_param(req, "id"), o->n + 1)));
    return json_pack("{s:o, s:o, s:s}", "candidate_turn", candidate, "patient_turn", patient,
                     "status", o->completed ? "completed" : "active");
}

static void session_turn(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    db_conn *c = NULL;
    turn_outcome o;
    memset(&o, 0, sizeof(o));
    json_validate(body, turn_spec, ARRAY_LEN(turn_spec), 1, errors);
    const char *text = json_string_value(json_object_get(body, "text"));
    if (text && !*text)
        json_errors_add(errors, "text", "must not be empty");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    char status[16];
    turn_input in = {.text = text};
    int rc = session_take_turn(req->app, http_req_param(req, "id"), req->user_id, &in, NULL,
                               NULL, &o, status);
    if (rc != TURN_OK) {
        turn_refused(req, res, c, rc, status);
        goto out;
    }
    http_res_json(req, res, 200,
                  outcome_json(req, &o, turn_json(o.n, "candidate", text, o.t_ms)));
    metrics_observe(sessions_turn_latency(), (const char *const[]){"text"},
                    (double)(time_mono_ns() - req->start_ns) / 1e9);
out:
    patient_reply_free(&o.reply);
    if (c)
        db_release(c);
    json_decref(errors);
    json_decref(body);
}

/* ---- end, read, list ---------------------------------------------------------------------- */

static void session_end(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    turn_outcome o;
    char status[16];
    const char *id = http_req_param(req, "id");
    int rc = session_finish(req->app, c, id, req->user_id, &o, status);
    patient_reply_free(&o.reply);
    if (rc == TURN_OK)
        answer_view(req, res, c, id, 200);
    else
        turn_refused(req, res, c, rc, status);
    db_release(c);
}

/* 202 {status:"pending"} while the scorer runs, then 200 with the report. */
static void session_feedback(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(http_req_param(req, "id"))};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT s.user_id, s.status, f.status, f.report FROM sessions s LEFT JOIN "
                 "feedback_reports f ON f.session_id = s.id WHERE s.id = $1",
                 p, 1, &r) != DB_OK) {
        service_db_failed(req, res, c, "sessions: feedback");
        db_release(c);
        return;
    }
    int step = db_rows_next(r);
    if (step != 1 || (strcmp(db_col_text(r, 0), req->user_id) != 0 && !(req->role & AUTH_STAFF))) {
        db_rows_free(r);
        db_release(c);
        not_found(req, res);
        return;
    }
    const char *fstatus = db_col_text(r, 2);
    if (!fstatus) {
        conflict(req, res, strcmp(db_col_text(r, 1), "abandoned") == 0
                               ? "This session was abandoned; there is no feedback for it."
                               : "Feedback comes after the role-play has ended.");
    } else if (strcmp(fstatus, "ready") == 0) {
        const char *report = db_col_text(r, 3);
        http_res_bytes(req, res, 200, "application/json", report, strlen(report));
    } else if (strcmp(fstatus, "failed") == 0) {
        http_res_problem(req, res, 500, "Scoring this session failed; we have been told.", NULL);
    } else {
        http_res_header(req, res, "Retry-After", "1");
        http_res_json(req, res, 202, json_pack("{s:s}", "status", "pending"));
    }
    db_rows_free(r);
    db_release(c);
}

static void session_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    answer_view(req, res, c, http_req_param(req, "id"), 200);
    db_release(c);
}

static void session_list(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    const char *status = http_req_query(req, "status");
    if (status && *status && strcmp(status, "preparing") != 0 && strcmp(status, "active") != 0 &&
        strcmp(status, "completed") != 0 && strcmp(status, "abandoned") != 0) {
        json_t *errors = json_array();
        json_errors_add(errors, "status", "must be preparing, active, completed or abandoned");
        http_res_problem(req, res, 422, "Invalid filters.", errors);
        json_decref(errors);
        return;
    }
    if (status && !*status)
        status = NULL;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(req->user_id), DB_TEXT(status), DB_INT(per_page),
                          DB_INT((long long)(page - 1) * per_page)};
    db_rows *r = NULL;
    long long total = -1;
    if (db_query(c,
                 "SELECT count(*) FROM sessions s WHERE s.user_id = $1 AND "
                 "(s.status = $2 OR $2 IS NULL)",
                 p, 2, &r) == DB_OK &&
        db_rows_next(r) == 1)
        total = db_col_int(r, 0);
    db_rows_free(r);
    r = NULL;
    if (total < 0 ||
        db_query(c,
                 "SELECT " SESSION_VIEW_COLUMNS " FROM sessions s JOIN scenario_versions v ON "
                 "v.scenario_id = s.scenario_id AND v.version = s.scenario_version WHERE "
                 "s.user_id = $1 AND (s.status = $2 OR $2 IS NULL) ORDER BY s.created_at DESC, "
                 "s.id DESC LIMIT $3 OFFSET $4",
                 p, 4, &r) != DB_OK) {
        service_db_failed(req, res, c, "sessions: list sessions");
        db_release(c);
        return;
    }
    json_t *items = json_array();
    while (db_rows_next(r) == 1)
        json_array_append_new(items, session_view_row(r));
    db_rows_free(r);
    db_release(c);
    http_res_json(req, res, 200, http_list_body(items, page, per_page, total));
}

static const rate_rule turn_limits[] = {
    {.name = "turn-user", .limit = 60, .window_s = 60, .key = RL_KEY_USER},
    {.name = NULL},
};
static const rate_rule create_limits[] = {
    {.name = "session-create-user", .limit = 20, .window_s = 3600, .key = RL_KEY_USER},
    {.name = NULL},
};

static const int c_create[] = {201, 400, 401, 402, 403, 415, 422, 429, 0};
static const int c_state[] = {200, 401, 403, 404, 409, 0};
static const int c_turn[] = {200, 400, 401, 403, 404, 409, 415, 422, 429, 0};
static const int c_get[] = {200, 401, 403, 404, 0};
static const int c_list[] = {200, 401, 403, 422, 0};
static const int c_feedback[] = {200, 202, 401, 403, 404, 409, 0};

static const route_def session_routes[] = {
    {.method = HTTP_POST, .path = "/v1/sessions", .handler = session_create,
     .service = "sessions", .tag = "sessions", .body = BODY_JSON, .responses = c_create,
     .auth = AUTH_USER, .rate_limits = create_limits,
     .summary = "Start preparing a role-play on a published scenario (mode text or voice)"},
    {.method = HTTP_GET, .path = "/v1/sessions", .handler = session_list, .service = "sessions",
     .tag = "sessions", .responses = c_list, .auth = AUTH_USER,
     .summary = "The caller's sessions (?status=, ?page=, ?per_page=)"},
    {.method = HTTP_GET, .path = "/v1/sessions/{id:uuid}", .handler = session_get,
     .service = "sessions", .tag = "sessions", .responses = c_get, .auth = AUTH_USER,
     .summary = "A session with its transcript"},
    {.method = HTTP_POST, .path = "/v1/sessions/{id:uuid}/start", .handler = session_start,
     .service = "sessions", .tag = "sessions", .responses = c_state, .auth = AUTH_USER,
     .summary = "End preparation: the role-play clock starts and the patient speaks first"},
    {.method = HTTP_POST, .path = "/v1/sessions/{id:uuid}/turns", .handler = session_turn,
     .service = "sessions", .tag = "sessions", .body = BODY_JSON, .responses = c_turn,
     .auth = AUTH_USER, .rate_limits = turn_limits,
     .summary = "Say something to the patient (text); returns both turns"},
    {.method = HTTP_POST, .path = "/v1/sessions/{id:uuid}/end", .handler = session_end,
     .service = "sessions", .tag = "sessions", .responses = c_state, .auth = AUTH_USER,
     .summary = "End the role-play now; the patient closes the scene"},
    {.method = HTTP_GET, .path = "/v1/sessions/{id:uuid}/feedback", .handler = session_feedback,
     .service = "sessions", .tag = "sessions", .responses = c_feedback, .auth = AUTH_USER,
     .summary = "The feedback report: 202 {status: pending} while scoring, then 200"},
};

int sessions_register_routes(router *r)
{
    if (ROUTER_ADD_TABLE(r, session_routes) != 0 || sessions_register_voice_routes(r) != 0)
        return -1;
    return sessions_register_progress_routes(r);
}
