/* The real-time media service ("Real-time media" in API.md): access to the LiveKit room of a
 * voice session. The browser joins the room with the token we sign; the patient's voice joins
 * it from our side. */
#ifndef PRAXIS_SERVICES_RTC_H
#define PRAXIS_SERVICES_RTC_H

#include "core/common.h"
#include "http/router.h"

#include <stdint.h>

#define RTC_TOKEN_TTL_S 3600

int rtc_register_routes(router *r) WUR;

/* A LiveKit access token (HS256 JWT signed with the API secret) letting identity join room
 * and publish, subscribe and send data, valid from now_s for ttl_s seconds. Caller frees;
 * NULL on error. */
char *rtc_livekit_token(const char *api_key, const char *api_secret, const char *identity,
                        const char *name, const char *room, int64_t now_s, int ttl_s);

#endif
