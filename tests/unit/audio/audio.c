/* Tests for decoding uploaded turns: real WAV/FLAC/Ogg files written here with libsndfile at the
 * rates browsers and phones record at come out as 16 kHz mono of the right length and level;
 * each refusal has its status; and truncated, bit-flipped and random uploads never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/audio.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>

#define PI 3.14159265358979323846

/* ---- a writable in-memory file for libsndfile ---- */

typedef struct {
    unsigned char *p;
    sf_count_t len, cap, pos;
} memout;

static sf_count_t mo_len(void *ud)
{
    return ((memout *)ud)->len;
}

static sf_count_t mo_seek(sf_count_t off, int whence, void *ud)
{
    memout *m = ud;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (base + off < 0)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t mo_read(void *ptr, sf_count_t count, void *ud)
{
    memout *m = ud;
    sf_count_t n = m->pos >= m->len ? 0 : m->len - m->pos < count ? m->len - m->pos : count;
    if (n > 0)
        memcpy(ptr, m->p + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mo_write(const void *ptr, sf_count_t count, void *ud)
{
    memout *m = ud;
    if (m->pos + count > m->cap) {
        sf_count_t cap = m->cap ? m->cap : 4096;
        while (cap < m->pos + count)
            cap *= 2;
        m->p = realloc(m->p, (size_t)cap);
        assert_non_null(m->p);
        memset(m->p + m->cap, 0, (size_t)(cap - m->cap));
        m->cap = cap;
    }
    memcpy(m->p + m->pos, ptr, (size_t)count);
    m->pos += count;
    if (m->pos > m->len)
        m->len = m->pos;
    return count;
}

static sf_count_t mo_tell(void *ud)
{
    return ((memout *)ud)->pos;
}

/* Deterministic noise: xorshift64*. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}
static double noise(void) /* uniform in [-1, 1) */
{
    return (double)(rng() >> 11) / (double)(1ull << 52) - 1.0;
}

typedef struct {
    int format; /* SF_FORMAT_* major | sub */
    int rate;
    int channels;
    double seconds;
    double freq;  /* sine frequency */
    double amp;   /* sine amplitude, full scale 1.0 */
    double noise; /* uniform noise amplitude */
} gen;

/* Writes the described signal with libsndfile into a memory file; caller frees m.p. */
static memout make_file(const gen *g)
{
    memout m = {0};
    SF_VIRTUAL_IO vio = {mo_len, mo_seek, mo_read, mo_write, mo_tell};
    SF_INFO info = {.samplerate = g->rate, .channels = g->channels, .format = g->format};
    SNDFILE *f = sf_open_virtual(&vio, SFM_WRITE, &info, &m);
    if (!f)
        fail_msg("sf_open_virtual(write %x @%d): %s", (unsigned)g->format, g->rate,
                 sf_strerror(NULL));
    size_t frames = (size_t)lround(g->seconds * g->rate);
    size_t ch = (size_t)g->channels;
    float *x = malloc((frames ? frames : 1) * ch * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < frames; i++)
        for (size_t k = 0; k < ch; k++)
            x[i * ch + k] =
                (float)(g->amp * sin(2 * PI * g->freq * (double)i / g->rate) + g->noise * noise());
    assert_int_equal(sf_writef_float(f, x, (sf_count_t)frames), (sf_count_t)frames);
    assert_int_equal(sf_close(f), 0);
    free(x);
    return m;
}

/* RMS of the middle of a signal (the resampler's edges left out), dBFS. */
static double mid_dbfs(const pcm *p)
{
    size_t edge = p->n / 10;
    return audio_rms_dbfs(p->s + edge, p->n - 2 * edge);
}

/* Sign changes per second: twice the frequency of a clean sine. */
static double crossings_per_s(const pcm *p)
{
    size_t c = 0;
    for (size_t i = 1; i < p->n; i++)
        c += (p->s[i - 1] < 0) != (p->s[i] < 0);
    return (double)c * AUDIO_RATE / (double)p->n;
}

static audio_status decode(const memout *m, int max_ms, pcm *out, char *why, size_t whylen)
{
    return audio_decode(m->p, (size_t)m->len, max_ms, out, why, whylen);
}

/* ---- tests ---- */

static void test_real_files_decode_to_16k_mono(void **state)
{
    (void)state;
    static const struct {
        int format;
        int rate, channels;
        double level_tol, len_tol_ms;
    } cases[] = {
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 0.3, 2},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 0.3, 2},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 2, 0.3, 2},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 0.3, 2},
        {SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 1, 0.3, 2},
        {SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 2, 0.3, 2},
        {SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 44100, 2, 0.3, 2},
        {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 8000, 1, 0.3, 2},
        {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 22050, 2, 0.3, 2},
        {SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 44100, 1, 0.3, 2},
        {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 48000, 2, 0.3, 2},
        {SF_FORMAT_OGG | SF_FORMAT_VORBIS, 8000, 1, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_VORBIS, 22050, 2, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 1, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_VORBIS, 48000, 2, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 1, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 2, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_OPUS, 16000, 1, 1.0, 30},
        {SF_FORMAT_OGG | SF_FORMAT_OPUS, 8000, 1, 1.0, 30},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        gen g = {cases[i].format, cases[i].rate, cases[i].channels, 1.5, 440.0, 0.5, 0.01};
        memout m = make_file(&g);
        pcm p = {0};
        char why[200];
        audio_status st = decode(&m, 60000, &p, why, sizeof(why));
        if (st != AUDIO_OK)
            fail_msg("case %zu: %s (%s)", i, audio_status_text(st), why);
        double ms = (double)p.n * 1000.0 / AUDIO_RATE;
        double level = mid_dbfs(&p);
        double zc = crossings_per_s(&p);
        /* 0.5 amplitude sine: 20 log10(0.5 / sqrt 2) = -9.03 dBFS; the noise adds ~0.002 dB. */
        if (fabs(ms - 1500.0) > cases[i].len_tol_ms || fabs(level - -9.03) > cases[i].level_tol ||
            fabs(zc - 880.0) > 15.0)
            fail_msg("case %zu (%x @%d x%d): %.1f ms, %.2f dBFS, %.0f crossings/s", i,
                     (unsigned)cases[i].format, cases[i].rate, cases[i].channels, ms, level, zc);
        pcm_free(&p);
        assert_null(p.s);
        free(m.p);
    }
}

