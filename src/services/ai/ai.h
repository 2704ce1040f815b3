/* The AI service's HTTP surface ("AI" in API.md): engines exposed to staff. The scorer
 * (POST /v1/ai/score, for content authors checking a card against a transcript) and speech
 * (POST /v1/ai/tts, to hear a patient voice). */
#ifndef PRAXIS_SERVICES_AI_H
#define PRAXIS_SERVICES_AI_H

#include "core/common.h"
#include "http/router.h"
#include "store/db.h"

int ai_register_routes(router *r) WUR;
/* POST /v1/ai/tts (registered by ai_register_routes). */
int ai_register_tts_routes(router *r) WUR;

/* POST /v1/ai/stt (registered by ai_register_routes). */
int ai_register_stt_routes(router *r) WUR;

/* The speech recogniser's language model of a scenario version is named "<id>-v<version>". */
#define AI_DOMAIN_KEY_LEN 64
void ai_domain_key(const char *scenario_id, long long version, char out[AI_DOMAIN_KEY_LEN]);
struct stt;
/* Builds (or finds cached) the language model of a scenario's published version; 0 also when
 * it is not published (nothing to do), -1 on failure. */
int ai_prepare_scenario_model(struct stt *s, db_conn *c, const char *scenario_id);
/* The same for every published scenario; *prepared counts them. -1 when any failed. */
int ai_prepare_language_models(struct stt *s, db_conn *c, int *prepared);

#endif
