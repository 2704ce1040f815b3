/* The scripted patient against the shipped cards: it gives a fact when asked (by a trigger in a
 * natural question, by a paraphrase, with typos), never otherwise; it greets, acknowledges,
 * checks and clarifies without leaking facts; cues come on start, after their topic and on
 * time, once each; it never says the same thing twice in a row; the same seed replays the same
 * conversation. Prints the trigger coverage over all cards and the mean time per turn. */
#include "services/ai/patient.h"
#include "services/ai/patient_lexicon.h"

#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#define SCENARIOS PRAXIS_SOURCE_DIR "/data/scenarios"
#define LEXICON PRAXIS_SOURCE_DIR "/data/lexicon"

/* ---- fixtures and helpers ----------------------------------------------------------------- */

static double respond_ns;
static size_t respond_calls;

static json_t *load_scenario(const char *slug)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.json", SCENARIOS, slug);
    json_error_t e;
    json_t *doc = json_load_file(path, 0, &e);
    if (!doc)
        fail_msg("%s: %s", path, e.text);
    return doc;
}

static patient_context context_of(const json_t *doc, uint64_t seed)
{
    patient_context ctx = {json_object_get(doc, "patient_card"),
                           json_object_get(doc, "candidate_card"), seed,
                           (int)json_integer_value(json_object_get(doc, "roleplay_seconds"))};
    return ctx;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A new session's state after patient_open (its on_start cue, if any, already said). */
static json_t *opened(const patient_context *ctx)
{
    json_t *st = patient_state_new(ctx);
    patient_reply r;
    assert_non_null(st);
    assert_int_equal(patient_open(ctx, st, &r), 0);
    patient_reply_free(&r);
    return st;
}

/* One candidate turn; returns the reply (caller frees with patient_reply_free). */
static patient_reply turn(const patient_context *ctx, json_t *st, const char *u, int64_t ms)
{
    patient_reply r;
    double t0 = now_ns();
    int rc = patient_respond(ctx, st, u, ms, &r);
    respond_ns += now_ns() - t0;
    respond_calls++;
    assert_int_equal(rc, 0);
    assert_non_null(r.text);
    assert_non_null(r.meta);
    return r;
}

static const char *kind_of(const patient_reply *r)
{
    return json_string_value(json_object_get(r->meta, "kind"));
}

static int has_topic(const patient_reply *r, const char *topic)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r->meta, "topics"), i, v)
    {
        if (!strcmp(json_string_value(v), topic))
            return 1;
    }
    return 0;
}

static size_t ntopics(const patient_reply *r)
{
    return json_array_size(json_object_get(r->meta, "topics"));
}

static int has_cue(const patient_reply *r, json_int_t cue)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r->meta, "cues"), i, v)
    {
        if (json_integer_value(v) == cue)
            return 1;
    }
    return 0;
}

static const json_t *facts_of(const json_t *doc)
{
    return json_object_get(json_object_get(doc, "patient_card"), "facts");
}

static const char *answer_of(const json_t *doc, const char *topic)
{
    size_t i;
    json_t *f;
    json_array_foreach(facts_of(doc), i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "topic")), topic))
            return json_string_value(json_object_get(f, "answer"));
    }
    fail_msg("no fact %s", topic);
    return NULL;
}

/* The answer appears in the reply (its first letter may be lowered after "Like I said, "). */
static int says(const char *text, const char *answer)
{
    return strstr(text, answer + 1) != NULL &&
           tolower((unsigned char)strstr(text, answer + 1)[-1]) ==
               tolower((unsigned char)answer[0]);
}

/* The topic of a fact whose answer the reply contains, or NULL. */
static const char *leaked_fact(const json_t *doc, const char *text)
{
    size_t i;
    json_t *f;
    json_array_foreach(facts_of(doc), i, f)
    {
        if (says(text, json_string_value(json_object_get(f, "answer"))))
            return json_string_value(json_object_get(f, "topic"));
    }
    return NULL;
}

