/* The conversation engine: the AI patient that plays a scenario's patient card. One interface,
 * engines behind it (scripted here; llm in patient_llm.h). Stateless between calls: everything
 * the engine remembers about a conversation lives in a JSON state object the caller stores with the
 * session (so any replica can take the next turn) and passes back on every call. */
#ifndef PRAXIS_SERVICES_AI_PATIENT_H
#define PRAXIS_SERVICES_AI_PATIENT_H

#include "core/common.h"
#include <jansson.h>
#include <stdint.h>

typedef struct patient_context {
    const json_t *patient_card;   /* the scenario version's patient_card (facts, cues, …) */
    const json_t *candidate_card; /* the candidate side (tasks, background) */
    uint64_t seed;                /* the session's seed: same seed + same inputs = same replies */
    int roleplay_seconds;
} patient_context;

/* What happened in one patient turn, for storage and for scoring. */
typedef struct patient_reply {
    char *text;          /* malloc'd; the patient's words */
    json_t *meta;        /* {"kind": "answer|cue|greeting|empathy|clarify|closing|…",
                            "topics": [fact topics answered], "cues": [cue indexes raised]} */
    int closing;         /* 1 when this reply is the closing line (the role-play is over) */
} patient_reply;

void patient_reply_free(patient_reply *r);

/* A fresh state object for a new session (caller owns it). */
json_t *patient_state_new(const patient_context *ctx);

/* The patient's first line when the role-play starts (its on_start cue, or a natural opener).
 * May produce an empty reply (text "") when the card has no opener. */
int patient_open(const patient_context *ctx, json_t *state, patient_reply *out) WUR;

/* Answers one candidate utterance said at elapsed_ms since the start. Abuse (safety.h) is not
 * answered: the patient asks to be spoken to respectfully (meta.kind "abuse", meta.safety). */
int patient_respond(const patient_context *ctx, json_t *state, const char *utterance,
                    int64_t elapsed_ms, patient_reply *out) WUR;

enum patient_deflect {
    PATIENT_DEFLECT_ABUSE,    /* "Please don't speak to me like that." */
    PATIENT_DEFLECT_CONFUSED, /* "Sorry, I don't understand what you're asking me." */
};

/* A candidate turn the patient does not answer, as a patient would react: counts as a turn,
 * gives no fact, raises no cue. meta.kind "abuse" or "confused", meta.safety "abuse" or
 * "injection". After the closing line it answers like patient_respond. */
int patient_deflect(const patient_context *ctx, json_t *state, enum patient_deflect why,
                    int64_t elapsed_ms, patient_reply *out) WUR;

/* Called when the candidate has been silent (a timer, or after a long pause): raises a due
 * after_seconds cue or a silence prompt. out->text is "" when the patient has nothing to say. */
int patient_idle(const patient_context *ctx, json_t *state, int64_t elapsed_ms,
                 patient_reply *out) WUR;

/* The closing line at the end of the role-play. */
int patient_close(const patient_context *ctx, json_t *state, patient_reply *out) WUR;

#endif
