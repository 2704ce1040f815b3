/* The AI service's HTTP surface ("AI" in API.md): engines exposed to staff. The scorer
 * (POST /v1/ai/score, for content authors checking a card against a transcript) and speech
 * (POST /v1/ai/tts, to hear a patient voice). */
#ifndef PRAXIS_SERVICES_AI_H
#define PRAXIS_SERVICES_AI_H

#include "core/common.h"
#include "http/router.h"

int ai_register_routes(router *r) WUR;
/* POST /v1/ai/tts (registered by ai_register_routes). */
int ai_register_tts_routes(router *r) WUR;

#endif
