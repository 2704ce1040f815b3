/* Decoding uploaded turns: libsndfile reads the container from memory through virtual I/O and
 * yields float frames, which are averaged to mono and streamed through libsamplerate, so
 * memory stays at one block plus the 16 kHz result. Every size comes from the (hostile) file,
 * so the duration cap is checked against the header and again against what was decoded. */
#include "audio/audio.h"

#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define RATE_MIN 4000
#define RATE_MAX 192000
#define CHANNELS_MAX 8
#define BLOCK_FRAMES 4096 /* frames read from libsndfile per call */
#define RES_BLOCK 4096    /* samples produced by libsamplerate per call */
#define SILENT_DBFS (-45.0)
#define WINDOW (AUDIO_RATE / 50) /* 20 ms */
#define FLOOR_DBFS (-120.0)

/* A read-only file over the caller's bytes for libsndfile's virtual I/O. */
typedef struct {
    const unsigned char *p;
    sf_count_t len;
    sf_count_t pos;
} memfile;

/* The mono float → 16 kHz PCM16 stage shared by decoding and audio_to_16k_mono. */
typedef struct {
    SRC_STATE *src; /* NULL when the input already is 16 kHz: samples are copied */
    double ratio;
    float res[RES_BLOCK];
    pcm out;
    size_t cap;
} conv;

