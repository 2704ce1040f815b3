/* The remote engine: an utterance is buffered, encoded as a 16 kHz WAV and posted to a
 * Whisper-compatible server (POST /v1/audio/transcriptions, multipart, verbose_json with word
 * timestamps). Words come from `words`, or from `segments` spread evenly over each segment's
 * time when the server gives no word timestamps. */
#include "core/buf.h"
#include "core/errors.h"
#include "core/log.h"
#include "speech/stt_internal.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES ((size_t)60 * STT_SAMPLE_RATE)
#define RESPONSE_MAX ((size_t)4 << 20)
#define CONNECT_TIMEOUT_MAX_MS 5000L
#define WAV_HEADER 44

/* Asks Whisper to keep hesitations: a prompt written with fillers makes it write fillers. */
#define FILLER_PROMPT "Um, so, uh, let me see... hmm, okay."

typedef struct remote_engine {
    char *url; /* the full endpoint */
    char *key;
    char *model;
    long timeout_ms;
} remote_engine;

typedef struct remote_stream {
    remote_engine *e;
    int16_t *pcm;
    size_t n, cap;
    char *prompt;
} remote_stream;

static void remote_close(void *eng);

void *stt_remote_open(const stt_config *cfg, char *err, size_t errlen)
{
    const char *url = cfg->remote_url;
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strpbrk(url, " \t\r\n")) {
        err_set(err, errlen, "the remote speech-to-text URL must be http:// or https://");
        return NULL;
    }
    if (cfg->remote_key && strpbrk(cfg->remote_key, "\r\n")) {
        err_set(err, errlen, "the remote speech-to-text key has a line break");
        return NULL;
    }
    remote_engine *e = calloc(1, sizeof(*e));
    buf u;
    buf_init(&u, 8192);
    size_t ulen = strlen(url);
    while (ulen && url[ulen - 1] == '/')
        ulen--;
    if (!e || buf_printf(&u, "%.*s/v1/audio/transcriptions", (int)ulen, url) != 0) {
        buf_free(&u);
        free(e);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    e->url = buf_detach(&u, NULL);
    e->key = cfg->remote_key && *cfg->remote_key ? strdup(cfg->remote_key) : NULL;
    e->model = strdup(cfg->remote_model ? cfg->remote_model : "whisper-1");
    e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 15000;
    if (!e->url || !e->model || (cfg->remote_key && *cfg->remote_key && !e->key)) {
        remote_close(e);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    return e;
}

static void remote_close(void *eng)
{
    remote_engine *e = eng;
    if (!e)
        return;
    free(e->url);
    free(e->key);
    free(e->model);
    free(e);
}

static int remote_prepare(void *eng, const char *key, const json_t *card)
{
    (void)eng;
    (void)key;
    (void)card;
    return 0; /* the server has its own model */
}

static void *remote_begin(void *eng, const char *key, const json_t *card)
{
    (void)key;
    remote_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->e = eng;
    /* The patient's name in the prompt helps the server spell it. */
    const json_t *pc = json_object_get(card, "patient_card");
    const char *name = json_string_value(json_object_get(pc ? pc : card, "name"));
    buf p;
    buf_init(&p, 1024);
    int rc = buf_puts(&p, FILLER_PROMPT);
    if (rc == 0 && name && strlen(name) < 200)
        rc = buf_printf(&p, " %s.", name);
    st->prompt = rc == 0 ? buf_detach(&p, NULL) : NULL;
    buf_free(&p);
    if (!st->prompt) {
        free(st);
        return NULL;
    }
    return st;
}

static int remote_feed(void *es, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
    remote_stream *st = es;
    if (st->n + n > st->cap) {
        size_t cap = st->cap ? st->cap : (size_t)STT_SAMPLE_RATE * 4;
        while (cap < st->n + n)
            cap *= 2;
        if (cap > MAX_SAMPLES)
            cap = MAX_SAMPLES;
        int16_t *np = realloc(st->pcm, cap * sizeof(*np));
        if (!np) {
            err_set(err, errlen, "out of memory");
            return -1;
        }
        st->pcm = np;
        st->cap = cap;
    }
    memcpy(st->pcm + st->n, pcm, n * sizeof(*pcm));
    st->n += n;
    return 0;
}

static const char *remote_partial(void *es)
{
    (void)es;
    return "";
}

/* A four-character chunk tag ("RIFF"), without its NUL. */
static void put_tag(unsigned char *p, const char *tag)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)tag[i];
}

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The utterance as a RIFF/WAVE file: 44-byte header, PCM 16-bit mono 16 kHz. */
static unsigned char *encode_wav(const int16_t *pcm, size_t n, size_t *len)
{
    size_t data = n * 2;
    unsigned char *w = malloc(WAV_HEADER + data);
    if (!w)
        return NULL;
    put_tag(w, "RIFF");
    put_le(w + 4, (uint32_t)(36 + data), 4);
    put_tag(w + 8, "WAVE");
    put_tag(w + 12, "fmt ");
    put_le(w + 16, 16, 4);                  /* fmt chunk size */
    put_le(w + 20, 1, 2);                   /* PCM */
    put_le(w + 22, 1, 2);                   /* mono */
    put_le(w + 24, STT_SAMPLE_RATE, 4);     /* sample rate */
    put_le(w + 28, STT_SAMPLE_RATE * 2, 4); /* byte rate */
    put_le(w + 32, 2, 2);                   /* block align */
    put_le(w + 34, 16, 2);                  /* bits per sample */
    put_tag(w + 36, "data");
    put_le(w + 40, (uint32_t)data, 4);
    for (size_t i = 0; i < n; i++)
        put_le(w + WAV_HEADER + 2 * i, (uint16_t)pcm[i], 2);
    *len = WAV_HEADER + data;
    return w;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t n = size * nmemb;
    return buf_append(b, ptr, n) == 0 ? n : 0; /* a short write aborts an oversized answer */
}

