/* The AI service's HTTP surface ("AI" in API.md): engines exposed to staff. Only the scorer is
 * served so far (POST /v1/ai/score, for content authors checking a card against a transcript). */
#ifndef PRAXIS_SERVICES_AI_H
#define PRAXIS_SERVICES_AI_H

#include "core/common.h"
#include "http/router.h"

int ai_register_routes(router *r) WUR;

#endif
