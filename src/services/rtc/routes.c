/* POST /v1/rtc/token: the LiveKit room of one of the caller's sessions, with a token to join
 * it. Another user's session is a 404, as everywhere; an ended session has no room (409). */
#include "services/rtc/rtc.h"

#include "cache/ratelimit.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "http/server.h"
#include "services/app.h"
#include "services/sessions/sessions.h"
#include "services/users/users.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *rtc_livekit_token(const char *api_key, const char *api_secret, const char *identity,
                        const char *name, const char *room, int64_t now_s, int ttl_s)
{
    if (!api_key || !api_secret || !*api_secret || !identity || !room)
        return NULL;
    /* LiveKit's claim names (docs.livekit.io, "Tokens & grants"): the grant is "video". */
    json_t *grant = json_pack("{s:{s:s, s:b, s:b, s:b, s:b}}", "video", "room", room, "roomJoin", 1,
                              "canPublish", 1, "canSubscribe", 1, "canPublishData", 1);
    char *grant_text = grant ? json_dumps(grant, JSON_COMPACT) : NULL;
    json_decref(grant);
    char *token = NULL;
    jwt_t *j = NULL;
    int rc = grant_text ? jwt_new(&j) : -1;
    if (rc == 0)
        rc = jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)api_secret,
                         (int)strlen(api_secret));
    if (rc == 0)
        rc = jwt_add_grant(j, "iss", api_key);
    if (rc == 0)
        rc = jwt_add_grant(j, "sub", identity);
    if (rc == 0 && name && *name)
        rc = jwt_add_grant(j, "name", name);
    if (rc == 0)
        rc = jwt_add_grant_int(j, "nbf", (long)now_s);
    if (rc == 0)
        rc = jwt_add_grant_int(j, "iat", (long)now_s);
    if (rc == 0)
        rc = jwt_add_grant_int(j, "exp", (long)(now_s + ttl_s));
    if (rc == 0)
        rc = jwt_add_grants_json(j, grant_text);
    if (rc == 0)
        token = jwt_encode_str(j);
    jwt_free(j);
    free(grant_text);
    return token;
}

static const json_field_spec token_spec[] = {
    {.name = "session_id", .type = JF_STRING, .required = 1, .max_len = 36},
};

static void rtc_token(http_req *req, http_res *res)
{
    app *a = req->app;
    const config *cfg = a->cfg;
    if (!cfg->livekit_url || !cfg->livekit_api_key || !cfg->livekit_api_secret) {
        http_res_problem_full(req, res, 503, "rtc-unavailable", "Real-Time Media Unavailable",
                              "Voice rooms are not configured on this server.", NULL);
        return;
    }
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    char *token = NULL;
    db_conn *c = NULL;
    json_validate(body, token_spec, ARRAY_LEN(token_spec), 1, errors);
    const char *sid = json_string_value(json_object_get(body, "session_id"));
    if (sid && !id_is_uuid(sid, strlen(sid)))
        json_errors_add(errors, "session_id", "must be a session id (UUID)");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    c = service_db_acquire(req, res);
    if (!c)
        goto out;
    char status[16];
    int rc = sessions_lookup(c, sid, req->user_id, status);
    if (rc < 0) {
        service_db_failed(req, res, c, "rtc: look the session up");
        goto out;
    }
    if (rc == 0) {
        http_res_problem(req, res, 404, "No session with this id.", NULL);
        goto out;
    }
    if (strcmp(status, "completed") == 0 || strcmp(status, "abandoned") == 0) {
        http_res_problem_full(req, res, 409, "wrong-state", "Wrong Session State",
                              "This session has already ended.", NULL);
        goto out;
    }
    char name[256], email[320];
    if (users_contact(c, req->user_id, email, sizeof(email), name, sizeof(name)) < 0) {
        service_db_failed(req, res, c, "rtc: read the user's name");
        goto out;
    }
    char room[64];
    snprintf(room, sizeof(room), "session-%s", sid);
    token = rtc_livekit_token(cfg->livekit_api_key, cfg->livekit_api_secret, req->user_id, name,
                              room, (int64_t)time(NULL), RTC_TOKEN_TTL_S);
    if (!token) {
        log_error("rtc: the LiveKit token could not be signed (request %s)",
                  req->request_id ? req->request_id : "-");
        http_res_problem(req, res, 500, "Something went wrong on our side; please try again.",
                         NULL);
        goto out;
    }
    http_res_json(
        req, res, 200,
        json_pack("{s:s, s:s, s:s}", "url", cfg->livekit_url, "room", room, "token", token));
out:
    if (c)
        db_release(c);
    free(token);
    json_decref(errors);
    json_decref(body);
}

static const rate_rule token_limits[] = {
    {.name = "rtc-token-user", .limit = 60, .window_s = 600, .key = RL_KEY_USER},
    {.name = NULL},
};

static const int c_token[] = {200, 400, 401, 403, 404, 409, 415, 422, 429, 503, 0};

static const route_def rtc_routes[] = {
    {.method = HTTP_POST,
     .path = "/v1/rtc/token",
     .handler = rtc_token,
     .service = "rtc",
     .tag = "rtc",
     .body = BODY_JSON,
     .responses = c_token,
     .auth = AUTH_USER,
     .rate_limits = token_limits,
     .summary = "Join the LiveKit room of one of your sessions ({session_id} → {url, room, "
                "token})"},
};

int rtc_register_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, rtc_routes);
}
