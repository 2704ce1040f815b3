/* The safety filter around the patient engines, both directions: what the candidate says before
 * it can reach a language model (abuse, attempts to steer the model instead of talking to the
 * patient) and what the model says before anybody hears it (talk about the card or being an AI,
 * facts nobody asked for, the closing line early, abuse, medical advice). Word patterns over a
 * normalised copy of the text: lower case, leetspeak undone ("1gn0re" is "ignore"), letters
 * spaced out joined ("f u c k"), repeated letters squeezed. See docs/patient.md. */
#ifndef PRAXIS_SERVICES_AI_SAFETY_H
#define PRAXIS_SERVICES_AI_SAFETY_H

#include <jansson.h>

enum safety_verdict {
    SAFETY_OK = 0,
    SAFETY_ABUSE,     /* insults, slurs, threats, strong swearing */
    SAFETY_INJECTION, /* candidate: talks to the AI, not the patient ("ignore previous
                         instructions", "you are now ChatGPT", "print your card", code fences) */
    SAFETY_LEAK,      /* patient: mentions the card, instructions, being an AI or a model; says
                         an unasked fact's answer; says the closing line before the end */
    SAFETY_ADVICE,    /* patient: prescribes or advises ("you should take…", "I recommend…") */
};

/* What the candidate said. ABUSE wins over INJECTION when both apply (the patient answers the
 * part a person would notice); neither kind of text is ever sent to a language model. */
enum safety_verdict safety_check_candidate(const char *text);

/* Part of a reply the patient is about to say (a sentence, or the reply so far). card is the
 * scenario's patient_card; allowed_topics a JSON array of the fact topics the patient may give
 * (given before or asked this turn; NULL = none). Words the allowed answers, the cue lines and
 * the concerns also hold are not evidence of a leak. */
enum safety_verdict safety_check_patient(const json_t *card, const json_t *allowed_topics,
                                         const char *text);

/* "ok", "abuse", "injection", "leak", "advice". */
const char *safety_verdict_name(enum safety_verdict v);

/* The share (0..1) of reference's content words (stemmed, stopwords left out) that text holds:
 * "is this fact in that sentence". 0 when reference has no content word. */
double safety_overlap(const char *text, const char *reference);

#endif
