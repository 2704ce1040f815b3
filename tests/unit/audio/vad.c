/* Tests for the live VAD: voiced bursts start and end speech where they are, broadband noise
 * and clicks do not, a steady hum fades into the background, the two hangovers are what they
 * say, chunking does not change anything, real synthesized speech is found within 60 ms, and
 * the transcript heuristic only calls finished-sounding questions complete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audio/audio.h"
#include "audio/vad.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PI 3.14159265358979323846
#define SR 16000
#define MS(x) ((size_t)(x) * (SR / 1000))
#define FRAME_SAMPLES 320 /* the "±1 frame" of the tolerances */

/* ---- signals ---- */

static uint64_t rng_state;
static double urand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Du) >> 11) / (double)(1ull << 52) - 1.0;
}

static double amp_for_dbfs(double db)
{
    return 32768.0 * pow(10.0, db / 20.0);
}

typedef struct {
    int16_t *s;
    size_t n;
} sig;

static sig sig_new(size_t n)
{
    sig g = {calloc(n ? n : 1, sizeof(int16_t)), n};
    assert_non_null(g.s);
    return g;
}

static void add(sig *g, size_t at, double v)
{
    double x = g->s[at] + v;
    g->s[at] = (int16_t)lrint(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
}

/* White noise at an RMS level (uniform noise: rms = amplitude / sqrt 3). */
static void add_noise(sig *g, size_t from, size_t to, double dbfs)
{
    double a = amp_for_dbfs(dbfs) * sqrt(3.0);
    for (size_t i = from; i < to && i < g->n; i++)
        add(g, i, a * urand());
}

/* A vowel-like tone: f0 plus 5 harmonics falling at 1/h, at an RMS level. */
static void add_voiced(sig *g, size_t from, size_t to, double f0, double dbfs)
{
    double norm = 0;
    for (int h = 1; h <= 6; h++)
        norm += 0.5 / (h * h);
    double a = amp_for_dbfs(dbfs) / sqrt(norm);
    for (size_t i = from; i < to && i < g->n; i++) {
        double t = (double)(i - from) / SR, x = 0;
        for (int h = 1; h <= 6; h++)
            x += sin(2 * PI * f0 * h * t) / h;
        add(g, i, a * x);
    }
}

/* ---- recording events ---- */

typedef struct {
    vad *v;
    int n;
    vad_event_type type[32];
    uint64_t at[32];
    uint64_t when[32];     /* vad_samples_fed() inside the callback */
    int complete_on_start; /* call vad_set_complete(v, 1) from the START callback */
} rec;

static void on_event(vad_event_type t, uint64_t at, void *ud)
{
    rec *r = ud;
    assert_true(r->n < 32);
    /* START and END alternate, START first. */
    assert_int_equal(t, r->n % 2 == 0 ? VAD_SPEECH_START : VAD_SPEECH_END);
    assert_int_equal(vad_in_speech(r->v), t == VAD_SPEECH_START);
    r->type[r->n] = t;
    r->at[r->n] = at;
    r->when[r->n] = vad_samples_fed(r->v);
    assert_true(at <= r->when[r->n]);
    r->n++;
    if (t == VAD_SPEECH_START && r->complete_on_start)
        vad_set_complete(r->v, 1);
}

/* Runs a fresh detector over g in chunks of chunk samples, then flushes. */
static void run(const sig *g, size_t chunk, const vad_params *p, rec *r, int flush)
{
    int cos = r->complete_on_start;
    memset(r, 0, sizeof(*r));
    r->complete_on_start = cos;
    r->v = vad_new(p);
    assert_non_null(r->v);
    for (size_t i = 0; i < g->n; i += chunk)
        vad_feed(r->v, g->s + i, g->n - i < chunk ? g->n - i : chunk, on_event, r);
    assert_int_equal(vad_samples_fed(r->v), g->n);
    if (flush)
        vad_flush(r->v, on_event, r);
    vad_free(r->v);
    r->v = NULL;
}

static void assert_near(uint64_t got, size_t want, size_t tol, const char *what)
{
    double d = (double)got - (double)want;
    if (fabs(d) > (double)tol)
        fail_msg("%s: %.1f ms, expected %.1f ms ± %.1f ms", what, (double)got / 16.0,
                 (double)want / 16.0, (double)tol / 16.0);
}

/* 1 s of room noise, a 1 s vowel at -20 dBFS, 2 s of room noise. */
static sig burst_signal(void)
{
    rng_state = 42;
    sig g = sig_new(MS(4000));
    add_noise(&g, 0, g.n, -60);
    add_voiced(&g, MS(1000), MS(2000), 180, -20);
    return g;
}

/* ---- tests ---- */

static void test_room_noise_and_silence_are_not_speech(void **state)
{
    (void)state;
    rng_state = 1;
    sig g = sig_new(MS(5000));
    rec r = {0};
    run(&g, 320, NULL, &r, 1); /* digital silence */
    assert_int_equal(r.n, 0);
    add_noise(&g, 0, g.n, -60);
    run(&g, 320, NULL, &r, 1);
    assert_int_equal(r.n, 0);
    free(g.s);
}

static void test_voiced_burst_starts_and_ends_where_it_is(void **state)
{
    (void)state;
    sig g = burst_signal();
    rec r = {0};
    run(&g, 320, NULL, &r, 0);
    assert_int_equal(r.n, 2);
    assert_near(r.at[0], MS(1000), FRAME_SAMPLES, "start");
    assert_near(r.at[1], MS(2000), FRAME_SAMPLES, "end");
    /* Reported once min_speech_ms of it was heard, ended after the long hangover. */
    assert_near(r.when[0], MS(1000 + 100), 2 * FRAME_SAMPLES, "start decided");
    assert_near(r.when[1] - r.at[1], MS(900), FRAME_SAMPLES, "end decided after");
    free(g.s);
}

static void test_short_sounds_do_not_start_speech(void **state)
{
    (void)state;
    rng_state = 3;
    sig g = sig_new(MS(3000));
    add_noise(&g, 0, g.n, -60);
    add_voiced(&g, MS(1000), MS(1060), 200, -20); /* 60 ms < min_speech_ms */
    rec r = {0};
    run(&g, 320, NULL, &r, 1);
    assert_int_equal(r.n, 0);
    add_voiced(&g, MS(2000), MS(2150), 200, -20);
    run(&g, 320, NULL, &r, 1);
    assert_int_equal(r.n, 2);
    assert_near(r.at[0], MS(2000), FRAME_SAMPLES, "start");
    /* Without min_speech_ms the 60 ms sound counts too. */
    vad_params p;
    vad_params_default(&p);
    p.min_speech_ms = 20;
    run(&g, 320, &p, &r, 1);
    assert_int_equal(r.n, 4);
    free(g.s);
}

static void test_chunk_sizes_give_the_same_events(void **state)
{
    (void)state;
    sig g = burst_signal();
    add_voiced(&g, MS(3000), MS(3600), 120, -25); /* ended by the flush */
    rec want = {0}, got = {0};
    run(&g, 320, NULL, &want, 1);
    assert_int_equal(want.n, 4);
    static const size_t chunks[] = {800, 1600, 160, 1, 37, 999, 48000, 64000};
    for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
        run(&g, chunks[i], NULL, &got, 1);
        assert_int_equal(got.n, want.n);
        for (int k = 0; k < want.n; k++) {
            assert_int_equal(got.type[k], want.type[k]);
            assert_int_equal(got.at[k], want.at[k]);
            assert_int_equal(got.when[k], want.when[k]);
        }
    }
    free(g.s);
}

