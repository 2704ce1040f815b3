/* The standard middleware chain, one small unit each. http_middleware_chain() returns them in
 * the order they must run: request id, access log, metrics, security headers, gzip, CORS, body
 * checks. Later units (rate limit, auth) are appended by the services that need them. */
#ifndef PRAXIS_HTTP_MIDDLEWARE_H
#define PRAXIS_HTTP_MIDDLEWARE_H

#include "http/server.h"

typedef struct cors_policy {
    char **origins;
    size_t n;
    int any; /* "*" */
} cors_policy;

/* Parses CORS_ORIGINS ("" = no cross-origin access). */
int cors_policy_parse(cors_policy *p, const char *csv) WUR;
void cors_policy_free(cors_policy *p);
int cors_origin_allowed(const cors_policy *p, const char *origin);

typedef struct middleware_config {
    const cors_policy *cors;
    int hsts; /* PUBLIC_URL is https */
} middleware_config;

/* Fills out (capacity cap) and returns the count. cfg must outlive the server. */
size_t http_middleware_chain(const middleware_config *cfg, http_middleware *out, size_t cap);

/* Exposed for unit tests. */
int request_id_is_sane(const char *id);
int accepts_gzip(const char *accept_encoding);
/* The media type of a Content-Type value, lower-cased, without parameters. */
void content_type_media(const char *v, char *out, size_t outlen);

#endif
