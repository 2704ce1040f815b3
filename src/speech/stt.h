/* Speech-to-text for the voice role-play: one utterance of the candidate in, words with times
 * and confidences out. Two engines behind one contract: pocketsphinx offline (the default, with
 * a language model adapted to each scenario version) and a remote Whisper-compatible server.
 * Audio is 16 kHz mono signed 16-bit PCM. Fillers and repetitions are kept: fluency is judged
 * from them. Thread-safe: any number of threads may use one stt, each stream from one thread
 * at a time. */
#ifndef PRAXIS_SPEECH_STT_H
#define PRAXIS_SPEECH_STT_H

#include "core/common.h"
#include <jansson.h>
#include <stdint.h>

#define STT_SAMPLE_RATE 16000

typedef struct stt_word {
    char *w;
    int start_ms;
    int end_ms;
    double conf; /* 0..1 */
} stt_word;

typedef struct stt_result {
    char *text; /* the words joined by spaces ("" when nothing was recognised) */
    stt_word *words;
    size_t nwords;
    int duration_ms; /* of the audio fed */
    double rtf;      /* decoding time / audio duration */
} stt_result;

/* Frees what a result owns and zeroes it; safe on a zeroed result. */
void stt_result_free(stt_result *r);

typedef enum { STT_POCKETSPHINX = 0, STT_REMOTE = 1 } stt_engine_kind;

typedef struct stt_config {
    stt_engine_kind engine;
    const char *model_dir;  /* pocketsphinx model dir; NULL = /usr/share/pocketsphinx/model/en-us */
    const char *cache_dir;  /* where built domain LMs are cached (DATA_DIR/lm); created if
                               missing; NULL = a private temporary directory removed by close */
    int decoders;           /* pool size (concurrent utterances being decoded); 0 = 4 */
    const char *remote_url; /* remote: base URL of a Whisper-compatible server, e.g.
                               http://127.0.0.1:9000 */
    const char *remote_key; /* remote: bearer token, may be NULL */
    const char *remote_model; /* remote: model name, NULL = "whisper-1" */
    int timeout_ms;           /* remote request timeout / pool wait; 0 = 15000 */
} stt_config;

typedef struct stt stt;

/* Opens an engine: pocketsphinx loads its models into every decoder of the pool now (about
 * 95 MB a decoder; see docs/internals/speech.md). NULL + err on failure. */
stt *stt_open(const stt_config *cfg, char *err, size_t errlen);

/* Closes the engine. No stream may be open. */
void stt_close(stt *s);

/* 1 when key can name a domain: 1 to 100 characters of [A-Za-z0-9._-], starting with a letter
 * or digit, without "..". */
int stt_domain_key_ok(const char *domain_key);

/* Builds (or loads from cache_dir) the domain language model of one scenario version so that
 * first use is fast. domain_key is e.g. "<scenario-uuid>-v3"; card is the scenario document
 * (candidate_card and patient_card) or a patient card alone. Idempotent and thread-safe;
 * called at seed/publish time and lazily by stt_stream_begin. Returns 0, or -1 for an invalid
 * key or card or a failed build (logged). The remote engine only validates. */
int stt_prepare_domain(stt *s, const char *domain_key, const json_t *card) WUR;

typedef struct stt_stream stt_stream;

/* One utterance. Takes a decoder from the pool (waits up to timeout_ms, then NULL = busy).
 * card may be NULL: then a model prepared earlier for domain_key is used if there is one, else
 * the generic model. domain_key may be NULL (generic model). A card whose model cannot be
 * built falls back to the generic model with a warning. NULL too for an invalid domain_key. */
stt_stream *stt_stream_begin(stt *s, const char *domain_key, const json_t *card);

/* Feeds 16 kHz mono PCM16; pocketsphinx decodes incrementally (the work happens while the
 * candidate speaks). An utterance is capped (pocketsphinx 10 minutes, remote 60 s): feeding past
 * the cap fails. Returns 0, or -1 (stt_stream_error says why). */
int stt_stream_feed(stt_stream *st, const int16_t *pcm, size_t n) WUR;

/* The current partial hypothesis ("" when none; always "" for the remote engine); valid until
 * the next feed/finish. Cheap. */
const char *stt_stream_partial(stt_stream *st);

/* Ends the utterance and fills out: words with times relative to the first fed sample,
 * confidences from the lattice posteriors (pocketsphinx) or the server (1 when it gives none);
 * fillers and repetitions are kept as words ("um", "uh", repeated words); only <s>, </s>,
 * <sil> and [NOISE]-type tokens are dropped. Observes praxis_stt_realtime_factor. Once per
 * stream. Returns 0, or -1 (stt_stream_error says why; out is zeroed). */
int stt_stream_finish(stt_stream *st, stt_result *out) WUR;

/* Why the last feed or finish failed ("" when none). */
const char *stt_stream_error(const stt_stream *st);

/* Returns the decoder to the pool; safe after finish or without it, and on NULL. */
void stt_stream_free(stt_stream *st);

/* Whole-buffer convenience (REST uploads): begin, feed, finish, free. -1 when busy or failed. */
int stt_transcribe(stt *s, const char *domain_key, const json_t *card, const int16_t *pcm, size_t n,
                   stt_result *out) WUR;

/* The words as the API shows them: [{w, start, end, conf}] with times in seconds. */
json_t *stt_words_json(const stt_result *r);

#endif