static const char *cue_line(const json_t *doc, size_t i)
{
    const json_t *cues = json_object_get(json_object_get(doc, "patient_card"), "cues");
    return json_string_value(json_object_get(json_array_get(cues, i), "line"));
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

/* ---- the facts of six cards: a trigger in a natural question, and a paraphrase ------------ */

typedef struct ask {
    const char *topic;
    const char *natural;    /* holds one of the fact's triggers */
    const char *paraphrase; /* says it another way, with words from the lexicon */
} ask;

typedef struct card_asks {
    const char *slug;
    const ask *asks;
} card_asks;

static const ask chest_pain[] = {
    {"pain_character", "Can you describe the pain for me?", "What kind of ache was it?"},
    {"location_radiation", "Where was the pain, exactly?", "Where did you feel the ache?"},
    {"onset_trigger", "Can you tell me when did it start?", "When did the discomfort begin?"},
    {"duration", "And how long did it last?", "How long did the ache go on for?"},
    {"associated_symptoms", "Were you sweating at all?", "Did you feel clammy or nauseous?"},
    {"previous_episodes", "Has this happened before?", "Have you had a similar ache before?"},
    {"patient_view", "What do you think caused it?", "What do you reckon it is?"},
    {"smoking", "Do you smoke at all?", "Are you a smoker?"},
    {"medical_history", "Do you have any medical conditions?",
     "Have you got any other health issues?"},
    {"medications", "Are you on any regular medicines?", "Do you take any pills?"},
    {"family_history", "Is there any heart disease in your family?",
     "Did your dad have any heart problems?"},
    {"alcohol", "How much alcohol do you have in a week?", "How many pints do you have a week?"},
    {"occupation", "What do you do for a living?", "What's your occupation?"},
    {"reason_to_leave", "Why are you in a hurry?", "Why are you so keen to get home?"},
    {"home", "Who do you live with?", "Is your partner at home with you?"},
    {NULL, NULL, NULL}};

static const ask antibiotics[] = {
    {"symptoms", "What symptoms have you got?", "What's the matter?"},
    {"duration", "How long have you had it?", "When did this begin?"},
    {"fever", "Have you had a fever?", "Have you been feverish?"},
    {"mucus", "Are you coughing anything up?", "Is there any snot or catarrh?"},
    {"breathing", "Any problems with your breathing?", "Do you get out of breath?"},
    {"face_pain", "Any pain around your eyes?", "Any facial pain?"},
    {"throat", "Does it hurt to swallow?", "Any difficulty swallowing food?"},
    {"medical_history", "Do you have any health problems?", "Any long-term conditions?"},
    {"medicines_tried", "Have you tried anything for it?", "Have you taken any painkillers?"},
    {"allergies", "Do you have any allergies?", "Any intolerance to medicines?"},
    {"why_antibiotics", "Why do you want antibiotics?", "What are you hoping we can do?"},
    {"work", "What's your job?", "What's your occupation?"},
    {"home", "Who do you live with?", "Do you have any little ones?"},
    {"smoking", "Do you smoke?", "Are you a smoker?"},
    {NULL, NULL, NULL}};

static const ask day_surgery[] = {
    {"feeling_now", "How are you feeling now?", "Are you feeling comfortable?"},
    {"pain", "Are you in any pain?", "Does your tummy ache?"},
    {"home_support", "Who is at home with you?", "Will you have some assistance at home?"},
    {"children", "Do you have children?", "Tell me about your little ones."},
    {"work", "When are you going back to work?", "What's your occupation?"},
    {"driving", "Do you drive?", "Will you be behind the wheel soon?"},
    {"eating", "Have you eaten anything since the operation?", "Do you feel hungry?"},
    {"bowels", "Have you opened your bowels?", "Any problems with your poo?"},
    {"wounds_knowledge", "Do you know how to look after your wounds?",
     "Do you know how to care for the incisions?"},
    {"washing", "When do you think you can shower?", "Have you been told when you can bathe?"},
    {"medicines_home", "Do you have painkillers at home?", "Have you got any pills at home?"},
    {"previous_surgery", "Have you had an operation before?", "Have you had surgery in the past?"},
    {"nausea", "Do you feel sick?", "Have you thrown up?"},
    {"worries", "Is there anything on your mind?", "What concerns you most?"},
    {NULL, NULL, NULL}};

static const ask back_pain[] = {
    {"onset", "How did it start?", "When did the ache begin?"},
    {"pain_description", "Can you describe the pain?", "How severe is it?"},
    {"leg_symptoms", "Any pins and needles?", "Any tingly feelings?"},
    {"bladder_bowel", "Any problems with your bladder?", "Any problems passing water?"},
    {"general_health", "Have you had any fever?", "Have you been feeling poorly?"},
    {"night_pain", "Is it worse at night?", "Does it bother you when you're asleep?"},
    {"activity_now", "What are you doing at the moment?", "Are you taking it easy?"},
    {"beliefs", "What do you think is causing it?", "What do you reckon is wrong?"},
    {"scan_reason", "Why do you want a scan?", "Why do you feel you need imaging?"},
    {"work", "Are you off work at the moment?", "Has your boss been supportive?"},
    {"medications", "Are you taking any painkillers?", "Are you on any pills?"},
    {"previous_episodes", "Have you had this before?", "Has your back bothered you in the past?"},
    {"mood", "How is your mood?", "How are your spirits?"},
    {NULL, NULL, NULL}};

static const ask cat_kidneys[] = {
    {"drinking", "How much does she drink?", "Has her thirst changed?"},
    {"urination", "Any accidents outside the litter tray?", "Is she peeing a lot?"},
    {"appetite", "How is her appetite?", "Has she been having her meals?"},
    {"vomiting", "Has she been sick?", "Has she been throwing up?"},
    {"behaviour", "How is she in herself?", "Is she less energetic?"},
    {"grooming", "Is she still grooming?", "Is her fur looking tatty?"},
    {"history", "How long have you had her?", "Where did you get her from?"},
    {"home", "Do you live alone?", "Are you by yourself at home?"},
    {"expectations", "What were you hoping for today?", "What do you expect from today's visit?"},
    {"giving_tablets", "Can you give her medicine?", "Would you manage to give her pills?"},
    {"previous_treatment", "Is she on any medication?", "Is she currently on any medicines?"},
    {"costs", "Do you have insurance?", "Is the price a worry?"},
    {"transport", "How did you get here today?", "Can you travel to the clinic easily?"},
    {"end_of_life", "Have you thought about euthanasia?",
     "Are you worried she might need to be put down?"},
    {NULL, NULL, NULL}};

static const ask vocal_nodules[] = {
    {"symptoms", "Tell me about the symptoms.", "Is your voice croaky?"},
    {"onset", "When did it start?", "When did this begin?"},
    {"classroom", "How many children are in your class?", "Is it loud in there?"},
    {"shouting", "Do you have to shout?", "Do you often yell?"},
    {"singing", "Do you sing?", "Do you do any singing?"},
    {"hydration", "How much water do you drink?", "Do you keep hydrated?"},
    {"throat_clearing", "Do you clear your throat a lot?", "Are you coughing a lot?"},
    {"reflux", "Do you get heartburn?", "Do you get acid coming up?"},
    {"smoking_alcohol", "Do you smoke?", "Do you drink much beer?"},
    {"home_voice", "How do you use your voice at home?", "Do you use your voice a lot after work?"},
    {"feelings", "How do you feel about it all?", "Are you anxious about all this?"},
    {"surgery_view", "What do you think about surgery?", "Are you hoping for a procedure?"},
    {"amplification", "Have you tried a microphone?", "Would a mic help?"},
    {NULL, NULL, NULL}};

static const card_asks six_cards[] = {
    {"medicine-chest-pain-history", chest_pain},
    {"pharmacy-antibiotics-for-a-cold", antibiotics},
    {"nursing-day-surgery-discharge", day_surgery},
    {"physiotherapy-back-pain-wants-scan", back_pain},
    {"veterinary-science-cat-kidney-disease", cat_kidneys},
    {"speech-pathology-teacher-vocal-nodules", vocal_nodules},
};

static int holds_trigger(const json_t *doc, const char *topic, const char *question)
{
    size_t i, k;
    json_t *f, *t;
    json_array_foreach(facts_of(doc), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "topic")), topic))
            continue;
        json_array_foreach(json_object_get(f, "triggers"), k, t)
        {
            if (contains_ci(question, json_string_value(t)))
                return 1;
        }
    }
    return 0;
}

