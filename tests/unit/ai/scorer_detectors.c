/* The scorer's detectors one at a time: question types, grammar patterns, jargon with and without
 * a lay explanation, stems, MTLD, the band tables, the compiled lexicon, voice timing metrics,
 * and the transcript-structure rules (a cue the next turn ignores, an interrupted patient, a
 * monologue, an opening) on tiny hand-made sessions. */
#include "services/ai/scorer.h"
#include "services/ai/scorer_internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static sc_probe probe(const char *text)
{
    sc_probe p;
    if (scorer_probe_text(text, &p))
        fail_msg("probe failed (OOM)");
    return p;
}

/* ---- questions ---- */

typedef struct {
    const char *text;
    int qtype, compound, leading;
} question_case;

static void test_question_types(void **state)
{
    (void)state;
    static const question_case cases[] = {
        {"Can you tell me about his bedtime routine?", Q_OPEN, 0, 0},
        {"Tell me about your diet.", Q_OPEN, 0, 0},
        {"What worries you most about the operation?", Q_OPEN, 0, 0},
        {"How has your asthma been lately?", Q_OPEN, 0, 0},
        {"Why do you think that happened?", Q_OPEN, 0, 0},
        {"Talk me through a typical day.", Q_OPEN, 0, 0},
        {"Do you smoke?", Q_CLOSED, 0, 0},
        {"Is this his first visit to a dentist?", Q_CLOSED, 0, 0},
        {"How often do you use your blue inhaler?", Q_CLOSED, 0, 0},
        {"How many cigarettes a day?", Q_CLOSED, 0, 0},
        {"When did it start?", Q_CLOSED, 0, 0},
        {"What toothpaste do you use?", Q_CLOSED, 0, 0},
        {"And the pain?", Q_CLOSED, 0, 0},
        {"You've been taking it every day?", Q_CLOSED, 0, 0},
        {"So, Mrs Rahman, what do you know about tooth decay?", Q_OPEN, 0, 0},
        {"I'd like to ask, what do you usually eat?", Q_OPEN, 0, 0},
        {"Do you smoke or do you drink?", Q_CLOSED, 1, 0},
        {"Do you smoke, do you drink?", Q_CLOSED, 1, 0},
        {"How long have you had it and how bad is it?", Q_CLOSED, 1, 0},
        {"What do you eat? What about snacks?", Q_OPEN, 1, 0},
        {"Is the pain sharp or dull?", Q_CLOSED, 0, 0},
        {"You're not smoking, are you?", Q_CLOSED, 0, 1},
        {"You don't drink much, do you?", Q_CLOSED, 0, 1},
        {"You take it every day, right?", Q_CLOSED, 0, 1},
        {"I assume you've stopped the juice?", Q_CLOSED, 0, 1},
        {"He doesn't have juice at night?", Q_CLOSED, 0, 1},
        {"We'll book the review, is that right?", Q_CLOSED, 0, 0},
        /* unpunctuated speech (a recogniser without punctuation) */
        {"how are you feeling", Q_OPEN, 0, 0},
        {"do you have any pain", Q_CLOSED, 0, 0},
        {"when you get home keep the dressing dry", Q_NONE, 0, 0},
        {"Keep the dressing dry.", Q_NONE, 0, 0},
        {"When you get home, keep the dressing dry.", Q_NONE, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sc_probe p = probe(cases[i].text);
        if (p.qtype != cases[i].qtype || p.compound != cases[i].compound ||
            p.leading != cases[i].leading)
            fail_msg("\"%s\": qtype %d compound %d leading %d, want %d %d %d", cases[i].text,
                     p.qtype, p.compound, p.leading, cases[i].qtype, cases[i].compound,
                     cases[i].leading);
    }
}

static void test_gathering_or_not(void **state)
{
    (void)state;
    assert_true(probe("What do you eat in a normal day?").gathering);
    assert_true(probe("How are you feeling?").gathering);
    assert_false(probe("How are you?").gathering);
    assert_false(probe("Does that make sense?").gathering);
    assert_false(probe("Is it okay if I ask you a few questions?").gathering);
    assert_false(probe("Is there anything else you'd like to know?").gathering);
    assert_false(probe("Can you tell me in your own words what you'll do?").gathering);
    assert_false(probe("Have I got that right?").gathering);
}

static void test_categories(void **state)
{
    (void)state;
    assert_true(probe("I can see this has been really worrying for you.").cats &
                CATBIT(CAT_EMPATHY));
    assert_true(probe("That must be so hard.").cats & CATBIT(CAT_EMPATHY));
    assert_false(probe("I can see from your notes that you had a scan.").cats &
                 CATBIT(CAT_EMPATHY));
    assert_true(probe("Now I'd like to move on to the treatment.").cats & CATBIT(CAT_SIGNPOST));
    assert_true(probe("Just to make sure I've explained it clearly, could you tell me in your own "
                      "words what you'll do?")
                    .cats &
                CATBIT(CAT_TEACH_BACK));
    assert_true(probe("You shouldn't have given him juice.").cats & CATBIT(CAT_JUDGEMENT));
    assert_true(probe("You're not a bad mother, this is very common.").cats &
                CATBIT(CAT_NORMALISE));
    assert_false(probe("You're not a bad mother, this is very common.").cats &
                 CATBIT(CAT_JUDGEMENT));
    assert_true(probe("What um do you know about it?").cats & CATBIT(CAT_KNOWLEDGE));
}

/* ---- grammar ---- */

typedef struct {
    const char *text;
    const char *kind; /* NULL: no error expected */
} grammar_case;

static void test_grammar_patterns(void **state)
{
    (void)state;
    static const grammar_case cases[] = {
        {"He have six teeth with decay.", "agreement"},
        {"She don't brush at night.", "agreement"},
        {"It need to come out.", "agreement"},
        {"They has a dog.", "agreement"},
        {"Many people is like this.", "agreement"},
        {"Does he have any pain?", NULL},
        {"Let it heal for two weeks.", NULL},
        {"It will help him sleep.", NULL},
        {"You will need a infection check.", "article"},
        {"You need operation.", "article"},
        {"It is very common problem.", "article"},
        {"Your back is muscle problem.", "article"},
        {"It is a very common problem.", NULL},
        {"An hour is enough.", NULL},
        {"Did you went to the dentist?", "tense"},
        {"I have went there before.", "tense"},
        {"You must to follow the diet.", "verb form"},
        {"I have had it since two weeks.", "tense"},
        {"Take it two time a day.", "plural"},
        {"He has six tooth with holes.", "plural"},
        {"Two teeth and three times a day.", NULL},
        {"I will give you some informations.", "word form"},
        {"Is not serious.", "sentence structure"},
        {"No, is not dangerous.", "sentence structure"},
        {"Is it serious?", NULL},
        {"Why you are resting all day?", "word order"},
        {"What toothpaste you are using?", "word order"},
        {"What toothpaste are you using?", NULL},
        {"How many times you use it in one day?", "word order"},
        {"Who cook at home?", "agreement"},
        {"Who cooks at home?", NULL},
        {"The doctor explained everything, so you are ready to go home.", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sc_probe p = probe(cases[i].text);
        if (!cases[i].kind && p.nerrors)
            fail_msg("\"%s\": unexpected %s", cases[i].text, p.kinds);
        if (cases[i].kind && !strstr(p.kinds, cases[i].kind))
            fail_msg("\"%s\": got \"%s\", want %s", cases[i].text, p.kinds, cases[i].kind);
    }
}

/* ---- jargon ---- */

static void test_jargon(void **state)
{
    (void)state;
    assert_int_equal(probe("Your readings show hypertension.").njargon, 1);
    assert_int_equal(
        probe("Your readings show hypertension, which means high blood pressure.").njargon, 0);
    assert_int_equal(
        probe("Your blood pressure is high; the medical word is hypertension.").njargon, 0);
    assert_int_equal(probe("Zayn has caries.").njargon, 1);
    assert_int_equal(probe("Zayn has caries, that is, tooth decay.").njargon, 0);
    /* a generic lay word nearby ("tooth") does not explain "extraction" on its own */
    assert_int_equal(probe("One tooth at the back needs extraction.").njargon, 1);
    assert_int_equal(probe("One tooth needs extraction, which means taking the tooth out.").njargon,
                     0);
    /* the longest term wins: one term, not two */
    assert_int_equal(probe("You have a deep vein thrombosis.").njargon, 1);
    assert_int_equal(probe("We'll do some bloods and keep you comfortable.").njargon, 0);
}

/* ---- text helpers, MTLD, bands, lexicon ---- */

static void test_stems(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    static const char *const pairs[][2] = {
        {"drinks", "drink"},      {"drinking", "drink"}, {"drank", "drink"},
        {"allergies", "allergy"}, {"teeth", "tooth"},    {"brushes", "brush"},
        {"stopped", "stop"},      {"usually", "usual"},  {"glasses", "glass"},
        {"told", "tell"},         {"sinus", "sinus"},    {"diagnosis", "diagnosis"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        const char *s = scorer_stem(a, pairs[i][0]);
        const char *t = scorer_stem(a, pairs[i][1]);
        if (strcmp(s, t) != 0)
            fail_msg("stem(%s) = %s but stem(%s) = %s", pairs[i][0], s, pairs[i][1], t);
    }
    arena_free(a);
}

static void test_mtld(void **state)
{
    (void)state;
    const char *varied[] = {"the",     "preventer", "calms", "swelling", "inside",  "your",
                            "airways", "so",        "over",  "time",     "you",     "need",
                            "blue",    "reliever",  "much",  "less",     "rinse",   "mouth",
                            "after",   "each",      "dose",  "avoid",    "thrush",  "sore",
                            "throat",  "hoarse",    "voice", "morning",  "evening", "daily"};
    const char *repetitive[30];
    for (size_t i = 0; i < 30; i++)
        repetitive[i] = i % 3 == 0 ? "you" : i % 3 == 1 ? "must" : "stop";
    double v = scorer_mtld(varied, 30), r = scorer_mtld(repetitive, 30);
    assert_true(v > 2 * r);
    assert_true(r < 10);
    assert_true(scorer_mtld(NULL, 0) == 0);
}

static void test_bands(void **state)
{
    (void)state;
    assert_int_equal(scorer_band_estimate(0), 0);
    assert_int_equal(scorer_band_estimate(39), 500);
    assert_int_equal(scorer_band_estimate(29), 350);
    assert_int_equal(scorer_band_estimate(35), 450);
    assert_int_equal(scorer_band_estimate(17), 200);
    int prev = -1;
    for (double raw = 0; raw <= 39.0; raw += 0.25) {
        int e = scorer_band_estimate(raw);
        assert_true(e >= prev);
        assert_int_equal(e % 10, 0);
        prev = e;
    }
    assert_string_equal(scorer_band_grade(500), "A");
    assert_string_equal(scorer_band_grade(450), "A");
    assert_string_equal(scorer_band_grade(440), "B");
    assert_string_equal(scorer_band_grade(350), "B");
    assert_string_equal(scorer_band_grade(340), "C+");
    assert_string_equal(scorer_band_grade(300), "C+");
    assert_string_equal(scorer_band_grade(290), "C");
    assert_string_equal(scorer_band_grade(200), "C");
    assert_string_equal(scorer_band_grade(190), "D");
    assert_string_equal(scorer_band_grade(100), "D");
    assert_string_equal(scorer_band_grade(90), "E");
    assert_int_equal(scorer_band_clinical(1.0), 3);
    assert_int_equal(scorer_band_clinical(0.8), 3);
    assert_int_equal(scorer_band_clinical(0.6), 2);
    assert_int_equal(scorer_band_clinical(0.3), 1);
    assert_int_equal(scorer_band_clinical(0.1), 0);
    assert_int_equal(scorer_band_intelligibility(0.95, 0.02), 6);
    assert_int_equal(scorer_band_intelligibility(0.95, 0.30), 2);
    assert_int_equal(scorer_band_intelligibility(0.65, 0.01), 2);
    assert_int_equal(scorer_band_intelligibility(0.30, 0.90), 0);
}

static void test_lexicon(void **state)
{
    (void)state;
    printf("lexicon: %zu clinical terms, %zu phrases, %zu fillers\n", scorer_terms_count,
           scorer_phrases_count, scorer_fillers_count);
    assert_true(scorer_terms_count >= 300);
    for (size_t i = 0; i < scorer_terms_count; i++)
        assert_true(strlen(scorer_terms_data[i].lay) > 0);
    for (size_t i = 0; i < scorer_phrases_count; i++)
        if (scorer_category_from_name(scorer_phrases_data[i].category) < 0)
            fail_msg("unknown category [%s]", scorer_phrases_data[i].category);
    for (int k = 0; k < CAT__COUNT; k++) {
        size_t n = 0;
        for (size_t i = 0; i < scorer_phrases_count; i++)
            n += strcmp(scorer_phrases_data[i].category, scorer_category_names[k]) == 0;
        if (n == 0)
            fail_msg("category %s has no phrases", scorer_category_names[k]);
    }
}

/* ---- whole sessions in miniature ---- */

static json_t *scenario(void)
{
    return json_pack(
        "{s:s, s:{s:s, s:s, s:[s]}, s:{s:s, s:[{s:s, s:{s:b}, s:s}, {s:s, s:{s:i}, s:s}],"
        " s:[s], s:[{s:s, s:s, s:[s, s]}]}}",
        "title", "test", "candidate_card", "role", "Nurse", "patient", "Ms Ana Lopez, 29", "tasks",
        "Explain the plan", "patient_card", "name", "Ana Lopez", "cues", "kind", "concern", "when",
        "on_start", 1, "line", "I'm really worried about the operation.", "kind", "question",
        "when", "after_seconds", 60, "line", "Will it hurt afterwards?", "concerns",
        "She is worried about the operation.", "expected_tasks", "id", "t1", "description",
        "Explain the plan", "evidence_phrases", "the plan", "painkillers");
}

static json_t *run(json_t *sc, const char *mode, const char *turns_json)
{
    json_error_t e;
    json_t *turns = json_loads(turns_json, 0, &e);
    if (!turns)
        fail_msg("bad turns: %s (col %d)", e.text, e.column);
    scorer_input in = {sc, turns, mode, "t"};
    char err[256];
    json_t *r = scorer_score(&in, err, sizeof(err));
    json_decref(turns);
    if (!r)
        fail_msg("refused: %s", err);
    return r;
}

static const json_t *ind(const json_t *r, const char *crit, const char *code)
{
    size_t i;
    const json_t *x;
    json_array_foreach(
        json_object_get(json_object_get(json_object_get(r, "clinical"), crit), "indicators"), i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "code")), code) == 0)
            return x;
    }
    fail_msg("no indicator %s", code);
    return NULL;
}

