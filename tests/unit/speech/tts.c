/* Tests for text-to-speech: the sentence splitter and the normaliser, voices for the cards,
 * audio every flite voice makes (16 kHz, audible, plausible length), stopping mid-reply,
 * hostile text, the remote engine against a stub server on 127.0.0.1, WAV reading, and four
 * threads synthesising at once (the lock-free design of docs/internals/tts.md). Prints the
 * figures the real-time path cares about: first-chunk latency, real-time factor, throughput. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "speech/tts.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <flite/flite.h>
#include <glob.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

cst_voice *register_cmu_us_slt(const char *voxdir);

static const char *const VOICES[] = {"slt", "rms", "awb", "kal"};

static tts *open_flite(void)
{
    char err[256] = "";
    tts_config cfg = {.remote = 0};
    tts *t = tts_open(&cfg, err, sizeof(err));
    if (!t)
        fail_msg("tts_open: %s", err);
    return t;
}

static double secs_since(int64_t t0)
{
    return (double)(time_mono_ns() - t0) / 1e9;
}

/* ---- sentences ----------------------------------------------------------------------------- */

static char *split_joined(const char *text)
{
    char **s = NULL;
    size_t n = tts_split_sentences(text, &s);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(s[i]) + 1;
    char *out = calloc(1, len);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, "|");
        strcat(out, s[i]);
        free(s[i]);
    }
    free(s);
    return out;
}

static void test_split_sentences(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Hello, doctor. I've had this pain for three days! Is it serious?",
         "Hello, doctor.|I've had this pain for three days!|Is it serious?"},
        {"Dr. Smith said 2.5 mg. Mr. Jones and Mrs. Brown agreed.",
         "Dr. Smith said 2.5 mg.|Mr. Jones and Mrs. Brown agreed."},
        {"Take something light, e.g. toast. Avoid fat, i.e. chips.",
         "Take something light, e.g. toast.|Avoid fat, i.e. chips."},
        {"I weigh 64.3 kg. My BP is 150/95 today.", "I weigh 64.3 kg.|My BP is 150/95 today."},
        {"I take it at 8 a.m. Then I eat.", "I take it at 8 a.m.|Then I eat."},
        {"Call me at 5 p.m. tomorrow please.", "Call me at 5 p.m. tomorrow please."},
        {"It costs $1,250.75 a year.", "It costs $1,250.75 a year."},
        {"Wait; what?", "Wait;|what?"},
        {"\"Really?\" she asked. (I think so.) Yes.", "\"Really?\"|she asked.|(I think so.)|Yes."},
        {"Well... I don't know. Hmm... maybe later.", "Well...|I don't know.|Hmm... maybe later."},
        {"It hurts approx. three times a day.", "It hurts approx. three times a day."},
        {"We went to St. Mary's. Then home.", "We went to St. Mary's.|Then home."},
        {"See www.nhs.uk for more", "See www.nhs.uk for more"},
        {"No terminator at all", "No terminator at all"},
        {"  spaces   around.   ", "spaces   around."},
        /* Long clauses are pieces of their own, the first one sooner. */
        {"When I climb the stairs at home in the evening, I get a tight feeling in my chest, and "
         "it goes into my left arm.",
         "When I climb the stairs at home in the evening,|I get a tight feeling in my chest, and "
         "it goes into my left arm."},
        {"Yes, doctor, I do.", "Yes, doctor, I do."},
        {"Oh!!! Really?!", "Oh!!!|Really?!"},
        {"Only punctuation ?!... ;;", "Only punctuation ?!..."},
        {"...?! ;; -- ..", ""},
        {"", ""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *got = split_joined(cases[i].in);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("split(\"%s\")\n  got  \"%s\"\n  want \"%s\"", cases[i].in, got,
                     cases[i].want);
        free(got);
    }
    char **s = (char **)1;
    assert_int_equal(tts_split_sentences(NULL, &s), 0);
    assert_null(s);
}

static void test_split_long_text_without_punctuation(void **state)
{
    (void)state;
    char text[2001];
    for (size_t i = 0; i < 400; i++)
        memcpy(text + i * 5, "word ", 5);
    text[2000] = '\0';
    char **s = NULL;
    size_t n = tts_split_sentences(text, &s);
    assert_true(n >= 8);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(s[i]) <= 260);
        total += strlen(s[i]);
        free(s[i]);
    }
    free(s);
    assert_true(total >= 1990);
}

/* ---- normalisation ------------------------------------------------------------------------ */