static void test_short_hangover_once_complete(void **state)
{
    (void)state;
    sig g = burst_signal();
    rec r = {0};
    r.complete_on_start = 1;
    run(&g, 320, NULL, &r, 0);
    assert_int_equal(r.n, 2);
    assert_near(r.when[1] - r.at[1], MS(400), FRAME_SAMPLES, "short hangover");

    /* Other values are honoured to the frame too. */
    vad_params p;
    vad_params_default(&p);
    p.hangover_short_ms = 250;
    p.hangover_long_ms = 1300;
    run(&g, 320, &p, &r, 0);
    assert_near(r.when[1] - r.at[1], MS(250), FRAME_SAMPLES, "short hangover 250");
    r.complete_on_start = 0;
    run(&g, 320, &p, &r, 0);
    assert_near(r.when[1] - r.at[1], MS(1300), FRAME_SAMPLES, "long hangover 1300");
    free(g.s);
}

static void test_complete_arriving_late_ends_at_once_and_resets(void **state)
{
    (void)state;
    rng_state = 5;
    sig g = sig_new(MS(5000));
    add_noise(&g, 0, g.n, -60);
    add_voiced(&g, MS(1000), MS(2000), 180, -20);
    add_voiced(&g, MS(3000), MS(3500), 180, -20);
    rec r = {0};
    r.v = vad_new(NULL);
    assert_non_null(r.v);
    /* The transcript arrives 600 ms into the silence: past the short hangover already. */
    vad_feed(r.v, g.s, MS(2600), on_event, &r);
    assert_int_equal(r.n, 1);
    vad_set_complete(r.v, 1);
    vad_feed(r.v, g.s + MS(2600), 160, on_event, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.when[1], MS(2600) + 160);
    assert_near(r.at[1], MS(2000), FRAME_SAMPLES, "end");
    /* The next utterance starts with the long hangover again. */
    vad_feed(r.v, g.s + MS(2600) + 160, g.n - MS(2600) - 160, on_event, &r);
    assert_int_equal(r.n, 4);
    assert_near(r.at[2], MS(3000), FRAME_SAMPLES, "second start");
    assert_near(r.when[3] - r.at[3], MS(900), FRAME_SAMPLES, "long hangover again");
    vad_free(r.v);

    /* vad_set_complete(v, 0) takes it back. */
    memset(&r, 0, sizeof(r));
    r.v = vad_new(NULL);
    assert_non_null(r.v);
    vad_feed(r.v, g.s, MS(1500), on_event, &r);
    vad_set_complete(r.v, 1);
    vad_set_complete(r.v, 0);
    vad_feed(r.v, g.s + MS(1500), MS(1500), on_event, &r);
    assert_int_equal(r.n, 2);
    assert_near(r.when[1] - r.at[1], MS(900), FRAME_SAMPLES, "long hangover");
    vad_free(r.v);
    free(g.s);
}

