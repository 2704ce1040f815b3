/* Question types from the form of a sentence, not from its words alone: open (wh- questions
 * that invite a story, "tell me about…"), closed (yes/no inversion, "how many", "when", "which",
 * declarative questions), compound ("…or do you…?", two questions stacked in one turn) and
 * leading (tag questions "…, do you?", "I assume…", "you're not…?"). Also whether a question
 * gathers information or only checks, offers or greets. */
#include "services/ai/scorer_internal.h"

#include <string.h>

static int in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

#define IN(w, list) in_list((w), (list), ARRAY_LEN(list))

static const char *const wh_words[] = {"what",  "how",   "why", "when",
                                       "where", "which", "who", "whose"};
static const char *const aux_words[] = {"do",     "does",  "did", "is",    "are",   "was",  "were",
                                        "have",   "has",   "had", "can",   "could", "will", "would",
                                        "should", "shall", "may", "might", "am",    "must"};
static const char *const subject_words[] = {
    "i",      "you",      "he",    "she",     "it",        "we",      "they",       "there",
    "your",   "his",      "her",   "the",     "that",      "this",    "these",      "those",
    "anyone", "anything", "any",   "someone", "something", "anybody", "everything", "everyone",
    "my",     "our",      "their", "a",       "an",        "he",      "somebody"};
static const char *const pronouns[] = {"you", "he", "she", "it", "they", "we", "i", "there"};
static const char *const discourse[] = {"so",     "and",     "okay",  "ok",   "right", "now",
                                        "well",   "alright", "also",  "then", "but",   "oh",
                                        "yes",    "yeah",    "great", "good", "fine",  "sure",
                                        "lovely", "thanks",  "mm",    "hm",   "sorry", "actually"};
static const char *const titles[] = {"mr", "mrs", "ms", "miss", "dr", "doctor", "sir", "madam"};
/* "how many…" asks for a number, not a story */
static const char *const how_closed[] = {"many",       "much",  "long", "often", "old",
                                         "far",        "big",   "soon", "bad",   "severe",
                                         "frequently", "heavy", "high"};
/* "what" followed by one of these opens a topic ("what happened", "what else", "what do…") */
static const char *const what_open[] = {
    "else",    "about",     "kind",    "sort",     "happened", "happens", "brings", "brought",
    "makes",   "made",      "worries", "concerns", "matters",  "helps",   "would",  "could",
    "do",      "does",      "did",     "is",       "are",      "was",     "were",   "have",
    "has",     "can",       "will",    "should",   "i",        "you",     "he",     "she",
    "it",      "we",        "they",    "your",     "things",   "goes",    "went",   "worried",
    "bothers", "frightens", "scares",  "might",    "else"};
static const char *const wh_verbs[] = {"worries", "concerns",  "happened", "brings",
                                       "brought", "makes",     "made",     "matters",
                                       "helps",   "frightens", "scares",   "bothers"};

static int is_name(const sc_ctx *c, const char *w)
{
    for (size_t i = 0; i < c->nnames; i++)
        if (strcmp(c->names[i], w) == 0)
            return 1;
    return 0;
}

static size_t skip_discourse(const sc_ctx *c, const sc_turn *t, size_t s, size_t e)
{
    size_t skipped = 0;
    while (s < e && skipped < 8) {
        const char *w = t->tok[s].w;
        if (t->tok[s].filler || IN(w, discourse) || IN(w, titles) || is_name(c, w)) {
            s++;
            skipped++;
            continue;
        }
        if (strcmp(w, "thank") == 0 && s + 1 < e && strcmp(t->tok[s + 1].w, "you") == 0) {
            s += 2;
            skipped += 2;
            continue;
        }
        break;
    }
    return s;
}

size_t scorer_effective_start(const sc_ctx *c, const sc_turn *t, const sc_sentence *s)
{
    return skip_discourse(c, t, s->t0, s->t1);
}