static void expect_norm(const char *in, const char *want)
{
    char *got = tts_normalise(in);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("normalise(\"%s\")\n  got  \"%s\"\n  want \"%s\"", in, got, want);
    free(got);
}

static void test_normalise(void **state)
{
    (void)state;
    expect_norm("\xe2\x80\x9cHello\xe2\x80\x9d \xe2\x80\x94 it\xe2\x80\x99s 38\xc2\xb0"
                "C\xe2\x80\xa6",
                "\"Hello\", it's 38 degrees C...");
    expect_norm("*Really* #1 __bold__ `code` <b>x</b> {y} [z] ~q~ a|b \\n",
                "Really 1 bold code b x b y z q a b n");
    expect_norm("a\x01"
                "b\tc\nd\r\ne\x7f"
                "f",
                "a b c d e f");
    expect_norm("caf\xc3\xa9 na\xc3\xafve Zo\xc3\xab \xc3\x86sop Stra\xc3\x9f"
                "e",
                "cafe naive Zoe AEsop Strasse");
    expect_norm("bad \xff\xfe bytes \xc3", "bad bytes");
    expect_norm("emoji \xf0\x9f\x98\x80 and \xe4\xb8\xad\xe6\x96\x87 text", "emoji and text");
    expect_norm("and/or 150/95 a & b 5+5 50%", "and or 150/95 a and b 5+5 50%");
    expect_norm("Stop!!!!!!! Now......", "Stop!!! Now...");
    expect_norm("well , then ; ok", "well, then; ok");
    expect_norm("", "");
    expect_norm(NULL, "");
    /* Words are cut at 40 characters. */
    char longword[101];
    memset(longword, 'a', 100);
    longword[100] = '\0';
    char *n = tts_normalise(longword);
    assert_int_equal(strlen(n), 102);
    assert_true(n[40] == ' ' && n[81] == ' ');
    free(n);
    /* The cap ends at a whole word. */
    char big[10241];
    for (size_t i = 0; i < 10240; i++)
        big[i] = "Hello there "[i % 12];
    big[10240] = '\0';
    n = tts_normalise(big);
    assert_true(strlen(n) <= TTS_TEXT_MAX && strlen(n) > TTS_TEXT_MAX - 20);
    size_t len = strlen(n);
    assert_true(strcmp(n + len - 5, "Hello") == 0 || strcmp(n + len - 5, "there") == 0);
    free(n);
    assert_int_equal(tts_has_speech("?! ..."), 0);
    assert_int_equal(tts_has_speech("... 1"), 1);
}

/* ---- voices -------------------------------------------------------------------------------- */

static void test_voice_for_cards(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob(PRAXIS_SOURCE_DIR "/data/scenarios/*.json", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 30);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_error_t e;
        json_t *doc = json_load_file(g.gl_pathv[i], 0, &e);
        assert_non_null(doc);
        json_t *card = json_object_get(doc, "patient_card");
        const char *want = json_string_value(json_object_get(card, "voice"));
        assert_non_null(want);
        assert_true(tts_voice_known(want));
        assert_string_equal(tts_voice_for(card), want);
        /* Without its voice, a card still gets one of the right gender. */
        json_t *bare = json_deep_copy(card);
        json_object_del(bare, "voice");
        const char *v = tts_voice_for(bare);
        const char *gender = json_string_value(json_object_get(card, "gender"));
        if (strcmp(gender, "female") == 0)
            assert_string_equal(v, "slt");
        else
            assert_true(strcmp(v, "rms") == 0 || strcmp(v, "awb") == 0);
        json_decref(bare);
        json_decref(doc);
    }
    globfree(&g);

    static const struct {
        const char *card, *want;
    } cases[] = {
        {"{\"gender\":\"male\",\"age\":70}", "awb"},
        {"{\"gender\":\"male\",\"age\":60}", "awb"},
        {"{\"gender\":\"Male\",\"age\":30}", "rms"},
        {"{\"gender\":\"male\"}", "rms"},
        {"{\"gender\":\"female\",\"age\":80}", "slt"},
        {"{\"voice\":\"kal\",\"gender\":\"female\"}", "kal"},
        {"{\"voice\":\"bogus\",\"gender\":\"male\",\"age\":40}", "rms"},
        {"{\"voice\":42,\"gender\":\"nonbinary\"}", "slt"},
        {"{}", "slt"},
        {"[]", "slt"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_error_t e;
        json_t *card = json_loads(cases[i].card, 0, &e);
        assert_non_null(card);
        assert_string_equal(tts_voice_for(card), cases[i].want);
        json_decref(card);
    }
    assert_string_equal(tts_voice_for(NULL), "slt");
    for (size_t i = 0; i < ARRAY_LEN(VOICES); i++)
        assert_true(tts_voice_known(VOICES[i]));
    assert_false(tts_voice_known("kal16"));
    assert_false(tts_voice_known("SLT"));
    assert_false(tts_voice_known(""));
    assert_false(tts_voice_known(NULL));
}