/* Pink noise (equal energy per octave, like rain or a ventilation rush), at an RMS level:
 * Paul Kellet's filter over white noise. */
static void add_pink(sig *g, size_t from, size_t to, double dbfs)
{
    double b[7] = {0}, sum = 0;
    double *y = malloc((to - from) * sizeof(double));
    assert_non_null(y);
    for (size_t i = 0; i < to - from; i++) {
        double w = urand();
        b[0] = 0.99886 * b[0] + w * 0.0555179;
        b[1] = 0.99332 * b[1] + w * 0.0750759;
        b[2] = 0.96900 * b[2] + w * 0.1538520;
        b[3] = 0.86650 * b[3] + w * 0.3104856;
        b[4] = 0.55000 * b[4] + w * 0.5329522;
        b[5] = -0.7616 * b[5] - w * 0.0168980;
        y[i] = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
        b[6] = w * 0.115926;
        sum += y[i] * y[i];
    }
    double k = amp_for_dbfs(dbfs) / sqrt(sum / (double)(to - from));
    for (size_t i = 0; i < to - from; i++)
        add(g, from + i, k * y[i]);
    free(y);
}

static void test_noise_and_clicks_are_not_speech(void **state)
{
    (void)state;
    rng_state = 7;
    sig g = sig_new(MS(12000));
    add_noise(&g, 0, g.n, -60);
    /* Loud hiss: broadband and flat, fails both spectral tests. */
    add_noise(&g, MS(1000), MS(2000), -20);
    add_noise(&g, MS(2500), MS(2800), -10);
    /* A rush of pink noise: mostly below 4 kHz like a voice, but flat there. */
    add_pink(&g, MS(3000), MS(4500), -20);
    /* A buzzer's 400 Hz click train: harmonic like a voice, but as loud up to 8 kHz. */
    for (size_t i = MS(5000); i < MS(6500); i += 40)
        add(&g, i, 12000);
    /* Clicks at 92 Hz, and a clock ticking 8 times a second. */
    for (size_t i = MS(7000); i < MS(8500); i += 173)
        add(&g, i, 20000);
    for (size_t i = MS(9000); i < MS(11000); i += 2011) {
        add(&g, i, 25000);
        add(&g, i + 1, -25000);
    }
    rec r = {0};
    run(&g, 320, NULL, &r, 1);
    if (r.n)
        fail_msg("noise or clicks taken for speech at %.0f ms", (double)r.at[0] / 16.0);
    /* The same detector does hear a voice in that room. */
    add_voiced(&g, MS(11300), MS(11700), 150, -25);
    run(&g, 320, NULL, &r, 1);
    assert_int_equal(r.n, 2);
    assert_near(r.at[0], MS(11300), FRAME_SAMPLES, "voice after the noise");
    free(g.s);
}

