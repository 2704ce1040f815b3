/* RFC 9457 problem details: the one shape of every error response. Messages are written for
 * clients and never carry internals (SQL, paths, pointers). */
#ifndef PRAXIS_HTTP_PROBLEM_H
#define PRAXIS_HTTP_PROBLEM_H

#include "core/common.h"
#include <jansson.h>

#define PROBLEM_TYPE_BASE "https://oetpraxis.dev/problems/"

/* {"type": BASE slug, "title", "status", "detail"?, "errors"?}. errors is borrowed (may be NULL).
 * title NULL = the standard title for slug. */
json_t *problem_new(int status, const char *slug, const char *title, const char *detail,
                    json_t *errors);
/* Default slug and title for a status: 404 → "not-found", "Not Found". */
const char *problem_slug(int status);
const char *problem_title(int status);

#endif