static int add_field(curl_mime *mime, const char *name, const char *value)
{
    curl_mimepart *part = curl_mime_addpart(mime);
    if (!part || curl_mime_name(part, name) != CURLE_OK ||
        curl_mime_data(part, value, CURL_ZERO_TERMINATED) != CURLE_OK)
        return -1;
    return 0;
}

/* Posts the WAV; fills body and *status. -1 + err when the request itself failed. */
static int post(remote_stream *st, const unsigned char *wav, size_t wav_len, buf *body,
                long *status, char *err, size_t errlen)
{
    remote_engine *e = st->e;
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
    buf auth;
    buf_init(&auth, 4096);
    if (hdr && e->key) {
        struct curl_slist *h2 = NULL;
        if (buf_printf(&auth, "Authorization: Bearer %s", e->key) == 0)
            h2 = curl_slist_append(hdr, auth.ptr);
        if (h2)
            hdr = h2;
        else {
            curl_slist_free_all(hdr);
            hdr = NULL;
        }
    }
    CURL *h = curl_easy_init();
    curl_mime *mime = h ? curl_mime_init(h) : NULL;
    curl_mimepart *file = mime ? curl_mime_addpart(mime) : NULL;
    CURLcode rc = (hdr && file) ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    if (!rc)
        rc = curl_mime_name(file, "file");
    if (!rc)
        rc = curl_mime_data(file, (const char *)wav, wav_len);
    if (!rc)
        rc = curl_mime_filename(file, "utterance.wav");
    if (!rc)
        rc = curl_mime_type(file, "audio/wav");
    if (!rc &&
        (add_field(mime, "model", e->model) != 0 ||
         add_field(mime, "response_format", "verbose_json") != 0 ||
         add_field(mime, "timestamp_granularities[]", "word") != 0 ||
         add_field(mime, "language", "en") != 0 || add_field(mime, "prompt", st->prompt) != 0))
        rc = CURLE_OUT_OF_MEMORY;
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_URL, e->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, e->timeout_ms);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                              e->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? e->timeout_ms
                                                                     : CONNECT_TIMEOUT_MAX_MS);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (!rc)
        rc = curl_easy_perform(h);
    if (!rc)
        rc = curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (rc) /* curl's messages name the host and the failure, never the headers */
        err_set(err, errlen, "request failed: %s%s%s", curl_easy_strerror(rc), cerr[0] ? ": " : "",
                cerr);
    curl_mime_free(mime);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    /* The header held the key: wipe it before the memory goes back. */
    if (auth.ptr)
        memset(auth.ptr, 0, auth.len);
    buf_free(&auth);
    return rc ? -1 : 0;
}

/* A word of the server's text as we write words: lower case, without surrounding punctuation
 * ("Hello," -> "hello", "I'm" -> "i'm"). 0 when nothing is left. */
static int clean_word(const char *w, size_t len, char *out, size_t outlen)
{
    while (len && !isalnum((unsigned char)*w)) {
        w++;
        len--;
    }
    while (len && !isalnum((unsigned char)w[len - 1]))
        len--;
    if (len == 0 || len >= outlen)
        return 0;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)w[i]);
    out[len] = '\0';
    return 1;
}

static int ms_of(const json_t *v)
{
    double s = json_number_value(v);
    return s > 0 && s < 86400 ? (int)lround(s * 1000) : 0;
}