static void test_steady_hum_becomes_background(void **state)
{
    (void)state;
    /* From a quiet room, a 100 Hz buzz with harmonics at -30 dBFS switches on and stays: it looks
     * voiced, so it starts "speech", but within a few seconds it is the new floor. */
    rng_state = 11;
    sig g = sig_new(MS(16000));
    add_noise(&g, 0, g.n, -60);
    add_voiced(&g, MS(1000), g.n, 100, -30);
    rec r = {0};
    run(&g, 320, NULL, &r, 0);
    assert_int_equal(r.n, 2);
    assert_near(r.at[0], MS(1000), FRAME_SAMPLES, "hum starts");
    if (r.when[1] > MS(1000 + 7000))
        fail_msg("the hum took %.1f s to become background", (double)(r.when[1] - MS(1000)) / SR);
    print_message("hum became background %.1f s after it began\n",
                  (double)(r.when[1] - MS(1000)) / SR);

    /* A voice 12 dB over the hum is still heard. */
    add_voiced(&g, MS(12000), MS(13000), 210, -18);
    run(&g, 320, NULL, &r, 0);
    assert_int_equal(r.n, 4);
    assert_near(r.at[2], MS(12000), FRAME_SAMPLES, "voice over the hum");
    assert_near(r.at[3], MS(13000), FRAME_SAMPLES, "voice over the hum ends");
    free(g.s);
}

static void test_flush_ends_the_utterance(void **state)
{
    (void)state;
    sig g = burst_signal();
    rec r = {0};
    r.v = vad_new(NULL);
    assert_non_null(r.v);
    vad_flush(r.v, on_event, &r); /* nothing to end */
    assert_int_equal(r.n, 0);
    vad_feed(r.v, g.s, MS(1500), on_event, &r);
    assert_int_equal(r.n, 1);
    vad_flush(r.v, on_event, &r);
    assert_int_equal(r.n, 2);
    assert_false(vad_in_speech(r.v));
    assert_true(r.at[1] <= MS(1500) && r.at[1] + FRAME_SAMPLES >= MS(1500) - FRAME_SAMPLES);
    /* The voice goes on: it is a new utterance once min_speech_ms more is heard. */
    vad_feed(r.v, g.s + MS(1500), g.n - MS(1500), on_event, &r);
    assert_int_equal(r.n, 4);
    assert_true(r.at[2] >= r.at[1]);
    assert_near(r.at[2], MS(1500), 2 * FRAME_SAMPLES, "restart");
    assert_near(r.at[3], MS(2000), FRAME_SAMPLES, "end");
    vad_flush(r.v, NULL, NULL);
    vad_free(r.v);
    vad_free(NULL);
    free(g.s);
}