static void test_resampling_removes_what_16k_cannot_hold(void **state)
{
    (void)state;
    /* A 12 kHz tone cannot exist at 16 kHz; without a proper low-pass it would alias to 4 kHz. */
    gen g = {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 1, 1.0, 12000.0, 0.5, 0.0};
    memout m = make_file(&g);
    /* Nothing of it is left to hear at 16 kHz. */
    pcm p = {0};
    assert_int_equal(decode(&m, 60000, &p, NULL, 0), AUDIO_E_SILENT);
    free(m.p);

    int16_t *x = malloc(48000 * sizeof(int16_t));
    assert_non_null(x);
    for (size_t i = 0; i < 48000; i++)
        x[i] = (int16_t)lrint(16000.0 * sin(2 * PI * 12000.0 * (double)i / 48000.0));
    assert_int_equal(audio_to_16k_mono(x, 48000, 48000, 1, &p), 0);
    assert_true(p.n >= 15990 && p.n <= 16010);
    assert_true(mid_dbfs(&p) < -60.0);
    pcm_free(&p);
    free(x);
}

static void test_int16_conversion_downmixes_and_keeps_level(void **state)
{
    (void)state;
    /* Stereo 44.1 kHz: left 1 kHz, right silent; the average halves the amplitude (-6 dB). */
    size_t frames = 44100;
    int16_t *x = malloc(frames * 2 * sizeof(int16_t));
    assert_non_null(x);
    for (size_t i = 0; i < frames; i++) {
        x[2 * i] = (int16_t)lrint(16384.0 * sin(2 * PI * 1000.0 * (double)i / 44100.0));
        x[2 * i + 1] = 0;
    }
    pcm p = {0};
    assert_int_equal(audio_to_16k_mono(x, frames, 44100, 2, &p), 0);
    assert_true(p.n >= 15995 && p.n <= 16005);
    assert_true(fabs(mid_dbfs(&p) - (-9.03 - 6.02)) < 0.2);
    assert_true(fabs(crossings_per_s(&p) - 2000.0) < 10.0);
    pcm_free(&p);

    /* 16 kHz mono passes through unchanged. */
    assert_int_equal(audio_to_16k_mono(x, 1000, 16000, 1, &p), 0);
    assert_int_equal(p.n, 1000);
    assert_memory_equal(p.s, x, 1000 * sizeof(int16_t));
    pcm_free(&p);

    /* Nothing in, nothing out; arguments out of range are refused. */
    assert_int_equal(audio_to_16k_mono(NULL, 0, 8000, 1, &p), 0);
    assert_int_equal(p.n, 0);
    pcm_free(&p);
    assert_int_equal(audio_to_16k_mono(x, 10, 3999, 1, &p), -1);
    assert_int_equal(audio_to_16k_mono(x, 10, 192001, 1, &p), -1);
    assert_int_equal(audio_to_16k_mono(x, 10, 16000, 0, &p), -1);
    assert_int_equal(audio_to_16k_mono(x, 10, 16000, 9, &p), -1);
    assert_int_equal(audio_to_16k_mono(NULL, 10, 16000, 1, &p), -1);
    assert_null(p.s);
    free(x);
}

