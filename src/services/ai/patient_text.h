/* Normalises what the candidate said (and the card's trigger phrases, the same way) into words
 * and matchable tokens: lower case, contractions expanded, numbers as words, sentences split
 * into clauses at question starts, phrase members folded into one token, stems, tiers and
 * synonym classes attached. Internal to the patient engine. */
#ifndef PRAXIS_SERVICES_AI_PATIENT_TEXT_H
#define PRAXIS_SERVICES_AI_PATIENT_TEXT_H

#include "core/arena.h"
#include "services/ai/patient_lexicon.h"

#define PT_MAX_INPUT 4000 /* bytes of an utterance that are read; the rest is ignored */
#define PT_MAX_WORDS 400
#define PT_MAX_CLAUSES 48

typedef struct pt_token {
    char word[LEX_WORD_MAX]; /* lower case; a phrase token's words joined by spaces */
    char stem[LEX_WORD_MAX]; /* a phrase token's stems joined by '_' */
    lex_classes cls;
    uint8_t tier;   /* enum lex_tier */
    uint8_t fuzzy;  /* classes came from a near spelling, not the word itself */
    uint8_t known;  /* a real word the lists know: never read as a misspelling */
    uint8_t nwords; /* words covered: > 1 for a phrase token */
    uint16_t word0; /* index of its first word */
} pt_token;

typedef struct pt_clause {
    size_t w0, w1; /* words [w0, w1) */
    size_t t0, t1; /* tokens [t0, t1) */
    int qmark;     /* the sentence it closes ended with '?' */
} pt_clause;

typedef struct pt_text {
    char (*word)[LEX_WORD_MAX];
    size_t nwords;
    pt_token *tok;
    size_t ntok;
    pt_clause clause[PT_MAX_CLAUSES];
    size_t nclauses;
} pt_text;

enum {
    PT_SPLIT = 1, /* split sentences into clauses at question starts (utterances, not triggers) */
    PT_FUZZY = 2, /* look unknown words up by near spelling (utterances: ASR errors) */
};

/* Memory comes from a. Returns 0, or -1 when memory ran out. */
int patient_text_parse(const patient_lexicon *lx, arena *a, const char *s, unsigned flags,
                       pt_text *out);

/* 1 when word (lower case) is one of the NULL-terminated list. */
int patient_text_in(const char *word, const char *const *list);

#endif
