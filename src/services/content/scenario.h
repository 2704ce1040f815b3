/* The scenario model: one role-play as a JSON document (the candidate card, the patient card
 * and the fields around them), the rules any document must satisfy (422 errors with field
 * paths), the stricter rules of the shipped library, and the candidate's view of a scenario,
 * which is built from a whitelist and so can never carry anything from the patient card. */
#ifndef PRAXIS_SERVICES_CONTENT_SCENARIO_H
#define PRAXIS_SERVICES_CONTENT_SCENARIO_H

#include "core/common.h"
#include <jansson.h>

#define SCENARIO_SLUG_MAX 80
#define SCENARIO_TAG_MAX 30
#define SCENARIO_PREP_DEFAULT 180
#define SCENARIO_ROLEPLAY_DEFAULT 300

/* 1 when s is one of the 12 OET professions ("medicine" … "veterinary-science"). */
int scenario_profession_valid(const char *s);
/* 1 for easy, medium, hard. */
int scenario_difficulty_valid(const char *s);
/* 1 for a tag: 1..30 characters of [a-z0-9-]. */
int scenario_tag_valid(const char *s);
/* 1 for a voice the speech synthesiser has (flite: slt, rms, awb, kal). */
int scenario_voice_valid(const char *s);

/* Checks a full scenario document (the body of POST/PUT /v1/admin/scenarios, a library file).
 * Appends {"field", "message"} to errors with paths like "patient_card.facts[3].topic", rejects
 * unknown fields at every level, and returns the number of problems (0 = valid). */
size_t scenario_validate(const json_t *doc, json_t *errors);

/* The shipped library's stricter rules (enough facts and triggers for a realistic patient,
 * concern and resistance cues, expected tasks matching the card's tasks, …). Meant for
 * documents that already pass scenario_validate. Returns the number of problems. */
size_t scenario_lint_library(const json_t *doc, json_t *errors);

/* A deep copy of a valid document with the defaults filled in: tags [], prep_seconds 180,
 * roleplay_seconds 300. The slug is left as given (absent or not): creating derives one from
 * the title, updating keeps the scenario's own. NULL on OOM. */
json_t *scenario_normalize(const json_t *doc);

/* "Explaining a New Diagnosis!" → "explaining-a-new-diagnosis" (ASCII letters and digits kept,
 * runs of anything else become one hyphen, at most SCENARIO_SLUG_MAX characters; "scenario"
 * when nothing is left). */
void scenario_slug_from_title(const char *title, char out[SCENARIO_SLUG_MAX + 1]);

/* The canonical text of a document (sorted keys, compact) for equality checks; caller frees.
 * NULL on OOM. */
char *scenario_canonical(const json_t *doc);

/* What a candidate sees of a version: {id, version, title, profession, setting, difficulty,
 * tags, candidate_card {role, setting, patient, background, tasks}, prep_seconds,
 * roleplay_seconds}. Copies named fields only; doc's patient_card (if any) is never read.
 * NULL on OOM. */
json_t *scenario_candidate_view(const char *id, long long version, const json_t *doc);

#endif