/* ---- audio from each voice ----------------------------------------------------------------- */

struct chunks {
    size_t calls, samples, largest;
    int64_t t0, first_ns;
    int stop_after; /* 0 = never */
};

static int count_chunk(const int16_t *pcm, size_t n, void *ud)
{
    (void)pcm;
    struct chunks *c = ud;
    if (c->calls == 0)
        c->first_ns = time_mono_ns() - c->t0;
    c->calls++;
    c->samples += n;
    if (n > c->largest)
        c->largest = n;
    return c->stop_after && (int)c->calls >= c->stop_after;
}

static const char PARAGRAPH[] =
    "Well, doctor, the pain started about three days ago. It gets worse when I climb the stairs, "
    "and sometimes it goes into my left arm. My father had a heart attack when he was sixty, so "
    "I'm quite worried about it. Should I stop going to the gym?";

static void test_each_voice_makes_audible_16k_audio(void **state)
{
    (void)state;
    tts *t = open_flite();
    size_t chars = strlen(PARAGRAPH);
    for (size_t v = 0; v < ARRAY_LEN(VOICES); v++) {
        int16_t *pcm = NULL;
        size_t n = 0;
        int64_t t0 = time_mono_ns();
        assert_int_equal(tts_synth(t, VOICES[v], PARAGRAPH, &pcm, &n), 0);
        double took = secs_since(t0);
        assert_non_null(pcm);
        double secs = (double)n / TTS_RATE;
        double ms_per_char = secs * 1000 / (double)chars;
        double sum = 0;
        int peak = 0;
        for (size_t i = 0; i < n; i++) {
            sum += (double)pcm[i] * pcm[i];
            if (abs(pcm[i]) > peak)
                peak = abs(pcm[i]);
        }
        double rms = sqrt(sum / (double)n);
        printf("  voice %s: %.2f s of audio for %zu characters (%.1f ms/char), synthesised in "
               "%.0f ms: real-time factor %.4f; rms %.0f, peak %d\n",
               VOICES[v], secs, chars, ms_per_char, took * 1000, took / secs, rms, peak);
        /* Measured 60-70 ms per character for every voice; broad bounds catch a wrong sample
         * rate (x2 or /2) or a voice that says nothing. */
        assert_true(ms_per_char > 35 && ms_per_char < 120);
        assert_true(rms > 300);
        assert_true(peak > 3000);
        free(pcm);

        /* Streamed: at most 100 ms a chunk, the same audio in total. */
        struct chunks c = {.t0 = time_mono_ns()};
        assert_int_equal(tts_speak(t, VOICES[v], PARAGRAPH, count_chunk, &c), 0);
        assert_true(c.largest <= TTS_CHUNK_MAX);
        assert_true(c.calls >= c.samples / TTS_CHUNK_MAX);
        /* Lengths are deterministic (only the excitation noise is random). */
        assert_int_equal(c.samples, n);
    }
    tts_close(t);
}

static void test_first_chunk_latency(void **state)
{
    (void)state;
    tts *t = open_flite();
    static const char reply[] =
        "Yes, it started on Monday. The pain is worse when I walk to the shops. Should I be "
        "worried about it?";
    for (size_t v = 0; v < ARRAY_LEN(VOICES); v++) {
        double best = 1e9, sum = 0;
        int runs = 5;
        for (int r = 0; r < runs; r++) {
            struct chunks c = {.t0 = time_mono_ns()};
            assert_int_equal(tts_speak(t, VOICES[v], reply, count_chunk, &c), 0);
            double ms = (double)c.first_ns / 1e6;
            sum += ms;
            if (ms < best)
                best = ms;
        }
        printf("  voice %s: first chunk of a 3-sentence reply after %.1f ms (mean of %d), best "
               "%.1f ms\n",
               VOICES[v], sum / runs, runs, best);
        /* The target is ~50 ms on a free core; the bound only catches a broken pipeline (the
         * whole reply synthesised first would be several times slower) on a busy CI box. */
        assert_true(best < 500);
    }
    buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    assert_non_null(strstr(b.ptr, "praxis_tts_first_audio_seconds_count{engine=\"flite\"}"));
    assert_non_null(strstr(b.ptr, "praxis_tts_first_audio_seconds_bucket{engine=\"flite\","
                                  "le=\"0.05\"}"));
    buf_free(&b);
    tts_close(t);
}

