/* The scoring lexicon at run time: the compiled lists (scorer_lexicon_data.c) normalised with
 * the transcript's own tokeniser and indexed by first word, so a sentence is matched against a
 * thousand phrases and seven hundred clinical terms in one pass. Built per scoring call in the
 * call's arena (no global state). */
#include "services/ai/scorer_internal.h"

#include <stdlib.h>
#include <string.h>

#define WILDCARD "qqanyqq" /* stands for "*" while a phrase goes through the tokeniser */

const char *const scorer_category_names[CAT__COUNT] = {
    [CAT_GREETING] = "greeting",
    [CAT_INTRODUCTION] = "introduction",
    [CAT_PURPOSE] = "purpose",
    [CAT_CONSENT] = "consent",
    [CAT_EMPATHY] = "empathy",
    [CAT_ACKNOWLEDGE] = "acknowledge",
    [CAT_CUE_RESPONSE] = "cue_response",
    [CAT_NORMALISE] = "normalise",
    [CAT_JUDGEMENT] = "judgement",
    [CAT_DISMISSIVE] = "dismissive",
    [CAT_INFORMAL] = "informal",
    [CAT_COMMAND] = "command",
    [CAT_COMMAND_SOFT] = "command_soft",
    [CAT_POLITENESS] = "politeness",
    [CAT_PATIENT_CENTRED] = "patient_centred",
    [CAT_FACILITATE] = "facilitate",
    [CAT_ICE_IDEAS] = "ice_ideas",
    [CAT_ICE_CONCERNS] = "ice_concerns",
    [CAT_ICE_EXPECTATIONS] = "ice_expectations",
    [CAT_KNOWLEDGE] = "knowledge",
    [CAT_KNOWLEDGE_CLOSED] = "knowledge_closed",
    [CAT_SIGNPOST] = "signpost",
    [CAT_SUMMARY] = "summary",
    [CAT_CORRECTION_INVITE] = "correction_invite",
    [CAT_CHECK] = "check",
    [CAT_CHECK_WEAK] = "check_weak",
    [CAT_TEACH_BACK] = "teach_back",
    [CAT_REACTION] = "reaction",
    [CAT_FURTHER_INFO] = "further_info",
    [CAT_ANY_QUESTIONS] = "any_questions",
    [CAT_ORGANISER] = "organiser",
    [CAT_REFER_BACK] = "refer_back",
    [CAT_CLARIFY] = "clarify",
    [CAT_EXPLAIN_MARKER] = "explain_marker",
    [CAT_CLOSING] = "closing",
    [CAT_SELF_CORRECTION] = "self_correction",
    [CAT_LEADING] = "leading",
    [CAT_OPEN_REQUEST] = "open_request",
    [CAT_PLEASANTRY] = "pleasantry",
    [CAT_VAGUE] = "vague",
    [CAT_EMOTION] = "emotion",
    [CAT_CONFUSION] = "confusion",
    [CAT_HEDGE] = "hedge",
};

int scorer_category_from_name(const char *name)
{
    for (int i = 0; i < CAT__COUNT; i++)
        if (strcmp(scorer_category_names[i], name) == 0)
            return i;
    return -1;
}

static int cmp_phrase(const void *a, const void *b)
{
    const sc_phrase *x = a, *y = b;
    return strcmp(x->tok[0], y->tok[0]);
}

static int cmp_term(const void *a, const void *b)
{
    const sc_term *x = a, *y = b;
    int r = strcmp(x->tok[0], y->tok[0]);
    if (r)
        return r;
    return strcmp(x->term, y->term); /* terms are unique: a total order */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tokenises a phrase, keeping "*" wildcards. */
static size_t phrase_tokens(arena *a, const char *text, const char ***out)
{
    size_t n = strlen(text);
    size_t stars = 0;
    for (size_t i = 0; i < n; i++)
        stars += text[i] == '*';
    char *buf = arena_alloc(a, n + stars * sizeof(WILDCARD) + 1);
    if (!buf)
        return 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '*') {
            memcpy(buf + j, WILDCARD, sizeof(WILDCARD) - 1);
            j += sizeof(WILDCARD) - 1;
        } else {
            buf[j++] = text[i];
        }
    }
    buf[j] = '\0';
    size_t nt = scorer_tokenize_words(a, buf, out);
    for (size_t i = 0; i < nt; i++)
        if (strcmp((*out)[i], WILDCARD) == 0)
            (*out)[i] = "*";
    return nt;
}