/* Asks q on a fresh state; the reply must give the topic's answer. Returns the facts it gave. */
static size_t ask_fact(const json_t *doc, const char *slug, const char *topic, const char *q)
{
    patient_context ctx = context_of(doc, 11);
    json_t *st = opened(&ctx);
    patient_reply r = turn(&ctx, st, q, 5000);
    if (!has_topic(&r, topic) || !says(r.text, answer_of(doc, topic)))
        fail_msg("%s: \"%s\" should give %s, got [%s] \"%s\"", slug, q, topic, kind_of(&r), r.text);
    assert_string_equal(kind_of(&r), "answer");
    size_t n = ntopics(&r);
    patient_reply_free(&r);
    json_decref(st);
    return n;
}

static void test_facts_when_asked(void **s)
{
    (void)s;
    size_t asked = 0, extra = 0;
    for (size_t c = 0; c < ARRAY_LEN(six_cards); c++) {
        json_t *doc = load_scenario(six_cards[c].slug);
        size_t covered = 0;
        for (const ask *a = six_cards[c].asks; a->topic; a++) {
            if (!holds_trigger(doc, a->topic, a->natural))
                fail_msg("%s: \"%s\" holds no trigger of %s", six_cards[c].slug, a->natural,
                         a->topic);
            extra += ask_fact(doc, six_cards[c].slug, a->topic, a->natural) - 1;
            extra += ask_fact(doc, six_cards[c].slug, a->topic, a->paraphrase) - 1;
            asked += 2;
            covered++;
        }
        assert_int_equal(covered, json_array_size(facts_of(doc))); /* every fact of the card */
        json_decref(doc);
    }
    printf("[ patient  ] six cards: %zu questions, each answered; %zu extra facts given\n", asked,
           extra);
    assert_true(extra * 10 <= asked);
}

/* ---- what must not give a fact ---------------------------------------------------------- */

static void test_unknown_question_gets_no_fact(void **s)
{
    (void)s;
    static const char *const off_card[] = {
        "What's your favourite colour?", "Have you ever been to Spain?",
        "What's the capital of France?", "Is it raining today?",
        "What's your favourite film?",   NULL};
    for (size_t c = 0; c < ARRAY_LEN(six_cards); c++) {
        json_t *doc = load_scenario(six_cards[c].slug);
        patient_context ctx = context_of(doc, 3);
        for (size_t i = 0; off_card[i]; i++) {
            json_t *st = opened(&ctx);
            patient_reply r = turn(&ctx, st, off_card[i], 4000);
            const char *leak = leaked_fact(doc, r.text);
            if (leak || ntopics(&r))
                fail_msg("%s: \"%s\" gave %s: %s", six_cards[c].slug, off_card[i],
                         leak ? leak : "a topic", r.text);
            assert_string_equal(kind_of(&r), "clarify");
            patient_reply_free(&r);
            json_decref(st);
        }
        json_decref(doc);
    }
}

typedef struct move_case {
    const char *utterance;
    const char *kind;
} move_case;

static const move_case moves[] = {
    {"Hello, I'm Dr Smith, one of the doctors.", "greeting"},
    {"Good morning.", "greeting"},
    {"Hi, how are you today?", "greeting"},
    {"That must be really hard for you.", "empathy"},
    {"I'm so sorry to hear that.", "empathy"},
    {"I can see you're worried about this.", "empathy"},
    {"Does that make sense?", "check"},
    {"Is everything clear so far?", "check"},
    {"Sorry to hear that. Does that make sense?", "check"},
    {"blue banana window", "clarify"},
    {"What's the capital of France?", "clarify"},
    {"", "silence"},
    {"   ", "silence"},
    {"So you've been feeling like this for a while, is that right?", "summary"},
    {"Is it okay if I examine you?", "permission"},
    {"The results show that we need to do some more tests to find out what is going on.",
     "explanation"},
    {"Is anything else bothering you?", "concerns"},
    {"Can you confirm your full name?", "identity"},
    {"Okay.", "ack"},
    {"Thank you for coming in, take care.", "farewell"},
    {"I'd like to ask you a few questions today.", "purpose"},
};

