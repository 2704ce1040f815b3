/* Domain language models: text normalisation, weighted counts, the ARPA writer (every context's
 * probabilities sum to one, backoff weights are Witten-Bell's, sphinxbase reads the file and
 * agrees), the cache (miss, hit, rebuild when the card changes, stale files removed), domain key
 * validation, and flite pronunciations mapped to the recogniser's phones. */
#include "core/buf.h"
#include "speech/domain.h"
#include "speech/lm_build.h"
#include "speech/lm_text.h"
#include "speech/pron.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sphinxbase/err.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>

#define DICT "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"

static char tmpdir[512];

static void make_tmpdir(void)
{
    const char *base = getenv("PRAXIS_TEST_TMP");
    if (!base)
        base = "/tmp";
    (void)mkdir(base, 0755);
    snprintf(tmpdir, sizeof(tmpdir), "%s/lm-XXXXXX", base);
    assert_non_null(mkdtemp(tmpdir));
}

/* ---- normalisation ------------------------------------------------------------------------ */

/* Knows every word but the two abbreviations. */
static int knows_words(void *ud, const char *w)
{
    (void)ud;
    return strcmp(w, "ecg") != 0 && strcmp(w, "ct") != 0 && strcmp(w, "gp") != 0;
}

static void expect_normalised(const char *in, const char *want)
{
    buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(lm_normalise(in, knows_words, NULL, &b), 0);
    assert_string_equal(b.ptr ? b.ptr : "", want);
    buf_free(&b);
}

static void test_normalise(void **state)
{
    (void)state;
    expect_normalised("Mr. Fraser, 61, came in at 10:30.",
                      "mr fraser sixty one came in at ten thirty\n");
    expect_normalised("He takes 5mg twice a day (e.g. in the morning).",
                      "he takes five milligrams twice a day\nin the morning\n");
    expect_normalised("Take the 3rd tablet; it\xe2\x80\x99s fine!",
                      "take the third tablet\nit's fine\n");
    expect_normalised("An ECG, a CT and two GPs.", "an e c g a c t and two g p\n");
    expect_normalised("1.5 litres at 2 o'clock", "one point five litres at two o'clock\n");
    expect_normalised("a fry-up and/or 105 chips", "a fry up and or one hundred and five chips\n");
    expect_normalised("2,000 steps & 12th", "two thousand steps and twelfth\n");
    expect_normalised("caf\xc3\xa9 na\xc3\xafve 'quoted'", "cafe naive quoted\n");
    expect_normalised("   ...  ", "");
}

/* ---- counts ------------------------------------------------------------------------------- */

static void test_counts(void **state)
{
    (void)state;
    lm_counts *c = lm_counts_new();
    assert_non_null(c);
    assert_int_equal(lm_counts_add_sentence(c, "a b", 1), 0);
    assert_int_equal(lm_counts_add_sentence(c, "a c", 1), 0);
    assert_int_equal(lm_counts_add_sentence(c, "a b", 2.5), 0);
    assert_int_equal(lm_counts_add_sentence(c, "   ", 1), 0); /* no words: nothing counted */
    assert_int_equal(lm_counts_add_sentence(c, "a", 0), -1);
    assert_true(fabs(lm_counts_get(c, "a b") - 3.5) < 1e-9);
    assert_true(fabs(lm_counts_get(c, "<s> a") - 4.5) < 1e-9);
    assert_true(fabs(lm_counts_get(c, "a") - 4.5) < 1e-9);
    assert_true(fabs(lm_counts_get(c, "</s>") - 4.5) < 1e-9);
    assert_true(fabs(lm_counts_get(c, "<s> a c") - 1) < 1e-9);
    assert_true(lm_counts_get(c, "b a") == 0);
    assert_true(lm_counts_get(c, "zzz") == 0);
    lm_stats st = lm_counts_stats(c);
    assert_int_equal(st.n[0], 5); /* <s> </s> a b c */
    assert_int_equal(st.n[1], 5); /* <s> a, a b, a c, b </s>, c </s> */
    assert_int_equal(st.n[2], 4); /* <s> a b, a b </s>, <s> a c, a c </s> */
    const char **vocab = NULL;
    assert_int_equal(lm_counts_vocab(c, &vocab), 3);
    assert_string_equal(vocab[0], "a");
    assert_string_equal(vocab[2], "c");
    free(vocab);
    lm_counts_free(c);
}

