/* POST /v1/ai/score: scores a posted transcript against a published scenario (tutors and
 * admins), exactly as a finished session is scored. */
#include "services/ai/ai.h"
#include "services/ai/scorer.h"

#include "core/ids.h"
#include "core/json.h"
#include "http/server.h"
#include "services/app.h"
#include "services/content/content.h"

#include <string.h>

static const json_field_spec score_spec[] = {
    {.name = "scenario_id", .type = JF_STRING, .required = 1, .max_len = 36},
    {.name = "mode", .type = JF_STRING},
    {.name = "turns", .type = JF_ARRAY, .required = 1, .min_len = 1, .max_len = 2000},
};

static void ai_score(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    json_t *card = NULL, *scenario = NULL, *report = NULL;
    db_conn *c = NULL;
    json_validate(body, score_spec, ARRAY_LEN(score_spec), 1, errors);
    const char *sid = json_string_value(json_object_get(body, "scenario_id"));
    const char *mode = json_string_value(json_object_get(body, "mode"));
    if (!mode)
        mode = "text";
    if (sid && !id_is_uuid(sid, strlen(sid)))
        json_errors_add(errors, "scenario_id", "must be a scenario id (UUID)");
    if (strcmp(mode, "text") != 0 && strcmp(mode, "voice") != 0)
        json_errors_add(errors, "mode", "must be text or voice");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    long long version = 0;
    int rc = content_published_card(c, sid, &version, &card);
    if (rc == 1) {
        json_errors_add(errors, "scenario_id", "no published scenario has this id");
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    if (rc != DB_OK) {
        service_db_failed(req, res, c, "ai: load scenario");
        goto out;
    }
    scenario = json_pack("{s:O, s:O, s:O, s:O, s:O}", "title", json_object_get(card, "title"),
                         "profession", json_object_get(card, "profession"), "difficulty",
                         json_object_get(card, "difficulty"), "candidate_card",
                         json_object_get(card, "candidate_card"), "patient_card",
                         json_object_get(card, "patient_card"));
    char err[256] = "";
    scorer_input in = {.scenario = scenario,
                       .turns = json_object_get(body, "turns"),
                       .mode = mode,
                       .session_id = NULL};
    report = scenario ? scorer_score(&in, err, sizeof(err)) : NULL;
    if (!report) {
        json_errors_add(errors, "turns", err[0] ? err : "is not a transcript the scorer can read");
        http_res_problem(req, res, 422, "The transcript cannot be scored.", errors);
        goto out;
    }
    http_res_json(req, res, 200, report);
    report = NULL;
out:
    if (c)
        db_release(c);
    json_decref(report);
    json_decref(scenario);
    json_decref(card);
    json_decref(errors);
    json_decref(body);
}

static const int c_score[] = {200, 400, 401, 403, 415, 422, 0};

static const route_def ai_routes[] = {
    {.method = HTTP_POST, .path = "/v1/ai/score", .handler = ai_score, .service = "ai",
     .tag = "ai", .body = BODY_JSON, .responses = c_score, .auth = AUTH_STAFF,
     .summary = "Score a transcript ({scenario_id, mode, turns[]}) as a session would be"},
};

int ai_register_routes(router *r)
{
    if (ROUTER_ADD_TABLE(r, ai_routes) != 0 || ai_register_stt_routes(r) != 0)
        return -1;
    return ai_register_tts_routes(r);
}
