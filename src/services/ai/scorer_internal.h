/* Internals of the scorer (scorer.h): the analysed transcript every detector reads and the
 * functions the scorer_*.c files share. Nothing here is part of the contract; the unit tests use
 * a few of these functions to pin down single detectors. */
#ifndef PRAXIS_SERVICES_AI_SCORER_INTERNAL_H
#define PRAXIS_SERVICES_AI_SCORER_INTERNAL_H

#include "core/arena.h"
#include "core/common.h"
#include <jansson.h>
#include <stdint.h>

/* ---- the compiled lexicon (scorer_lexicon_data.c, generated from data/lexicon/scoring) ---- */

typedef struct {
    const char *term;
    const char *lay;
} scorer_term_line;

typedef struct {
    const char *category;
    const char *phrase;
} scorer_phrase_line;

extern const scorer_term_line scorer_terms_data[];
extern const size_t scorer_terms_count;
extern const scorer_phrase_line scorer_phrases_data[];
extern const size_t scorer_phrases_count;
extern const char *const scorer_fillers_data[];
extern const size_t scorer_fillers_count;

/* The phrase categories: the [section] names of phrases.txt (plus "hedge" from hedges.txt), in
 * the order of scorer_category_names. */
typedef enum {
    CAT_GREETING,
    CAT_INTRODUCTION,
    CAT_PURPOSE,
    CAT_CONSENT,
    CAT_EMPATHY,
    CAT_ACKNOWLEDGE,
    CAT_CUE_RESPONSE,
    CAT_NORMALISE,
    CAT_JUDGEMENT,
    CAT_DISMISSIVE,
    CAT_INFORMAL,
    CAT_COMMAND,
    CAT_COMMAND_SOFT,
    CAT_POLITENESS,
    CAT_PATIENT_CENTRED,
    CAT_FACILITATE,
    CAT_ICE_IDEAS,
    CAT_ICE_CONCERNS,
    CAT_ICE_EXPECTATIONS,
    CAT_KNOWLEDGE,
    CAT_KNOWLEDGE_CLOSED,
    CAT_SIGNPOST,
    CAT_SUMMARY,
    CAT_CORRECTION_INVITE,
    CAT_CHECK,
    CAT_CHECK_WEAK,
    CAT_TEACH_BACK,
    CAT_REACTION,
    CAT_FURTHER_INFO,
    CAT_ANY_QUESTIONS,
    CAT_ORGANISER,
    CAT_REFER_BACK,
    CAT_CLARIFY,
    CAT_EXPLAIN_MARKER,
    CAT_CLOSING,
    CAT_SELF_CORRECTION,
    CAT_LEADING,
    CAT_OPEN_REQUEST,
    CAT_PLEASANTRY,
    CAT_VAGUE,
    CAT_EMOTION,
    CAT_CONFUSION,
    CAT_HEDGE,
    CAT__COUNT
} sc_cat;

#define CATBIT(c) ((uint64_t)1 << (c))

extern const char *const scorer_category_names[CAT__COUNT];

/* ---- the analysed transcript ---- */

typedef struct {
    const char *w;     /* normalised: lowercase, "’" → "'", contractions expanded */
    const char *stem;  /* scorer_stem(w): for fuzzy matching of task evidence and overlap */
    uint32_t off, len; /* the source word's bytes in the turn's text (shared by expansions) */
    uint32_t raw;      /* index of the source word (before contractions were expanded) */
    uint8_t cap;       /* the source word started with an uppercase letter */
    uint8_t comma;     /* a comma, semicolon, colon, dash or bracket comes just before it */
    uint8_t filler;    /* a filled pause (um, er, …) */
    uint8_t truncated; /* the source word was cut off ("he-", "sh—") */
    uint8_t stop;      /* a function word: ignored by content overlap */
} sc_token;

typedef enum { Q_NONE = 0, Q_OPEN, Q_CLOSED } sc_qtype;

