/* JSON helpers over jansson: parsing request bodies with positions, field validation that
 * produces the per-field `errors` of a 422, and small getters. */
#ifndef PRAXIS_CORE_JSON_H
#define PRAXIS_CORE_JSON_H

#include "core/common.h"
#include <jansson.h>

/* Parses a request body that must be a JSON object. On failure returns NULL and writes a
 * client-safe message ("Malformed JSON at line 3, column 7: ...") into err. */
json_t *json_parse_object(const char *body, size_t len, char *err, size_t errlen);

typedef enum {
    JF_STRING = 1,
    JF_INTEGER,
    JF_NUMBER, /* integer or real */
    JF_BOOLEAN,
    JF_OBJECT,
    JF_ARRAY,
} json_field_type;

typedef struct {
    const char *name;
    json_field_type type;
    int required;
    int nullable;       /* JSON null accepted */
    size_t min_len;     /* strings: UTF-8 characters; arrays: items (0 = no minimum) */
    size_t max_len;     /* 0 = no maximum */
} json_field_spec;

/* Checks obj against spec. Appends {"field","message"} objects to errors (a JSON array) for
 * each problem, including unknown fields when reject_unknown. Returns the number of errors. */
size_t json_validate(const json_t *obj, const json_field_spec *spec, size_t n, int reject_unknown,
                     json_t *errors);

/* Appends {"field": field, "message": message} to errors. */
void json_errors_add(json_t *errors, const char *field, const char *message);

/* Getters that return def when the key is missing or of another type. */
const char *json_get_str(const json_t *obj, const char *key, const char *def);
long long json_get_int(const json_t *obj, const char *key, long long def);

/* Serialises compactly; caller frees. NULL on OOM. */
char *json_dump_compact(const json_t *v);

#endif
