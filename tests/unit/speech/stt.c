/* Speech-to-text on real speech: candidate lines for three shipped cards, synthesised with the
 * flite CLI in three voices, transcribed with each card's domain model and with the generic
 * model alone. Asserts the domain word error rate and prints both, with the real-time factor.
 * Also: partial hypotheses while audio streams in, word times, fillers kept, the decoder pool
 * under contention, and the remote engine against a local fake Whisper server. */
#include "core/buf.h"
#include "core/metrics.h"
#include "speech/stt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <strings.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define SCENARIOS PRAXIS_SOURCE_DIR "/data/scenarios"

/* ---- fixtures ----------------------------------------------------------------------------- */

static char tmpdir[512];

static void make_tmpdir(void)
{
    const char *base = getenv("PRAXIS_TEST_TMP");
    if (!base)
        base = "/tmp";
    (void)mkdir(base, 0755);
    snprintf(tmpdir, sizeof(tmpdir), "%s/stt-XXXXXX", base);
    assert_non_null(mkdtemp(tmpdir));
}

static json_t *load_card(const char *slug)
{
    char path[512];
    json_error_t e;
    snprintf(path, sizeof(path), "%s/%s.json", SCENARIOS, slug);
    json_t *doc = json_load_file(path, 0, &e);
    if (!doc)
        fail_msg("%s: %s", path, e.text);
    return doc;
}

static int have_flite(void)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    if (!path)
        return 0;
    snprintf(dirs, sizeof(dirs), "%s", path);
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        char exe[4200];
        snprintf(exe, sizeof(exe), "%s/flite", dir);
        if (access(exe, X_OK) == 0)
            return 1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- WAV: flite writes it, a minimal RIFF reader takes it back ---------------------------- */

static void synthesise(const char *voice, const char *text, const char *out)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execlp("flite", "flite", "-voice", voice, "-t", text, "-o", out, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* 16 kHz mono PCM16 samples of a WAV file (malloc'ed), with pad_ms of silence before. */
static int16_t *read_wav(const char *path, int pad_ms, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    unsigned char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + got > cap) {
            cap = (len + got) * 2;
            unsigned char *grown = realloc(data, cap);
            assert_non_null(grown);
            data = grown;
        }
        memcpy(data + len, chunk, got);
        len += got;
    }
    fclose(f);
    assert_true(len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WAVE", 4) == 0);
    size_t pos = 12, pad = (size_t)pad_ms * 16;
    int16_t *pcm = NULL;
    int fmt_ok = 0;
    while (pos + 8 <= len) {
        uint32_t size = le32(data + pos + 4);
        const unsigned char *body = data + pos + 8;
        assert_true(pos + 8 + size <= len);
        if (memcmp(data + pos, "fmt ", 4) == 0) {
            assert_true(size >= 16);
            fmt_ok = le16(body) == 1 && le16(body + 2) == 1 && le32(body + 4) == 16000 &&
                     le16(body + 14) == 16;
        } else if (memcmp(data + pos, "data", 4) == 0) {
            assert_true(fmt_ok);
            *n = pad + size / 2;
            pcm = calloc(*n, sizeof(*pcm));
            assert_non_null(pcm);
            for (size_t i = 0; i < size / 2; i++)
                pcm[pad + i] = (int16_t)le16(body + 2 * i);
            break;
        }
        pos += 8 + size + (size & 1);
    }
    free(data);
    assert_non_null(pcm);
    /* A microphone never gives digital silence: a little deterministic room noise throughout. */
    uint32_t seed = 12345;
    const int noise = 8; /* about -72 dBFS */
    for (size_t i = 0; i < *n; i++) {
        seed = seed * 1103515245u + 12345u;
        int v = pcm[i] + (int)((seed >> 16) % (2u * (unsigned)noise + 1)) - noise;
        pcm[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    return pcm;
}

/* ---- word error rate ---------------------------------------------------------------------- */

/* Lower case, curly apostrophes straight, anything but letters, digits and apostrophes a
 * space; rewrites s in place and returns its words (pointers into s). */
static size_t words_of(char *s, char **w, size_t max)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xE2 && (unsigned char)s[i + 1] == 0x80 && (unsigned char)s[i + 2] == 0x99) {
            s[k++] = '\'';
            i += 2;
        } else {
            s[k++] = (isalnum(c) || c == '\'') ? (char)tolower(c) : ' ';
        }
    }
    s[k] = '\0';
    for (char *save = NULL, *t = strtok_r(s, " ", &save); t && n < max;
         t = strtok_r(NULL, " ", &save))
        w[n++] = t;
    return n;
}