static void test_stop_from_callback(void **state)
{
    (void)state;
    tts *t = open_flite();
    struct chunks c = {.t0 = time_mono_ns(), .stop_after = 1};
    assert_int_equal(tts_speak(t, "slt", PARAGRAPH, count_chunk, &c), 1);
    assert_int_equal(c.calls, 1);
    c = (struct chunks){.t0 = time_mono_ns(), .stop_after = 3};
    assert_int_equal(tts_speak(t, "kal", PARAGRAPH, count_chunk, &c), 1);
    assert_int_equal(c.calls, 3);
    /* Stopping is not an error for the next reply. */
    c = (struct chunks){.t0 = time_mono_ns()};
    assert_int_equal(tts_speak(t, "kal", "Thank you.", count_chunk, &c), 0);
    assert_true(c.samples > 0);
    tts_close(t);
}

static void test_hostile_text(void **state)
{
    (void)state;
    tts *t = open_flite();
    char *big = malloc(10 * 1024 + 1);
    assert_non_null(big);
    for (size_t i = 0; i < 10 * 1024; i++)
        big[i] = "The quick brown fox, 12.5 kg; jumps! "[i % 37];
    big[10 * 1024] = '\0';
    char ctl[64];
    for (int i = 0; i < 63; i++)
        ctl[i] = (char)(i % 31 + 1);
    ctl[63] = '\0';
    static const struct {
        const char *text;
        int speaks;
    } fixed[] = {
        {"", 0},
        {"?!... ;; -- ,,, ((( )))", 0},
        {"\xf0\x9f\x98\x80\xf0\x9f\x98\xa2\xf0\x9f\x91\x8d", 0},
        {"\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", 0},
        {"\xff\xfe\xfd\xc0\xc1\xf5", 0},
        {"Caf\xc3\xa9 \xf0\x9f\x98\x80 na\xc3\xafve, r\xc3\xa9sum\xc3\xa9!", 1},
        {"99999999999999999999999999999999999999999999 1e308 0x7fffffff $$$ %%%", 1},
        {"A.B.C.D.E.F.G.H.I.J.K.L.M.N.O.P.Q.R.S.T.U.V.W.X.Y.Z.", 1},
        {"1/2/3/4/5/6/7/8 12:30:45:99 1st 2nd 3rd 101st IV XII MCMXCIV", 1},
        {"Pneumonoultramicroscopicsilicovolcanoconiosis xylophonic quazzleberry", 1},
    };
    for (size_t v = 0; v < ARRAY_LEN(VOICES); v++) {
        for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
            struct chunks c = {.t0 = time_mono_ns()};
            assert_int_equal(tts_speak(t, VOICES[v], fixed[i].text, count_chunk, &c), 0);
            if (fixed[i].speaks)
                assert_true(c.samples > 0);
            else
                assert_int_equal(c.samples, 0);
        }
        struct chunks c = {.t0 = time_mono_ns()};
        assert_int_equal(tts_speak(t, VOICES[v], ctl, count_chunk, &c), 0);
    }
    /* 10 KB is cut to TTS_TEXT_MAX: about 200 s of speech (the numbers are long), not 1000. */
    for (size_t v = 0; v < ARRAY_LEN(VOICES); v += 3) {
        struct chunks c = {.t0 = time_mono_ns()};
        assert_int_equal(tts_speak(t, VOICES[v], big, count_chunk, &c), 0);
        double secs = (double)c.samples / TTS_RATE;
        assert_true(secs > 60 && secs < 400);
    }
    /* Random bytes, any of them, on the fast voice and on a clustergen one. */
    unsigned seed = 12345;
    char junk[301];
    for (int r = 0; r < 60; r++) {
        size_t len = (size_t)(rand_r(&seed) % 300) + 1;
        for (size_t i = 0; i < len; i++)
            junk[i] = (char)(rand_r(&seed) % 255 + 1);
        junk[len] = '\0';
        struct chunks c = {.t0 = time_mono_ns()};
        assert_int_equal(tts_speak(t, r % 2 ? "kal" : "rms", junk, count_chunk, &c), 0);
    }
    free(big);
    /* Misuse answers -1, never a crash. */
    struct chunks c = {0};
    assert_int_equal(tts_speak(t, "nobody", "Hello.", count_chunk, &c), -1);
    assert_int_equal(tts_speak(t, NULL, "Hello.", count_chunk, &c), -1);
    assert_int_equal(tts_speak(t, "slt", "Hello.", NULL, NULL), -1);
    assert_int_equal(tts_speak(NULL, "slt", "Hello.", count_chunk, &c), -1);
    int16_t *pcm = (int16_t *)1;
    size_t n = 1;
    assert_int_equal(tts_synth(t, "slt", "...", &pcm, &n), 0);
    assert_null(pcm);
    assert_int_equal(n, 0);
    tts_close(t);
}