/* ---- the ARPA file, read back by a small evaluator ---------------------------------------- */

#define MAXG 4096

typedef struct arpa {
    char gram[MAXG][64]; /* "w1 w2 w3" */
    double lp[MAXG];     /* log10 probability */
    double bo[MAXG];     /* log10 backoff, 0 when absent */
    int order[MAXG];
    size_t n;
    size_t declared[3];
} arpa;

static long find(const arpa *a, const char *g)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->gram[i], g) == 0)
            return (long)i;
    return -1;
}

static void parse_arpa(const char *text, arpa *a)
{
    memset(a, 0, sizeof(*a));
    int order = 0;
    char line[256];
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        unsigned o;
        size_t cnt;
        if (sscanf(line, "ngram %u=%zu", &o, &cnt) == 2) {
            assert_true(o >= 1 && o <= 3);
            a->declared[o - 1] = cnt;
        } else if (sscanf(line, "\\%u-grams:", &o) == 1) {
            order = (int)o;
        } else if (order && line[0] && line[0] != '\\') {
            char *f1 = strchr(line, '\t');
            assert_non_null(f1);
            *f1++ = '\0';
            char *f2 = strchr(f1, '\t');
            if (f2)
                *f2++ = '\0';
            assert_true(a->n < MAXG);
            a->lp[a->n] = atof(line);
            snprintf(a->gram[a->n], sizeof(a->gram[a->n]), "%s", f1);
            a->bo[a->n] = f2 ? atof(f2) : 0;
            a->order[a->n] = order;
            a->n++;
        }
    }
}

/* P(w | h) with backoff; h is "" or "u" or "u v". */
static double prob(const arpa *a, const char *h, const char *w)
{
    char g[200];
    snprintf(g, sizeof(g), "%s%s%s", h, *h ? " " : "", w);
    long i = find(a, g);
    if (i >= 0)
        return pow(10, a->lp[i]);
    if (!*h)
        return 0;
    long hi = find(a, h);
    double bo = hi >= 0 ? pow(10, a->bo[hi]) : 1;
    const char *shorter = strchr(h, ' ');
    return bo * prob(a, shorter ? shorter + 1 : "", w);
}

static lm_counts *tiny_corpus(void)
{
    static const char *const sentences[] = {
        "how long have you had the pain", "how long did it last",
        "did the pain go anywhere else",  "um how long have you had it",
        "can you tell me about the pain", "tell me more",
        "have you had the pain before",   "did it last long"};
    lm_counts *c = lm_counts_new();
    assert_non_null(c);
    for (size_t i = 0; i < ARRAY_LEN(sentences); i++)
        assert_int_equal(lm_counts_add_sentence(c, sentences[i], i == 0 ? 3 : 1), 0);
    return c;
}