static void test_too_long_from_header_and_while_decoding(void **state)
{
    (void)state;
    gen g = {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 3.0, 440.0, 0.5, 0.0};
    memout m = make_file(&g);
    pcm p = {0};
    char why[200];
    assert_int_equal(decode(&m, 2000, &p, why, sizeof(why)), AUDIO_E_TOO_LONG);
    assert_string_equal(why, "the file is 3.0 s long; a turn is at most 2 s");
    assert_null(p.s);
    assert_int_equal(decode(&m, 3000, &p, why, sizeof(why)), AUDIO_OK);
    pcm_free(&p);
    assert_int_equal(decode(&m, 0, &p, why, sizeof(why)), AUDIO_E_TOO_LONG);
    free(m.p);

    /* A FLAC header may leave the length open (total samples 0): only decoding can tell. */
    g.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    g.seconds = 5.0;
    m = make_file(&g);
    m.p[21] &= 0xF0; /* STREAMINFO total samples: 36 bits from the low nibble of byte 21 */
    memset(m.p + 22, 0, 4);
    assert_int_equal(decode(&m, 2000, &p, why, sizeof(why)), AUDIO_E_TOO_LONG);
    assert_string_equal(why, "the file is longer than 2 s, the most a turn may last");
    assert_int_equal(decode(&m, 6000, &p, why, sizeof(why)), AUDIO_OK);
    assert_true(p.n >= 5 * AUDIO_RATE - 2 && p.n <= 5 * AUDIO_RATE + 2);
    pcm_free(&p);
    free(m.p);
}