static const char *met(const json_t *r, const char *crit, const char *code)
{
    return json_string_value(json_object_get(ind(r, crit, code), "met"));
}

#define CUE_TURN                                                                                   \
    "{\"n\":1,\"speaker\":\"patient\",\"text\":\"I'm really worried about the operation.\","       \
    "\"t_ms\":0,\"meta\":{\"kind\":\"cue\",\"topics\":[],\"cues\":[0]}}"

static void test_cue_ignored_or_taken_up(void **state)
{
    (void)state;
    json_t *sc = scenario();
    json_t *r = run(sc, "text",
                    "[" CUE_TURN ",{\"n\":2,\"speaker\":\"candidate\",\"text\":\"Do you smoke?\","
                    "\"t_ms\":4000}]");
    assert_string_equal(met(r, "patient_perspective", "B2"), "not_met");
    const json_t *missed = json_object_get(ind(r, "patient_perspective", "B2"), "missed");
    assert_int_equal(json_integer_value(json_object_get(missed, "turn")), 1);
    assert_string_equal(json_string_value(json_object_get(missed, "quote")),
                        "I'm really worried about the operation.");
    assert_non_null(strstr(json_string_value(json_object_get(missed, "why")), "moved on"));
    json_decref(r);

    r = run(sc, "text",
            "[" CUE_TURN ",{\"n\":2,\"speaker\":\"candidate\",\"text\":\"I can see this is "
            "really worrying for you. What worries you most about the operation?\","
            "\"t_ms\":4000}]");
    assert_string_equal(met(r, "patient_perspective", "B2"), "met");
    assert_string_equal(met(r, "relationship_building", "A4"), "partly");
    json_decref(r);
    json_decref(sc);
}