static void test_arpa_probabilities(void **state)
{
    (void)state;
    lm_counts *c = tiny_corpus();
    buf out;
    buf_init(&out, 1 << 22);
    assert_int_equal(lm_write_arpa(c, &out), 0);
    arpa *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    parse_arpa(out.ptr, a);
    lm_stats st = lm_counts_stats(c);
    size_t per_order[3] = {0};
    for (size_t i = 0; i < a->n; i++)
        per_order[a->order[i] - 1]++;
    for (int o = 0; o < 3; o++) {
        assert_int_equal(a->declared[o], st.n[o]);
        assert_int_equal(per_order[o], st.n[o]);
    }
    /* <s> is never predicted. */
    assert_true(a->lp[find(a, "<s>")] <= -98);

    const char **vocab = NULL;
    size_t nv = lm_counts_vocab(c, &vocab);
    /* Every context the model knows (every unigram but </s>, every bigram), and one it does not:
     * P(. | h) over the vocabulary and </s> sums to one. */
    size_t contexts = 0;
    for (size_t i = 0; i <= a->n; i++) {
        const char *h = i < a->n ? a->gram[i] : "zzz unseen";
        if (i < a->n && (a->order[i] == 3 || strstr(h, "</s>")))
            continue;
        double sum = prob(a, h, "</s>");
        for (size_t k = 0; k < nv; k++)
            sum += prob(a, h, vocab[k]);
        if (fabs(sum - 1) > 1e-4)
            fail_msg("P(. | %s) sums to %.6f", h, sum);
        contexts++;
    }
    assert_true(contexts > 20);
    /* Backoff weights are Witten-Bell's T / (c + T), in (0, 1]: "how" was followed by "long" 5
     * times (weight 3 + 1 + 1) and by nothing else. */
    for (size_t i = 0; i < a->n; i++)
        assert_true(a->bo[i] <= 0);
    assert_true(fabs(pow(10, a->bo[find(a, "how")]) - 1.0 / (5 + 1)) < 1e-5);
    /* Interpolated: P(long | how) = (5 + 1 * P(long)) / 6. */
    double p_long = pow(10, a->lp[find(a, "long")]);
    assert_true(fabs(prob(a, "how", "long") - (5 + p_long) / 6) < 1e-5);

    /* sphinxbase reads the file and gives the same probabilities. */
    char path[600];
    snprintf(path, sizeof(path), "%s/tiny.arpa", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(out.ptr, 1, out.len, f), out.len);
    assert_int_equal(fclose(f), 0);
    logmath_t *lmath = logmath_init(1.0001, 0, 0);
    ngram_model_t *m = ngram_model_read(NULL, path, NGRAM_ARPA, lmath);
    assert_non_null(m);
    const uint32 *counts = ngram_model_get_counts(m);
    assert_int_equal(counts[0], st.n[0]);
    assert_int_equal(counts[1], st.n[1]);
    assert_int_equal(counts[2], st.n[2]);
    static const char *const probes[][3] = {{"long", "how", NULL},
                                            {"pain", "the", "had"},
                                            {"you", "can", NULL},
                                            {"me", "tell", "can"},
                                            {"pain", "tell", "can"}};
    for (size_t i = 0; i < ARRAY_LEN(probes); i++) {
        double sphinx =
            logmath_exp(lmath, ngram_probv(m, probes[i][0], probes[i][1], probes[i][2], NULL));
        char h[100];
        if (probes[i][2])
            snprintf(h, sizeof(h), "%s %s", probes[i][2], probes[i][1]);
        else
            snprintf(h, sizeof(h), "%s", probes[i][1]);
        double ours = prob(a, h, probes[i][0]);
        if (fabs(sphinx - ours) > 0.01 * ours + 1e-6)
            fail_msg("P(%s | %s): sphinxbase %.6f, ours %.6f", probes[i][0], h, sphinx, ours);
    }
    ngram_model_free(m);
    logmath_free(lmath);
    free(vocab);
    free(a);
    buf_free(&out);
    lm_counts_free(c);
}

static void test_arpa_needs_a_sentence(void **state)
{
    (void)state;
    lm_counts *c = lm_counts_new();
    buf out;
    buf_init(&out, 1 << 16);
    assert_int_equal(lm_write_arpa(c, &out), -1);
    buf_free(&out);
    lm_counts_free(c);
}

/* ---- the cache ---------------------------------------------------------------------------- */

static stt_wordset *dict;

static int setup_dict(void **state)
{
    (void)state;
    char err[200];
    dict = stt_wordset_load(DICT, err, sizeof(err));
    return dict ? 0 : -1;
}

static int teardown_dict(void **state)
{
    (void)state;
    stt_wordset_free(dict);
    return 0;
}