static void test_empty_and_silent(void **state)
{
    (void)state;
    pcm p = {0};
    char why[200];
    assert_int_equal(audio_decode("", 0, 60000, &p, why, sizeof(why)), AUDIO_E_EMPTY);

    gen g = {SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 0.0, 440.0, 0.5, 0.0};
    memout m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_EMPTY);
    free(m.p);
    g.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_EMPTY);
    free(m.p);

    /* Digital silence, and a hiss with a tone far below speech level. */
    g = (gen){SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 2, 1.0, 440.0, 0.0, 0.0};
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_SILENT);
    assert_string_equal(why, "the loudest moment is -120 dBFS; speech is louder than -45 dBFS");
    free(m.p);
    g.amp = 0.005; /* -49 dBFS */
    g.noise = 0.001;
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_SILENT);
    free(m.p);
    /* One loud 20 ms word in that hiss is enough. */
    g.amp = 0.02; /* -37 dBFS */
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_OK);
    pcm_free(&p);
    free(m.p);
    assert_null(p.s);
}

static void test_unsupported(void **state)
{
    (void)state;
    pcm p = {0};
    char why[200];
    assert_int_equal(audio_decode("hello, this is not audio", 24, 60000, &p, why, sizeof(why)),
                     AUDIO_E_UNSUPPORTED);
    assert_string_equal(why, "the file is not WAV, FLAC or Ogg audio");

    /* Containers libsndfile reads but a turn is not accepted in. */
    static const int others[] = {SF_FORMAT_AIFF | SF_FORMAT_PCM_16, SF_FORMAT_AU | SF_FORMAT_PCM_16,
                                 SF_FORMAT_CAF | SF_FORMAT_PCM_16,
                                 SF_FORMAT_W64 | SF_FORMAT_PCM_16};
    for (size_t i = 0; i < ARRAY_LEN(others); i++) {
        gen g = {others[i], 16000, 1, 0.5, 440.0, 0.5, 0.0};
        memout m = make_file(&g);
        assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_UNSUPPORTED);
        free(m.p);
    }

    gen g = {SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 16000, 9, 0.5, 440.0, 0.5, 0.0};
    memout m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_UNSUPPORTED);
    assert_string_equal(why, "the file has 9 channels; at most 8 are accepted");
    free(m.p);
    g.channels = 8;
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_OK);
    pcm_free(&p);
    free(m.p);

    static const int rates[] = {3999, 192001, 1000};
    for (size_t i = 0; i < ARRAY_LEN(rates); i++) {
        g = (gen){SF_FORMAT_WAV | SF_FORMAT_PCM_16, rates[i], 1, 0.2, 440.0, 0.5, 0.0};
        m = make_file(&g);
        assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_E_UNSUPPORTED);
        assert_non_null(strstr(why, "Hz; 4000 to 192000 Hz are accepted"));
        free(m.p);
    }
    g = (gen){SF_FORMAT_WAV | SF_FORMAT_PCM_16, 4000, 1, 0.5, 440.0, 0.5, 0.0};
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_OK);
    pcm_free(&p);
    free(m.p);
    g = (gen){SF_FORMAT_WAV | SF_FORMAT_PCM_16, 192000, 1, 0.5, 440.0, 0.5, 0.0};
    m = make_file(&g);
    assert_int_equal(decode(&m, 60000, &p, why, sizeof(why)), AUDIO_OK);
    assert_true(p.n >= 7998 && p.n <= 8002);
    pcm_free(&p);
    free(m.p);
}