typedef struct {
    uint32_t t0, t1;    /* tokens [t0, t1) of the turn */
    uint32_t off, end;  /* bytes [off, end) of the turn's text, trimmed */
    uint8_t qmark;      /* ends with '?' */
    uint8_t terminated; /* ends with . ! ? or a line break */
    uint8_t qtype;      /* sc_qtype: 0 for a statement */
    uint8_t compound;   /* two questions at once ("…or do you…?", or stacked after another) */
    uint8_t leading;    /* suggests the answer ("you don't smoke, do you?") */
    uint8_t gathering;  /* asks for the patient's information (not a check, offer, pleasantry) */
    uint64_t cats;      /* phrase categories found in the sentence */
} sc_sentence;

typedef struct {
    const char *w;
    double start, end; /* seconds from the start of the turn's audio */
    double conf;       /* recogniser confidence 0..1 */
} sc_word;

typedef struct {
    int n;         /* the turn's number in the session */
    int candidate; /* 1 candidate, 0 patient */
    const char *text;
    size_t text_len;
    int64_t t_ms;
    sc_token *tok;
    size_t ntok;
    sc_sentence *sent;
    size_t nsent;
    sc_word *words; /* voice: the recogniser's words (NULL in text mode) */
    size_t nwords;
    const char *kind; /* patient meta.kind, or NULL */
    const char **topics;
    size_t ntopics;
    int *cues; /* patient meta.cues: indexes into patient_card.cues */
    size_t ncues;
    uint64_t cats;          /* union of the sentences' categories */
    size_t content_words;   /* tokens that are not fillers */
    size_t statement_words; /* tokens in sentences that are not questions */
    size_t hesitations;     /* typed "..." or "…" inside the turn */
    int cut_off;            /* patient turn that stops mid-sentence (text ends in "-", "…") */
    int giving;             /* candidate turn that gives information (see scorer_clinical.c) */
} sc_turn;

/* A place in the transcript to quote: a sentence of a turn (sent == SC_WHOLE: the turn). */
#define SC_WHOLE ((size_t)-1)
typedef struct {
    size_t turn; /* index into ctx->turns */
    size_t sent;
} sc_ref;

typedef enum { MET_NOT = 0, MET_PARTLY = 1, MET_FULL = 2 } sc_met;

#define SC_MAX_EVIDENCE 3

typedef struct {
    const char *code; /* "A1" … "E5" */
    sc_met met;
    sc_ref ev[SC_MAX_EVIDENCE];
    size_t nev;
    int has_missed;
    sc_ref missed;
    const char *missed_quote; /* overrides the quoted sentence (e.g. the patient's cue) */
    const char *why;
} sc_indicator;

enum {
    IND_A1,
    IND_A2,
    IND_A3,
    IND_A4,
    IND_B1,
    IND_B2,
    IND_B3,
    IND_C1,
    IND_C2,
    IND_C3,
    IND_D1,
    IND_D2,
    IND_D3,
    IND_D4,
    IND_D5,
    IND_E1,
    IND_E2,
    IND_E3,
    IND_E4,
    IND_E5,
    IND__COUNT
};

enum {
    CRIT_RELATIONSHIP,
    CRIT_PERSPECTIVE,
    CRIT_STRUCTURE,
    CRIT_GATHERING,
    CRIT_GIVING,
    CRIT__COUNT
};

enum { LING_INTELLIGIBILITY, LING_FLUENCY, LING_APPROPRIATENESS, LING_GRAMMAR, LING__COUNT };

#define SC_MAX_COMMENTS 6
#define SC_MAX_LING_EVIDENCE 4

typedef struct {
    int score; /* 0..6, or -1 for "not assessed" (null) */
    const char *comments[SC_MAX_COMMENTS];
    size_t ncomments;
    sc_ref ev[SC_MAX_LING_EVIDENCE];
    size_t nev;
} sc_ling;

/* One unexplained clinical term, for appropriateness evidence and a better phrase. */
typedef struct {
    size_t turn, sent;
    size_t term; /* index into lexicon terms */
} sc_jargon;