/* ---- four threads at once ------------------------------------------------------------------ */

static const char *const LINES[] = {
    "Dr. Smith said it's 2.5 mg, twice a day.",
    "I paid $1,250 for the MRI; it was the 3rd scan.",
    "She's 79 years old and her blood pressure is 150/95.",
    "Well, I don't know. Maybe it's nothing, but I'm worried.",
};

struct worker {
    tts *t;
    const char *voice; /* NULL = a different voice each round */
    int rounds;
    size_t (*expect)[ARRAY_LEN(LINES)]; /* [voice][line] samples */
    pthread_mutex_t *outer;             /* non-NULL: emulate one global lock */
    int bad;
    size_t samples;
};

static size_t voice_index(const char *v)
{
    for (size_t i = 0; i < ARRAY_LEN(VOICES); i++)
        if (strcmp(VOICES[i], v) == 0)
            return i;
    return 0;
}

static void *synth_worker(void *arg)
{
    struct worker *w = arg;
    for (int r = 0; r < w->rounds; r++) {
        size_t line = (size_t)r % ARRAY_LEN(LINES);
        const char *voice = w->voice ? w->voice : VOICES[(size_t)r % ARRAY_LEN(VOICES)];
        if (w->outer)
            pthread_mutex_lock(w->outer);
        int16_t *pcm = NULL;
        size_t n = 0;
        int rc = tts_synth(w->t, voice, LINES[line], &pcm, &n);
        if (w->outer)
            pthread_mutex_unlock(w->outer);
        if (rc != 0 || n != w->expect[voice_index(voice)][line])
            w->bad++;
        w->samples += n;
        free(pcm);
    }
    return NULL;
}

/* Runs nthreads workers; returns seconds of wall time. */
static double run_workers(tts *t, int nthreads, const char *voice, int rounds,
                          size_t (*expect)[ARRAY_LEN(LINES)], pthread_mutex_t *outer,
                          double *audio_s)
{
    struct worker w[4];
    pthread_t th[4];
    int64_t t0 = time_mono_ns();
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct worker){
            .t = t, .voice = voice, .rounds = rounds, .expect = expect, .outer = outer};
        assert_int_equal(pthread_create(&th[i], NULL, synth_worker, &w[i]), 0);
    }
    size_t samples = 0;
    for (int i = 0; i < nthreads; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
        samples += w[i].samples;
    }
    *audio_s = (double)samples / TTS_RATE;
    return secs_since(t0);
}

/* Every (name, value, refcount) of a voice's features, as one number. */
static uint64_t voice_fingerprint(const cst_voice *v)
{
    uint64_t h = 1469598103934665603u;
    for (const cst_featvalpair *p = v->features->head; p; p = p->next) {
        uint64_t parts[3] = {(uint64_t)(uintptr_t)p->name, (uint64_t)(uintptr_t)p->val,
                             cst_val_consp(p->val) ? 0u
                                                   : (uint64_t)(uint32_t)CST_VAL_REFCOUNT(p->val)};
        for (size_t i = 0; i < 3; i++) {
            h ^= parts[i];
            h *= 1099511628211u;
        }
    }
    return h;
}

struct watch {
    const cst_voice *voice;
    uint64_t expect;
    volatile int stop;
    int samples, changed;
};

static void *watch_voice(void *arg)
{
    struct watch *w = arg;
    while (!w->stop) {
        if (voice_fingerprint(w->voice) != w->expect)
            w->changed++;
        w->samples++;
        usleep(200);
    }
    return NULL;
}