/* Word-level Levenshtein distance; *nref = reference length. */
static size_t word_errors(const char *ref, const char *hyp, size_t *nref)
{
    char r[2048], h[2048];
    char *rw[256], *hw[256];
    snprintf(r, sizeof(r), "%s", ref);
    snprintf(h, sizeof(h), "%s", hyp);
    size_t nr = words_of(r, rw, 256), nh = words_of(h, hw, 256);
    size_t d[257][257];
    for (size_t i = 0; i <= nr; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nh; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= nr; i++)
        for (size_t j = 1; j <= nh; j++) {
            size_t sub = d[i - 1][j - 1] + (strcmp(rw[i - 1], hw[j - 1]) != 0);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    *nref = nr;
    return d[nr][nh];
}

static void test_word_errors(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(word_errors("Hello, my name is Sarah.", "hello my name is sarah", &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(word_errors("I’m one of the nurses", "i'm one of nurses", &n), 1);
    assert_int_equal(word_errors("a b c", "x b c d", &n), 2);
    assert_int_equal(word_errors("a b c", "", &n), 3);
}

/* ---- the recognition benchmark ------------------------------------------------------------- */

typedef struct line {
    const char *card;
    const char *text;
} line;

/* What candidates say in these role-plays: openings, questions built from each card's fact
 * triggers, explanations from its tasks. */
static const line lines[] = {
    {"medicine-chest-pain-history",
     "hello mr fraser my name is doctor lee i'm one of the doctors in the emergency department"},
    {"medicine-chest-pain-history",
     "can you tell me when the pain started and what you were doing at the time"},
    {"medicine-chest-pain-history", "what did the pain feel like was it sharp or dull"},
    {"medicine-chest-pain-history", "did the pain go anywhere else like your arm or your jaw"},
    {"medicine-chest-pain-history", "do you smoke at all"},
    {"medicine-chest-pain-history", "is there any history of heart problems in your family"},
    {"medicine-chest-pain-history",
     "i understand your job is important but i would strongly advise you to stay for the "
     "second blood test"},
    {"medicine-chest-pain-history", "did your wife drive you here this morning"},
    {"medicine-chest-pain-history", "i know you want to get back to work this afternoon"},
    {"medicine-chest-pain-history", "the traffic on the way in must have been terrible"},
    {"pharmacy-asthma-preventer-inhaler",
     "hi mr ferreira i'm the pharmacist can we have a quick chat about your new inhaler"},
    {"pharmacy-asthma-preventer-inhaler", "how has your asthma been lately"},
    {"pharmacy-asthma-preventer-inhaler", "how often do you use your blue inhaler"},
    {"pharmacy-asthma-preventer-inhaler", "does your asthma wake you up at night"},
    {"pharmacy-asthma-preventer-inhaler",
     "the brown inhaler is a preventer so you need to use it every day even when you feel well"},
    {"pharmacy-asthma-preventer-inhaler", "can you show me how you take your inhaler"},
    {"pharmacy-asthma-preventer-inhaler", "remember to rinse your mouth after using it"},
    {"pharmacy-asthma-preventer-inhaler", "do you ever forget to take it in the evening"},
    {"pharmacy-asthma-preventer-inhaler", "you could set a reminder on your phone"},
    {"pharmacy-asthma-preventer-inhaler", "oh that sounds like a lovely holiday"},
    {"radiography-mri-claustrophobia",
     "hello ms petrova my name is kate and i'm the radiographer doing your scan today"},
    {"radiography-mri-claustrophobia",
     "i can see you're anxious can you tell me what worries you about the scan"},
    {"radiography-mri-claustrophobia", "has this happened before"},
    {"radiography-mri-claustrophobia",
     "the scan takes about twenty five minutes and you'll hear some loud knocking noises"},
    {"radiography-mri-claustrophobia",
     "you'll go in feet first so your head will be near the opening"},
    {"radiography-mri-claustrophobia", "we can give you headphones and you can listen to music"},
    {"radiography-mri-claustrophobia", "it's your decision and there's no pressure"},
    {"radiography-mri-claustrophobia", "would you like your sister to come in with you"},
    {"radiography-mri-claustrophobia", "if you press the buzzer we can stop the scan at any time"},
};
static const char *const voices[] = {"slt", "rms", "awb"};

#define PAD_MS 300 /* a recording starts with a little room noise before the voice */

static stt *open_engine(int decoders)
{
    char err[256] = "";
    char cache[600];
    snprintf(cache, sizeof(cache), "%s/lm", tmpdir);
    stt_config cfg = {.engine = STT_POCKETSPHINX, .cache_dir = cache, .decoders = decoders};
    stt *s = stt_open(&cfg, err, sizeof(err));
    if (!s)
        fail_msg("stt_open: %s", err);
    return s;
}

static stt *shared; /* two decoders, opened once for the pocketsphinx tests */

/* Synthesises text in voice and reads it back padded; *n samples. */
static int16_t *speech(const char *voice, const char *text, const char *name, size_t *n)
{
    char wav[700];
    snprintf(wav, sizeof(wav), "%s/%s.wav", tmpdir, name);
    synthesise(voice, text, wav);
    return read_wav(wav, PAD_MS, n);
}

static void test_recognition_wer(void **state)
{
    (void)state;
    if (!have_flite())
        skip();
    stt *s = shared;
    size_t err_domain = 0, err_generic = 0, nref_total = 0;
    double audio_s = 0, rtf_weighted = 0, wall_domain = 0;
    for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
        char name[32], key[128];
        const char *voice = voices[i % ARRAY_LEN(voices)];
        snprintf(name, sizeof(name), "line%zu", i);
        size_t n = 0;
        int16_t *pcm = speech(voice, lines[i].text, name, &n);
        json_t *card = load_card(lines[i].card);
        snprintf(key, sizeof(key), "%s-v1", lines[i].card);

        stt_result dom, gen;
        double t0 = now_s();
        assert_int_equal(stt_transcribe(s, key, card, pcm, n, &dom), 0);
        wall_domain += now_s() - t0;
        assert_int_equal(stt_transcribe(s, NULL, NULL, pcm, n, &gen), 0);
        size_t nref;
        size_t ed = word_errors(lines[i].text, dom.text, &nref);
        size_t eg = word_errors(lines[i].text, gen.text, &nref);
        err_domain += ed;
        err_generic += eg;
        nref_total += nref;
        double secs = (double)n / STT_SAMPLE_RATE;
        audio_s += secs;
        rtf_weighted += dom.rtf * secs;
        printf("  [%s] %zu/%zu errors (generic %zu)\n    ref: %s\n    hyp: %s\n    gen: %s\n",
               voice, ed, nref, eg, lines[i].text, dom.text, gen.text);
        stt_result_free(&dom);
        stt_result_free(&gen);
        json_decref(card);
        free(pcm);
    }
    double wer_domain = (double)err_domain / (double)nref_total;
    double wer_generic = (double)err_generic / (double)nref_total;
    printf("WER over %zu utterances (%zu words, %.1f s of speech, voices slt/rms/awb):\n"
           "  domain model  %.1f%%\n  generic model %.1f%%\n  real-time factor (domain, "
           "decoding CPU time / audio) %.3f; wall time with search switches %.3f\n",
           ARRAY_LEN(lines), nref_total, audio_s, 100 * wer_domain, 100 * wer_generic,
           rtf_weighted / audio_s, wall_domain / audio_s);
    assert_true(wer_domain <= 0.15);
}

/* ---- streaming: partials, times, fillers --------------------------------------------------- */

static void test_partial_while_streaming(void **state)
{
    (void)state;
    if (!have_flite())
        skip();
    static const char text[] =
        "thank you for coming in today before we start can you tell me a little bit about when "
        "the pain started and what you were doing at the time and did the pain go anywhere else "
        "like your arm or your jaw";
    size_t n = 0;
    int16_t *pcm = speech("rms", text, "long", &n);
    json_t *card = load_card("medicine-chest-pain-history");
    stt_stream *st = stt_stream_begin(shared, "medicine-chest-pain-history-v1", card);
    assert_non_null(st);
    assert_string_equal(stt_stream_partial(st), "");
    size_t first_partial = 0, partials = 0;
    char last[4096] = "";
    for (size_t off = 0; off < n; off += 1600) { /* 100 ms at a time, as a socket delivers it */
        size_t k = n - off < 1600 ? n - off : 1600;
        assert_int_equal(stt_stream_feed(st, pcm + off, k), 0);
        const char *p = stt_stream_partial(st);
        if (*p && !first_partial)
            first_partial = off + k;
        if (*p && strcmp(p, last) != 0) {
            partials++;
            snprintf(last, sizeof(last), "%s", p);
        }
    }
    stt_result r;
    assert_int_equal(stt_stream_finish(st, &r), 0);
    printf("  first partial after %.1f s of %.1f s; %zu distinct partials; last: %s\n",
           (double)first_partial / STT_SAMPLE_RATE, (double)n / STT_SAMPLE_RATE, partials, last);
    /* The work happens while the candidate speaks: words show before half the audio is in. */
    assert_true(first_partial > 0 && first_partial < n / 2);
    assert_true(partials >= 5);
    assert_int_equal(r.duration_ms, (int)(n * 1000 / STT_SAMPLE_RATE));
    assert_true(r.nwords >= 30);
    /* Times are relative to the first sample fed (the padding comes first), in order and inside
     * the audio; confidences are probabilities. */
    assert_true(r.words[0].start_ms >= PAD_MS - 100);
    double conf = 0;
    for (size_t i = 0; i < r.nwords; i++) {
        assert_true(r.words[i].start_ms <= r.words[i].end_ms);
        assert_true(r.words[i].end_ms <= r.duration_ms);
        if (i)
            assert_true(r.words[i].start_ms >= r.words[i - 1].end_ms - 10);
        assert_true(r.words[i].conf >= 0 && r.words[i].conf <= 1);
        conf += r.words[i].conf;
    }
    assert_true(conf / (double)r.nwords > 0.5);
    size_t nref, errors = word_errors(text, r.text, &nref);
    printf("  %zu errors in %zu words: %s\n", errors, nref, r.text);
    /* Feeding a finished utterance fails and says why. */
    assert_int_equal(stt_stream_feed(st, pcm, 10), -1);
    assert_non_null(strstr(stt_stream_error(st), "finished"));
    stt_result_free(&r);
    stt_stream_free(st);
    json_decref(card);
    free(pcm);
}

static size_t count_word(const stt_result *r, const char *w)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nwords; i++)
        n += strcmp(r->words[i].w, w) == 0;
    return n;
}

