/* The remote engine: one POST {url}/v1/audio/speech per sentence (OpenAI-compatible, WAV
 * answers), decoded and brought to 16 kHz mono. The key goes in one header and nowhere else:
 * not in errors, not in logs (an error body can quote the key back, so it is never read). */
#include "speech/tts_internal.h"

#include "audio/audio.h"
#include "core/errors.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sentence of speech is never this long. */
#define TTS_REMOTE_MAX_MS 120000

#define REMOTE_TIMEOUT_DEFAULT_MS 10000
#define REMOTE_MAX_RESPONSE (16u << 20) /* ~3 minutes of 24 kHz stereo: far above a sentence */
#define REMOTE_AUTH_MAX 1100            /* "Authorization: Bearer " + a 1000-byte key */

/* Our voices by the OpenAI names closest to them (female; male; male, British; male). */
static const char *remote_voice(const char *voice)
{
    static const struct {
        const char *ours, *theirs;
    } map[] = {{"slt", "nova"}, {"rms", "onyx"}, {"awb", "fable"}, {"kal", "echo"}};
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (strcmp(map[i].ours, voice) == 0)
            return map[i].theirs;
    return "alloy";
}

/* {url}/v1/audio/speech, also when TTS_URL already ends in /v1. */
static int speech_url(const char *base, char *out, size_t outlen)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    const char *suffix =
        n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0 ? "/audio/speech" : "/v1/audio/speech";
    int w = snprintf(out, outlen, "%.*s%s", (int)n, base, suffix);
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

int tts_remote_sentence(const tts_config *cfg, const char *voice, const char *text,
                        int16_t **pcm_out, size_t *n, char *err, size_t errlen)
{
    *pcm_out = NULL;
    *n = 0;
    char url[600];
    if (!cfg->url || speech_url(cfg->url, url, sizeof(url)) != 0) {
        err_set(err, errlen, "remote: TTS_URL is not usable");
        return -1;
    }
    json_t *req_body =
        json_pack("{s:s, s:s, s:s, s:s}", "model", cfg->model && *cfg->model ? cfg->model : "tts-1",
                  "input", text, "voice", remote_voice(voice), "response_format", "wav");
    char *body = req_body ? json_dumps(req_body, JSON_COMPACT) : NULL;
    json_decref(req_body);
    if (!body) {
        err_set(err, errlen, "remote: out of memory");
        return -1;
    }
    char auth[REMOTE_AUTH_MAX + 32] = "";
    const char *headers[4] = {"Content-Type: application/json", "Accept: audio/wav", NULL, NULL};
    if (cfg->api_key && *cfg->api_key) {
        if (strlen(cfg->api_key) > REMOTE_AUTH_MAX) {
            free(body);
            err_set(err, errlen, "remote: TTS_API_KEY is too long");
            return -1;
        }
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->api_key);
        headers[2] = auth;
    }
    http_client_req req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : REMOTE_TIMEOUT_DEFAULT_MS,
        .max_response = REMOTE_MAX_RESPONSE,
        /* One retry on a dropped connection or a 5xx: a second wait for a sentence is still
         * better than a patient who falls silent. */
        .max_attempts = 2,
        .backoff_ms = 100,
    };
    http_client_res res;
    int rc = http_client_request(&req, &res);
    memset(auth, 0, sizeof(auth));
    free(body);
    if (rc != 0) {
        err_set(err, errlen, "remote: %s: %s", url, res.error);
    } else if (res.status != 200) {
        err_set(err, errlen, "remote: %s answered HTTP %ld", url, res.status);
        rc = -1;
    } else {
        char why[160] = "";
        pcm p;
        audio_status st = audio_decode(res.body.ptr, res.body.len, TTS_REMOTE_MAX_MS, &p, why,
                                       sizeof(why));
        if (st == AUDIO_OK) {
            *pcm_out = p.s;
            *n = p.n;
        } else if (st == AUDIO_E_SILENT || st == AUDIO_E_EMPTY) {
            *pcm_out = NULL; /* nothing audible to play */
            *n = 0;
        } else {
            err_set(err, errlen, "remote: %s answered unusable audio: %s", url,
                    why[0] ? why : audio_status_text(st));
            rc = -1;
        }
    }
    http_client_res_free(&res);
    return rc;
}
