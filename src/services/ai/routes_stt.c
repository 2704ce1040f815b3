/* POST /v1/ai/stt: speech recognition exposed to staff (checking a card's language model, or
 * the recogniser itself): an uploaded recording in, words with times and confidences out. */
#include "services/ai/ai.h"

#include "audio/audio.h"
#include "core/ids.h"
#include "core/json.h"
#include "http/server.h"
#include "services/app.h"
#include "services/content/content.h"
#include "speech/stt.h"

#include <string.h>

#define STT_UPLOAD_MAX_MS 60000

static void ai_stt(http_req *req, http_res *res)
{
    app *a = req->app;
    if (!a->stt) {
        http_res_header(req, res, "Retry-After", "30");
        http_res_problem(req, res, 503, "Speech recognition is not available on this server.",
                         NULL);
        return;
    }
    /* ?scenario_id= recognises with that card's language model (its published version). */
    const char *sid = http_req_query(req, "scenario_id");
    json_t *card = NULL;
    char key[AI_DOMAIN_KEY_LEN] = "";
    if (sid) {
        db_conn *c = service_db_acquire(req, res);
        if (!c)
            return;
        long long version = 0;
        int rc = id_is_uuid(sid, strlen(sid)) ? content_published_card(c, sid, &version, &card)
                                              : 1;
        if (rc == DB_OK)
            ai_domain_key(sid, version, key);
        else if (rc != 1)
            service_db_failed(req, res, c, "ai: load scenario");
        db_release(c);
        if (rc == 1) {
            json_t *errors = json_array();
            json_errors_add(errors, "scenario_id", "no published scenario has this id");
            http_res_problem(req, res, 422, "Some fields are invalid.", errors);
            json_decref(errors);
        }
        if (rc != DB_OK)
            return;
    }
    pcm p = {0};
    char why[200] = "";
    audio_status st = audio_decode(req->body.ptr, req->body.len, STT_UPLOAD_MAX_MS, &p, why,
                                   sizeof(why));
    if (st != AUDIO_OK) {
        service_audio_refused(req, res, st, why);
        json_decref(card);
        return;
    }
    stt_result r;
    memset(&r, 0, sizeof(r));
    if (stt_transcribe(a->stt, key[0] ? key : NULL, card, p.s, p.n, &r) != 0) {
        http_res_header(req, res, "Retry-After", "5");
        http_res_problem(req, res, 503, "Speech recognition is busy or failed; try again.", NULL);
    } else {
        http_res_json(req, res, 200,
                      json_pack("{s:s, s:o, s:f, s:f, s:o}", "text", r.text ? r.text : "",
                                "words", stt_words_json(&r), "duration_s",
                                (double)p.n / AUDIO_RATE, "rtf", r.rtf, "language_model",
                                key[0] ? json_string(key) : json_string("generic")));
    }
    stt_result_free(&r);
    pcm_free(&p);
    json_decref(card);
}

static const int c_stt[] = {200, 401, 403, 413, 415, 422, 503, 0};

static const route_def stt_routes[] = {
    {.method = HTTP_POST, .path = "/v1/ai/stt", .handler = ai_stt, .service = "ai", .tag = "ai",
     .body = BODY_AUDIO, .responses = c_stt, .auth = AUTH_STAFF,
     .summary = "Recognise a WAV/FLAC/Ogg recording (?scenario_id= uses that card's language "
                "model): {text, words[{w, start, end, conf}], duration_s, rtf}"},
};

int ai_register_stt_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, stt_routes);
}