static void test_fillers_and_repetitions_kept(void **state)
{
    (void)state;
    if (!have_flite())
        skip();
    json_t *card = load_card("medicine-chest-pain-history");
    size_t n;
    /* rms says "um" so that pocketsphinx hears it (slt's "um" is heard as "and"). */
    int16_t *pcm = speech("rms", "um so um how long have you had the pain", "fillers", &n);
    stt_result r;
    assert_int_equal(stt_transcribe(shared, "medicine-chest-pain-history-v1", card, pcm, n, &r), 0);
    printf("  fillers: %s\n", r.text);
    assert_true(count_word(&r, "um") + count_word(&r, "uh") >= 2);
    stt_result_free(&r);
    free(pcm);

    pcm = speech("rms", "can you can you tell me when it started", "repeat", &n);
    assert_int_equal(stt_transcribe(shared, "medicine-chest-pain-history-v1", card, pcm, n, &r), 0);
    printf("  repetition: %s\n", r.text);
    assert_non_null(strstr(r.text, "can you can you"));
    stt_result_free(&r);
    free(pcm);
    json_decref(card);
}

/* A domain prepared at publish time is used by a stream that only names its key: the card's
 * own words (a patient name no dictionary has) are recognised; the generic model cannot. */
static void test_prepared_domain_by_key(void **state)
{
    (void)state;
    if (!have_flite())
        skip();
    json_t *card = load_card("pharmacy-asthma-preventer-inhaler");
    assert_int_equal(stt_prepare_domain(shared, "pharmacy-asthma-v7", card), 0);
    assert_int_equal(stt_prepare_domain(shared, "pharmacy-asthma-v7", card), 0); /* idempotent */
    size_t n;
    int16_t *pcm = speech("awb", "good morning mr ferreira", "name", &n);
    stt_result dom, gen;
    assert_int_equal(stt_transcribe(shared, "pharmacy-asthma-v7", NULL, pcm, n, &dom), 0);
    assert_int_equal(stt_transcribe(shared, NULL, NULL, pcm, n, &gen), 0);
    printf("  by key: %s | generic: %s\n", dom.text, gen.text);
    assert_non_null(strstr(dom.text, "ferreira"));
    assert_null(strstr(gen.text, "ferreira"));
    stt_result_free(&dom);
    stt_result_free(&gen);
    free(pcm);
    json_decref(card);
}

