/* The OpenAPI 3.1 document, generated from the route table so it cannot drift from what the
 * server routes, and the /docs page that renders it without any script or CDN. */
#ifndef PRAXIS_HTTP_OPENAPI_H
#define PRAXIS_HTTP_OPENAPI_H

#include "core/buf.h"
#include "http/router.h"
#include <jansson.h>

/* "/v1/sessions/{id:uuid}" → "/v1/sessions/{id}" into out. */
void openapi_path(const char *tmpl, char *out, size_t outlen);
json_t *openapi_document(const router *r, const char *server_url);
/* A self-contained HTML page listing every operation of doc. */
int openapi_render_html(const json_t *doc, buf *out) WUR;

#endif