/* The question form starting at token s: Q_OPEN, Q_CLOSED or Q_NONE. strict: the sentence has no
 * question mark (unpunctuated speech), so only unambiguous forms count. */
static int form_at(const sc_ctx *c, const sc_turn *t, size_t s, size_t e, int strict)
{
    if (s >= e)
        return Q_NONE;
    if (scorer_lexicon_match_at(&c->lex, t->tok, s, e, CAT_OPEN_REQUEST))
        return Q_OPEN;
    const char *w = t->tok[s].w;
    const char *next = s + 1 < e ? t->tok[s + 1].w : "";
    if (IN(w, wh_words)) {
        if (strict && !IN(next, aux_words) && !IN(next, wh_verbs) &&
            !(strcmp(w, "how") == 0 && IN(next, how_closed)) && strcmp(next, "else") != 0)
            return Q_NONE;
        if (strcmp(w, "how") == 0)
            return IN(next, how_closed) ? Q_CLOSED : Q_OPEN;
        if (strcmp(w, "what") == 0)
            return IN(next, what_open) ? Q_OPEN : Q_CLOSED;
        if (strcmp(w, "why") == 0)
            return Q_OPEN;
        return Q_CLOSED;
    }
    if (IN(w, aux_words)) {
        if (s + 1 >= e)
            return strict ? Q_NONE : Q_CLOSED;
        const sc_token *n1 = &t->tok[s + 1];
        if (strcmp(n1->w, "not") == 0 && s + 2 < e && IN(t->tok[s + 2].w, subject_words))
            return Q_CLOSED;
        if (IN(n1->w, subject_words) || n1->cap || is_name(c, n1->w))
            return Q_CLOSED;
        return strict ? Q_NONE : Q_CLOSED;
    }
    return Q_NONE;
}

/* Tokens [k, e) are exactly a question tag: "do you", "do not you" ("don't you"). */
static int tag_at(const sc_turn *t, size_t k, size_t e)
{
    if (e - k == 2)
        return IN(t->tok[k].w, aux_words) && IN(t->tok[k + 1].w, pronouns);
    if (e - k == 3)
        return IN(t->tok[k].w, aux_words) && strcmp(t->tok[k + 1].w, "not") == 0 &&
               IN(t->tok[k + 2].w, pronouns);
    return e - k < 2;
}

/* A tag question at the end: "…, do you?", "…, don't you?", "…, right?" */
static int tag_question(const sc_turn *t, const sc_sentence *se)
{
    size_t e = se->t1;
    while (e > se->t0 && t->tok[e - 1].filler)
        e--;
    if (e - se->t0 < 4)
        return 0;
    const sc_token *last = &t->tok[e - 1];
    if (strcmp(last->w, "right") == 0 && last->comma)
        return 1;
    if (!IN(last->w, pronouns))
        return 0;
    const sc_token *a = &t->tok[e - 2];
    if (IN(a->w, aux_words) && a->comma)
        return 1;
    if (strcmp(a->w, "not") == 0 && e - se->t0 >= 5) {
        const sc_token *b = &t->tok[e - 3];
        if (IN(b->w, aux_words) && b->comma)
            return 1;
    }
    return 0;
}

static int nongathering(const sc_turn *t, const sc_sentence *se)
{
    const uint64_t never = CATBIT(CAT_CHECK) | CATBIT(CAT_TEACH_BACK) | CATBIT(CAT_FURTHER_INFO) |
                           CATBIT(CAT_ANY_QUESTIONS) | CATBIT(CAT_CORRECTION_INVITE) |
                           CATBIT(CAT_CONSENT);
    if (se->cats & never)
        return 1;
    size_t len = se->t1 - se->t0;
    if ((se->cats & CATBIT(CAT_PLEASANTRY)) && len <= 5) {
        /* "How are you?" greets; "How are you feeling?" asks */
        int asks = 0;
        for (size_t k = se->t0; k < se->t1; k++)
            asks |= strcmp(t->tok[k].w, "feeling") == 0 || strcmp(t->tok[k].w, "feel") == 0;
        if (!asks)
            return 1;
    }
    if ((se->cats & CATBIT(CAT_CHECK_WEAK)) && len <= 5)
        return 1;
    /* "Okay?", "Right?", "Yes?" on their own */
    if (len <= 2 && (se->cats & CATBIT(CAT_ACKNOWLEDGE)))
        return 1;
    return 0;
}