static void test_invalid_input(void **state)
{
    (void)state;
    json_t *card = load_card("pharmacy-asthma-preventer-inhaler");
    assert_null(stt_stream_begin(shared, "../../etc/passwd", card));
    assert_null(stt_stream_begin(shared, "", NULL));
    assert_int_equal(stt_prepare_domain(shared, "bad key", card), -1);
    assert_int_equal(stt_prepare_domain(shared, "good-key", NULL), -1);
    json_t *notcard = json_string("hello");
    assert_int_equal(stt_prepare_domain(shared, "good-key", notcard), -1);
    json_decref(notcard);
    assert_true(stt_domain_key_ok("0190f0a4-8f3a-7b2c-9d1e-2f3a4b5c6d7e-v3"));
    assert_false(stt_domain_key_ok("a/b"));
    json_decref(card);
}

/* ---- the pool ------------------------------------------------------------------------------ */

static void test_pool_busy_and_release(void **state)
{
    (void)state;
    char err[256] = "";
    char cache[600];
    snprintf(cache, sizeof(cache), "%s/lm", tmpdir);
    stt_config cfg = {
        .engine = STT_POCKETSPHINX, .cache_dir = cache, .decoders = 2, .timeout_ms = 300};
    stt *s = stt_open(&cfg, err, sizeof(err));
    assert_non_null(s);
    stt_stream *a = stt_stream_begin(s, NULL, NULL);
    stt_stream *b = stt_stream_begin(s, NULL, NULL);
    assert_non_null(a);
    assert_non_null(b);
    double t0 = now_s();
    assert_null(stt_stream_begin(s, NULL, NULL)); /* busy */
    double waited = now_s() - t0;
    assert_true(waited >= 0.25 && waited < 2.0);
    /* A stream freed without finishing gives its decoder back, ready for the next one. */
    int16_t quiet[1600] = {0};
    assert_int_equal(stt_stream_feed(a, quiet, ARRAY_LEN(quiet)), 0);
    stt_stream_free(a);
    stt_stream *c = stt_stream_begin(s, NULL, NULL);
    assert_non_null(c);
    assert_int_equal(stt_stream_feed(c, quiet, ARRAY_LEN(quiet)), 0);
    stt_result r;
    assert_int_equal(stt_stream_finish(c, &r), 0);
    assert_int_equal(r.duration_ms, 100);
    assert_string_equal(r.text, "");
    assert_int_equal(r.nwords, 0);
    stt_result_free(&r);
    stt_stream_free(c);
    /* An utterance with no audio at all is empty, not an error. */
    c = stt_stream_begin(s, NULL, NULL);
    assert_non_null(c);
    assert_int_equal(stt_stream_finish(c, &r), 0);
    assert_string_equal(r.text, "");
    assert_int_equal(r.duration_ms, 0);
    stt_result_free(&r);
    stt_stream_free(c);
    stt_stream_free(b);
    stt_stream_free(NULL);
    stt_close(s);
}

