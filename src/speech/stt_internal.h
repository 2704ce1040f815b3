/* What an engine implements behind stt.h. stt.c owns what every engine shares: the stream
 * object, the sample count and the cap, timing and the real-time-factor metric. Internal to
 * src/speech. */
#ifndef PRAXIS_SPEECH_STT_INTERNAL_H
#define PRAXIS_SPEECH_STT_INTERNAL_H

#include "speech/stt.h"

#define STT_ERR_MAX 256

typedef struct stt_engine_ops {
    const char *name;   /* the metric's engine label */
    int rtf_from_wall;  /* 1: rtf is wall time (the work is elsewhere), 0: thread CPU time */
    size_t max_samples; /* an utterance's cap */
    void (*close)(void *eng);
    int (*prepare)(void *eng, const char *domain_key, const json_t *card);
    /* An engine stream, or NULL (busy or failed: the engine logs). */
    void *(*begin)(void *eng, const char *domain_key, const json_t *card);
    int (*feed)(void *es, const int16_t *pcm, size_t n, char *err, size_t errlen);
    const char *(*partial)(void *es);
    /* Fills text, words and nwords of out (times in ms from the first sample). */
    int (*finish)(void *es, size_t nsamples, stt_result *out, char *err, size_t errlen);
    void (*free)(void *es);
} stt_engine_ops;

/* The engines: open returns the engine state, or NULL + err. */
extern const stt_engine_ops stt_pocketsphinx_ops;
void *stt_pocketsphinx_open(const stt_config *cfg, char *err, size_t errlen);
extern const stt_engine_ops stt_remote_ops;
void *stt_remote_open(const stt_config *cfg, char *err, size_t errlen);

/* Appends one word to out->words (copies w). -1 when out of memory. */
int stt_result_add_word(stt_result *out, const char *w, int start_ms, int end_ms, double conf) WUR;
/* Sets out->text to the words joined by spaces. -1 when out of memory. */
int stt_result_join_text(stt_result *out) WUR;

#endif