/* One detected grammar error. */
typedef struct {
    size_t turn, sent;
    const char *kind; /* "agreement", "article", "tense", "plural", "word form" */
    const char *example;
} sc_grammar_error;

typedef struct {
    int has_timing; /* voice with word timings */
    double speech_rate_wpm, articulation_rate_wpm, mean_length_of_run, max_length_of_run;
    double pauses_per_min, filler_rate, repetition_rate, lexical_diversity, talk_time_ratio;
    double mean_conf, low_conf_share;
    size_t questions_open, questions_closed;
    size_t candidate_words, fillers, repetitions, self_corrections, hesitations, pauses;
    size_t low_conf_words, conf_words;
} sc_metrics;

/* A parsed lexicon entry: normalised tokens. */
typedef struct {
    const char **tok;
    uint8_t ntok;
    uint8_t anchored;
    uint8_t cat;
} sc_phrase;

typedef struct {
    const char **tok; /* the term's normalised tokens */
    size_t ntok;
    const char *term; /* as written in the list */
    const char *lay;
    const char **lay_stems; /* content stems of the lay words */
    size_t nlay;
} sc_term;

typedef struct {
    sc_phrase *phrases; /* sorted by first token */
    size_t nphrases;
    sc_term *terms; /* sorted by first token */
    size_t nterms;
    const char **fillers; /* sorted */
    size_t nfillers;
} sc_lexicon;

typedef struct {
    arena *a;
    sc_lexicon lex;
    const json_t *scenario, *ccard, *pcard;
    int voice;
    sc_turn *turns;
    size_t nturns;
    const char *names[6]; /* the patient's (carer's) names and the child's/animal's, normalised */
    size_t nnames;
    const char *role; /* candidate_card.role, normalised (e.g. "dentist") */
    sc_indicator ind[IND__COUNT];
    int clinical[CRIT__COUNT];
    double clinical_ratio[CRIT__COUNT];
    sc_ling ling[LING__COUNT];
    sc_metrics m;
    sc_jargon *jargon;
    size_t njargon;
    sc_grammar_error *errors;
    size_t nerrors;
    size_t first_giving; /* index of the first candidate turn that gives information, or nturns */
} sc_ctx;

/* ---- scorer_text.c ---- */

/* Normalised tokens of text (contractions expanded) without sentence structure; for lexicon
 * entries. Returns the number of tokens (0 on OOM as well). */
size_t scorer_tokenize_words(arena *a, const char *text, const char ***out);
/* Tokens and sentences of one turn; words (voice) split unpunctuated text at pauses. 0 or -1. */
int scorer_turn_analyse(sc_ctx *c, sc_turn *t) WUR;
/* A light stemmer: "drinks", "drinking", "drank" → "drink". Returns an arena string or NULL. */
const char *scorer_stem(arena *a, const char *w);
/* 1 for a function word ("the", "you", "does", …). */
int scorer_is_stopword(const char *w);
/* The quoted text of a reference (trimmed, at most about 200 characters). */
const char *scorer_quote(sc_ctx *c, sc_ref r);

/* ---- scorer_lexicon.c ---- */

int scorer_lexicon_load(arena *a, sc_lexicon *lex) WUR;
/* Categories found in tokens [t0, t1) of a sentence whose effective start is s0. */
uint64_t scorer_lexicon_match(const sc_lexicon *lex, const sc_token *tok, size_t t0, size_t t1,
                              size_t s0);
/* 1 when a phrase of category cat starts exactly at token s (and fits before t1). */
int scorer_lexicon_match_at(const sc_lexicon *lex, const sc_token *tok, size_t s, size_t t1,
                            sc_cat cat);
/* The term starting at token i (longest match), as an index into lex->terms, or -1; *len is set
 * to its number of tokens. */
long scorer_lexicon_term_at(const sc_lexicon *lex, const sc_token *tok, size_t i, size_t t1,
                            size_t *len);