typedef struct job {
    const char *card;
    const char *voice;
    const char *text;
    int16_t *pcm;
    size_t n;
    char *result;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    json_t *card = load_card(j->card);
    char key[128];
    snprintf(key, sizeof(key), "%s-v1", j->card);
    stt_result r;
    if (stt_transcribe(shared, key, card, j->pcm, j->n, &r) == 0) {
        j->result = strdup(r.text);
        stt_result_free(&r);
    }
    json_decref(card);
    return NULL;
}

/* Two utterances of two scenarios decoded at once give what they give one after the other: no
 * decoder is shared, and no transcript depends on what a decoder heard before. */
static void test_concurrent_utterances(void **state)
{
    (void)state;
    if (!have_flite())
        skip();
    job jobs[] = {
        {"medicine-chest-pain-history", "awb", "have you ever had this kind of pain before", NULL,
         0, NULL},
        {"radiography-mri-claustrophobia", "slt", "what helps you calm down when you panic", NULL,
         0, NULL},
    };
    char *sequential[ARRAY_LEN(jobs)];
    for (size_t i = 0; i < ARRAY_LEN(jobs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "job%zu", i);
        jobs[i].pcm = speech(jobs[i].voice, jobs[i].text, name, &jobs[i].n);
        run_job(&jobs[i]);
        assert_non_null(jobs[i].result);
        sequential[i] = jobs[i].result;
        jobs[i].result = NULL;
    }
    pthread_t th[ARRAY_LEN(jobs)];
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ARRAY_LEN(jobs); i++)
            assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
        for (size_t i = 0; i < ARRAY_LEN(jobs); i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            assert_non_null(jobs[i].result);
            assert_string_equal(jobs[i].result, sequential[i]);
            free(jobs[i].result);
            jobs[i].result = NULL;
        }
    }
    for (size_t i = 0; i < ARRAY_LEN(jobs); i++) {
        printf("  %s\n", sequential[i]);
        free(sequential[i]);
        free(jobs[i].pcm);
    }
}

