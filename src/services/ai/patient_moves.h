/* What the candidate is doing in a clause besides (or instead of) asking for a fact: greeting,
 * introducing themselves, showing empathy, checking understanding, summarising, asking for a
 * teach-back… Word patterns over the normalised clause; several may hold at once. Internal to
 * the patient engine. */
#ifndef PRAXIS_SERVICES_AI_PATIENT_MOVES_H
#define PRAXIS_SERVICES_AI_PATIENT_MOVES_H

#include "services/ai/patient_text.h"

enum patient_move {
    MV_GREETING = 1u << 0,     /* "hello", "good morning", "nice to meet you" */
    MV_HOWAREYOU = 1u << 1,    /* "how are you (today)?" as a pleasantry */
    MV_INTRO = 1u << 2,        /* "I'm Dr Patel, one of the doctors" */
    MV_PURPOSE = 1u << 3,      /* "I'd like to ask you a few questions about…" */
    MV_PERMISSION = 1u << 4,   /* "is it OK if I examine…", "can I call you Colin?" */
    MV_EMPATHY = 1u << 5,      /* "that must be hard", "I'm sorry to hear that" */
    MV_CHECK = 1u << 6,        /* "does that make sense?", "any questions?" */
    MV_SUMMARY = 1u << 7,      /* "so you've had…, is that right?" */
    MV_TEACHBACK = 1u << 8,    /* "could you tell me how you'll take it?" */
    MV_CONCERNS = 1u << 9,     /* "what worries you most?", "how do you feel about that?" */
    MV_IDENTITY = 1u << 10,    /* "can you confirm your name?" */
    MV_FAREWELL = 1u << 11,    /* "take care", "thank you for coming" */
    MV_THANKS = 1u << 12,      /* "thank you" */
    MV_ACK = 1u << 13,         /* "okay", "right", "I see" */
    MV_EXPLANATION = 1u << 14, /* a statement of some length that asks nothing */
    MV_ASKING = 1u << 15,      /* a question or a request for information */
    MV_COUNT = 16
};

/* The moves of one clause (an or of enum patient_move). */
unsigned patient_moves_clause(const pt_text *t, const pt_clause *cl);

/* "greeting", "empathy", … for one bit. */
const char *patient_move_name(unsigned move);

/* Words of a clause after its leading fillers ("okay so", "right and"). */
size_t patient_moves_skip_fillers(const pt_text *t, const pt_clause *cl);

#endif
