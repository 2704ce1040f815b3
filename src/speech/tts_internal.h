/* Shared by the text-to-speech files: one sentence of audio from each engine, and the
 * resampler that brings every engine to TTS_RATE. */
#ifndef PRAXIS_SPEECH_TTS_INTERNAL_H
#define PRAXIS_SPEECH_TTS_INTERNAL_H

#include "speech/tts.h"

/* Registers the flite voices (once per process; later calls return the first result). */
int tts_flite_init(char *err, size_t errlen) WUR;
/* Speaks one normalised sentence: fn gets chunks of at most TTS_CHUNK_MAX samples while flite
 * is still synthesising the rest. 0, 1 when fn stopped it, -1 on error. Safe from any number of
 * threads. */
int tts_flite_speak(const char *voice, const char *text, tts_audio_fn fn, void *ud, char *err,
                    size_t errlen) WUR;

/* The same through POST {url}/v1/audio/speech. err never contains the key. */
int tts_remote_sentence(const tts_config *cfg, const char *voice, const char *text, int16_t **pcm,
                        size_t *n, char *err, size_t errlen) WUR;

/* Mono samples at rate → TTS_RATE (malloc'd; a copy when rate is already TTS_RATE). */
int tts_resample(const int16_t *in, size_t n, int rate, int16_t **out, size_t *outn) WUR;

#endif