static void test_opening(void **state)
{
    (void)state;
    json_t *sc = scenario();
    json_t *r = run(sc, "text",
                    "[{\"n\":1,\"speaker\":\"candidate\",\"text\":\"Hello, Ms Lopez. I'm Sam, one "
                    "of the nurses. I'd like to talk about your operation today.\",\"t_ms\":0}]");
    assert_string_equal(met(r, "relationship_building", "A1"), "met");
    json_decref(r);
    r = run(sc, "text",
            "[{\"n\":1,\"speaker\":\"candidate\",\"text\":\"Hello. Do you smoke?\",\"t_ms\":0}]");
    assert_string_equal(met(r, "relationship_building", "A1"), "not_met");
    const json_t *missed = json_object_get(ind(r, "relationship_building", "A1"), "missed");
    assert_non_null(strstr(json_string_value(json_object_get(missed, "why")), "name and role"));
    json_decref(r);
    json_decref(sc);
}

static void test_interruption(void **state)
{
    (void)state;
    json_t *sc = scenario();
    /* text: the patient's turn stops mid-sentence and the candidate asks the next question */
    json_t *r = run(sc, "text",
                    "[{\"n\":1,\"speaker\":\"patient\",\"text\":\"It started when I was—\","
                    "\"t_ms\":0},{\"n\":2,\"speaker\":\"candidate\",\"text\":\"Do you smoke?\","
                    "\"t_ms\":900},{\"n\":3,\"speaker\":\"patient\",\"text\":\"Well, I used "
                    "to, but—\",\"t_ms\":2000},{\"n\":4,\"speaker\":\"candidate\",\"text\":\"Any "
                    "allergies?\",\"t_ms\":2500}]");
    assert_string_equal(met(r, "information_gathering", "D1"), "not_met");
    json_decref(r);
    /* voice: the candidate starts 100 ms after the patient's last word, twice */
    r = run(sc, "voice",
            "[{\"n\":1,\"speaker\":\"patient\",\"text\":\"It hurts here\",\"t_ms\":0,"
            "\"words\":[{\"w\":\"it\",\"start\":0.1,\"end\":0.3,\"conf\":1},"
            "{\"w\":\"hurts\",\"start\":0.35,\"end\":0.7,\"conf\":1},"
            "{\"w\":\"here\",\"start\":0.75,\"end\":1.0,\"conf\":1}]},"
            "{\"n\":2,\"speaker\":\"candidate\",\"text\":\"Where exactly\",\"t_ms\":1000,"
            "\"words\":[{\"w\":\"where\",\"start\":0.1,\"end\":0.4,\"conf\":0.9},"
            "{\"w\":\"exactly\",\"start\":0.45,\"end\":0.9,\"conf\":0.9}]},"
            "{\"n\":3,\"speaker\":\"patient\",\"text\":\"Just here\",\"t_ms\":3000,"
            "\"words\":[{\"w\":\"just\",\"start\":0.1,\"end\":0.3,\"conf\":1},"
            "{\"w\":\"here\",\"start\":0.35,\"end\":0.6,\"conf\":1}]},"
            "{\"n\":4,\"speaker\":\"candidate\",\"text\":\"Does it spread\",\"t_ms\":3600,"
            "\"words\":[{\"w\":\"does\",\"start\":0.05,\"end\":0.3,\"conf\":0.9},"
            "{\"w\":\"it\",\"start\":0.35,\"end\":0.5,\"conf\":0.9},"
            "{\"w\":\"spread\",\"start\":0.55,\"end\":0.9,\"conf\":0.9}]}]");
    assert_string_equal(met(r, "information_gathering", "D1"), "not_met");
    json_decref(r);
    json_decref(sc);
}