static void test_rtf_metric(void **state)
{
    (void)state;
    int16_t quiet[3200] = {0};
    stt_result r;
    assert_int_equal(stt_transcribe(shared, NULL, NULL, quiet, ARRAY_LEN(quiet), &r), 0);
    stt_result_free(&r);
    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(&out), 0);
    assert_non_null(strstr(out.ptr, "# TYPE praxis_stt_realtime_factor histogram"));
    assert_non_null(
        strstr(out.ptr, "praxis_stt_realtime_factor_bucket{engine=\"pocketsphinx\",le=\"0.3\"}"));
    assert_non_null(strstr(out.ptr, "praxis_stt_realtime_factor_count{engine=\"pocketsphinx\"}"));
    buf_free(&out);
}

/* ---- the remote engine against a fake Whisper server ---------------------------------------- */

typedef struct fake_server {
    int fd;
    int port;
    const char *status; /* "200 OK" */
    const char *body;
    int delay_ms;
    int requests;
    char problem[256]; /* what the last request lacked; "" when it was right */
    pthread_t th;
} fake_server;

static const char *find_ci(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (strncasecmp(hay + i, needle, nl) == 0)
            return hay + i;
    return NULL;
}

static const char *find_bytes(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle));
}

static void check_request(fake_server *f, const char *req, size_t hlen, const char *body,
                          size_t blen)
{
    static const char *const fields[] = {
        "name=\"model\"\r\n\r\nwhisper-test\r\n",
        "name=\"response_format\"\r\n\r\nverbose_json\r\n",
        "name=\"timestamp_granularities[]\"\r\n\r\nword\r\n",
        "name=\"file\"; filename=\"utterance.wav\"",
    };
    f->problem[0] = '\0';
    if (strncmp(req, "POST /v1/audio/transcriptions HTTP/1.1\r\n", 40) != 0)
        snprintf(f->problem, sizeof(f->problem), "request line");
    else if (!find_ci(req, hlen, "\r\nAuthorization: Bearer sekret-key\r\n"))
        snprintf(f->problem, sizeof(f->problem), "authorization");
    else if (!find_ci(req, hlen, "\r\nContent-Type: multipart/form-data; boundary="))
        snprintf(f->problem, sizeof(f->problem), "content type");
    for (size_t i = 0; i < ARRAY_LEN(fields) && !f->problem[0]; i++)
        if (!find_bytes(body, blen, fields[i]))
            snprintf(f->problem, sizeof(f->problem), "field %zu", i);
    const char *wav = find_bytes(body, blen, "RIFF");
    if (!f->problem[0] &&
        (!wav || (size_t)(body + blen - wav) < 44 || memcmp(wav + 8, "WAVEfmt ", 8) != 0 ||
         le32((const unsigned char *)wav + 24) != 16000 ||
         le16((const unsigned char *)wav + 22) != 1 || memcmp(wav + 36, "data", 4) != 0 ||
         le32((const unsigned char *)wav + 40) != 2 * 32000))
        snprintf(f->problem, sizeof(f->problem), "wav");
}