int scorer_lexicon_is_filler(const sc_lexicon *lex, const char *w);
/* -1 when a category name is unknown (a data error the unit test catches). */
int scorer_category_from_name(const char *name);

/* ---- scorer_questions.c ---- */

/* The first token of the sentence after discourse words and the patient's names. */
size_t scorer_effective_start(const sc_ctx *c, const sc_turn *t, const sc_sentence *s);
/* Sets qtype, compound, leading and gathering on every sentence of a candidate turn. */
void scorer_questions_classify(const sc_ctx *c, sc_turn *t);

/* ---- scorer_clinical.c ---- */

void scorer_clinical_assess(sc_ctx *c);

/* ---- scorer_linguistic.c / scorer_grammar.c ---- */

void scorer_metrics_compute(sc_ctx *c);
void scorer_linguistic_assess(sc_ctx *c);
/* Appends the grammar errors of every candidate sentence to c->errors. 0 or -1 (OOM). */
int scorer_grammar_scan(sc_ctx *c) WUR;
/* MTLD lexical diversity of the tokens (factor threshold 0.72, both directions). */
double scorer_mtld(const char *const *words, size_t n);

/* ---- scorer_tasks.c ---- */

json_t *scorer_tasks_report(sc_ctx *c);

/* ---- scorer_bands.c: every table that turns counts into scores ---- */

/* met = 1, partly = 0.5 averaged over the criterion's indicators → 0..3. */
int scorer_band_clinical(double ratio);
/* A penalty from a banded table: the first row whose upper bound is >= value. */
typedef struct {
    double upto;
    double penalty;
} sc_band;
double scorer_band_penalty(const sc_band *rows, size_t n, double value);
/* raw (0..39) → estimated 0..500 in steps of 10, by the piecewise-linear table. */
int scorer_band_estimate(double raw);
const char *scorer_band_grade(int estimate);

extern const sc_band scorer_bands_speech_rate_low[];
extern const size_t scorer_bands_speech_rate_low_n;
extern const sc_band scorer_bands_speech_rate_high[];
extern const size_t scorer_bands_speech_rate_high_n;
extern const sc_band scorer_bands_pauses[];
extern const size_t scorer_bands_pauses_n;
extern const sc_band scorer_bands_mlr[];
extern const size_t scorer_bands_mlr_n;
extern const sc_band scorer_bands_fillers[];
extern const size_t scorer_bands_fillers_n;
extern const sc_band scorer_bands_repetitions[];
extern const size_t scorer_bands_repetitions_n;
extern const sc_band scorer_bands_jargon[];
extern const size_t scorer_bands_jargon_n;
extern const sc_band scorer_bands_register[];
extern const size_t scorer_bands_register_n;
extern const sc_band scorer_bands_errors[];
extern const size_t scorer_bands_errors_n;
extern const sc_band scorer_bands_mtld[];
extern const size_t scorer_bands_mtld_n;
extern const sc_band scorer_bands_sentence_length[];
extern const size_t scorer_bands_sentence_length_n;
extern const sc_band scorer_bands_subordination[];
extern const size_t scorer_bands_subordination_n;

/* Intelligibility: the band of the mean confidence and of the share of low-confidence words;
 * the lower of the two is the score. */
int scorer_band_intelligibility(double mean_conf, double low_share);

/* ---- test hooks (scorer.c): one candidate sentence through the detectors ---- */

typedef struct {
    int qtype; /* of the first question in the text (Q_NONE when there is none) */
    int compound, leading, gathering;
    uint64_t cats;   /* categories of all sentences */
    size_t nerrors;  /* grammar errors */
    char kinds[160]; /* their kinds, comma-separated */
    size_t njargon;  /* clinical terms left unexplained */
} sc_probe;

/* 0, or -1 on OOM. */
int scorer_probe_text(const char *text, sc_probe *out) WUR;

/* ---- scorer_feedback.c ---- */

/* The top three strengths and improvements (each tied to an indicator or criterion). */
int scorer_feedback_build(sc_ctx *c, json_t *report) WUR;

#endif