static json_t *fake_card(const char *extra_trigger)
{
    json_t *card =
        json_pack("{s:s, s:s, s:[{s:s, s:[s], s:s}]}", "name", "Zorblat Quimby", "gender", "male",
                  "facts", "topic", "drug", "triggers", "when did the zorbex start", "answer",
                  "I take salbutamol and frusemide.");
    assert_non_null(card);
    if (extra_trigger) {
        json_t *f = json_array_get(json_object_get(card, "facts"), 0);
        assert_int_equal(
            json_array_append_new(json_object_get(f, "triggers"), json_string(extra_trigger)), 0);
    }
    return card;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static const char *phones_of(const stt_domain *d, const char *w)
{
    for (size_t i = 0; i < d->nwords; i++)
        if (strcmp(d->words[i], w) == 0)
            return d->phones[i];
    return NULL;
}

static void test_cache(void **state)
{
    (void)state;
    static const char corpus[] = "# a comment\nhello there\nhow are you\nwhen did it start\n";
    char cache[600], err[256] = "";
    snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
    assert_int_equal(mkdir(cache, 0755), 0);
    stt_domain_env env;
    stt_domain_env_init(&env, cache, dict, DICT, corpus, sizeof(corpus) - 1);

    json_t *card = fake_card(NULL);
    stt_domain d1, d2, d3, found;
    int built = -1;
    uint64_t h;
    assert_int_equal(stt_domain_hash(&env, card, &h), 0);
    assert_int_equal(stt_domain_prepare(&env, "scen-1-v1", card, &d1, &built, err, sizeof(err)), 0);
    assert_int_equal(built, 1);
    assert_true(d1.hash == h);
    assert_true(exists(d1.lm_path));
    /* The words cmudict lacks came with flite pronunciations. */
    assert_non_null(phones_of(&d1, "zorblat"));
    assert_non_null(phones_of(&d1, "zorbex"));
    assert_non_null(phones_of(&d1, "frusemide"));
    assert_string_equal(phones_of(&d1, "zorblat"), "Z AO R B L AE T");
    assert_null(phones_of(&d1, "when")); /* cmudict has these */
    assert_null(phones_of(&d1, "quimby"));

    /* Hit: nothing built, the same files. */
    assert_int_equal(stt_domain_prepare(&env, "scen-1-v1", card, &d2, &built, err, sizeof(err)), 0);
    assert_int_equal(built, 0);
    assert_true(d2.hash == d1.hash);
    assert_string_equal(d2.lm_path, d1.lm_path);
    assert_int_equal(d2.nwords, d1.nwords);

    /* A changed card rebuilds under a new hash; the old files go. */
    json_t *card2 = fake_card("any quimbex at night");
    assert_int_equal(stt_domain_prepare(&env, "scen-1-v1", card2, &d3, &built, err, sizeof(err)),
                     0);
    assert_int_equal(built, 1);
    assert_true(d3.hash != d1.hash);
    assert_false(exists(d1.lm_path));
    assert_true(exists(d3.lm_path));
    assert_non_null(phones_of(&d3, "quimbex"));

    /* Without the card, the newest model of the key. */
    assert_int_equal(stt_domain_find_cached(&env, "scen-1-v1", &found), 0);
    assert_true(found.hash == d3.hash);
    stt_domain_clear(&found);
    assert_int_equal(stt_domain_find_cached(&env, "scen-2-v1", &found), -1);

    /* The binary model loads and knows the card's words. */
    logmath_t *lmath = logmath_init(1.0001, 0, 0);
    ngram_model_t *m = ngram_model_read(NULL, d3.lm_path, NGRAM_BIN, lmath);
    assert_non_null(m);
    assert_true(ngram_wid(m, "zorblat") != ngram_unknown_wid(m));
    assert_true(ngram_wid(m, "hello") != ngram_unknown_wid(m)); /* from the corpus */
    ngram_model_free(m);
    logmath_free(lmath);

    /* Another corpus is another hash. */
    stt_domain_env env2;
    stt_domain_env_init(&env2, cache, dict, DICT, "hello\n", 6);
    uint64_t h2;
    assert_int_equal(stt_domain_hash(&env2, card2, &h2), 0);
    assert_true(h2 != d3.hash);

    stt_domain_clear(&d2);
    assert_int_equal(stt_domain_prepare(&env, "../etc", card, &d2, &built, err, sizeof(err)), -1);
    json_t *not_card = json_integer(3);
    assert_int_equal(stt_domain_prepare(&env, "k", not_card, &d2, &built, err, sizeof(err)), -1);
    json_decref(not_card);
    stt_domain_clear(&d1);
    stt_domain_clear(&d2);
    stt_domain_clear(&d3);
    stt_domain_clear(&found);
    json_decref(card);
    json_decref(card2);
}

static void test_domain_key(void **state)
{
    (void)state;
    char long_key[STT_DOMAIN_KEY_MAX + 2];
    memset(long_key, 'a', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_true(stt_domain_key_valid("0190f0a4-8f3a-7b2c-9d1e-2f3a4b5c6d7e-v3"));
    assert_true(stt_domain_key_valid("medicine-chest-pain.v1_b"));
    assert_true(stt_domain_key_valid(long_key + 1)); /* exactly the maximum */
    assert_false(stt_domain_key_valid(long_key));
    assert_false(stt_domain_key_valid(NULL));
    assert_false(stt_domain_key_valid(""));
    assert_false(stt_domain_key_valid(".hidden"));
    assert_false(stt_domain_key_valid("-v1"));
    assert_false(stt_domain_key_valid("../etc"));
    assert_false(stt_domain_key_valid("a..b"));
    assert_false(stt_domain_key_valid("a/b"));
    assert_false(stt_domain_key_valid("a b"));
    assert_false(stt_domain_key_valid("caf\xc3\xa9"));
}

/* ---- pronunciations ----------------------------------------------------------------------- */

static int sphinx_phone(const char *p, size_t len)
{
    static const char *const set[] = {"AA", "AE", "AH", "AO", "AW", "AY", "B",  "CH", "D",  "DH",
                                      "EH", "ER", "EY", "F",  "G",  "HH", "IH", "IY", "JH", "K",
                                      "L",  "M",  "N",  "NG", "OW", "OY", "P",  "R",  "S",  "SH",
                                      "T",  "TH", "UH", "UW", "V",  "W",  "Y",  "Z",  "ZH"};
    for (size_t i = 0; i < ARRAY_LEN(set); i++)
        if (strlen(set[i]) == len && strncmp(set[i], p, len) == 0)
            return 1;
    return 0;
}

static void expect_sphinx_phones(const char *word)
{
    char ph[PRON_MAX];
    assert_int_equal(stt_pron_guess(word, ph, sizeof(ph)), 0);
    size_t n = 0;
    for (const char *p = ph; *p;) {
        size_t len = strcspn(p, " ");
        if (!sphinx_phone(p, len))
            fail_msg("%s -> %s: %.*s is not a sphinx phone", word, ph, (int)len, p);
        n++;
        p += len + (p[len] == ' ');
    }
    assert_true(n >= 3);
}

static void test_pron(void **state)
{
    (void)state;
    assert_string_equal(stt_pron_phone("ax0"), "AH");
    assert_string_equal(stt_pron_phone("axr"), "ER");
    assert_string_equal(stt_pron_phone("ey1"), "EY");
    assert_string_equal(stt_pron_phone("hh"), "HH");
    assert_string_equal(stt_pron_phone("zh"), "ZH");
    assert_null(stt_pron_phone("pau"));
    assert_null(stt_pron_phone("q"));
    assert_null(stt_pron_phone(NULL));

    char ph[PRON_MAX], ph2[PRON_MAX];
    assert_int_equal(stt_pron_guess("colin", ph, sizeof(ph)), 0);
    assert_string_equal(ph, "K OW L IH N");
    assert_int_equal(stt_pron_guess("salbutamol", ph, sizeof(ph)), 0);
    assert_string_equal(ph, "S AA L B AH T AA M AA L");
    /* Apostrophes do not change the sound. */
    assert_int_equal(stt_pron_guess("fraser's", ph, sizeof(ph)), 0);
    assert_int_equal(stt_pron_guess("frasers", ph2, sizeof(ph2)), 0);
    assert_string_equal(ph, ph2);
    /* Names and drugs no dictionary has: letter-to-sound, in the sphinx phone set. */
    expect_sphinx_phones("ferreira");
    expect_sphinx_phones("petrova");
    expect_sphinx_phones("beclometasone");
    expect_sphinx_phones("spironolactone");
    expect_sphinx_phones("xyzzyq");
    assert_int_equal(stt_pron_guess("b12", ph, sizeof(ph)), -1);
    assert_int_equal(stt_pron_guess("", ph, sizeof(ph)), -1);
    assert_int_equal(stt_pron_guess("spironolactone", ph, 8), -1); /* does not fit */
}

int main(void)
{
    make_tmpdir();
    err_set_logfp(NULL); /* sphinxbase's progress notes */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_arpa_probabilities),
        cmocka_unit_test(test_arpa_needs_a_sentence),
        cmocka_unit_test_setup_teardown(test_cache, setup_dict, teardown_dict),
        cmocka_unit_test(test_domain_key),
        cmocka_unit_test(test_pron),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