static void *serve(void *arg)
{
    fake_server *f = arg;
    for (;;) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            return NULL; /* the test shut the socket down */
        char *req = malloc(4 << 20);
        size_t len = 0, hlen = 0, clen = 0;
        for (;;) {
            ssize_t got = recv(c, req + len, (4 << 20) - 1 - len, 0);
            if (got <= 0)
                break;
            len += (size_t)got;
            req[len] = '\0';
            const char *end = hlen ? NULL : strstr(req, "\r\n\r\n");
            if (end) {
                hlen = (size_t)(end - req) + 4;
                const char *cl = find_ci(req, hlen, "\r\nContent-Length:");
                clen = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
            }
            if (hlen && len >= hlen + clen)
                break;
        }
        f->requests++;
        check_request(f, req, hlen, req + hlen, len - hlen);
        if (f->delay_ms)
            usleep((useconds_t)f->delay_ms * 1000);
        char head[256];
        int hn = snprintf(head, sizeof(head),
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: "
                          "%zu\r\nConnection: close\r\n\r\n",
                          f->status, strlen(f->body));
        (void)send(c, head, (size_t)hn, MSG_NOSIGNAL);
        (void)send(c, f->body, strlen(f->body), MSG_NOSIGNAL);
        close(c);
        free(req);
    }
}

static void fake_start(fake_server *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->fd >= 0);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->fd, 4), 0);
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
}

static void fake_stop(fake_server *f)
{
    (void)shutdown(f->fd, SHUT_RDWR);
    (void)close(f->fd);
    assert_int_equal(pthread_join(f->th, NULL), 0);
}

static stt *open_remote(const fake_server *f)
{
    char url[64], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->port);
    stt_config cfg = {.engine = STT_REMOTE,
                      .remote_url = url,
                      .remote_key = "sekret-key",
                      .remote_model = "whisper-test",
                      .timeout_ms = 400};
    stt *s = stt_open(&cfg, err, sizeof(err));
    if (!s)
        fail_msg("stt_open remote: %s", err);
    return s;
}

/* Two seconds of a tone, fed in 100 ms pieces. */
static int remote_utterance(stt *s, stt_result *r, char *err, size_t errlen, double *secs)
{
    static int16_t tone[32000];
    for (size_t i = 0; i < ARRAY_LEN(tone); i++)
        tone[i] = (int16_t)(3000 * ((i / 20) % 2 ? 1 : -1));
    stt_stream *st = stt_stream_begin(s, "any-key-v1", NULL);
    assert_non_null(st);
    for (size_t off = 0; off < ARRAY_LEN(tone); off += 1600) {
        assert_int_equal(stt_stream_feed(st, tone + off, 1600), 0);
        assert_string_equal(stt_stream_partial(st), "");
    }
    double t0 = now_s();
    int rc = stt_stream_finish(st, r);
    *secs = now_s() - t0;
    snprintf(err, errlen, "%s", stt_stream_error(st));
    stt_stream_free(st);
    return rc;
}

static void test_remote_words(void **state)
{
    (void)state;
    fake_server f = {.status = "200 OK",
                     .body = "{\"task\":\"transcribe\",\"text\":\" Hello, um, my name is Sarah.\","
                             "\"words\":[{\"word\":\"Hello,\",\"start\":0.0,\"end\":0.42},"
                             "{\"word\":\"um,\",\"start\":0.5,\"end\":0.7,\"probability\":0.4},"
                             "{\"word\":\"my\",\"start\":0.9,\"end\":1.0},"
                             "{\"word\":\"name\",\"start\":1.0,\"end\":1.3},"
                             "{\"word\":\"is\",\"start\":1.3,\"end\":1.4},"
                             "{\"word\":\"Sarah.\",\"start\":1.4,\"end\":1.9}]}"};
    fake_start(&f);
    stt *s = open_remote(&f);
    assert_int_equal(stt_prepare_domain(s, "any-key-v1", NULL), -1); /* still validates */
    stt_result r;
    char err[256];
    double secs;
    assert_int_equal(remote_utterance(s, &r, err, sizeof(err), &secs), 0);
    assert_int_equal(f.requests, 1);
    assert_string_equal(f.problem, "");
    assert_string_equal(r.text, "Hello, um, my name is Sarah.");
    assert_int_equal(r.nwords, 6);
    assert_string_equal(r.words[0].w, "hello");
    assert_int_equal(r.words[0].start_ms, 0);
    assert_int_equal(r.words[0].end_ms, 420);
    assert_true(r.words[0].conf == 1.0);
    assert_string_equal(r.words[1].w, "um"); /* fillers are words */
    assert_true(fabs(r.words[1].conf - 0.4) < 1e-9);
    assert_string_equal(r.words[5].w, "sarah");
    assert_int_equal(r.words[5].end_ms, 1900);
    assert_int_equal(r.duration_ms, 2000);
    stt_result_free(&r);
    stt_close(s);
    fake_stop(&f);
}