static void test_monologue(void **state)
{
    (void)state;
    json_t *sc = scenario();
    char text[4000] = "";
    for (int i = 0; i < 14; i++)
        strcat(text, "The operation is done under a general anaesthetic and takes about an hour. ");
    char *turns = malloc(strlen(text) + 200);
    sprintf(turns, "[{\"n\":1,\"speaker\":\"candidate\",\"text\":\"%s\",\"t_ms\":0}]", text);
    json_t *r = run(sc, "text", turns);
    free(turns);
    assert_string_equal(met(r, "information_giving", "E2"), "not_met");
    const json_t *missed = json_object_get(ind(r, "information_giving", "E2"), "missed");
    assert_non_null(strstr(json_string_value(json_object_get(missed, "why")), "words"));
    json_decref(r);
    json_decref(sc);
}

/* 20 words of 0.3 s with 0.1 s gaps and two silent pauses of 1 s: 9.7 s of speech. */
static const char *timed_turn(double offset)
{
    static char buf[4096];
    char words[3500] = "";
    double t = offset;
    for (int i = 0; i < 20; i++) {
        char w[128];
        snprintf(w, sizeof(w), "%s{\"w\":\"word%d\",\"start\":%.2f,\"end\":%.2f,\"conf\":%s}",
                 i ? "," : "", i, t, t + 0.3, i < 2 ? "0.4" : "0.95");
        strcat(words, w);
        t += 0.3 + (i == 6 || i == 13 ? 1.0 : 0.1);
    }
    snprintf(buf, sizeof(buf),
             "[{\"n\":1,\"speaker\":\"candidate\",\"text\":\"word0 word1 word2 word3 word4 "
             "word5 word6 word7 word8 word9 word10 word11 word12 word13 word14 word15 word16 "
             "word17 word18 word19\",\"t_ms\":%d,\"words\":[%s]}]",
             (int)(offset * 1000), words);
    return buf;
}