static void test_moves_never_leak(void **s)
{
    (void)s;
    DIR *d = opendir(SCENARIOS);
    assert_non_null(d);
    struct dirent *e;
    size_t cards = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".json"))
            continue;
        char slug[256];
        snprintf(slug, sizeof(slug), "%.*s", (int)(strlen(e->d_name) - 5), e->d_name);
        json_t *doc = load_scenario(slug);
        patient_context ctx = context_of(doc, 5);
        for (size_t i = 0; i < ARRAY_LEN(moves); i++) {
            json_t *st = opened(&ctx);
            patient_reply r = turn(&ctx, st, moves[i].utterance, 3000);
            const char *leak = leaked_fact(doc, r.text);
            if (leak || ntopics(&r))
                fail_msg("%s: \"%s\" gave %s: %s", slug, moves[i].utterance,
                         leak ? leak : "a topic", r.text);
            if (strcmp(kind_of(&r), moves[i].kind))
                fail_msg("%s: \"%s\" is %s, not %s: %s", slug, moves[i].utterance, kind_of(&r),
                         moves[i].kind, r.text);
            assert_true(r.text[0] != '\0');
            patient_reply_free(&r);
            json_decref(st);
        }
        json_decref(doc);
        cards++;
    }
    closedir(d);
    assert_true(cards >= 36);
}

static void test_greeting_uses_the_doctors_name(void **s)
{
    (void)s;
    json_t *doc = load_scenario("nursing-day-surgery-discharge"); /* anxious: greets by name */
    patient_context ctx = context_of(doc, 1);
    size_t named = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        ctx.seed = seed;
        json_t *st = patient_state_new(&ctx);
        patient_reply r = turn(&ctx, st, "Hello, I'm Dr Okafor, one of the doctors here.", 1000);
        assert_string_equal(kind_of(&r), "greeting");
        assert_true(!strncmp(r.text, "Hello", 5) || !strncmp(r.text, "Hi", 2));
        named += strstr(r.text, "Dr Okafor") != NULL;
        patient_reply_free(&r);
        json_decref(st);
    }
    assert_true(named >= 1);
    json_decref(doc);
}

/* ---- several questions at once, typos ------------------------------------------------------ */

static void test_two_questions_two_answers(void **s)
{
    (void)s;
    static const struct {
        const char *slug, *q, *a, *b;
    } cases[] = {
        {"medicine-chest-pain-history", "When did it start, and do you smoke?", "onset_trigger",
         "smoking"},
        {"pharmacy-antibiotics-for-a-cold",
         "Have you had a fever? And are you allergic to anything?", "fever", "allergies"},
        {"nursing-day-surgery-discharge", "Do you drive and who is at home with you?", "driving",
         "home_support"},
        {"physiotherapy-back-pain-wants-scan", "Any pins and needles, and how is your mood?",
         "leg_symptoms", "mood"},
        {"veterinary-science-cat-kidney-disease", "how is her appetite and has she been sick",
         "appetite", "vomiting"},
        {"speech-pathology-teacher-vocal-nodules", "Do you sing in a choir and do you smoke?",
         "singing", "smoking_alcohol"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *doc = load_scenario(cases[i].slug);
        patient_context ctx = context_of(doc, 9);
        json_t *st = patient_state_new(&ctx);
        patient_reply r = turn(&ctx, st, cases[i].q, 2000);
        if (!has_topic(&r, cases[i].a) || !has_topic(&r, cases[i].b) ||
            !says(r.text, answer_of(doc, cases[i].a)) || !says(r.text, answer_of(doc, cases[i].b)))
            fail_msg("%s: \"%s\" -> %s", cases[i].slug, cases[i].q, r.text);
        patient_reply_free(&r);
        json_decref(st);
        json_decref(doc);
    }
}

static void test_asr_typos(void **s)
{
    (void)s;
    static const struct {
        const char *slug, *q, *topic;
    } cases[] = {
        {"medicine-chest-pain-history", "Do you take any medicaton?", "medications"},
        {"medicine-chest-pain-history", "do you take any medicatoin", "medications"},
        {"pharmacy-antibiotics-for-a-cold", "Any problems with your braething?", "breathing"},
        {"physiotherapy-copd-pulmonary-rehab", "how is your braething", "breathlessness"},
        {"pharmacy-antibiotics-for-a-cold", "Have you had a feaver?", "fever"},
        {"pharmacy-antibiotics-for-a-cold", "Do you have any alergies?", "allergies"},
        {"veterinary-science-cat-kidney-disease", "How is her apetite?", "appetite"},
        {"medicine-chest-pain-history", "Do you smoke sigarettes?", "smoking"},
        {"medicine-chest-pain-history", "any cholestrol problems", "medical_history"},
    };
    size_t ok = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *doc = load_scenario(cases[i].slug);
        patient_context ctx = context_of(doc, 2);
        json_t *st = patient_state_new(&ctx);
        patient_reply r = turn(&ctx, st, cases[i].q, 2000);
        if (has_topic(&r, cases[i].topic) && says(r.text, answer_of(doc, cases[i].topic)))
            ok++;
        else if (strncmp(cases[i].q, "Do you smoke", 12)) /* "sigarettes": first letter wrong */
            fail_msg("%s: \"%s\" -> %s", cases[i].slug, cases[i].q, r.text);
        patient_reply_free(&r);
        json_decref(st);
        json_decref(doc);
    }
    assert_true(ok >= ARRAY_LEN(cases) - 1);
}

/* ---- cues ------------------------------------------------------------------------------- */

static void test_on_start_cue_from_open(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-chest-pain-history"); /* cue 0: on_start */
    patient_context ctx = context_of(doc, 4);
    json_t *st = patient_state_new(&ctx);
    patient_reply r;
    assert_int_equal(patient_open(&ctx, st, &r), 0);
    assert_string_equal(r.text, cue_line(doc, 0));
    assert_string_equal(kind_of(&r), "cue");
    assert_true(has_cue(&r, 0));
    patient_reply_free(&r);
    /* Once: the next turn does not raise it again. */
    r = turn(&ctx, st, "Hello, I'm Dr Smith.", 2000);
    assert_null(strstr(r.text, cue_line(doc, 0)));
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);

    /* A card without an on_start cue opens with nothing: the candidate speaks first. */
    doc = load_scenario("nursing-day-surgery-discharge");
    ctx = context_of(doc, 4);
    st = patient_state_new(&ctx);
    assert_int_equal(patient_open(&ctx, st, &r), 0);
    assert_string_equal(r.text, "");
    assert_int_equal(r.closing, 0);
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

