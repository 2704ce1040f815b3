/* The WAV files TTS writes (POST /v1/ai/tts) and reads (remote engines): RIFF/WAVE with 16-bit
 * PCM only, which is what every speech endpoint answers when asked for "wav". */
#include "speech/tts_internal.h"

#include "core/errors.h"

#include <stdlib.h>
#include <string.h>

#define WAV_FORMAT_PCM 1
#define WAV_FORMAT_EXTENSIBLE 0xFFFE

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)((v >> (8 * i)) & 0xFF);
}

int tts_wav_encode(const int16_t *pcm, size_t n, int rate, buf *out)
{
    if (rate <= 0 || n > (UINT32_MAX - 36) / 2)
        return -1;
    uint32_t data = (uint32_t)(n * 2);
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    wr32(h + 4, 36 + data);
    memcpy(h + 8, "WAVEfmt ", 8);
    wr32(h + 16, 16);
    wr16(h + 20, WAV_FORMAT_PCM);
    wr16(h + 22, 1);
    wr32(h + 24, (uint32_t)rate);
    wr32(h + 28, (uint32_t)rate * 2);
    wr16(h + 32, 2);
    wr16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    wr32(h + 40, data);
    if (buf_append(out, h, sizeof(h)) != 0)
        return -1;
    /* Samples are little-endian on the wire; so is every host we build for, but say so. */
    unsigned char tmp[512];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        wr16(tmp + used, (uint16_t)pcm[i]);
        used += 2;
        if (used == sizeof(tmp) || i + 1 == n) {
            if (buf_append(out, tmp, used) != 0)
                return -1;
            used = 0;
        }
    }
    return 0;
}

int tts_wav_decode(const void *data, size_t len, int16_t **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const unsigned char *p = data;
    if (!p || len < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WAVE", 4) != 0) {
        err_set(err, errlen, "not a RIFF/WAVE file");
        return -1;
    }
    unsigned format = 0, channels = 0, bits = 0;
    uint32_t rate = 0;
    const unsigned char *samples = NULL;
    size_t bytes = 0;
    size_t pos = 12;
    while (pos + 8 <= len) {
        uint32_t size = rd32(p + pos + 4);
        const unsigned char *body = p + pos + 8;
        size_t left = len - pos - 8;
        if (memcmp(p + pos, "fmt ", 4) == 0) {
            if (size < 16 || size > left) {
                err_set(err, errlen, "the fmt chunk is cut short");
                return -1;
            }
            format = rd16(body);
            channels = rd16(body + 2);
            rate = rd32(body + 4);
            bits = rd16(body + 14);
            if (format == WAV_FORMAT_EXTENSIBLE && size >= 40)
                format = rd16(body + 24); /* the sub-format GUID starts with the format tag */
        } else if (memcmp(p + pos, "data", 4) == 0) {
            if (!format) {
                err_set(err, errlen, "the data chunk comes before the fmt chunk");
                return -1;
            }
            /* A streamed answer does not know its length when the header is sent. */
            bytes = size == 0 || size == UINT32_MAX || size > left ? left : size;
            samples = body;
            break;
        }
        if ((size_t)size > left)
            break;
        pos += 8 + (size_t)size + (size & 1u);
    }
    if (!format || !samples) {
        err_set(err, errlen, "no %s chunk", format ? "data" : "fmt");
        return -1;
    }
    if (format != WAV_FORMAT_PCM || bits != 16) {
        err_set(err, errlen, "format %u with %u-bit samples; only 16-bit PCM is read", format,
                bits);
        return -1;
    }
    if (channels < 1 || channels > 2 || rate < 8000 || rate > 192000) {
        err_set(err, errlen, "%u channels at %u Hz; mono or stereo at 8-192 kHz is read", channels,
                (unsigned)rate);
        return -1;
    }
    size_t frames = bytes / ((size_t)channels * 2);
    if (frames == 0)
        return 0;
    int16_t *mono = malloc(frames * sizeof(*mono));
    if (!mono) {
        err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < frames; i++) {
        const unsigned char *f = samples + i * 2u * channels;
        int32_t s = (int16_t)rd16(f);
        if (channels == 2)
            s = (s + (int16_t)rd16(f + 2)) / 2;
        mono[i] = (int16_t)s;
    }
    int rc = tts_resample(mono, frames, (int)rate, out, n);
    free(mono);
    if (rc != 0)
        err_set(err, errlen, "resampling from %u Hz failed", (unsigned)rate);
    return rc;
}