int scorer_lexicon_load(arena *a, sc_lexicon *lex)
{
    memset(lex, 0, sizeof(*lex));
    lex->phrases = arena_alloc(a, scorer_phrases_count * sizeof(*lex->phrases));
    lex->terms = arena_alloc(a, scorer_terms_count * sizeof(*lex->terms));
    lex->fillers = arena_alloc(a, scorer_fillers_count * sizeof(*lex->fillers));
    if (!lex->phrases || !lex->terms || !lex->fillers)
        return -1;

    for (size_t i = 0; i < scorer_fillers_count; i++)
        lex->fillers[i] = scorer_fillers_data[i];
    lex->nfillers = scorer_fillers_count;
    qsort(lex->fillers, lex->nfillers, sizeof(*lex->fillers), cmp_str);

    for (size_t i = 0; i < scorer_phrases_count; i++) {
        int cat = scorer_category_from_name(scorer_phrases_data[i].category);
        if (cat < 0)
            continue; /* the unit test reports unknown categories */
        const char *text = scorer_phrases_data[i].phrase;
        int anchored = 0;
        while (*text == '^' || *text == ' ') {
            anchored |= *text == '^';
            text++;
        }
        const char **tok;
        size_t nt = phrase_tokens(a, text, &tok);
        if (nt == 0 || nt > 255 || strcmp(tok[0], "*") == 0)
            continue;
        sc_phrase *p = &lex->phrases[lex->nphrases++];
        p->tok = tok;
        p->ntok = (uint8_t)nt;
        p->anchored = (uint8_t)anchored;
        p->cat = (uint8_t)cat;
    }
    /* ties keep no meaningful order: every phrase with the same first word is tried */
    qsort(lex->phrases, lex->nphrases, sizeof(*lex->phrases), cmp_phrase);

    for (size_t i = 0; i < scorer_terms_count; i++) {
        sc_term *t = &lex->terms[lex->nterms];
        memset(t, 0, sizeof(*t));
        t->term = scorer_terms_data[i].term;
        t->lay = scorer_terms_data[i].lay;
        t->ntok = scorer_tokenize_words(a, t->term, &t->tok);
        if (t->ntok == 0)
            continue;
        const char **lay;
        size_t nl = scorer_tokenize_words(a, t->lay, &lay);
        t->lay_stems = arena_alloc(a, (nl + 1) * sizeof(*t->lay_stems));
        if (!t->lay_stems)
            return -1;
        for (size_t j = 0; j < nl; j++) {
            if (scorer_is_stopword(lay[j]) || strlen(lay[j]) < 3)
                continue;
            const char *st = scorer_stem(a, lay[j]);
            if (!st)
                return -1;
            t->lay_stems[t->nlay++] = st;
        }
        lex->nterms++;
    }
    qsort(lex->terms, lex->nterms, sizeof(*lex->terms), cmp_term);
    return 0;
}

int scorer_lexicon_is_filler(const sc_lexicon *lex, const char *w)
{
    return bsearch(&w, lex->fillers, lex->nfillers, sizeof(*lex->fillers), cmp_str) != NULL;
}

/* First index of a phrase whose first token is w (or nphrases). */
static size_t phrase_lower(const sc_lexicon *lex, const char *w)
{
    size_t lo = 0, hi = lex->nphrases;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(lex->phrases[mid].tok[0], w) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Does phrase p match at token i? Fillers in the transcript are skipped ("what um do you"). */
static int phrase_matches(const sc_phrase *p, const sc_token *tok, size_t i, size_t t1)
{
    size_t k = i;
    for (size_t j = 0; j < p->ntok; j++) {
        while (k < t1 && j > 0 && tok[k].filler)
            k++;
        if (k >= t1)
            return 0;
        if (strcmp(p->tok[j], "*") != 0 && strcmp(p->tok[j], tok[k].w) != 0)
            return 0;
        k++;
    }
    return 1;
}

uint64_t scorer_lexicon_match(const sc_lexicon *lex, const sc_token *tok, size_t t0, size_t t1,
                              size_t s0)
{
    uint64_t cats = 0;
    for (size_t i = t0; i < t1; i++) {
        if (tok[i].filler)
            continue;
        for (size_t k = phrase_lower(lex, tok[i].w);
             k < lex->nphrases && strcmp(lex->phrases[k].tok[0], tok[i].w) == 0; k++) {
            const sc_phrase *p = &lex->phrases[k];
            if (p->anchored && i != s0)
                continue;
            if (phrase_matches(p, tok, i, t1))
                cats |= CATBIT(p->cat);
        }
    }
    return cats;
}

int scorer_lexicon_match_at(const sc_lexicon *lex, const sc_token *tok, size_t s, size_t t1,
                            sc_cat cat)
{
    if (s >= t1)
        return 0;
    for (size_t k = phrase_lower(lex, tok[s].w);
         k < lex->nphrases && strcmp(lex->phrases[k].tok[0], tok[s].w) == 0; k++) {
        const sc_phrase *p = &lex->phrases[k];
        if (p->cat == cat && phrase_matches(p, tok, s, t1))
            return 1;
    }
    return 0;
}

long scorer_lexicon_term_at(const sc_lexicon *lex, const sc_token *tok, size_t i, size_t t1,
                            size_t *len)
{
    size_t lo = 0, hi = lex->nterms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(lex->terms[mid].tok[0], tok[i].w) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    long best = -1;
    size_t best_len = 0;
    for (size_t k = lo; k < lex->nterms && strcmp(lex->terms[k].tok[0], tok[i].w) == 0; k++) {
        const sc_term *t = &lex->terms[k];
        if (i + t->ntok > t1 || t->ntok <= best_len)
            continue;
        size_t j = 1;
        while (j < t->ntok && strcmp(t->tok[j], tok[i + j].w) == 0)
            j++;
        if (j == t->ntok) {
            best = (long)k;
            best_len = t->ntok;
        }
    }
    *len = best_len;
    return best;
}
