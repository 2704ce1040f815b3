/* The voice surface of /v1/sessions: an uploaded utterance as a turn (POST …/audio), a turn's
 * audio (GET …/turns/{n}/audio: the patient's speech, or the candidate's own recording) and
 * the real-time stream (GET …/stream, in stream.c). */
#include "services/sessions/internal.h"
#include "services/sessions/sessions.h"
#include "services/sessions/stream.h"

#include "audio/audio.h"
#include "cache/ratelimit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "http/problem.h"
#include "http/server.h"
#include "services/ai/ai.h"
#include "services/app.h"
#include "services/content/content.h"
#include "speech/stt.h"
#include "speech/tts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPLOAD_MAX_MS 60000

static void not_found(http_req *req, http_res *res, const char *detail)
{
    http_res_problem(req, res, 404, detail, NULL);
}

static void unavailable(http_req *req, http_res *res, const char *detail)
{
    http_res_header(req, res, "Retry-After", "5");
    http_res_problem(req, res, 503, detail, NULL);
}

/* Loads the caller's session (others: 404) and its card. 1 ready, 0 answered. */
static int load_mine(http_req *req, http_res *res, db_conn *c, session_row *row, json_t **card)
{
    *card = NULL;
    int rc = session_load(c, http_req_param(req, "id"), row);
    json_decref(row->patient_state);
    row->patient_state = NULL;
    if (rc < 0) {
        service_db_failed(req, res, c, "sessions: load session");
        return 0;
    }
    if (rc == 0 || strcmp(row->user_id, req->user_id) != 0) {
        not_found(req, res, "No session with this id.");
        return 0;
    }
    if (content_version_card(c, row->scenario_id, row->version, card) != DB_OK) {
        service_db_failed(req, res, c, "sessions: load card");
        return 0;
    }
    return 1;
}

static void session_audio(http_req *req, http_res *res)
{
    app *a = req->app;
    if (!a->stt) {
        unavailable(req, res, "Speech recognition is not available on this server.");
        return;
    }
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    session_row row;
    json_t *card = NULL;
    pcm p = {0};
    stt_result r;
    memset(&r, 0, sizeof(r));
    turn_outcome o;
    memset(&o, 0, sizeof(o));
    json_t *words = NULL;
    if (!load_mine(req, res, c, &row, &card))
        goto out;
    if (strcmp(row.mode, "voice") != 0) {
        http_res_problem_full(req, res, 409, "wrong-state", "Wrong Session State",
                              "This is a text session: send turns as text.", NULL);
        goto out;
    }
    if (strcmp(row.status, "active") != 0) {
        http_res_problem_full(req, res, 409, "wrong-state", "Wrong Session State",
                              strcmp(row.status, "preparing") == 0
                                  ? "The role-play has not started yet."
                                  : "This session has already ended.",
                              NULL);
        goto out;
    }
    /* Decoding and recognition take a while: no connection is held meanwhile. */
    db_release(c);
    c = NULL;
    char why[200];
    audio_status st = audio_decode(req->body.ptr, req->body.len, UPLOAD_MAX_MS, &p, why,
                                   sizeof(why));
    if (st != AUDIO_OK) {
        service_audio_refused(req, res, st, why);
        goto out;
    }
    char domain[AI_DOMAIN_KEY_LEN];
    ai_domain_key(row.scenario_id, row.version, domain);
    if (stt_transcribe(a->stt, domain, card, p.s, p.n, &r) != 0) {
        unavailable(req, res, "Speech recognition is busy or failed; please try again.");
        goto out;
    }
    if (!r.text || !*r.text) {
        service_audio_refused(req, res, AUDIO_E_SILENT,
                              "No words were recognised in the recording.");
        goto out;
    }
    char key[BLOB_KEY_LEN] = "";
    if (session_recording_store(a, req->user_id, p.s, p.n, key) != 0) {
        log_msg(LOG_WARN, "sessions: recording of %s not stored", row.id);
        key[0] = '\0';
    }
    words = stt_words_json(&r);
    turn_voice v = {.words = words, .duration_ms = (int)(p.n * 1000 / AUDIO_RATE),
                    .audio_key = key[0] ? key : NULL};
    turn_input in = {.text = r.text, .voice = &v};
    char status[16];
    int rc = session_take_turn(a, row.id, req->user_id, &in, NULL, NULL, &o, status);
    if (rc == TURN_WRONG_STATE || rc == TURN_TIME_UP || rc == TURN_BUSY) {
        http_res_problem_full(req, res, 409, "wrong-state", "Wrong Session State",
                              rc == TURN_TIME_UP ? "The role-play time is over; the session has "
                                                   "ended."
                              : rc == TURN_BUSY  ? "Another turn of this session is being "
                                                   "processed; try again."
                                                 : "This session is not active.",
                              NULL);
        goto out;
    }
    if (rc == TURN_UNAVAILABLE) {
        unavailable(req, res, "The database is unavailable; please try again.");
        goto out;
    }
    if (rc != TURN_OK) {
        service_db_failed(req, res, c, "sessions: voice turn");
        goto out;
    }
    const char *base = arena_printf(req->pool, "/v1/sessions/%s/turns", row.id);
    json_t *cand = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:O, s:o}", "n", (json_int_t)o.n,
                             "speaker", "candidate", "input", "voice", "text", r.text, "t_ms",
                             (json_int_t)o.t_ms, "duration_ms", (json_int_t)v.duration_ms,
                             "words", words, "audio_url",
                             key[0] ? json_string(arena_printf(req->pool, "%s/%lld/audio", base,
                                                               o.n))
                                    : json_null());
    json_t *pat = json_pack("{s:I, s:s, s:s, s:I, s:s}", "n", (json_int_t)(o.n + 1), "speaker",
                            "patient", "text", o.reply.text, "t_ms",
                            (json_int_t)(o.t_ms + v.duration_ms), "audio_url",
                            arena_printf(req->pool, "%s/%lld/audio", base, o.n + 1));
    http_res_json(req, res, 200,
                  json_pack("{s:o, s:o, s:s, s:f}", "candidate_turn", cand, "patient_turn", pat,
                            "status", o.completed ? "completed" : "active", "rtf", r.rtf));
    metrics_observe(sessions_turn_latency(), (const char *const[]){"upload"},
                    (double)(time_mono_ns() - req->start_ns) / 1e9);
