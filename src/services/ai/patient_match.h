/* Which of the card's facts a candidate's question asks for. Each fact's trigger phrases are
 * normalised like the utterance; a trigger fires when every topic word it holds is in the
 * question (the same stem, a synonym, or one letter off for long words) and at least half its
 * frame words are; a trigger of frame words only must appear as a phrase. Internal to the
 * patient engine; see docs/internals/patient.md. */
#ifndef PRAXIS_SERVICES_AI_PATIENT_MATCH_H
#define PRAXIS_SERVICES_AI_PATIENT_MATCH_H

#include "services/ai/patient_text.h"
#include <jansson.h>

#define PM_MAX_POS 16

typedef struct pm_trigger {
    const pt_token *tok; /* every token, stopwords included (they count in phrases) */
    size_t n;
    int weak; /* no topic word: fires only as a phrase, and only when nothing stronger does */
} pm_trigger;

typedef struct pm_fact {
    const char *topic;
    const char *answer;
    pm_trigger *trig;
    size_t ntrig;
} pm_fact;

typedef struct pm_index {
    pm_fact *fact;
    size_t nfact;
} pm_index;

typedef struct pm_hit {
    size_t fact;
    size_t trigger; /* the trigger that fired best */
    double score;
    int weak;
    size_t first;                    /* first clause token it used, for reply order */
    size_t pos[PM_MAX_POS];          /* clause tokens it used */
    unsigned char topic[PM_MAX_POS]; /* pos[i] was a topic word (what a fact claims) */
    size_t npos;
} pm_hit;

/* Builds the index of a patient card's facts array (memory from a). -1: out of memory. */
int patient_match_index(const patient_lexicon *lx, arena *a, const json_t *facts, pm_index *out);

/* The facts asked in one clause of t, at most max, in the order the candidate named them. */
size_t patient_match_clause(const pm_index *ix, const pt_text *t, const pt_clause *cl, pm_hit *hits,
                            size_t max);

#endif