static void test_voice_metrics(void **state)
{
    (void)state;
    json_t *sc = scenario();
    for (int relative = 0; relative < 2; relative++) {
        /* the same speech with turn-relative and with session-relative timings */
        json_t *r = run(sc, "voice", timed_turn(relative ? 30.0 : 0.0));
        const json_t *m = json_object_get(r, "metrics");
        double wpm = json_real_value(json_object_get(m, "speech_rate_wpm"));
        double mlr = json_real_value(json_object_get(m, "mean_length_of_run"));
        double ppm = json_real_value(json_object_get(m, "pauses_per_min"));
        assert_true(fabs(wpm - 124.0) < 1.01);
        assert_true(fabs(mlr - 6.7) < 0.051);
        assert_true(fabs(ppm - 12.4) < 0.051);
        const json_t *intel = json_object_get(json_object_get(r, "linguistic"), "intelligibility");
        assert_true(json_is_integer(json_object_get(intel, "score")));
        json_decref(r);
    }
    json_decref(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_question_types), cmocka_unit_test(test_gathering_or_not),
        cmocka_unit_test(test_categories),     cmocka_unit_test(test_grammar_patterns),
        cmocka_unit_test(test_jargon),         cmocka_unit_test(test_stems),
        cmocka_unit_test(test_mtld),           cmocka_unit_test(test_bands),
        cmocka_unit_test(test_lexicon),        cmocka_unit_test(test_cue_ignored_or_taken_up),
        cmocka_unit_test(test_opening),        cmocka_unit_test(test_interruption),
        cmocka_unit_test(test_monologue),      cmocka_unit_test(test_voice_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
