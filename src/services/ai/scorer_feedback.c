/* Strengths and improvements: the top three of each, every item tied to an indicator (or a
 * linguistic criterion), quoting the candidate's own words and offering a phrase to use. Order
 * is fixed by a priority table (what costs most marks first), so two runs agree. */
#include "services/ai/scorer_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TOP 3

typedef struct {
    const char *code;
    int rank;            /* lower first */
    const char *praise;  /* strength comment */
    const char *better;  /* a phrase to use when it was missed */
    const char *stretch; /* a phrase to go further when it was done */
} indicator_text;

/* Indexed like IND_A1 … IND_E5. */
static const indicator_text texts[IND__COUNT] = {
    {"A1", 5, "You opened with a greeting, who you are and why you are there.",
     "Hello, I'm Sam, one of the nurses. I'd like to talk about going home today. Is now a good "
     "time?",
     "Hello, I'm Sam, one of the nurses. Before we start, how would you like me to call you?"},
    {"A2", 19, "You stayed polite and acknowledged what the patient told you.",
     "Thank you for telling me that. Would you mind if I asked a few more questions?",
     "Thank you, that's really helpful to know."},
    {"A3", 16, "You kept a non-judgemental tone and normalised the patient's situation.",
     "A lot of people find this hard. Let's look at what might work for you.",
     "Many people in your situation feel the same; you did the right thing coming in."},
    {"A4", 2, "You named the patient's feelings and showed empathy.",
     "I can see this has been really worrying for you.",
     "It sounds like this has been a lot to deal with. How are you feeling about it now?"},
    {"B1", 3, "You asked about the patient's ideas, concerns and expectations.",
     "What do you think might be causing it? Is there anything in particular that worries you?",
     "What were you hoping we could do today?"},
    {"B2", 1, "You picked up the patient's cues and responded to them.",
     "I can hear that's worrying you. Can you tell me more about what worries you most?",
     "You mentioned earlier that…; shall we talk about that now?"},
    {"B3", 13, "You linked your explanation to what the patient had told you.",
     "You mentioned you were worried about…, so let me explain how this plan deals with that.",
     "Because you told me…, I think this option might suit you best."},
    {"C1", 17, "The interview had a clear shape: opening, questions, explanation, close.",
     "First I'd like to ask you a few questions, then I'll explain what we found and what happens "
     "next.",
     "Let me tell you how we'll use the time: questions first, then the plan."},
    {"C2", 10, "You signposted the changes of topic.",
     "Thank you. Now I'd like to move on and explain what the results mean.",
     "Now I'd like to move on to…"},
    {"C3", 18, "Your explanation was organised into clear chunks.",
     "There are two main things I'd like you to remember. The first is… The second is…",
     "So, to recap the three key points…"},
    {"D1", 14, "You let the patient tell their story and encouraged them to go on.",
     "Please go on, take your time.", "Tell me more about that."},
    {"D2", 6, "You opened topics with open questions before narrowing down.",
     "Can you tell me about… in your own words?", "Tell me about a typical day."},
    {"D3", 15, "You asked one clear question at a time, without suggesting the answer.",
     "How often do you…? (then wait for the answer before the next question)",
     "What do you usually…?"},
    {"D4", 20, "You clarified vague answers.", "When you say 'sometimes', how often would that be?",
     "What do you mean by…?"},
    {"D5", 9, "You summarised what the patient told you and let them correct it.",
     "Let me check I've understood: … Have I got that right?",
     "So, to summarise what you've told me… Is there anything I've missed?"},
    {"E1", 8, "You found out what the patient already knew before explaining.",
     "Before I explain, what do you already know about…?", "What have you been told so far?"},
    {"E2", 7, "You gave information in small chunks and let the patient respond.",
     "That's the first part. How does that sound so far?",
     "Let me stop there for a moment: what questions do you have about that?"},
    {"E3", 12, "You invited the patient's reactions to what you explained.",
     "How do you feel about that?", "What do you think about trying that?"},
    {"E4", 4, "You checked the patient's understanding.",
     "Just to make sure I've explained it clearly, could you tell me in your own words what "
     "you'll do?",
     "Can you tell me which signs would mean you should call us?"},
    {"E5", 11, "You asked what else the patient wanted to know.",
     "Is there anything else you'd like to know about it?",
     "What else would be helpful to talk about today?"},
};

typedef struct {
    int bucket; /* 0 not met / poor, 1 partly, 2 minor */
    int rank;
    const char *key_name; /* "indicator" or "criterion" */
    const char *key;
    const char *comment;
    sc_ref quote;
    const char *better;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket - y->bucket;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return strcmp(x->key, y->key);
}

static const char *fmt(sc_ctx *c, const char *f, ...) PRINTF_LIKE(2, 3);
static const char *fmt(sc_ctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    const char *s = arena_vprintf(c->a, f, ap);
    va_end(ap);
    return s ? s : "";
}

static size_t candidate_at_or_after(const sc_ctx *c, size_t i)
{
    for (; i < c->nturns; i++)
        if (c->turns[i].candidate)
            return i;
    return c->nturns;
}

static json_t *item_json(sc_ctx *c, const item *it)
{
    const char *text = scorer_quote(c, it->quote);
    return json_pack("{s:s, s:s, s:{s:i, s:s}, s:s}", it->key_name, it->key, "comment", it->comment,
                     "quote", "turn", c->turns[it->quote.turn].n, "text", text, "better_phrase",
                     it->better);
}