static void test_after_topic_cue_once(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-chest-pain-history"); /* cue 1 after family_history */
    patient_context ctx = context_of(doc, 6);
    json_t *st = patient_state_new(&ctx);
    patient_reply r = turn(&ctx, st, "Do you smoke?", 10000);
    assert_false(has_cue(&r, 1));
    assert_null(strstr(r.text, cue_line(doc, 1)));
    patient_reply_free(&r);
    r = turn(&ctx, st, "Is there any family history of heart problems?", 20000);
    assert_true(has_topic(&r, "family_history"));
    assert_true(has_cue(&r, 1));
    /* Right after the answer, in the same reply. */
    const char *ans = strstr(r.text, answer_of(doc, "family_history"));
    const char *cue = strstr(r.text, cue_line(doc, 1));
    assert_non_null(ans);
    assert_non_null(cue);
    assert_true(cue > ans);
    patient_reply_free(&r);
    r = turn(&ctx, st, "Sorry, did you say your father had heart trouble?", 30000);
    assert_true(has_topic(&r, "family_history"));
    assert_false(has_cue(&r, 1));
    assert_null(strstr(r.text, cue_line(doc, 1)));
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

static void test_after_seconds_cue_from_idle(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-chest-pain-history"); /* cue 2 at 150 s, 3 at 240 s */
    patient_context ctx = context_of(doc, 8);
    json_t *st = patient_state_new(&ctx);
    patient_reply r;
    assert_int_equal(patient_open(&ctx, st, &r), 0);
    patient_reply_free(&r);
    r = turn(&ctx, st, "Do you smoke?", 140000);
    assert_false(has_cue(&r, 2));
    patient_reply_free(&r);
    assert_int_equal(patient_idle(&ctx, st, 149999, &r), 0);
    assert_false(has_cue(&r, 2));
    assert_null(strstr(r.text, cue_line(doc, 2)));
    patient_reply_free(&r);
    assert_int_equal(patient_idle(&ctx, st, 150000, &r), 0);
    assert_string_equal(r.text, cue_line(doc, 2));
    assert_string_equal(kind_of(&r), "cue");
    assert_true(has_cue(&r, 2));
    patient_reply_free(&r);
    assert_int_equal(patient_idle(&ctx, st, 152000, &r), 0);
    assert_false(has_cue(&r, 2));
    assert_string_equal(r.text, ""); /* nothing due, and the pause is short */
    patient_reply_free(&r);
    /* A long silence with nothing due: one prompt, not two in a row. */
    assert_int_equal(patient_idle(&ctx, st, 175000, &r), 0);
    assert_string_equal(kind_of(&r), "silence");
    assert_true(r.text[0] != '\0');
    patient_reply_free(&r);
    assert_int_equal(patient_idle(&ctx, st, 199000, &r), 0);
    assert_string_equal(r.text, "");
    patient_reply_free(&r);
    json_decref(st);

    /* Due during a turn: appended to that reply. */
    st = opened(&ctx);
    r = turn(&ctx, st, "Do you drink alcohol?", 241000);
    assert_true(has_topic(&r, "alcohol"));
    assert_true(has_cue(&r, 2) || has_cue(&r, 3));
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

/* ---- the other moves -------------------------------------------------------------------- */

static void test_empathy_voices_a_concern(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-chest-pain-history");
    patient_context ctx = context_of(doc, 12);
    json_t *st = patient_state_new(&ctx);
    patient_reply r = turn(&ctx, st, "That must be hard for you.", 5000);
    assert_string_equal(kind_of(&r), "empathy");
    assert_int_equal(json_array_size(json_object_get(r.meta, "concerns")), 1);
    /* In his own words, not the card's third person. */
    assert_non_null(strstr(r.text, "I'm worried about losing the job"));
    assert_null(strstr(r.text, "He is"));
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

static void test_explanation_then_follow_up(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-new-hypertension");
    patient_context ctx = context_of(doc, 13);
    json_t *st = patient_state_new(&ctx);
    patient_reply r = turn(&ctx, st,
                           "Your readings show high blood pressure, which means your heart has to "
                           "work harder than it should.",
                           60000);
    assert_string_equal(kind_of(&r), "explanation");
    assert_null(leaked_fact(doc, r.text));
    /* An acknowledgement, then something the patient asks or worries about. */
    assert_true(strlen(r.text) > 20);
    assert_true(json_array_size(json_object_get(r.meta, "concerns")) +
                    json_array_size(json_object_get(r.meta, "cues")) >=
                1);
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

static void test_teach_back_and_summary(void **s)
{
    (void)s;
    json_t *doc = load_scenario("pharmacy-asthma-preventer-inhaler");
    patient_context ctx = context_of(doc, 14);
    json_t *st = patient_state_new(&ctx);
    patient_reply r =
        turn(&ctx, st,
             "You need to take two puffs of the brown inhaler every morning and every "
             "evening, even when you feel well.",
             60000);
    assert_string_equal(kind_of(&r), "explanation");
    patient_reply_free(&r);
    r = turn(&ctx, st, "Just so I know I've explained it well, can you tell me how you'll use it?",
             70000);
    assert_string_equal(kind_of(&r), "teach_back");
    assert_non_null(strstr(r.text, "two puffs"));
    assert_non_null(strstr(r.text, "brown inhaler"));
    assert_non_null(strstr(r.text, "I need to take")); /* "you" said back as "I" */
    patient_reply_free(&r);
    r = turn(&ctx, st, "So you use the blue one most days, is that right?", 80000);
    assert_string_equal(kind_of(&r), "summary");
    assert_null(leaked_fact(doc, r.text));
    patient_reply_free(&r);
    r = turn(&ctx, st, "Is it ok if I ask you a few questions?", 90000);
    assert_string_equal(kind_of(&r), "permission");
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

static void test_repeat_is_restated(void **s)
{
    (void)s;
    json_t *doc = load_scenario("pharmacy-antibiotics-for-a-cold");
    patient_context ctx = context_of(doc, 15);
    json_t *st = opened(&ctx);
    const char *ans = answer_of(doc, "duration");
    patient_reply r = turn(&ctx, st, "How long have you had it?", 1000);
    assert_string_equal(r.text, ans);
    patient_reply_free(&r);
    r = turn(&ctx, st, "Sorry, how long has it been?", 2000);
    assert_true(has_topic(&r, "duration"));
    assert_true(says(r.text, ans));
    assert_string_not_equal(r.text, ans); /* "Like I said, …" */
    assert_int_equal(json_array_size(json_object_get(r.meta, "repeated")), 1);
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

static void test_closing(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-chest-pain-history");
    const char *closing =
        json_string_value(json_object_get(json_object_get(doc, "patient_card"), "closing_line"));
    patient_context ctx = context_of(doc, 16);
    json_t *st = patient_state_new(&ctx);
    patient_reply r;
    assert_int_equal(patient_close(&ctx, st, &r), 0);
    assert_string_equal(r.text, closing);
    assert_int_equal(r.closing, 1);
    assert_string_equal(kind_of(&r), "closing");
    patient_reply_free(&r);
    for (int i = 0; i < 3; i++) {
        r = turn(&ctx, st, "When did it start?", 300000 + i);
        assert_int_equal(r.closing, 1);
        assert_string_equal(kind_of(&r), "closing");
        assert_non_null(strstr(r.text, "Thank"));
        assert_null(leaked_fact(doc, r.text));
        patient_reply_free(&r);
    }
    assert_int_equal(patient_idle(&ctx, st, 400000, &r), 0);
    assert_string_equal(r.text, "");
    assert_int_equal(r.closing, 1);
    patient_reply_free(&r);
    json_decref(st);
    json_decref(doc);
}

/* ---- conversations: no repeats, determinism, state -------------------------------------- */

static const char *const script[] = {
    "Hello, I'm Dr Smith, one of the doctors.",
    "How are you?",
    "What brings you in today?",
    "What brings you in today?",
    "What brings you in today?",
    "Okay.",
    "Okay.",
    "Okay.",
    "Does that make sense?",
    "Does that make sense?",
    "Does that make sense?",
    "Does that make sense?",
    "Does that make sense?",
    "",
    "",
    "",
    "blue banana window",
    "blue banana window",
    "blue banana window",
    "blue banana window",
    "That must be hard.",
    "That must be hard.",
    "That must be hard.",
    "That must be hard.",
    "I'm going to explain what the tests showed and what happens next.",
    "The tests show that we need to keep an eye on this, and I will give you a leaflet.",
    "The tests show that we need to keep an eye on this, and I will give you a leaflet.",
    "Can you tell me in your own words what we agreed?",
    "Can you tell me in your own words what we agreed?",
    "So you've had this for a while, is that right?",
    "So you've had this for a while, is that right?",
    "Is it okay if I examine you?",
    "Is it okay if I examine you?",
    "Thank you.",
    "Thank you.",
    "Take care.",
    "Take care.",
};

/* Plays the script (every fact's first trigger asked twice in between); the replies go to out. */
static void play(const json_t *doc, uint64_t seed, json_t *out)
{
    patient_context ctx = context_of(doc, seed);
    json_t *st = patient_state_new(&ctx);
    patient_reply r;
    int64_t ms = 0;
    char prev[4096] = "";
    assert_int_equal(patient_open(&ctx, st, &r), 0);
    json_array_append_new(out, json_pack("{s:s, s:O}", "text", r.text, "meta", r.meta));
    snprintf(prev, sizeof(prev), "%s", r.text);
    patient_reply_free(&r);
    size_t nf = json_array_size(facts_of(doc));
    for (size_t i = 0; i < ARRAY_LEN(script) + 2 * nf; i++) {
        char q[512];
        if (i < ARRAY_LEN(script)) {
            snprintf(q, sizeof(q), "%s", script[i]);
        } else {
            const json_t *f = json_array_get(facts_of(doc), (i - ARRAY_LEN(script)) / 2);
            snprintf(q, sizeof(q), "Can I ask, %s?",
                     json_string_value(json_array_get(json_object_get(f, "triggers"), 0)));
        }
        ms += 7000;
        r = turn(&ctx, st, q, ms);
        if (prev[0] && !strcmp(prev, r.text))
            fail_msg("said twice in a row after \"%s\": %s", q, r.text);
        /* The patient asks and worries; it does not advise. */
        assert_null(strstr(r.text, "you should"));
        assert_null(strstr(r.text, "I recommend"));
        assert_null(strstr(r.text, "I advise"));
        snprintf(prev, sizeof(prev), "%s", r.text);
        json_array_append_new(out, json_pack("{s:s, s:O}", "text", r.text, "meta", r.meta));
        patient_reply_free(&r);
        if (i % 5 == 4) {
            assert_int_equal(patient_idle(&ctx, st, ms + 3000, &r), 0);
            if (r.text[0]) {
                if (!strcmp(prev, r.text))
                    fail_msg("idle said twice in a row: %s", r.text);
                snprintf(prev, sizeof(prev), "%s", r.text);
            }
            json_array_append_new(out, json_pack("{s:s, s:O}", "text", r.text, "meta", r.meta));
            patient_reply_free(&r);
        }
    }
    /* The state stays small and versioned. */
    char *dump = json_dumps(st, JSON_COMPACT);
    assert_non_null(dump);
    assert_true(strlen(dump) < 2048);
    assert_int_equal(json_integer_value(json_object_get(st, "v")), 1);
    assert_true(json_array_size(json_object_get(st, "last_lines")) <= 6);
    json_array_append_new(out, json_string(dump));
    free(dump);
    json_decref(st);
}

static void test_no_repeats_and_determinism(void **s)
{
    (void)s;
    DIR *d = opendir(SCENARIOS);
    assert_non_null(d);
    struct dirent *e;
    size_t cards = 0, phrasing_differs = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".json"))
            continue;
        char slug[256];
        snprintf(slug, sizeof(slug), "%.*s", (int)(strlen(e->d_name) - 5), e->d_name);
        json_t *doc = load_scenario(slug);
        json_t *a = json_array(), *b = json_array(), *c = json_array();
        play(doc, 1234, a);
        play(doc, 1234, b);
        play(doc, 98765, c);
        /* Same seed, same inputs: the same replies, metas and final state. */
        assert_true(json_equal(a, b));
        /* Another seed: the same content (facts, cues, concerns, kinds), maybe other words. */
        assert_int_equal(json_array_size(a), json_array_size(c));
        for (size_t i = 0; i + 1 < json_array_size(a); i++) {
            const json_t *ma = json_object_get(json_array_get(a, i), "meta");
            const json_t *mc = json_object_get(json_array_get(c, i), "meta");
            static const char *const keys[] = {"kind", "topics", "cues", "concerns", "repeated"};
            for (size_t k = 0; k < ARRAY_LEN(keys); k++)
                if (!json_equal(json_object_get(ma, keys[k]), json_object_get(mc, keys[k])))
                    fail_msg("%s turn %zu: %s differs between seeds", slug, i, keys[k]);
            phrasing_differs +=
                strcmp(json_string_value(json_object_get(json_array_get(a, i), "text")),
                       json_string_value(json_object_get(json_array_get(c, i), "text"))) != 0;
        }
        json_decref(a);
        json_decref(b);
        json_decref(c);
        json_decref(doc);
        cards++;
    }
    closedir(d);
    assert_true(cards >= 36);
    assert_true(phrasing_differs > 0);
    printf("[ patient  ] %zu cards replayed; another seed changed the wording of %zu replies\n",
           cards, phrasing_differs);
}

static void test_bad_input(void **s)
{
    (void)s;
    json_t *doc = load_scenario("medicine-chest-pain-history");
    patient_context ctx = context_of(doc, 1);
    json_t *st = patient_state_new(&ctx);
    patient_reply r;
    assert_int_equal(patient_respond(NULL, st, "hi", 0, &r), -1);
    assert_null(r.text);
    assert_int_equal(patient_respond(&ctx, NULL, "hi", 0, &r), -1);
    assert_int_equal(patient_respond(&ctx, st, "hi", 0, NULL), -1);
    json_t *wrong = json_pack("{s:i}", "v", 99);
    assert_int_equal(patient_respond(&ctx, wrong, "hi", 0, &r), -1);
    json_decref(wrong);
    patient_context no_card = {NULL, NULL, 1, 300};
    assert_int_equal(patient_respond(&no_card, st, "hi", 0, &r), -1);
    /* NULL utterance is silence; a huge one is read up to its cap; junk bytes do no harm. */
    r = turn(&ctx, st, NULL, 1000);
    assert_string_equal(kind_of(&r), "cue"); /* the on_start cue, never opened */
    patient_reply_free(&r);
    size_t big = 100000;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    for (size_t i = 0; i < big; i++)
        huge[i] = "do you smoke \xff\xfe?! '-"[i % 20];
    huge[big] = '\0';
    r = turn(&ctx, st, huge, 2000);
    assert_true(has_topic(&r, "smoking"));
    patient_reply_free(&r);
    free(huge);
    json_decref(st);
    json_decref(doc);
}

/* ---- every trigger of every card ---------------------------------------------------------- */

static int question_like(const char *t)
{
    static const char *const starts[] = {"what", "when",  "where", "why",  "how", "who", "which",
                                         "do ",  "does",  "did",   "is ",  "are", "has", "have",
                                         "can",  "could", "any",   "ever", NULL};
    for (size_t i = 0; starts[i]; i++)
        if (!strncmp(t, starts[i], strlen(starts[i])))
            return 1;
    return 0;
}

static void test_every_trigger_of_every_card(void **s)
{
    (void)s;
    DIR *d = opendir(SCENARIOS);
    assert_non_null(d);
    struct dirent *e;
    size_t triggers = 0, answered = 0, only = 0, cards = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".json"))
            continue;
        char slug[256];
        snprintf(slug, sizeof(slug), "%.*s", (int)(strlen(e->d_name) - 5), e->d_name);
        json_t *doc = load_scenario(slug);
        patient_context ctx = context_of(doc, 21);
        size_t i, k;
        json_t *f, *t;
        json_array_foreach(facts_of(doc), i, f)
        {
            const char *topic = json_string_value(json_object_get(f, "topic"));
            json_array_foreach(json_object_get(f, "triggers"), k, t)
            {
                const char *trig = json_string_value(t);
                char q[512];
                if (question_like(trig))
                    snprintf(q, sizeof(q), "Okay, %s?", trig);
                else
                    snprintf(q, sizeof(q), "Can I ask about %s?", trig);
                json_t *st = patient_state_new(&ctx);
                patient_reply r = turn(&ctx, st, q, 10000);
                int hit = has_topic(&r, topic) && says(r.text, answer_of(doc, topic));
                triggers++;
                answered += (size_t)hit;
                only += hit && ntopics(&r) == 1;
                if (!hit)
                    printf("[ patient  ]   missed: %s %s \"%s\" -> %s\n", slug, topic, q, r.text);
                patient_reply_free(&r);
                json_decref(st);
            }
        }
        /* No fact for pleasantries, on any card. */
        static const char *const social[] = {"hello",  "how are you",  "that must be hard",
                                             "Hello!", "How are you?", "That must be hard.",
                                             NULL};
        for (size_t j = 0; social[j]; j++) {
            json_t *st = patient_state_new(&ctx);
            patient_reply r = turn(&ctx, st, social[j], 1000);
            const char *leak = leaked_fact(doc, r.text);
            if (leak || ntopics(&r))
                fail_msg("%s: \"%s\" gave %s: %s", slug, social[j], leak ? leak : "a topic",
                         r.text);
            patient_reply_free(&r);
            json_decref(st);
        }
        json_decref(doc);
        cards++;
    }
    closedir(d);
    double pct = 100.0 * (double)answered / (double)triggers;
    printf("[ patient  ] trigger coverage over %zu cards: %zu/%zu triggers answered (%.1f%%), "
           "%zu with that fact alone (%.1f%%)\n",
           cards, answered, triggers, pct, only, 100.0 * (double)only / (double)triggers);
    assert_true(cards >= 36);
    assert_true(answered * 100 >= triggers * 95);
}

