/* Audio uploads to 16 kHz mono PCM16: decoding WAV/FLAC/Ogg from memory (libsndfile), downmix and
 * resampling (libsamplerate), the checks a spoken turn must pass, and WAV encoding. */
#ifndef PRAXIS_AUDIO_AUDIO_H
#define PRAXIS_AUDIO_AUDIO_H

#include "core/buf.h"
#include "core/common.h"

#include <stdint.h>

#define AUDIO_RATE 16000

/* 16 kHz mono samples, malloc'd (s may be NULL when n == 0). */
typedef struct pcm {
    int16_t *s;
    size_t n;
} pcm;

/* Frees p->s and zeroes p. Safe on a zeroed pcm. */
void pcm_free(pcm *p);

typedef enum {
    AUDIO_OK = 0,
    AUDIO_E_UNSUPPORTED,
    AUDIO_E_CORRUPT,
    AUDIO_E_EMPTY,
    AUDIO_E_SILENT,
    AUDIO_E_TOO_LONG,
    AUDIO_E_NOMEM
} audio_status;

/* A sentence for problem+json detail. Never NULL. */
const char *audio_status_text(audio_status s);

/* Decodes a WAV, FLAC, Ogg/Vorbis or Ogg/Opus file held in memory, any rate and channel count,
 * into 16 kHz mono (channels averaged, libsamplerate SRC_SINC_FASTEST). The container is
 * detected from the bytes (libsndfile virtual I/O over the buffer, never a temp file).
 * Refuses: not a supported container, more than 8 channels or a rate outside 4000..192000 Hz
 * (UNSUPPORTED); a cut WAV/FLAC/Ogg, an Ogg page failing its CRC or followed by other bytes,
 * a FLAC frame failing to decode (CORRUPT); zero frames (EMPTY); longer than max_ms, from the
 * header's frame count before decoding and again while decoding, so a lying header cannot make
 * it decode more (TOO_LONG; max_ms <= 0 refuses any audio); no 20 ms window above -45 dBFS RMS
 * (SILENT).
 * why/whylen (may be NULL/0) gets a specific detail ("the file is 73.2 s long; a turn is at
 * most 60 s"). On AUDIO_OK out owns the samples; otherwise out is zeroed. */
audio_status audio_decode(const void *data, size_t len, int max_ms, pcm *out, char *why,
                          size_t whylen);

/* Resamples/downmixes interleaved PCM16 at in_rate (4000..192000) with channels (1..8) to
 * 16 kHz mono in a new out. 0, or -1 (bad arguments, no memory) with out zeroed. */
int audio_to_16k_mono(const int16_t *in, size_t frames, int in_rate, int channels, pcm *out) WUR;

/* Appends a canonical 44-byte-header PCM16 mono WAV of s[0..n) at rate to out. 0, or -1
 * (rate <= 0, data over 4 GiB, out->max too small, no memory) with out as it was. */
int audio_wav_encode(const int16_t *s, size_t n, int rate, buf *out) WUR;

/* RMS level of s[0..n) in dBFS, a full-scale square wave being 0 (-120 for digital silence or
 * n == 0, the lowest value returned). */
double audio_rms_dbfs(const int16_t *s, size_t n);

#endif