static void test_four_threads_at_once(void **state)
{
    (void)state;
    tts *t = open_flite();
    size_t expect[ARRAY_LEN(VOICES)][ARRAY_LEN(LINES)];
    for (size_t v = 0; v < ARRAY_LEN(VOICES); v++)
        for (size_t l = 0; l < ARRAY_LEN(LINES); l++) {
            int16_t *pcm = NULL;
            assert_int_equal(tts_synth(t, VOICES[v], LINES[l], &pcm, &expect[v][l]), 0);
            assert_true(expect[v][l] > TTS_RATE / 2);
            free(pcm);
        }

    /* The premise of synthesising without a lock: synthesis never writes to the shared voice.
     * A watcher samples the voice's features (values and reference counts) while four threads
     * synthesise with it; older flite copied them into every utterance (count +1, then -1,
     * from every thread at once: lost updates, then a use after free). */
    const cst_voice *slt = register_cmu_us_slt(NULL);
    assert_ptr_equal(slt, register_cmu_us_slt(NULL)); /* flite caches it: the one we use */
    struct watch watch = {.voice = slt, .expect = voice_fingerprint(slt)};
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, watch_voice, &watch), 0);
    double audio = 0;
    double same = run_workers(t, 4, "slt", 8, expect, NULL, &audio);
    watch.stop = 1;
    assert_int_equal(pthread_join(wt, NULL), 0);
    assert_true(watch.samples > 10);
    assert_int_equal(watch.changed, 0);
    printf("  4 threads x 8 sentences, one voice (slt): %.2f s for %.1f s of audio\n", same, audio);

    /* Mixed voices, and the throughput against one thread and against one global lock. */
    int rounds = 8;
    double one = run_workers(t, 1, NULL, 4 * rounds, expect, NULL, &audio);
    double one_audio = audio;
    double four = run_workers(t, 4, NULL, rounds, expect, NULL, &audio);
    pthread_mutex_t global = PTHREAD_MUTEX_INITIALIZER;
    double locked_audio = 0;
    double locked = run_workers(t, 4, NULL, rounds, expect, &global, &locked_audio);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  throughput on %ld core(s), %d sentences each run, mixed voices:\n"
           "    1 thread            %6.2f s  %5.1f s of audio per second\n"
           "    4 threads, no lock  %6.2f s  %5.1f s of audio per second (x%.2f)\n"
           "    4 threads, 1 lock   %6.2f s  %5.1f s of audio per second (x%.2f)\n",
           cores, 4 * rounds, one, one_audio / one, four, audio / four, one / four, locked,
           locked_audio / locked, one / locked);
    tts_close(t);
}

/* ---- WAV ----------------------------------------------------------------------------------- */

/* A 16-bit PCM WAV of a 440 Hz tone; data_size_field overrides the data chunk size (0 = true
 * size). An optional LIST chunk before the data. */
static unsigned char *make_wav(int rate, int channels, double secs, uint32_t data_size_field,
                               int with_list, size_t *len)
{
    size_t frames = (size_t)(rate * secs);
    size_t data = frames * (size_t)channels * 2;
    size_t list = with_list ? 8 + 10 : 0;
    *len = 44 + list + data;
    unsigned char *w = calloc(1, *len);
    assert_non_null(w);
    uint32_t v;
    memcpy(w, "RIFF", 4);
    v = (uint32_t)(*len - 8);
    memcpy(w + 4, &v, 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(w + 16, &v, 4);
    uint16_t s = 1;
    memcpy(w + 20, &s, 2);
    s = (uint16_t)channels;
    memcpy(w + 22, &s, 2);
    v = (uint32_t)rate;
    memcpy(w + 24, &v, 4);
    v = (uint32_t)(rate * channels * 2);
    memcpy(w + 28, &v, 4);
    s = (uint16_t)(channels * 2);
    memcpy(w + 32, &s, 2);
    s = 16;
    memcpy(w + 34, &s, 2);
    unsigned char *p = w + 36;
    if (with_list) {
        memcpy(p, "LIST", 4);
        v = 10;
        memcpy(p + 4, &v, 4);
        memcpy(p + 8, "INFOISFT\0\0", 10);
        p += 18;
    }
    memcpy(p, "data", 4);
    v = data_size_field ? data_size_field : (uint32_t)data;
    memcpy(p + 4, &v, 4);
    int16_t *pcm = (int16_t *)(void *)(p + 8);
    for (size_t i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++)
            pcm[i * (size_t)channels + (size_t)c] =
                (int16_t)(8000 * sin(2 * M_PI * 440 * (double)i / rate));
    return w;
}


/* ---- the remote engine against a stub ------------------------------------------------------ */

enum stub_mode { STUB_WAV, STUB_WAV_STREAMED, STUB_500, STUB_401, STUB_SLOW, STUB_GARBAGE };

struct stub {
    int fd, port;
    pthread_t th;
    volatile int stop;
    enum stub_mode mode;
    int slow_ms;
    pthread_mutex_t mu;
    int requests;
    char path[128];
    char auth[256];
    char bodies[8][1024];
};

static void stub_reply(int c, const char *status, const char *ctype, const void *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, ctype, len);
    /* The client may have given up (timeouts): no SIGPIPE for that. */
    if (send(c, head, (size_t)n, MSG_NOSIGNAL) != n ||
        (len && send(c, body, len, MSG_NOSIGNAL) != (ssize_t)len))
        return;
}