/* ---- the compiled-in word lists match data/lexicon -------------------------------------- */

static void test_lexicon_matches_files(void **s)
{
    (void)s;
    assert_non_null(patient_lexicon_get());
    size_t files = 0;
    DIR *d = opendir(LEXICON);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".txt"))
            continue;
        const patient_lexicon_list *l = NULL;
        for (size_t i = 0; i < patient_lexicon_nlists; i++)
            if (!strcmp(patient_lexicon_lists[i].name, e->d_name))
                l = &patient_lexicon_lists[i];
        if (!l)
            fail_msg("%s is not compiled in: run python3 data/lexicon/embed.py", e->d_name);
        char path[512], line[1024];
        snprintf(path, sizeof(path), "%s/%s", LEXICON, e->d_name);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        size_t k = 0;
        while (fgets(line, sizeof(line), fp)) {
            char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            size_t len = strlen(p);
            while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' '))
                p[--len] = '\0';
            if (!len || p[0] == '#')
                continue;
            if (k >= l->n || strcmp(l->lines[k], p))
                fail_msg("%s line \"%s\" differs from the compiled-in list: run "
                         "python3 data/lexicon/embed.py",
                         e->d_name, p);
            k++;
        }
        fclose(fp);
        assert_int_equal(k, l->n);
        files++;
    }
    closedir(d);
    assert_int_equal(files, patient_lexicon_nlists);
}