static sf_count_t mf_len(void *ud);
static sf_count_t mf_seek(sf_count_t off, int whence, void *ud);
static sf_count_t mf_read(void *ptr, sf_count_t count, void *ud);
static sf_count_t mf_write(const void *ptr, sf_count_t count, void *ud);
static sf_count_t mf_tell(void *ud);
static int16_t to_s16(float v);
static conv *conv_new(int in_rate, size_t expect_in);
static void conv_free(conv *c);
static int conv_append(conv *c, const float *s, size_t n) WUR;
static int conv_push(conv *c, const float *mono, size_t n, int last) WUR;
static void set_why(char *why, size_t whylen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int starts_with(const unsigned char *p, size_t len, size_t at, const char *lit);
static uint32_t le32(const unsigned char *p);
static int ogg_pages_intact(const unsigned char *p, size_t len);
static int vorbis_headers_sane(const unsigned char *p, size_t len);
static int wav_data_intact(const unsigned char *p, size_t len);
static double peak_window_dbfs(const int16_t *s, size_t n);
static int accepted_format(int format);
static void put_le(unsigned char *p, uint32_t v, size_t n);
static void put_bytes(unsigned char *p, const char *s, size_t n);

void pcm_free(pcm *p)
{
    free(p->s);
    p->s = NULL;
    p->n = 0;
}

const char *audio_status_text(audio_status s)
{
    switch (s) {
    case AUDIO_OK:
        return "The audio was decoded.";
    case AUDIO_E_UNSUPPORTED:
        return "The audio format is not supported; send WAV, FLAC, Ogg Vorbis or Ogg Opus.";
    case AUDIO_E_CORRUPT:
        return "The audio file is damaged or incomplete.";
    case AUDIO_E_EMPTY:
        return "The audio file contains no sound.";
    case AUDIO_E_SILENT:
        return "No speech could be heard in the recording; check the microphone.";
    case AUDIO_E_TOO_LONG:
        return "The recording is longer than a turn may last.";
    case AUDIO_E_NOMEM:
        return "The server ran out of memory while decoding the audio.";
    }
    return "The audio could not be decoded.";
}

static sf_count_t mf_len(void *ud)
{
    return ((memfile *)ud)->len;
}

static sf_count_t mf_seek(sf_count_t off, int whence, void *ud)
{
    memfile *m = ud;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        return -1;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    /* Offsets come from header fields: refuse what would overflow or go before the start. */
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t mf_read(void *ptr, sf_count_t count, void *ud)
{
    memfile *m = ud;
    if (count <= 0 || m->pos >= m->len)
        return 0;
    sf_count_t n = m->len - m->pos < count ? m->len - m->pos : count;
    memcpy(ptr, m->p + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mf_write(const void *ptr, sf_count_t count, void *ud)
{
    (void)ptr;
    (void)count;
    (void)ud;
    return 0;
}

static sf_count_t mf_tell(void *ud)
{
    return ((memfile *)ud)->pos;
}

static int16_t to_s16(float v)
{
    float x = v * 32768.0f;
    if (x != x)
        return 0;
    if (x <= -32768.0f)
        return INT16_MIN;
    if (x >= 32767.0f)
        return INT16_MAX;
    return (int16_t)lrintf(x);
}

/* expect_in (input frames, 0 if unknown) only sizes the first allocation. */
static conv *conv_new(int in_rate, size_t expect_in)
{
    conv *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ratio = (double)AUDIO_RATE / in_rate;
    if (in_rate != AUDIO_RATE) {
        int err = 0;
        c->src = src_new(SRC_SINC_FASTEST, 1, &err);
        if (!c->src) {
            free(c);
            return NULL;
        }
    }
    size_t cap = (size_t)((double)expect_in * c->ratio) + 64;
    c->out.s = malloc(cap * sizeof(int16_t));
    if (!c->out.s) {
        conv_free(c);
        return NULL;
    }
    c->cap = cap;
    return c;
}

static void conv_free(conv *c)
{
    if (!c)
        return;
    if (c->src)
        src_delete(c->src);
    pcm_free(&c->out);
    free(c);
}

static int conv_append(conv *c, const float *s, size_t n)
{
    if (n > c->cap - c->out.n) {
        size_t cap = c->cap;
        while (n > cap - c->out.n) {
            if (cap > SIZE_MAX / 2 / sizeof(int16_t))
                return -1;
            cap *= 2;
        }
        int16_t *p = realloc(c->out.s, cap * sizeof(int16_t));
        if (!p)
            return -1;
        c->out.s = p;
        c->cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        c->out.s[c->out.n + i] = to_s16(s[i]);
    c->out.n += n;
    return 0;
}

/* Feeds n mono samples; last flushes the resampler's tail. */
static int conv_push(conv *c, const float *mono, size_t n, int last)
{
    if (!c->src)
        return conv_append(c, mono, n);
    SRC_DATA d;
    memset(&d, 0, sizeof(d));
    d.data_in = mono;
    d.input_frames = (long)n;
    d.end_of_input = last;
    d.src_ratio = c->ratio;
    for (;;) {
        d.data_out = c->res;
        d.output_frames = RES_BLOCK;
        if (src_process(c->src, &d) != 0)
            return -1;
        if (conv_append(c, c->res, (size_t)d.output_frames_gen))
            return -1;
        d.data_in += d.input_frames_used;
        d.input_frames -= d.input_frames_used;
        if (d.input_frames_used == 0 && d.output_frames_gen == 0)
            break; /* nothing more until more input arrives, or the tail is flushed */
        if (d.input_frames == 0 && !last)
            break;
    }
    return 0;
}

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int starts_with(const unsigned char *p, size_t len, size_t at, const char *lit)
{
    size_t n = strlen(lit);
    return len >= at + n && memcmp(p + at, lit, n) == 0;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* libogg silently skips pages that fail their CRC and stops at a cut page, so a damaged Ogg
 * file decodes "successfully" with gaps. Walk the pages ourselves: one logical stream (what a
 * recorder writes), each page well-formed, in sequence and passing its CRC, the last ending
 * exactly at the end of the upload. */
static int ogg_pages_intact(const unsigned char *p, size_t len)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int k = 0; k < 8; k++)
            r = r & 0x80000000u ? (r << 1) ^ 0x04c11db7u : r << 1;
        table[i] = r;
    }
    size_t off = 0;
    uint32_t serial = 0, seq = 0;
    for (; off < len; seq++) {
        const unsigned char *pg = p + off;
        size_t rest = len - off;
        if (rest < 27 || memcmp(pg, "OggS", 4) != 0 || pg[4] != 0)
            return 0;
        /* Beginning-of-stream on the first page only; one serial; no missing pages. */
        if ((seq == 0) != ((pg[5] & 0x02) != 0) || le32(pg + 18) != seq)
            return 0;
        if (seq == 0)
            serial = le32(pg + 14);
        else if (le32(pg + 14) != serial)
            return 0;
        size_t nseg = pg[26];
        if (rest - 27 < nseg)
            return 0;
        size_t size = 27 + nseg;
        for (size_t i = 0; i < nseg; i++)
            size += pg[27 + i];
        if (rest < size)
            return 0;
        uint32_t crc = 0;
        for (size_t i = 0; i < size; i++) {
            unsigned char b = i >= 22 && i < 26 ? 0 : pg[i];
            crc = (crc << 8) ^ table[((crc >> 24) ^ b) & 0xFFu];
        }
        if (crc != le32(pg + 22))
            return 0;
        off += size;
    }
    return vorbis_headers_sane(p, len);
}

/* libsndfile 1.2.0 leaks the Vorbis setup whenever opening a Vorbis stream fails after its
 * first packet (libsndfile issue #922). On pages that passed ogg_pages_intact, that happens
 * only when the identification header is invalid or the two other headers are missing, so
 * those are checked here, as libvorbis would, and such files never reach libsndfile. */
static int vorbis_headers_sane(const unsigned char *p, size_t len)
{
    /* The pages are intact, so the first page's header and body lie within len. */
    size_t nseg = p[26], body = 27 + nseg;
    if (len - body < 7 || memcmp(p + body, "\x01vorbis", 7) != 0)
        return 1; /* Opus, or a codec libsndfile refuses before allocating anything */
    /* The identification header is alone on its page and 30 bytes long. */
    const unsigned char *id = p + body;
    if (nseg != 1 || p[27] != 30)
        return 0;
    unsigned bs0 = id[28] & 0x0Fu, bs1 = (unsigned)id[28] >> 4;
    if (le32(id + 7) != 0 || id[11] == 0 || le32(id + 12) == 0 || bs0 < 6 || bs1 < bs0 ||
        bs1 > 13 || (id[29] & 1u) == 0)
        return 0;
    /* Comment and setup headers: two packets must end on the pages that follow. */
    int ends = 0;
    for (size_t off = body + 30; off < len && ends < 2;) {
        size_t n = p[off + 26], size = 27 + n;
        for (size_t i = 0; i < n; i++) {
            size += p[off + 27 + i];
            ends += p[off + 27 + i] < 255;
        }
        off += size;
    }
    return ends >= 2;
}

/* libsndfile quietly shortens a WAV whose data chunk runs past the end of the file; a cut
 * upload must be refused instead. Sizes 0 and 0xFFFFFFFF are what streaming writers put
 * there when they cannot seek back, and mean "to the end". Anything this walk cannot follow
 * is left to libsndfile. */
static int wav_data_intact(const unsigned char *p, size_t len)
{
    if (!starts_with(p, len, 0, "RIFF") || !starts_with(p, len, 8, "WAVE"))
        return 1;
    size_t off = 12;
    while (len - off >= 8) {
        const unsigned char *c = p + off;
        uint32_t size = le32(c + 4);
        if (memcmp(c, "data", 4) == 0)
            return size == 0 || size == UINT32_MAX || size <= len - off - 8;
        size_t step = 8 + (size_t)size + (size & 1u);
        if (step > len - off)
            return 1;
        off += step;
    }
    return 1;
}

/* The loudest 20 ms window, in dBFS. */
static double peak_window_dbfs(const int16_t *s, size_t n)
{
    double peak = FLOOR_DBFS;
    for (size_t i = 0; i < n; i += WINDOW) {
        double db = audio_rms_dbfs(s + i, n - i < WINDOW ? n - i : WINDOW);
        if (db > peak)
            peak = db;
    }
    return peak;
}

static int accepted_format(int format)
{
    int major = format & SF_FORMAT_TYPEMASK, sub = format & SF_FORMAT_SUBMASK;
    switch (major) {
    case SF_FORMAT_WAV:
    case SF_FORMAT_WAVEX:
    case SF_FORMAT_RF64:
    case SF_FORMAT_FLAC:
        return 1;
    case SF_FORMAT_OGG:
        return sub == SF_FORMAT_VORBIS || sub == SF_FORMAT_OPUS;
    default:
        return 0;
    }
}

audio_status audio_decode(const void *data, size_t len, int max_ms, pcm *out, char *why,
                          size_t whylen)
{
    out->s = NULL;
    out->n = 0;
    set_why(why, whylen, "%s", "");
    if (len == 0 || !data) {
        set_why(why, whylen, "the upload is empty");
        return AUDIO_E_EMPTY;
    }
    if (len > (size_t)INT64_MAX) {
        set_why(why, whylen, "the upload is too large");
        return AUDIO_E_TOO_LONG;
    }
    const unsigned char *bytes = data;
    int is_ogg = starts_with(bytes, len, 0, "OggS");
    int known = is_ogg || starts_with(bytes, len, 0, "fLaC") ||
                ((starts_with(bytes, len, 0, "RIFF") || starts_with(bytes, len, 0, "RF64")) &&
                 starts_with(bytes, len, 8, "WAVE"));

    /* Structure first: libsndfile reads a cut WAV as a shorter one, libogg skips damaged pages,
     * and libsndfile 1.2.0 leaks the Vorbis setup when an Ogg file fails to open (libsndfile
     * issue #922), so damaged files should not reach it at all. */
    if (is_ogg && !ogg_pages_intact(bytes, len)) {
        set_why(why, whylen, "the Ogg stream is damaged, cut short or followed by other data");
        return AUDIO_E_CORRUPT;
    }
    if (!wav_data_intact(bytes, len)) {
        set_why(why, whylen, "the WAV file is cut short: its data chunk runs past the end");
        return AUDIO_E_CORRUPT;
    }

    memfile mf = {bytes, (sf_count_t)len, 0};
    SF_VIRTUAL_IO vio = {mf_len, mf_seek, mf_read, mf_write, mf_tell};
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    SNDFILE *snd = sf_open_virtual(&vio, SFM_READ, &info, &mf);
    if (!snd) {
        /* libsndfile's reason is a process-wide variable; the bytes say which case it is. */
        if (!known) {
            set_why(why, whylen, "the file is not WAV, FLAC or Ogg audio");
            return AUDIO_E_UNSUPPORTED;
        }
        set_why(why, whylen, "the %s header is damaged or uses an unsupported encoding",
                is_ogg            ? "Ogg"
                : bytes[0] == 'f' ? "FLAC"
                                  : "WAV");
        return AUDIO_E_CORRUPT;
    }

    audio_status st = AUDIO_E_CORRUPT;
    conv *c = NULL;
    float *block = NULL, *mono = NULL;
    if (!accepted_format(info.format)) {
        set_why(why, whylen, "the file is not WAV, FLAC, Ogg Vorbis or Ogg Opus audio");
        st = AUDIO_E_UNSUPPORTED;
        goto out;
    }
    if (info.channels < 1 || info.channels > CHANNELS_MAX) {
        set_why(why, whylen, "the file has %d channels; at most %d are accepted", info.channels,
                CHANNELS_MAX);
        st = AUDIO_E_UNSUPPORTED;
        goto out;
    }
    if (info.samplerate < RATE_MIN || info.samplerate > RATE_MAX) {
        set_why(why, whylen, "the sample rate is %d Hz; %d to %d Hz are accepted", info.samplerate,
                RATE_MIN, RATE_MAX);
        st = AUDIO_E_UNSUPPORTED;
        goto out;
    }

    double max_s = max_ms > 0 ? max_ms / 1000.0 : 0.0;
    int64_t limit = max_ms > 0 ? (int64_t)max_ms * info.samplerate / 1000 : 0;
    /* SF_COUNT_MAX means the header does not say; the loop below still enforces the limit. */
    int64_t header_frames = info.frames == SF_COUNT_MAX ? -1 : info.frames;
    if (header_frames > limit) {
        set_why(why, whylen, "the file is %.1f s long; a turn is at most %g s",
                (double)header_frames / info.samplerate, max_s);
        st = AUDIO_E_TOO_LONG;
        goto out;
    }

    size_t ch = (size_t)info.channels;
    block = malloc(BLOCK_FRAMES * ch * sizeof(float));
    mono = malloc(BLOCK_FRAMES * sizeof(float));
    c = conv_new(info.samplerate, header_frames > 0 ? (size_t)header_frames : 0);
    if (!block || !mono || !c) {
        st = AUDIO_E_NOMEM;
        goto out;
    }
    int64_t total = 0;
    for (;;) {
        sf_count_t got = sf_readf_float(snd, block, BLOCK_FRAMES);
        if (got <= 0)
            break;
        total += got;
        if (total > limit) {
            set_why(why, whylen, "the file is longer than %g s, the most a turn may last", max_s);
            st = AUDIO_E_TOO_LONG;
            goto out;
        }
        for (size_t i = 0; i < (size_t)got; i++) {
            float sum = 0.0f;
            for (size_t k = 0; k < ch; k++) {
                float v = block[i * ch + k];
                /* Float files may hold anything: keep the resampler's input finite and sane. */
                sum += isfinite(v) ? fminf(fmaxf(v, -1.0f), 1.0f) : 0.0f;
            }
            mono[i] = sum / (float)ch;
        }
        if (conv_push(c, mono, (size_t)got, 0)) {
            st = AUDIO_E_NOMEM;
            goto out;
        }
    }
    if (sf_error(snd) != SF_ERR_NO_ERROR) {
        set_why(why, whylen, "decoding failed after %.1f s: %s", (double)total / info.samplerate,
                sf_strerror(snd));
        goto out;
    }
    if (header_frames > 0 && total < header_frames) {
        set_why(why, whylen,
                "the file is cut short: the header announces %.1f s, only %.1f s are there",
                (double)header_frames / info.samplerate, (double)total / info.samplerate);
        goto out;
    }
    if (conv_push(c, mono, 0, 1)) {
        st = AUDIO_E_NOMEM;
        goto out;
    }
    if (c->out.n == 0) {
        set_why(why, whylen, "the file holds no audio frames");
        st = AUDIO_E_EMPTY;
        goto out;
    }
    double peak = peak_window_dbfs(c->out.s, c->out.n);
    if (peak < SILENT_DBFS) {
        set_why(why, whylen, "the loudest moment is %.0f dBFS; speech is louder than %.0f dBFS",
                peak, SILENT_DBFS);
        st = AUDIO_E_SILENT;
        goto out;
    }
    *out = c->out;
    c->out.s = NULL;
    c->out.n = 0;
    st = AUDIO_OK;
out:
    conv_free(c);
    free(block);
    free(mono);
    (void)sf_close(snd);
    return st;
}

int audio_to_16k_mono(const int16_t *in, size_t frames, int in_rate, int channels, pcm *out)
{
    out->s = NULL;
    out->n = 0;
    if (in_rate < RATE_MIN || in_rate > RATE_MAX || channels < 1 || channels > CHANNELS_MAX ||
        (!in && frames) || frames > (size_t)LONG_MAX / CHANNELS_MAX)
        return -1;
    conv *c = conv_new(in_rate, frames);
    float *mono = malloc(BLOCK_FRAMES * sizeof(float));
    int rc = -1;
    if (!c || !mono)
        goto out;
    size_t ch = (size_t)channels;
    for (size_t done = 0; done < frames;) {
        size_t n = frames - done < BLOCK_FRAMES ? frames - done : BLOCK_FRAMES;
        for (size_t i = 0; i < n; i++) {
            int32_t sum = 0;
            for (size_t k = 0; k < ch; k++)
                sum += in[(done + i) * ch + k];
            mono[i] = (float)sum / (32768.0f * (float)ch);
        }
        if (conv_push(c, mono, n, 0))
            goto out;
        done += n;
    }
    if (conv_push(c, mono, 0, 1))
        goto out;
    *out = c->out;
    c->out.s = NULL;
    c->out.n = 0;
    rc = 0;
out:
    conv_free(c);
    free(mono);
    return rc;
}

static void put_le(unsigned char *p, uint32_t v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static void put_bytes(unsigned char *p, const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (unsigned char)s[k];
}

int audio_wav_encode(const int16_t *s, size_t n, int rate, buf *out)
{
    if (rate <= 0 || (!s && n) || out->len > out->max || n > (UINT32_MAX - 36u) / 2 ||
        44 + 2 * n > out->max - out->len)
        return -1;
    uint32_t data = (uint32_t)(2 * n), r = (uint32_t)rate; /* r * 2 fits: rate is an int */
    unsigned char h[44];
    put_bytes(h, "RIFF", 4);
    put_le(h + 4, 36u + data, 4);
    put_bytes(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 16, 4); /* fmt chunk size */
    put_le(h + 20, 1, 2);  /* PCM */
    put_le(h + 22, 1, 2);  /* mono */
    put_le(h + 24, r, 4);
    put_le(h + 28, r * 2u, 4); /* bytes per second */
    put_le(h + 32, 2, 2);      /* bytes per frame */
    put_le(h + 34, 16, 2);     /* bits per sample */
    put_bytes(h + 36, "data", 4);
    put_le(h + 40, data, 4);
    size_t orig = out->len;
    if (buf_append(out, h, sizeof(h)))
        goto fail;
    /* Little-endian on any host, a block at a time. */
    unsigned char le[1024];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof(le) / 2 && i < n; k++, i++) {
            uint16_t v = (uint16_t)s[i];
            le[2 * k] = (unsigned char)(v & 0xFFu);
            le[2 * k + 1] = (unsigned char)(v >> 8);
        }
        if (buf_append(out, le, 2 * k))
            goto fail;
    }
    return 0;
fail:
    if (out->ptr) {
        out->len = orig;
        out->ptr[orig] = '\0';
    }
    return -1;
}

double audio_rms_dbfs(const int16_t *s, size_t n)
{
    if (n == 0 || !s)
        return FLOOR_DBFS;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    double ms = sum / (double)n / (32768.0 * 32768.0);
    double db = ms > 0.0 ? 10.0 * log10(ms) : FLOOR_DBFS;
    return db < FLOOR_DBFS ? FLOOR_DBFS : db;
}
