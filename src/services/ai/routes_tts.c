/* POST /v1/ai/tts: a text spoken in one of the patient voices, as a WAV file (tutors and admins
 * listening to how a card's patient sounds). The same engine the voice sessions use. */
#include "services/ai/ai.h"

#include "core/json.h"
#include "http/server.h"
#include "services/app.h"
#include "audio/audio.h"
#include "speech/tts.h"

#include <stdlib.h>
#include <string.h>

static const json_field_spec tts_spec[] = {
    {.name = "text", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = TTS_TEXT_MAX},
    {.name = "voice", .type = JF_STRING, .required = 1, .max_len = 16},
};

static void ai_tts(http_req *req, http_res *res)
{
    app *a = req->app;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *errors = json_array();
    int16_t *samples = NULL;
    size_t n = 0;
    json_validate(body, tts_spec, ARRAY_LEN(tts_spec), 1, errors);
    const char *text = json_string_value(json_object_get(body, "text"));
    const char *voice = json_string_value(json_object_get(body, "voice"));
    /* The character count was checked above; bytes are what the engine is limited to. */
    if (text && strlen(text) > TTS_TEXT_MAX)
        json_errors_add(errors, "text", "must be at most 2000 bytes");
    else if (text && *text) {
        char *clean = tts_normalise(text);
        if (clean && !tts_has_speech(clean))
            json_errors_add(errors, "text", "must contain words to say");
        free(clean);
    }
    if (voice && !tts_voice_known(voice))
        json_errors_add(errors, "voice", "must be one of slt, rms, awb, kal");
    if (json_array_size(errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        goto out;
    }
    if (!a->tts || tts_synth(a->tts, voice, text, &samples, &n) != 0) {
        http_res_problem_full(req, res, 503, "tts-unavailable", "Speech Unavailable",
                              "The speech engine is unavailable; please try again.", NULL);
        goto out;
    }
    buf wav;
    buf_init(&wav, 64u << 20);
    if (audio_wav_encode(samples, n, TTS_RATE, &wav) != 0) {
        http_res_problem(req, res, 500, "Something went wrong on our side; please try again.",
                         NULL);
    } else {
        http_res_bytes(req, res, 200, "audio/wav", wav.ptr, wav.len);
    }
    buf_free(&wav);
out:
    free(samples);
    json_decref(errors);
    json_decref(body);
}

static const int c_tts[] = {200, 400, 401, 403, 415, 422, 503, 0};

static const route_def tts_routes[] = {
    {.method = HTTP_POST,
     .path = "/v1/ai/tts",
     .handler = ai_tts,
     .service = "ai",
     .tag = "ai",
     .body = BODY_JSON,
     .responses = c_tts,
     .response_type = "audio/wav",
     .auth = AUTH_STAFF,
     .summary = "Speak a text ({text, voice: slt|rms|awb|kal}) as 16 kHz mono WAV"},
};

int ai_register_tts_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, tts_routes);
}