static void test_damaged_files_are_corrupt(void **state)
{
    (void)state;
    static const int formats[] = {SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                                  SF_FORMAT_FLAC | SF_FORMAT_PCM_16,
                                  SF_FORMAT_OGG | SF_FORMAT_VORBIS, SF_FORMAT_OGG | SF_FORMAT_OPUS};
    for (size_t i = 0; i < ARRAY_LEN(formats); i++) {
        gen g = {formats[i], 48000, 2, 2.0, 440.0, 0.5, 0.01};
        memout m = make_file(&g);
        pcm p = {0};
        char why[200];
        /* Cut in the middle of the audio. */
        audio_status st = audio_decode(m.p, (size_t)m.len / 2, 60000, &p, why, sizeof(why));
        if (st != AUDIO_E_CORRUPT)
            fail_msg("format %x cut in half: %s (%s)", (unsigned)formats[i], audio_status_text(st),
                     why);
        /* A valid header followed by garbage instead of audio. */
        if ((formats[i] & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV) { /* PCM has no invalid data */
            unsigned char *copy = malloc((size_t)m.len);
            assert_non_null(copy);
            memcpy(copy, m.p, (size_t)m.len);
            for (size_t k = (size_t)m.len / 3; k < (size_t)m.len; k++)
                copy[k] = (unsigned char)rng();
            st = audio_decode(copy, (size_t)m.len, 60000, &p, why, sizeof(why));
            if (st != AUDIO_E_CORRUPT)
                fail_msg("format %x with garbage: %s (%s)", (unsigned)formats[i],
                         audio_status_text(st), why);
            free(copy);
        }
        assert_null(p.s);
        free(m.p);
    }

    /* Ogg: one flipped bit in the audio, or anything after the last page. */
    gen g = {SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, 1, 1.0, 440.0, 0.5, 0.01};
    memout m = make_file(&g);
    pcm p = {0};
    m.p[m.len - 100] ^= 0x10;
    assert_int_equal(decode(&m, 60000, &p, NULL, 0), AUDIO_E_CORRUPT);
    m.p[m.len - 100] ^= 0x10;
    assert_int_equal(decode(&m, 60000, &p, NULL, 0), AUDIO_OK);
    pcm_free(&p);
    unsigned char *longer = malloc((size_t)m.len + 1);
    assert_non_null(longer);
    memcpy(longer, m.p, (size_t)m.len);
    longer[m.len] = 0;
    assert_int_equal(audio_decode(longer, (size_t)m.len + 1, 60000, &p, NULL, 0), AUDIO_E_CORRUPT);
    free(longer);
    free(m.p);
}

static void test_wav_encode_round_trip(void **state)
{
    (void)state;
    int16_t s[1000];
    for (size_t i = 0; i < ARRAY_LEN(s); i++)
        s[i] = (int16_t)lrint(20000.0 * sin(2 * PI * 440.0 * (double)i / 16000.0));
    s[0] = INT16_MIN;
    s[1] = INT16_MAX;
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_puts(&b, "x"), BUF_OK);
    assert_int_equal(audio_wav_encode(s, ARRAY_LEN(s), 16000, &b), 0);
    assert_int_equal(b.len, 1 + 44 + 2000);
    const unsigned char *h = (const unsigned char *)b.ptr + 1;
    static const unsigned char want[44] = {
        'R', 'I', 'F', 'F', 0xf4, 0x07, 0,   0,   'W', 'A',  'V',  'E',  'f', 'm',  't',
        ' ', 16,  0,   0,   0,    1,    0,   1,   0,   0x80, 0x3e, 0,    0,   0x00, 0x7d,
        0,   0,   2,   0,   16,   0,    'd', 'a', 't', 'a',  0xd0, 0x07, 0,   0};
    assert_memory_equal(h, want, 44);
    assert_int_equal(h[44], 0x00);
    assert_int_equal(h[45], 0x80); /* INT16_MIN little-endian */
    assert_int_equal(h[46], 0xff);
    assert_int_equal(h[47], 0x7f);

    /* What we write, we read back identically. */
    pcm p = {0};
    assert_int_equal(audio_decode(h, 2044, 60000, &p, NULL, 0), AUDIO_OK);
    assert_int_equal(p.n, ARRAY_LEN(s));
    assert_memory_equal(p.s, s, sizeof(s));
    pcm_free(&p);

    /* Too big for the buffer: refused, buffer as it was. */
    buf small;
    buf_init(&small, 44 + 1999);
    assert_int_equal(buf_puts(&small, "k"), BUF_OK);
    assert_int_equal(audio_wav_encode(s, ARRAY_LEN(s), 16000, &small), -1);
    assert_int_equal(small.len, 1);
    assert_int_equal(audio_wav_encode(s, ARRAY_LEN(s), 0, &b), -1);
    assert_int_equal(audio_wav_encode(s, 0, 8000, &small), 0);
    assert_int_equal(small.len, 45);
    buf_free(&small);
    buf_free(&b);
}