static void test_stems_and_near_spellings(void **s)
{
    (void)s;
    const patient_lexicon *lx = patient_lexicon_get();
    static const char *const same[][2] = {
        {"smoking", "smoke"},     {"tablets", "tablet"}, {"worried", "worries"},
        {"stopped", "stop"},      {"feelings", "feel"},  {"tiredness", "tired"},
        {"glasses", "glass"},     {"children", "child"}, {"told", "tell"},
        {"breathing", "breathe"}, {"using", "used"},     {"heavier", "heavy"}};
    for (size_t i = 0; i < ARRAY_LEN(same); i++) {
        char a[LEX_WORD_MAX], b[LEX_WORD_MAX];
        patient_lexicon_stem(lx, same[i][0], a);
        patient_lexicon_stem(lx, same[i][1], b);
        if (strcmp(a, b))
            fail_msg("%s -> %s but %s -> %s", same[i][0], a, same[i][1], b);
    }
    assert_true(patient_lexicon_near("braething", "breathing"));
    assert_true(patient_lexicon_near("medicaton", "medication"));
    assert_true(patient_lexicon_near("medication", "medicaton"));
    assert_true(patient_lexicon_near("alergy", "allergy"));
    assert_true(patient_lexicon_near("fever", "fevers"));
    assert_false(patient_lexicon_near("breathing", "bathing"));
    assert_false(patient_lexicon_near("abc", "cba"));
    assert_int_equal(patient_lexicon_near("clear", "clean"), NEAR_SUBSTITUTION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexicon_matches_files),
        cmocka_unit_test(test_stems_and_near_spellings),
        cmocka_unit_test(test_facts_when_asked),
        cmocka_unit_test(test_unknown_question_gets_no_fact),
        cmocka_unit_test(test_moves_never_leak),
        cmocka_unit_test(test_greeting_uses_the_doctors_name),
        cmocka_unit_test(test_two_questions_two_answers),
        cmocka_unit_test(test_asr_typos),
        cmocka_unit_test(test_on_start_cue_from_open),
        cmocka_unit_test(test_after_topic_cue_once),
        cmocka_unit_test(test_after_seconds_cue_from_idle),
        cmocka_unit_test(test_empathy_voices_a_concern),
        cmocka_unit_test(test_explanation_then_follow_up),
        cmocka_unit_test(test_teach_back_and_summary),
        cmocka_unit_test(test_repeat_is_restated),
        cmocka_unit_test(test_closing),
        cmocka_unit_test(test_no_repeats_and_determinism),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_every_trigger_of_every_card),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (respond_calls)
        printf("[ patient  ] patient_respond: %zu calls, mean %.1f us per call\n", respond_calls,
               respond_ns / (double)respond_calls / 1000.0);
    return failed;
}