static void test_params_default_and_clamped(void **state)
{
    (void)state;
    vad_params p;
    vad_params_default(&p);
    assert_int_equal(p.hangover_short_ms, 400);
    assert_int_equal(p.hangover_long_ms, 900);
    assert_int_equal(p.min_speech_ms, 100);
    assert_true(p.threshold_db == 9.0);
    /* Nonsense values still give a working detector. */
    p.hangover_short_ms = -5;
    p.hangover_long_ms = 0;
    p.min_speech_ms = 1 << 30;
    p.threshold_db = NAN;
    sig g = burst_signal();
    rec r = {0};
    run(&g, 320, &p, &r, 1);
    assert_int_equal(r.n, 0); /* 10 s of voice needed now */
    p.min_speech_ms = 0;
    run(&g, 320, &p, &r, 1);
    assert_int_equal(r.n, 2);
    assert_near(r.when[1] - r.at[1], MS(10), FRAME_SAMPLES, "clamped hangover");
    free(g.s);
}

/* ---- real speech ---- */

static int have_flite(void)
{
    return system("command -v flite >/dev/null 2>&1") == 0;
}

static void test_real_speech_from_flite(void **state)
{
    (void)state;
    if (!have_flite())
        skip();
    const char *base = getenv("PRAXIS_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    (void)mkdir(base, 0755);
    char path[512], cmd[800];
    snprintf(path, sizeof(path), "%s/vad-flite-%ld.wav", base, (long)getpid());
    snprintf(cmd, sizeof(cmd),
             "flite -voice slt -t 'Hello, how are you feeling today?' -o '%s' 2>/dev/null", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char file[1 << 20];
    size_t len = fread(file, 1, sizeof(file), f);
    fclose(f);
    (void)unlink(path);
    pcm speech = {0};
    char why[160];
    audio_status st = audio_decode(file, len, 30000, &speech, why, sizeof(why));
    if (st != AUDIO_OK)
        fail_msg("flite output: %s (%s)", audio_status_text(st), why);

    /* 1 s of silence either side. */
    sig g = sig_new(speech.n + 2 * SR);
    memcpy(g.s + SR, speech.s, speech.n * sizeof(int16_t));
    /* Where the speech is, by level: the first and last 10 ms within 40 dB of the loudest. */
    double peak = -120;
    for (size_t i = 0; i + 160 <= speech.n; i += 160)
        peak = fmax(peak, audio_rms_dbfs(speech.s + i, 160));
    size_t onset = SIZE_MAX, offset = 0;
    for (size_t i = 0; i + 160 <= speech.n; i += 160)
        if (audio_rms_dbfs(speech.s + i, 160) > peak - 40) {
            onset = onset == SIZE_MAX ? SR + i : onset;
            offset = SR + i + 160;
        }
    pcm_free(&speech);

    static const size_t chunks[] = {320, 800, 1600};
    for (size_t c = 0; c < ARRAY_LEN(chunks); c++) {
        rec r = {0};
        run(&g, chunks[c], NULL, &r, 1);
        if (r.n != 2)
            fail_msg("%d events for one sentence", r.n);
        assert_near(r.at[0], onset, MS(60), "speech onset");
        assert_near(r.at[1], offset, MS(60), "speech offset");
        assert_near(r.when[1], offset + MS(900), MS(60), "end decided");
        if (c == 0)
            print_message("flite: onset %.0f ms, START %.0f ms; offset %.0f ms, END %.0f ms "
                          "(decided %.0f ms)\n",
                          (double)onset / 16.0, (double)r.at[0] / 16.0, (double)offset / 16.0,
                          (double)r.at[1] / 16.0, (double)r.when[1] / 16.0);
    }
    free(g.s);
}

/* ---- does the transcript look finished? ---- */

static void test_looks_complete(void **state)
{
    (void)state;
    static const char *const complete[] = {
        "how are you feeling today",
        "Hello how are you",
        "so um how long have you had the pain",
        "what brings you in today",
        "do you have any allergies",
        "is the pain worse at night",
        "can you describe the pain for me",
        "where does it hurt",
        "how bad is it",
        "what's your name",
        "and when did it start",
        "it hurts here doesn't it",
        "you've been taking it every day isn't it",
        "the pain is on the right",
        "we will do a quick test okay",
        "lie down please",
        "okay thank you",
        "thank you",
        "that's fine, thanks.",
        "HOW ARE YOU FEELING TODAY",
        "did you take   your   medication",
        "Isn’t it",
        "could you take a deep breath",
        "the pain started two days ago",
        "hello my name is sam i'm one of the doctors here",
    };
    static const char *const incomplete[] = {
        "",
        "   ",
        "hello",
        "okay",
        "um",
        "okay so",
        "alright okay",
        "how are",
        "how do you",
        "what is your",
        "do you have any",
        "is the pain worse when you",
        "so how long have you had the",
        "can you tell me about",
        "and",
        "I have a headache and",
        "I have a headache",
        "where does it hurt um",
        "the pain started two days ago and",
        "I think it started when you",
        "what brings you in today so",
        "could you please",
        "tell me more about your",
        "how long have you",
        "did you take your medication because",
        "when did the pain start and how",
        "what do you do when it",
        "it's been hurting since",
        "right",
        "please",
        "supercalifragilisticexpialidocious how are you",
    };
    for (size_t i = 0; i < ARRAY_LEN(complete); i++)
        if (!vad_looks_complete(complete[i]))
            fail_msg("should look complete: \"%s\"", complete[i]);
    for (size_t i = 0; i < ARRAY_LEN(incomplete); i++)
        if (vad_looks_complete(incomplete[i]))
            fail_msg("should not look complete: \"%s\"", incomplete[i]);
    assert_false(vad_looks_complete(NULL));

    /* Long and odd input: a word too long for any list matches none, UTF-8 is part of words. */
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(vad_looks_complete(big));
    memcpy(big + sizeof(big) - 13, " how are you", 12);
    assert_false(vad_looks_complete(big)); /* not opened by a question word */
    memcpy(big, "how are you ", 12);
    big[sizeof(big) - 13] = 'a';
    assert_true(vad_looks_complete(big)); /* the long word is no open end */
    assert_true(vad_looks_complete("how are you \xc3\xa9t\xc3\xa9"));
    assert_false(vad_looks_complete("how are you \xe2\x80\x99the"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_noise_and_silence_are_not_speech),
        cmocka_unit_test(test_voiced_burst_starts_and_ends_where_it_is),
        cmocka_unit_test(test_short_sounds_do_not_start_speech),
        cmocka_unit_test(test_chunk_sizes_give_the_same_events),
        cmocka_unit_test(test_short_hangover_once_complete),
        cmocka_unit_test(test_complete_arriving_late_ends_at_once_and_resets),
        cmocka_unit_test(test_noise_and_clicks_are_not_speech),
        cmocka_unit_test(test_steady_hum_becomes_background),
        cmocka_unit_test(test_flush_ends_the_utterance),
        cmocka_unit_test(test_params_default_and_clamped),
        cmocka_unit_test(test_real_speech_from_flite),
        cmocka_unit_test(test_looks_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