static double conf_of(const json_t *word)
{
    const json_t *p = json_object_get(word, "probability");
    return json_is_number(p) ? json_number_value(p) : 1.0;
}

static int words_from_words(const json_t *words, stt_result *out)
{
    size_t i;
    const json_t *w;
    json_array_foreach(words, i, w)
    {
        const char *text = json_string_value(json_object_get(w, "word"));
        char clean[128];
        if (!text || !clean_word(text, strlen(text), clean, sizeof(clean)))
            continue;
        if (stt_result_add_word(out, clean, ms_of(json_object_get(w, "start")),
                                ms_of(json_object_get(w, "end")), conf_of(w)) != 0)
            return -1;
    }
    return 0;
}

/* Segments without word times: each segment's time is shared among its words by length. */
static int words_from_segments(const json_t *segments, stt_result *out)
{
    size_t i;
    const json_t *seg;
    json_array_foreach(segments, i, seg)
    {
        const char *text = json_string_value(json_object_get(seg, "text"));
        int start = ms_of(json_object_get(seg, "start"));
        int end = ms_of(json_object_get(seg, "end"));
        const json_t *lp = json_object_get(seg, "avg_logprob");
        double conf = json_is_number(lp) ? exp(json_number_value(lp)) : 1.0;
        if (!text)
            continue;
        if (end < start)
            end = start;
        size_t total = 0;
        for (const char *p = text; *p; p++)
            total += !isspace((unsigned char)*p);
        size_t done = 0;
        for (const char *p = text; *p;) {
            while (isspace((unsigned char)*p))
                p++;
            size_t len = strcspn(p, " \t\r\n");
            char clean[128];
            if (len && clean_word(p, len, clean, sizeof(clean))) {
                int ws = start + (int)((double)(end - start) * (double)done / (double)total);
                int we =
                    start + (int)((double)(end - start) * (double)(done + len) / (double)total);
                if (stt_result_add_word(out, clean, ws, we, conf) != 0)
                    return -1;
            }
            done += len;
            p += len;
        }
    }
    return 0;
}

static int parse_answer(const char *body, size_t len, stt_result *out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        err_set(err, errlen, "the server's answer is not a JSON object");
        return -1;
    }
    const json_t *words = json_object_get(doc, "words");
    const json_t *segments = json_object_get(doc, "segments");
    const char *text = json_string_value(json_object_get(doc, "text"));
    int rc;
    if (json_array_size(words) > 0)
        rc = words_from_words(words, out);
    else
        rc = words_from_segments(segments, out);
    if (rc == 0 && text) {
        while (isspace((unsigned char)*text))
            text++;
        size_t tl = strlen(text);
        while (tl && isspace((unsigned char)text[tl - 1]))
            tl--;
        out->text = strndup(text, tl);
        if (!out->text)
            rc = -1;
    }
    if (rc != 0)
        err_set(err, errlen, "out of memory");
    json_decref(doc);
    return rc;
}

static int remote_finish(void *es, size_t nsamples, stt_result *out, char *err, size_t errlen)
{
    remote_stream *st = es;
    (void)nsamples;
    size_t wav_len = 0;
    unsigned char *wav = encode_wav(st->pcm, st->n, &wav_len);
    if (!wav) {
        err_set(err, errlen, "out of memory");
        return -1;
    }
    buf body;
    buf_init(&body, RESPONSE_MAX);
    long status = 0;
    int rc = post(st, wav, wav_len, &body, &status, err, errlen);
    free(wav);
    if (rc == 0 && (status < 200 || status > 299)) {
        /* The start of the server's message, on one line. */
        char snippet[201];
        size_t k = 0;
        for (size_t i = 0; i < body.len && k < sizeof(snippet) - 1; i++)
            snippet[k++] = isprint((unsigned char)body.ptr[i]) ? body.ptr[i] : ' ';
        snippet[k] = '\0';
        err_set(err, errlen, "HTTP %ld: %s", status, snippet);
        rc = -1;
    }
    if (rc == 0)
        rc = parse_answer(body.ptr ? body.ptr : "", body.len, out, err, errlen);
    if (rc != 0)
        log_warn("stt remote: %s", err);
    buf_free(&body);
    return rc;
}

static void remote_stream_free(void *es)
{
    remote_stream *st = es;
    free(st->pcm);
    free(st->prompt);
    free(st);
}

const stt_engine_ops stt_remote_ops = {
    .name = "remote",
    .rtf_from_wall = 1,
    .max_samples = MAX_SAMPLES,
    .close = remote_close,
    .prepare = remote_prepare,
    .begin = remote_begin,
    .feed = remote_feed,
    .partial = remote_partial,
    .finish = remote_finish,
    .free = remote_stream_free,
};
