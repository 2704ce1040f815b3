/* The scorer: a deterministic, explainable feedback report for one role-play against the nine
 * OET criteria (see docs/scoring.md). Pure function of its inputs: the same session scored
 * twice gives a byte-identical report. */
#ifndef PRAXIS_SERVICES_AI_SCORER_H
#define PRAXIS_SERVICES_AI_SCORER_H

#include "core/common.h"
#include <jansson.h>

#define SCORER_VERSION "rules-1"

typedef struct scorer_input {
    const json_t *scenario;  /* {title, profession, difficulty, candidate_card, patient_card} */
    const json_t *turns;     /* [{n, speaker: "candidate"|"patient", text, t_ms,
                                  words?: [{w, start, end, conf}] (voice; seconds from turn start
                                  or session start, see scorer.c), meta?: patient meta}] */
    const char *mode;        /* "text" or "voice" */
    const char *session_id;  /* copied into the report (may be NULL) */
} scorer_input;

/* The report of API.md ("Feedback report"); NULL with err on malformed input. */
json_t *scorer_score(const scorer_input *in, char *err, size_t errlen);

#endif
