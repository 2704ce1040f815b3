/* The speech-to-text contract over its engines: the stream object, the per-utterance sample
 * cap, decode timing and the praxis_stt_realtime_factor histogram, results. */
#include "speech/stt.h"

#include "core/buf.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/metrics.h"
#include "speech/domain.h"
#include "speech/stt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stt {
    const stt_engine_ops *ops;
    void *eng;
    metric_family *rtf;
};

struct stt_stream {
    stt *s;
    void *es;
    size_t nsamples;
    double busy_s; /* feed and finish time so far: thread CPU or wall, per ops->rtf_from_wall */
    int finished;
    char err[STT_ERR_MAX];
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static clockid_t busy_clock(const stt *s)
{
    return s->ops->rtf_from_wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
}

stt *stt_open(const stt_config *cfg, char *err, size_t errlen)
{
    static const double buckets[] = {0.05, 0.1, 0.2, 0.3, 0.5, 1, 2};
    static const char *const labels[] = {"engine", NULL};
    if (!cfg) {
        err_set(err, errlen, "no configuration");
        return NULL;
    }
    stt *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    switch (cfg->engine) {
    case STT_POCKETSPHINX:
        s->ops = &stt_pocketsphinx_ops;
        s->eng = stt_pocketsphinx_open(cfg, err, errlen);
        break;
    case STT_REMOTE:
        s->ops = &stt_remote_ops;
        s->eng = stt_remote_open(cfg, err, errlen);
        break;
    default:
        err_set(err, errlen, "unknown speech-to-text engine %d", (int)cfg->engine);
        break;
    }
    if (!s->eng) {
        free(s);
        return NULL;
    }
    s->rtf = metrics_histogram("praxis_stt_realtime_factor",
                               "Speech-to-text decoding time over audio duration, per utterance",
                               labels, buckets, ARRAY_LEN(buckets));
    return s;
}

void stt_close(stt *s)
{
    if (!s)
        return;
    s->ops->close(s->eng);
    free(s);
}

int stt_domain_key_ok(const char *domain_key)
{
    return stt_domain_key_valid(domain_key);
}

int stt_prepare_domain(stt *s, const char *domain_key, const json_t *card)
{
    if (!stt_domain_key_valid(domain_key) || !json_is_object(card)) {
        log_warn("stt: cannot prepare a domain model: %s",
                 json_is_object(card) ? "invalid domain key" : "no card object");
        return -1;
    }
    return s->ops->prepare(s->eng, domain_key, card);
}

stt_stream *stt_stream_begin(stt *s, const char *domain_key, const json_t *card)
{
    if (domain_key && !stt_domain_key_valid(domain_key)) {
        log_warn("stt: invalid domain key");
        return NULL;
    }
    stt_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->s = s;
    /* Not counted in the real-time factor: building a search for another domain is a cost of
     * the decoder's previous use, not of this audio. */
    st->es = s->ops->begin(s->eng, domain_key, card);
    if (!st->es) {
        free(st);
        return NULL;
    }
    return st;
}

int stt_stream_feed(stt_stream *st, const int16_t *pcm, size_t n)
{
    if (st->finished) {
        err_set(st->err, sizeof(st->err), "the utterance is finished");
        return -1;
    }
    if (n > st->s->ops->max_samples - st->nsamples) {
        err_set(st->err, sizeof(st->err), "utterance longer than %zu s",
                st->s->ops->max_samples / STT_SAMPLE_RATE);
        return -1;
    }
    if (n == 0)
        return 0;
    double t0 = clock_s(busy_clock(st->s));
    int rc = st->s->ops->feed(st->es, pcm, n, st->err, sizeof(st->err));
    st->busy_s += clock_s(busy_clock(st->s)) - t0;
    if (rc == 0)
        st->nsamples += n;
    return rc;
}

const char *stt_stream_partial(stt_stream *st)
{
    if (st->finished)
        return "";
    const char *p = st->s->ops->partial(st->es);
    return p ? p : "";
}

int stt_stream_finish(stt_stream *st, stt_result *out)
{
    memset(out, 0, sizeof(*out));
    if (st->finished) {
        err_set(st->err, sizeof(st->err), "the utterance is finished");
        return -1;
    }
    st->finished = 1;
    double t0 = clock_s(busy_clock(st->s));
    int rc = st->s->ops->finish(st->es, st->nsamples, out, st->err, sizeof(st->err));
    st->busy_s += clock_s(busy_clock(st->s)) - t0;
    if (rc == 0 && !out->text)
        rc = stt_result_join_text(out);
    if (rc != 0) {
        stt_result_free(out);
        return -1;
    }
    out->duration_ms = (int)(st->nsamples * 1000 / STT_SAMPLE_RATE);
    out->rtf = st->nsamples ? st->busy_s / ((double)st->nsamples / STT_SAMPLE_RATE) : 0;
    const char *label[] = {st->s->ops->name};
    if (st->nsamples)
        metrics_observe(st->s->rtf, label, out->rtf);
    return 0;
}

const char *stt_stream_error(const stt_stream *st)
{
    return st->err;
}

void stt_stream_free(stt_stream *st)
{
    if (!st)
        return;
    st->s->ops->free(st->es);
    free(st);
}

int stt_transcribe(stt *s, const char *domain_key, const json_t *card, const int16_t *pcm, size_t n,
                   stt_result *out)
{
    memset(out, 0, sizeof(*out));
    stt_stream *st = stt_stream_begin(s, domain_key, card);
    if (!st)
        return -1;
    int rc = stt_stream_feed(st, pcm, n);
    if (rc == 0)
        rc = stt_stream_finish(st, out);
    if (rc != 0)
        log_warn("stt: transcription failed: %s", st->err);
    stt_stream_free(st);
    return rc;
}

void stt_result_free(stt_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nwords; i++)
        free(r->words[i].w);
    free(r->words);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

int stt_result_add_word(stt_result *out, const char *w, int start_ms, int end_ms, double conf)
{
    stt_word *nw = realloc(out->words, (out->nwords + 1) * sizeof(*nw));
    if (!nw)
        return -1;
    out->words = nw;
    char *copy = strdup(w);
    if (!copy)
        return -1;
    if (conf < 0)
        conf = 0;
    if (conf > 1)
        conf = 1;
    stt_word *word = &out->words[out->nwords++];
    word->w = copy;
    word->start_ms = start_ms;
    word->end_ms = end_ms;
    word->conf = conf;
    return 0;
}

int stt_result_join_text(stt_result *out)
{
    buf b;
    buf_init(&b, (size_t)1 << 24);
    int rc = 0;
    for (size_t i = 0; i < out->nwords && rc == 0; i++)
        rc = buf_printf(&b, i ? " %s" : "%s", out->words[i].w);
    if (rc == 0)
        out->text = buf_detach(&b, NULL);
    buf_free(&b);
    return rc == 0 && out->text ? 0 : -1;
}

json_t *stt_words_json(const stt_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->nwords; i++)
        json_array_append_new(a, json_pack("{s:s, s:f, s:f, s:f}", "w", r->words[i].w, "start",
                                           r->words[i].start_ms / 1000.0, "end",
                                           r->words[i].end_ms / 1000.0, "conf",
                                           r->words[i].conf));
    return a;
}