static void test_remote_segments_only(void **state)
{
    (void)state;
    fake_server f = {.status = "200 OK",
                     .body =
                         "{\"text\":\"How long have you had it?\",\"segments\":[{\"id\":0,"
                         "\"start\":1.0,\"end\":2.2,\"text\":\" How long have you had it?\"}]}"};
    fake_start(&f);
    stt *s = open_remote(&f);
    stt_result r;
    char err[256];
    double secs;
    assert_int_equal(remote_utterance(s, &r, err, sizeof(err), &secs), 0);
    assert_string_equal(f.problem, "");
    assert_int_equal(r.nwords, 6);
    assert_string_equal(r.words[0].w, "how");
    assert_string_equal(r.words[5].w, "it");
    assert_int_equal(r.words[0].start_ms, 1000);
    assert_int_equal(r.words[5].end_ms, 2200);
    for (size_t i = 0; i < r.nwords; i++) {
        assert_true(r.words[i].start_ms <= r.words[i].end_ms);
        assert_true(r.words[i].conf == 1.0);
        if (i)
            assert_int_equal(r.words[i].start_ms, r.words[i - 1].end_ms);
    }
    stt_result_free(&r);
    stt_close(s);
    fake_stop(&f);
}

static void test_remote_errors(void **state)
{
    (void)state;
    fake_server f = {.status = "500 Internal Server Error",
                     .body = "{\"error\":\"model crashed\"}"};
    fake_start(&f);
    stt *s = open_remote(&f);
    stt_result r;
    char err[256];
    double secs;
    assert_int_equal(remote_utterance(s, &r, err, sizeof(err), &secs), -1);
    assert_non_null(strstr(err, "HTTP 500"));
    assert_non_null(strstr(err, "model crashed"));
    assert_null(strstr(err, "sekret"));
    assert_null(r.text);

    /* A server slower than the timeout: the request is abandoned on time. */
    f.status = "200 OK";
    f.body = "{\"text\":\"late\"}";
    f.delay_ms = 1500;
    assert_int_equal(remote_utterance(s, &r, err, sizeof(err), &secs), -1);
    assert_true(secs < 1.2);
    assert_true(strstr(err, "Timeout") || strstr(err, "timed out"));
    assert_null(strstr(err, "sekret"));

    /* An utterance is capped at 60 s. */
    stt_stream *st = stt_stream_begin(s, NULL, NULL);
    static int16_t second[16000];
    for (int i = 0; i < 60; i++)
        assert_int_equal(stt_stream_feed(st, second, ARRAY_LEN(second)), 0);
    assert_int_equal(stt_stream_feed(st, second, 1), -1);
    assert_non_null(strstr(stt_stream_error(st), "60 s"));
    stt_stream_free(st);
    stt_close(s);
    fake_stop(&f);

    char e[256] = "";
    stt_config bad = {.engine = STT_REMOTE, .remote_url = "ftp://example.org"};
    assert_null(stt_open(&bad, e, sizeof(e)));
    assert_non_null(strstr(e, "http"));
    bad.remote_url = NULL;
    assert_null(stt_open(&bad, e, sizeof(e)));
}

/* ---- the group ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    make_tmpdir();
    shared = open_engine(2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stt_close(shared);
    metrics_reset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_word_errors),
        cmocka_unit_test(test_recognition_wer),
        cmocka_unit_test(test_partial_while_streaming),
        cmocka_unit_test(test_fillers_and_repetitions_kept),
        cmocka_unit_test(test_prepared_domain_by_key),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_pool_busy_and_release),
        cmocka_unit_test(test_concurrent_utterances),
        cmocka_unit_test(test_rtf_metric),
        cmocka_unit_test(test_remote_words),
        cmocka_unit_test(test_remote_segments_only),
        cmocka_unit_test(test_remote_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