static void stub_handle(struct stub *s, int c)
{
    char req[8192];
    size_t got = 0;
    char *end = NULL;
    while (got < sizeof(req) - 1) {
        ssize_t r = read(c, req + got, sizeof(req) - 1 - got);
        if (r <= 0)
            return;
        got += (size_t)r;
        req[got] = '\0';
        end = strstr(req, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(req, "Content-Length:");
            size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
            if (got - (size_t)(end + 4 - req) >= want)
                break;
        }
    }
    if (!end)
        return;
    pthread_mutex_lock(&s->mu);
    int k = s->requests++;
    sscanf(req, "%*s %127s", s->path);
    const char *auth = strcasestr(req, "Authorization: ");
    s->auth[0] = '\0';
    if (auth)
        sscanf(auth + 15, "%255[^\r]", s->auth);
    if (k < 8)
        snprintf(s->bodies[k], sizeof(s->bodies[k]), "%s", end + 4);
    enum stub_mode mode = s->mode;
    pthread_mutex_unlock(&s->mu);

    if (mode == STUB_500) {
        static const char e[] = "{\"error\":{\"message\":\"Incorrect API key provided: "
                                "sk-test-SECRET-key\"}}";
        stub_reply(c, "500 Internal Server Error", "application/json", e, sizeof(e) - 1);
    } else if (mode == STUB_401) {
        static const char e[] = "{\"error\":{\"message\":\"Incorrect API key provided: "
                                "sk-test-SECRET-key\"}}";
        stub_reply(c, "401 Unauthorized", "application/json", e, sizeof(e) - 1);
    } else if (mode == STUB_GARBAGE) {
        stub_reply(c, "200 OK", "audio/wav", "this is not audio", 17);
    } else {
        if (mode == STUB_SLOW)
            usleep((useconds_t)s->slow_ms * 1000);
        size_t len;
        unsigned char *w =
            make_wav(24000, 2, 0.5, mode == STUB_WAV_STREAMED ? 0xFFFFFFFFu : 0, 0, &len);
        stub_reply(c, "200 OK", "audio/wav", w, len);
        free(w);
    }
}

static void *stub_main(void *arg)
{
    struct stub *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        stub_handle(s, c);
        close(c);
    }
    return NULL;
}

static struct stub *stub_start(enum stub_mode mode)
{
    struct stub *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->mode = mode;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, stub_main, s), 0);
    return s;
}

static void stub_stop(struct stub *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static tts *open_remote(const struct stub *s, const char *suffix, int timeout_ms)
{
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, suffix);
    tts_config cfg = {.remote = 1,
                      .url = url,
                      .api_key = "sk-test-SECRET-key",
                      .model = "tts-test",
                      .timeout_ms = timeout_ms};
    tts *t = tts_open(&cfg, err, sizeof(err));
    if (!t)
        fail_msg("tts_open: %s", err);
    return t;
}