void scorer_questions_classify(const sc_ctx *c, sc_turn *t)
{
    int prev_gathering_q = 0;
    for (size_t i = 0; i < t->nsent; i++) {
        sc_sentence *se = &t->sent[i];
        size_t e = se->t1;
        size_t s0 = skip_discourse(c, t, se->t0, e);
        int strict = !se->qmark;
        int qt = Q_NONE;
        size_t form = s0;
        if (se->qmark || !se->terminated) {
            qt = form_at(c, t, s0, e, strict);
            /* the question may follow a lead-in clause: "I'd like to ask, what do you eat?" */
            for (size_t k = s0 + 1; qt == Q_NONE && se->qmark && k < e; k++)
                if (t->tok[k].comma) {
                    size_t k0 = skip_discourse(c, t, k, e);
                    qt = form_at(c, t, k0, e, 0);
                    form = k0;
                }
            if (qt == Q_NONE && se->qmark)
                qt = Q_CLOSED; /* declarative question: "And the pain?", "You've been okay?" */
            /* unpunctuated speech: "any pain" */
            if (qt == Q_NONE && !se->terminated && e - s0 <= 5 && s0 < e &&
                strcmp(t->tok[s0].w, "any") == 0)
                qt = Q_CLOSED;
        } else if (scorer_lexicon_match_at(&c->lex, t->tok, s0, e, CAT_OPEN_REQUEST)) {
            qt = Q_OPEN; /* "Tell me about his drinks." asks as much as a question does */
        }
        se->qtype = (uint8_t)qt;
        if (qt == Q_NONE) {
            prev_gathering_q = 0;
            continue;
        }
        /* two questions joined in one sentence: "…or do you…?", "…and what…?" */
        for (size_t k = form + 2; k + 1 < e; k++) {
            const char *w = t->tok[k].w;
            /* "Do you smoke, do you drink?" (a tag question "…, do you?" is not a second one) */
            if (t->tok[k].comma && !tag_at(t, k, e) && form_at(c, t, k, e, 1) != Q_NONE &&
                !scorer_lexicon_match_at(&c->lex, t->tok, k, e, CAT_CORRECTION_INVITE)) {
                se->compound = 1;
                continue;
            }
            if (strcmp(w, "or") != 0 && strcmp(w, "and") != 0)
                continue;
            const char *n1 = t->tok[k + 1].w;
            const char *n2 = k + 2 < e ? t->tok[k + 2].w : "";
            if (IN(n1, aux_words) ? IN(n2, pronouns)
                                  : form_at(c, t, k + 1, e, 1) != Q_NONE && strcmp(n2, "else") != 0)
                se->compound = 1;
        }
        if (se->qmark) {
            if ((se->cats & CATBIT(CAT_LEADING)) || tag_question(t, se))
                se->leading = 1;
            /* "You're not smoking?", "He doesn't have juice at night?" */
            if (s0 + 2 < e && IN(t->tok[s0].w, pronouns) && IN(t->tok[s0 + 1].w, aux_words) &&
                strcmp(t->tok[s0 + 2].w, "not") == 0)
                se->leading = 1;
        }
        se->gathering = (uint8_t)!nongathering(t, se);
        /* stacked: a second information question before the patient could answer the first */
        if (se->gathering && se->qmark && prev_gathering_q)
            se->compound = 1;
        prev_gathering_q = se->gathering && se->qmark;
    }
}
