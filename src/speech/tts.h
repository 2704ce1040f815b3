/* Text-to-speech: the patient's voice. Two engines behind one interface: flite in process (the
 * default; four voices compiled in) or a remote OpenAI-compatible /v1/audio/speech endpoint.
 * Text is normalised, split into sentences and synthesised one sentence at a time, each streamed
 * out as it is made, so the first audio leaves within milliseconds. Always 16 kHz mono PCM16.
 * Thread-safe: one tts serves every session at once (docs/internals/tts.md). */
#ifndef PRAXIS_SPEECH_TTS_H
#define PRAXIS_SPEECH_TTS_H

#include "core/buf.h"
#include "core/common.h"

#include <jansson.h>
#include <stdint.h>

#define TTS_RATE 16000
#define TTS_TEXT_MAX 2000  /* bytes of text spoken at most; the rest is dropped (the API: 422) */
#define TTS_CHUNK_MAX 1600 /* samples handed to tts_audio_fn at most (100 ms) */

typedef struct tts_config {
    int remote;          /* 0 flite, 1 remote (TTS_ENGINE) */
    const char *url;     /* remote: base URL (TTS_URL), "/v1/audio/speech" is appended */
    const char *api_key; /* remote: Bearer key (TTS_API_KEY); may be NULL */
    const char *model;   /* remote: model name (TTS_MODEL); NULL = "tts-1" */
    int timeout_ms;      /* remote: per sentence; 0 = 10000 */
} tts_config;

typedef struct tts tts;

/* Registers the flite voices once per process (or copies the remote settings). NULL with err. */
tts *tts_open(const tts_config *cfg, char *err, size_t errlen);
void tts_close(tts *t);

/* The voice for a patient card: card "voice" when it names one we have (slt, rms, awb, kal),
 * else by gender and age; never NULL. */
const char *tts_voice_for(const json_t *patient_card);
int tts_voice_known(const char *voice);

/* Audio chunks as soon as each is ready: 16 kHz mono PCM16. Return non-zero to stop
 * (barge-in). */
typedef int (*tts_audio_fn)(const int16_t *pcm, size_t n, void *ud);

/* Synthesises text sentence by sentence (split on . ? ! ; and long commas, keeping
 * abbreviations like "Dr." "Mr." "e.g." and numbers "2.5" intact) and calls fn for each
 * sentence's audio (in chunks of at most ~100 ms for streaming), the first sentence first and
 * at once. Returns 0, 1 if fn stopped it, -1 on error (logged with the reason). Text with
 * nothing to say gives 0 and no audio. */
int tts_speak(tts *t, const char *voice, const char *text, tts_audio_fn fn, void *ud) WUR;

/* Whole utterance into out (malloc'd samples; NULL and 0 when there is nothing to say). */
int tts_synth(tts *t, const char *voice, const char *text, int16_t **out, size_t *n) WUR;

/* Caller frees each and the array; 0 sentences leaves *out NULL. */
size_t tts_split_sentences(const char *text, char ***out);

/* What the engines are given: valid UTF-8 folded to the ASCII flite pronounces (curly quotes,
 * dashes, accents, the degree sign), control characters, markup symbols and emoji removed,
 * whitespace collapsed, words cut at 40 characters, at most TTS_TEXT_MAX bytes. Caller frees;
 * NULL on OOM. */
char *tts_normalise(const char *text);
/* 1 when normalised text has at least one letter or digit to say. */
int tts_has_speech(const char *text);

#endif