static void test_rms_dbfs(void **state)
{
    (void)state;
    int16_t s[1600];
    memset(s, 0, sizeof(s));
    assert_true(audio_rms_dbfs(s, ARRAY_LEN(s)) == -120.0);
    assert_true(audio_rms_dbfs(s, 0) == -120.0);
    for (size_t i = 0; i < ARRAY_LEN(s); i++)
        s[i] = i % 2 ? 32767 : -32767;
    assert_true(fabs(audio_rms_dbfs(s, ARRAY_LEN(s))) < 0.01);
    for (size_t i = 0; i < ARRAY_LEN(s); i++)
        s[i] = (int16_t)lrint(3277.0 * sin(2 * PI * 1000.0 * (double)i / 16000.0));
    assert_true(fabs(audio_rms_dbfs(s, ARRAY_LEN(s)) - (-23.01)) < 0.05);
    s[0] = 1;
    memset(s + 1, 0, sizeof(s) - sizeof(s[0]));
    assert_true(audio_rms_dbfs(s, ARRAY_LEN(s)) < -100.0);
}

/* How often each status came out of the hostile inputs, to see the mutations reach past the
 * first checks. */
static size_t hostile_seen[AUDIO_E_NOMEM + 1];

/* Rewrites the CRC of every whole Ogg page so mutated pages get past the CRC check and reach
 * libsndfile, libogg and the codecs. */
static void ogg_fix_crcs(unsigned char *p, size_t len)
{
    size_t off = 0;
    while (len - off >= 27 && memcmp(p + off, "OggS", 4) == 0) {
        size_t size = 27 + p[off + 26];
        if (len - off < size)
            return;
        for (size_t i = 0; i < p[off + 26]; i++)
            size += p[off + 27 + i];
        if (len - off < size)
            return;
        uint32_t crc = 0;
        memset(p + off + 22, 0, 4);
        for (size_t i = 0; i < size; i++) {
            crc ^= (uint32_t)p[off + i] << 24;
            for (int k = 0; k < 8; k++)
                crc = crc & 0x80000000u ? (crc << 1) ^ 0x04c11db7u : crc << 1;
        }
        for (size_t k = 0; k < 4; k++)
            p[off + 22 + k] = (unsigned char)(crc >> (8 * k));
        off += size;
    }
}

static void check_hostile(const unsigned char *p, size_t len, const char *what, size_t iter)
{
    pcm out = {(int16_t *)1, 1};
    char why[120];
    memset(why, 'x', sizeof(why));
    audio_status st = audio_decode(p, len, 5000, &out, why, sizeof(why));
    if (st > AUDIO_E_NOMEM)
        fail_msg("%s #%zu: status %d", what, iter, (int)st);
    hostile_seen[st]++;
    assert_non_null(memchr(why, '\0', sizeof(why)));
    assert_non_null(audio_status_text(st));
    if (st == AUDIO_OK) {
        /* 5 s at most, whatever the header claimed. */
        assert_true(out.n > 0 && out.n <= 5 * AUDIO_RATE + 64);
        pcm_free(&out);
    } else {
        assert_null(out.s);
        assert_int_equal(out.n, 0);
    }
}

