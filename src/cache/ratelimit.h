/* Fixed-window rate limits over the cache interface, and the middleware that applies the
 * limits a route declares (route_def.rate_limits). Answers 429 problem+json with Retry-After;
 * every limited route sends RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset. */
#ifndef PRAXIS_CACHE_RATELIMIT_H
#define PRAXIS_CACHE_RATELIMIT_H

#include "cache/cache.h"
#include "http/server.h"

typedef enum {
    RL_KEY_IP = 1,       /* the client address */
    RL_KEY_IP_EMAIL,     /* the client address + the normalised "email" of the JSON body */
    RL_KEY_EMAIL,        /* the normalised "email" of the JSON body */
    RL_KEY_USER,         /* the authenticated user (req->user_id) */
} rate_key;

typedef struct rate_rule {
    const char *name;    /* e.g. "login-ip-email"; part of the cache key */
    int limit;           /* requests allowed per window */
    int window_s;
    rate_key key;
} rate_rule;

typedef struct rate_result {
    int allowed;
    int limit;
    int remaining;
    int reset_s;         /* seconds until the window resets */
} rate_result;

/* Counts one hit of subject against rule. CACHE_ERROR when the cache fails (callers let the
 * request through: a broken cache must not lock everybody out). */
int ratelimit_hit(cache *c, const rate_rule *rule, const char *subject, rate_result *out) WUR;

/* Shrinks every window by scale (0 < scale <= 1; RATE_LIMIT_WINDOW_SCALE, for tests). */
void ratelimit_set_window_scale(double scale);

/* The middleware; ud is the cache. It reads req->match.route->rate_limits (terminated by an
 * entry with name NULL); rules whose key is absent (no email in the body, no user) are skipped.
 * Must run after authentication (RL_KEY_USER) and after body checks. */
http_middleware ratelimit_middleware(cache *c);

#endif