static void test_remote_speaks_sentence_by_sentence(void **state)
{
    (void)state;
    static const enum stub_mode modes[] = {STUB_WAV, STUB_WAV_STREAMED};
    for (size_t m = 0; m < ARRAY_LEN(modes); m++) {
        struct stub *s = stub_start(modes[m]);
        tts *t = open_remote(s, m ? "/v1/" : "", 3000);
        struct chunks c = {.t0 = time_mono_ns()};
        assert_int_equal(
            tts_speak(t, "awb", "Hello there, doctor. How are you today?", count_chunk, &c), 0);
        assert_int_equal(s->requests, 2);
        assert_string_equal(s->path, "/v1/audio/speech");
        assert_string_equal(s->auth, "Bearer sk-test-SECRET-key");
        json_error_t e;
        static const char *const inputs[] = {"Hello there, doctor.", "How are you today?"};
        for (int k = 0; k < 2; k++) {
            json_t *body = json_loads(s->bodies[k], 0, &e);
            assert_non_null(body);
            assert_string_equal(json_string_value(json_object_get(body, "model")), "tts-test");
            assert_string_equal(json_string_value(json_object_get(body, "input")), inputs[k]);
            assert_string_equal(json_string_value(json_object_get(body, "voice")), "fable");
            assert_string_equal(json_string_value(json_object_get(body, "response_format")), "wav");
            json_decref(body);
        }
        /* Two half-second answers at 24 kHz stereo: one second at 16 kHz mono. */
        assert_true(c.samples > 15800 && c.samples < 16200);
        assert_true(c.largest <= TTS_CHUNK_MAX);
        printf("  remote (stub on 127.0.0.1): first chunk after %.1f ms\n",
               (double)c.first_ns / 1e6);
        /* Barge-in stops before the second request. */
        c = (struct chunks){.t0 = time_mono_ns(), .stop_after = 1};
        assert_int_equal(tts_speak(t, "slt", "First one. Second one.", count_chunk, &c), 1);
        assert_int_equal(s->requests, 3);
        tts_close(t);
        stub_stop(s);
    }
}

static char *read_all(FILE *f)
{
    fflush(f);
    long len = ftell(f);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    return text;
}

static void test_remote_errors_are_logged_without_the_key(void **state)
{
    (void)state;
    static const struct {
        enum stub_mode mode;
        const char *says;
    } cases[] = {
        {STUB_500, "answered HTTP 500"},
        {STUB_401, "answered HTTP 401"},
        {STUB_GARBAGE, "unusable audio: the file is not WAV, FLAC or Ogg audio"},
        {STUB_SLOW, "Timeout"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        FILE *log = tmpfile();
        assert_non_null(log);
        log_init(LOG_DEBUG, log);
        struct stub *s = stub_start(cases[i].mode);
        s->slow_ms = 1500;
        tts *t = open_remote(s, "", 300);
        struct chunks c = {.t0 = time_mono_ns()};
        int64_t t0 = time_mono_ns();
        assert_int_equal(tts_speak(t, "slt", "Is it serious? Tell me.", count_chunk, &c), -1);
        double took = secs_since(t0);
        assert_int_equal(c.calls, 0);
        tts_close(t);
        log_init(LOG_ERROR, NULL);
        char *text = read_all(log);
        fclose(log);
        if (!strstr(text, cases[i].says))
            fail_msg("case %zu: the log does not say \"%s\":\n%s", i, cases[i].says, text);
        assert_null(strstr(text, "SECRET"));
        assert_non_null(strstr(text, "sentence 1 of 2"));
        if (cases[i].mode == STUB_SLOW)
            assert_true(took < 1.4); /* two attempts of 300 ms, not the stub's 1.5 s each */
        free(text);
        stub_stop(s);
    }
    /* Nobody listening. */
    struct stub *s = stub_start(STUB_WAV);
    int port = s->port;
    stub_stop(s);
    char url[64], err[160] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    tts_config cfg = {.remote = 1, .url = url, .timeout_ms = 500};
    tts *t = tts_open(&cfg, err, sizeof(err));
    assert_non_null(t);
    struct chunks c = {0};
    assert_int_equal(tts_speak(t, "slt", "Hello.", count_chunk, &c), -1);
    tts_close(t);
    /* A remote engine needs its URL. */
    tts_config none = {.remote = 1};
    assert_null(tts_open(&none, err, sizeof(err)));
    assert_non_null(strstr(err, "TTS_URL"));
}

int main(void)
{
    log_init(LOG_ERROR, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_sentences),
        cmocka_unit_test(test_split_long_text_without_punctuation),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_voice_for_cards),
        cmocka_unit_test(test_each_voice_makes_audible_16k_audio),
        cmocka_unit_test(test_first_chunk_latency),
        cmocka_unit_test(test_stop_from_callback),
        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_four_threads_at_once),
        cmocka_unit_test(test_remote_speaks_sentence_by_sentence),
        cmocka_unit_test(test_remote_errors_are_logged_without_the_key),
    };
    int failed = cmocka_run_group_tests_name("tts", tests, NULL, NULL);
    metrics_reset();
    curl_global_cleanup();
    return failed;
}