static void test_hostile_input_never_crashes(void **state)
{
    (void)state;
    rng_state = 0xC0FFEE1234567ull;
    static const int formats[] = {
        SF_FORMAT_WAV | SF_FORMAT_PCM_16,    SF_FORMAT_WAV | SF_FORMAT_FLOAT,
        SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM, SF_FORMAT_FLAC | SF_FORMAT_PCM_16,
        SF_FORMAT_OGG | SF_FORMAT_VORBIS,    SF_FORMAT_OGG | SF_FORMAT_OPUS};
    static const int rates[] = {8000, 22050, 44100, 48000, 48000, 48000};
    size_t iters = 0, ok = 0;
    for (size_t f = 0; f < ARRAY_LEN(formats); f++) {
        gen g = {formats[f], rates[f], 1 + (int)(f % 2), 0.4, 300.0, 0.4, 0.05};
        memout m = make_file(&g);
        size_t len = (size_t)m.len;
        unsigned char *copy = malloc(len);
        assert_non_null(copy);
        for (size_t i = 0; i < 500; i++, iters++) {
            memcpy(copy, m.p, len);
            size_t n = len;
            switch (i % 4) {
            case 0: /* truncated anywhere, headers included */
                n = (size_t)(rng() % len);
                break;
            case 1: /* a few flipped bits anywhere */
            case 2: /* ... mostly in the headers */
                for (int k = 0; k < 1 + (int)(rng() % 4); k++) {
                    size_t at = (size_t)(rng() % (i % 4 == 2 && len > 256 ? 256 : len));
                    copy[at] = (unsigned char)(copy[at] ^ (1u << (rng() % 8)));
                }
                break;
            case 3: /* random bytes overwrite a random stretch */
            {
                size_t at = (size_t)(rng() % len), span = (size_t)(rng() % 64) + 1;
                for (size_t k = at; k < at + span && k < len; k++)
                    copy[k] = (unsigned char)rng();
                break;
            }
            }
            if ((formats[f] & SF_FORMAT_TYPEMASK) == SF_FORMAT_OGG && i % 8 >= 4)
                ogg_fix_crcs(copy, n);
            check_hostile(copy, n, "mutated", i);
        }
        /* Every other status was seen via mutation; the clean file must still decode. */
        pcm out = {0};
        assert_int_equal(audio_decode(m.p, len, 5000, &out, NULL, 0), AUDIO_OK);
        ok++;
        pcm_free(&out);
        free(copy);
        free(m.p);
    }

    /* Random buffers, bare and behind each accepted magic. */
    static const char *const magics[] = {"", "RIFF\x24\x10\0\0WAVEfmt ", "RF64\xff\xff\xff\xffWAVE",
                                         "fLaC\0\0\0\x22", "OggS\0\2"};
    unsigned char rnd[4096];
    for (size_t i = 0; i < 1000; i++, iters++) {
        size_t n = (size_t)(rng() % sizeof(rnd));
        for (size_t k = 0; k < n; k++)
            rnd[k] = (unsigned char)rng();
        const char *mg = magics[i % ARRAY_LEN(magics)];
        size_t ml = i % ARRAY_LEN(magics) == 0 ? 0
                                               : (i % 5 == 1   ? 16
                                                  : i % 5 == 2 ? 12
                                                  : i % 5 == 3 ? 8
                                                               : 6);
        if (ml <= n)
            memcpy(rnd, mg, ml);
        check_hostile(rnd, n, "random", i);
    }
    print_message("%zu hostile inputs without a crash:", iters);
    for (int st = AUDIO_OK; st <= AUDIO_E_NOMEM; st++)
        print_message(" %d:%zu", st, hostile_seen[st]);
    print_message("\n");
    assert_int_equal(ok, ARRAY_LEN(formats));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_files_decode_to_16k_mono),
        cmocka_unit_test(test_resampling_removes_what_16k_cannot_hold),
        cmocka_unit_test(test_int16_conversion_downmixes_and_keeps_level),
        cmocka_unit_test(test_too_long_from_header_and_while_decoding),
        cmocka_unit_test(test_empty_and_silent),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_damaged_files_are_corrupt),
        cmocka_unit_test(test_wav_encode_round_trip),
        cmocka_unit_test(test_rms_dbfs),
        cmocka_unit_test(test_hostile_input_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