static int ling_rank(int which)
{
    return which == LING_APPROPRIATENESS ? 4 : which == LING_GRAMMAR ? 12 : 13;
}

static const char *ling_name(int which)
{
    static const char *const names[LING__COUNT] = {"intelligibility", "fluency", "appropriateness",
                                                   "grammar_expression"};
    return names[which];
}

int scorer_feedback_build(sc_ctx *c, json_t *report)
{
    item good[IND__COUNT + LING__COUNT], bad[IND__COUNT + LING__COUNT];
    size_t ng = 0, nb = 0;

    for (int i = 0; i < IND__COUNT; i++) {
        const sc_indicator *ind = &c->ind[i];
        if (ind->met == MET_FULL) {
            /* a strength needs the candidate's own words */
            for (size_t e = 0; e < ind->nev; e++)
                if (c->turns[ind->ev[e].turn].candidate) {
                    good[ng++] =
                        (item){0,          texts[i].rank,   "indicator", ind->code, texts[i].praise,
                               ind->ev[e], texts[i].stretch};
                    break;
                }
            continue;
        }
        if (!ind->has_missed)
            continue;
        sc_ref q = ind->missed;
        if (q.turn >= c->nturns)
            continue;
        if (!c->turns[q.turn].candidate) {
            /* a missed cue: quote the candidate's reply */
            q.turn = candidate_at_or_after(c, q.turn);
            q.sent = 0;
            if (q.turn >= c->nturns)
                continue;
        }
        bad[nb++] = (item){ind->met == MET_NOT ? 0 : 1,
                           texts[i].rank,
                           "indicator",
                           ind->code,
                           ind->why,
                           q,
                           texts[i].better};
    }

    /* linguistic: unexplained jargon first, then grammar and fluency lapses */
    if (c->njargon > 0) {
        const sc_jargon *j = &c->jargon[0];
        const sc_term *t = &c->lex.terms[j->term];
        bad[nb++] = (item){
            c->ling[LING_APPROPRIATENESS].score <= 4 ? 0 : 1,
            ling_rank(LING_APPROPRIATENESS),
            "criterion",
            ling_name(LING_APPROPRIATENESS),
            fmt(c, "\"%s\" is a clinical term the patient may not know.", t->term),
            (sc_ref){j->turn, j->sent},
            fmt(c, "Say \"%s\", or explain it: \"%s, which means %s\".", t->lay, t->term, t->lay)};
    }
    if (c->nerrors > 0 && c->ling[LING_GRAMMAR].score <= 5) {
        const sc_grammar_error *e = &c->errors[0];
        bad[nb++] =
            (item){c->ling[LING_GRAMMAR].score <= 3 ? 0 : 1,
                   ling_rank(LING_GRAMMAR),
                   "criterion",
                   ling_name(LING_GRAMMAR),
                   fmt(c, "A %s error: %s.", e->kind, e->example),
                   (sc_ref){e->turn, e->sent},
                   strstr(e->example, "→") ? fmt(c, "Use the corrected form: %s.", e->example)
                                           : "Check the verb agrees with its subject and "
                                             "that singular nouns have an article."};
    }
    const sc_ling *flu = &c->ling[LING_FLUENCY];
    if (flu->score >= 0 && flu->score <= 4 && flu->nev > 0)
        bad[nb++] = (item){flu->score <= 3 ? 0 : 1,
                           ling_rank(LING_FLUENCY),
                           "criterion",
                           ling_name(LING_FLUENCY),
                           "Fillers, repetitions or restarts break the flow here.",
                           flu->ev[0],
                           "Plan the first few words of each point, then pause silently instead "
                           "of saying \"um\"."};
    for (int w = 0; w < LING__COUNT; w++) {
        const sc_ling *l = &c->ling[w];
        if (l->score < 5 || w == LING_INTELLIGIBILITY || w == LING_FLUENCY)
            continue;
        if (w == LING_APPROPRIATENESS && c->njargon == 0) {
            /* quote a sentence where a term was explained, or any giving turn */
            size_t at = c->first_giving < c->nturns ? c->first_giving : c->nturns;
            if (at < c->nturns)
                good[ng++] = (item){1,
                                    30,
                                    "criterion",
                                    ling_name(w),
                                    "Plain, patient-friendly language throughout.",
                                    (sc_ref){at, 0},
                                    "Keep pairing any medical word with its everyday meaning."};
        }
    }

    qsort(good, ng, sizeof(good[0]), cmp_item);
    qsort(bad, nb, sizeof(bad[0]), cmp_item);
    json_t *strengths = json_array(), *improvements = json_array();
    if (!strengths || !improvements)
        goto oom;
    /* an item must quote the candidate's own words: skip any whose sentence is empty */
    for (size_t i = 0, n = 0; i < ng && n < TOP; i++) {
        if (!*scorer_quote(c, good[i].quote))
            continue;
        if (json_array_append_new(strengths, item_json(c, &good[i])))
            goto oom;
        n++;
    }
    for (size_t i = 0, n = 0; i < nb && n < TOP; i++) {
        if (!*scorer_quote(c, bad[i].quote))
            continue;
        if (json_array_append_new(improvements, item_json(c, &bad[i])))
            goto oom;
        n++;
    }
    if (json_object_set_new(report, "strengths", strengths)) {
        json_decref(improvements);
        return -1;
    }
    return json_object_set_new(report, "improvements", improvements);
oom:
    json_decref(strengths);
    json_decref(improvements);
    return -1;
}