out:
    json_decref(words);
    patient_reply_free(&o.reply);
    stt_result_free(&r);
    pcm_free(&p);
    json_decref(card);
    if (c)
        db_release(c);
}

/* A turn's audio as 16 kHz WAV: the patient's line synthesised with the card's voice, or the
 * candidate's own recording (decrypted; only its owner ever gets here). */
static void turn_audio(http_req *req, http_res *res)
{
    app *a = req->app;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    session_row row;
    json_t *card = NULL;
    db_rows *r = NULL;
    buf out;
    buf_init(&out, 64u << 20);
    int16_t *samples = NULL;
    if (!load_mine(req, res, c, &row, &card))
        goto out;
    const route_param *np = NULL;
    for (size_t i = 0; i < req->match.nparams; i++)
        if (strcmp(req->match.params[i].name, "n") == 0)
            np = &req->match.params[i];
    const db_param p[] = {DB_TEXT(row.id), DB_INT(np ? np->ival : -1)};
    if (db_query(c, "SELECT speaker, text, audio_key FROM turns WHERE session_id = $1 AND n = $2",
                 p, 2, &r) != DB_OK) {
        service_db_failed(req, res, c, "sessions: load turn");
        goto out;
    }
    if (db_rows_next(r) != 1) {
        not_found(req, res, "This session has no such turn.");
        goto out;
    }
    if (strcmp(db_col_text(r, 0), "patient") == 0) {
        if (!a->tts) {
            unavailable(req, res, "Speech synthesis is not available on this server.");
            goto out;
        }
        size_t n = 0;
        const char *voice = tts_voice_for(json_object_get(card, "patient_card"));
        if (tts_synth(a->tts, voice, db_col_text(r, 1), &samples, &n) != 0 ||
            audio_wav_encode(samples, n, AUDIO_RATE, &out) != 0) {
            unavailable(req, res, "Speech synthesis failed; please try again.");
            goto out;
        }
    } else {
        const char *key = db_col_text(r, 2);
        if (!key) {
            not_found(req, res, "This turn was typed: it has no audio.");
            goto out;
        }
        if (session_recording_load(a, req->user_id, key, &out) != 0) {
            log_msg(LOG_ERROR, "sessions: recording %s of session %s cannot be read", key,
                    row.id);
            not_found(req, res, "The recording of this turn is not available.");
            goto out;
        }
    }
    http_res_header(req, res, "Cache-Control", "private, max-age=3600");
    http_res_bytes(req, res, 200, "audio/wav", out.ptr, out.len);
out:
    free(samples);
    buf_free(&out);
    db_rows_free(r);
    json_decref(card);
    db_release(c);
}

static const rate_rule audio_limits[] = {
    {.name = "turn-user", .limit = 60, .window_s = 60, .key = RL_KEY_USER},
    {.name = NULL},
};

static const int c_audio[] = {200, 401, 403, 404, 409, 413, 415, 422, 429, 503, 0};
static const int c_turn_audio[] = {200, 401, 403, 404, 503, 0};
static const int c_stream[] = {101, 400, 401, 403, 404, 409, 426, 503, 0};

static const route_def voice_routes[] = {
    {.method = HTTP_POST, .path = "/v1/sessions/{id:uuid}/audio", .handler = session_audio,
     .service = "sessions", .tag = "sessions", .body = BODY_AUDIO, .responses = c_audio,
     .auth = AUTH_USER, .rate_limits = audio_limits,
     .summary = "Say something by voice: a WAV, FLAC or Ogg recording (at most 60 s) becomes "
                "the candidate's turn; returns both turns with word timings"},
    {.method = HTTP_GET, .path = "/v1/sessions/{id:uuid}/turns/{n:int}/audio",
     .handler = turn_audio, .service = "sessions", .tag = "sessions",
     .responses = c_turn_audio, .response_type = "audio/wav", .auth = AUTH_USER,
     .summary = "A turn's audio: the patient's speech, or the candidate's own recording"},
    {.method = HTTP_GET, .path = "/v1/sessions/{id:uuid}/stream",
     .handler = session_stream_route, .service = "sessions", .tag = "sessions",
     .responses = c_stream, .ws = &session_stream_ws, .auth = AUTH_USER,
     .summary = "The real-time role-play (WebSocket; protocol in docs/realtime.md)"},
};

int sessions_register_voice_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, voice_routes);
}
