/* Streaming voice-activity and end-of-turn detection for live 16 kHz PCM16 mono microphone
 * audio: an energy gate over an adaptive noise floor plus a spectral voice gate, per 20 ms
 * frame with a 10 ms hop, and a hangover that is shorter once the words look complete. */
#ifndef PRAXIS_AUDIO_VAD_H
#define PRAXIS_AUDIO_VAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct vad_params {
    int hangover_short_ms; /* silence that ends speech once vad_set_complete(v, 1) */
    int hangover_long_ms;  /* silence that ends speech otherwise */
    int min_speech_ms;     /* voiced time before speech is reported as started */
    double threshold_db;   /* how far above the noise floor a frame must be to count */
} vad_params;

/* Fills p with 400, 900, 100, 9.0 dB above the noise floor. */
void vad_params_default(vad_params *p);

typedef struct vad vad;

/* A detector for one stream, with p copied (NULL: the defaults; out-of-range values are
 * clamped: hangovers and min_speech_ms to 10..10000 ms, threshold_db to 1..40). NULL on OOM. */
vad *vad_new(const vad_params *p);
/* Frees v. NULL is fine. */
void vad_free(vad *v);

typedef enum { VAD_SPEECH_START = 1, VAD_SPEECH_END = 2 } vad_event_type;

/* at_sample: for START the first voiced sample; for END the sample after the last voiced frame
 * (the end of speech). Offsets count from the first sample ever fed. Inside the callback,
 * vad_samples_fed() is the position the detector has reached, so at_sample plus the latency
 * of the decision. */
typedef void (*vad_event_fn)(vad_event_type t, uint64_t at_sample, void *ud);

/* Feeds n samples (any n, frames carried over between calls); events are delivered from inside
 * this call, in order, START and END alternating. The same samples give the same events
 * however they are split into calls. fn may be NULL (events are then dropped). */
void vad_feed(vad *v, const int16_t *s, size_t n, vad_event_fn fn, void *ud);

/* 1 = the words so far form a complete sentence/question: use the short hangover from now on
 * until the next speech start. 0 = back to the long hangover. */
void vad_set_complete(vad *v, int complete);

/* 1 between a START and its END. */
int vad_in_speech(const vad *v);

/* Samples taken in so far (see vad_event_fn for its value inside a callback). */
uint64_t vad_samples_fed(const vad *v);

/* Forces the end of the current utterance (client sent an explicit end); emits SPEECH_END if
 * in speech, and forgets a start still being confirmed. The noise floor is kept. */
void vad_flush(vad *v, vad_event_fn fn, void *ud);

/* 1 when the transcript so far ends like a finished question or sentence, judged from words
 * only (ASR gives no punctuation; punctuation is ignored): a question opened by a wh-word or
 * an auxiliary ("how", "do", "is"...) with at least 3 words, a statement of at least 5 words,
 * or a sentence of at least 2 words ending in a closer ("isn't it", "right", "okay", "please",
 * "thank you"...) — and in each case not ending in a conjunction, preposition, article,
 * pronoun-determiner, auxiliary or filler ("and", "to", "the", "my", "is", "um", "so"...).
 * 0 when unsure or NULL. */
int vad_looks_complete(const char *partial_text);

#endif
