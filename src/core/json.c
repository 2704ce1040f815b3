/* JSON at the HTTP edge: parsing request bodies into objects with messages a client can act on
 * (line and column of the problem), and declarative field validation producing the per-field
 * `errors` list of a 422. Duplicate keys are rejected: which value wins is otherwise a guess. */
#include "core/json.h"

#include "core/errors.h"

#include <stdio.h>

static size_t utf8_length(const char *s, size_t bytes);
static int type_matches(const json_t *v, json_field_type t);
static const char *type_message(json_field_type t);
static void add_count_error(json_t *errors, const char *field, const char *bound, size_t n,
                            const char *unit);

json_t *json_parse_object(const char *body, size_t len, char *err, size_t errlen)
{
    /* A body of only whitespace is as empty as no body to anyone sending it. */
    size_t i = 0;
    while (body && i < len &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (!body || i == len) {
        err_set(err, errlen, "Request body is empty");
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        /* jansson reports column 0 for a bad byte at the start of a line and no line at all
         * for errors that are not about a position; clients count from 1. */
        if (err && errlen && jerr.line >= 1)
            (void)snprintf(err, errlen, "Malformed JSON at line %d, column %d: %s", jerr.line,
                           jerr.column < 1 ? 1 : jerr.column, jerr.text);
        else if (err && errlen)
            (void)snprintf(err, errlen, "Malformed JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(err, errlen, "Request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* Code points, not bytes: jansson has already checked the UTF-8, so counting the bytes that are
 * not continuation bytes is exact. */
static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static int type_matches(const json_t *v, json_field_type t)
{
    switch (t) {
    case JF_STRING:
        return json_is_string(v);
    case JF_INTEGER:
        return json_is_integer(v);
    case JF_NUMBER:
        return json_is_number(v);
    case JF_BOOLEAN:
        return json_is_boolean(v);
    case JF_OBJECT:
        return json_is_object(v);
    case JF_ARRAY:
        return json_is_array(v);
    }
    return 0;
}

static const char *type_message(json_field_type t)
{
    switch (t) {
    case JF_STRING:
        return "must be a string";
    case JF_INTEGER:
        return "must be an integer";
    case JF_NUMBER:
        return "must be a number";
    case JF_BOOLEAN:
        return "must be a boolean";
    case JF_OBJECT:
        return "must be an object";
    case JF_ARRAY:
        return "must be an array";
    }
    return "has an unsupported type";
}

/* "must be at least 3 characters", "must have at most 1 item". */
static void add_count_error(json_t *errors, const char *field, const char *bound, size_t n,
                            const char *unit)
{
    char msg[96];
    (void)snprintf(msg, sizeof(msg), "must %s %zu %s%s", bound, n, unit, n == 1 ? "" : "s");
    json_errors_add(errors, field, msg);
}

size_t json_validate(const json_t *obj, const json_field_spec *spec, size_t n, int reject_unknown,
                     json_t *errors)
{
    if (!json_is_object(obj)) {
        json_errors_add(errors, "", "must be a JSON object");
        return 1;
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const json_field_spec *f = &spec[i];
        /* jansson's getters take non-const objects but do not modify them. */
        json_t *v = json_object_get(obj, f->name);
        if (!v) {
            if (f->required) {
                json_errors_add(errors, f->name, "is required");
                count++;
            }
            continue;
        }
        if (json_is_null(v)) {
            if (!f->nullable) {
                json_errors_add(errors, f->name, "must not be null");
                count++;
            }
            continue;
        }
        if (!type_matches(v, f->type)) {
            json_errors_add(errors, f->name, type_message(f->type));
            count++;
            continue;
        }
        if (f->type == JF_STRING) {
            size_t chars = utf8_length(json_string_value(v), json_string_length(v));
            if (f->min_len && chars < f->min_len) {
                add_count_error(errors, f->name, "be at least", f->min_len, "character");
                count++;
            } else if (f->max_len && chars > f->max_len) {
                add_count_error(errors, f->name, "be at most", f->max_len, "character");
                count++;
            }
        } else if (f->type == JF_ARRAY) {
            size_t items = json_array_size(v);
            if (f->min_len && items < f->min_len) {
                add_count_error(errors, f->name, "have at least", f->min_len, "item");
                count++;
            } else if (f->max_len && items > f->max_len) {
                add_count_error(errors, f->name, "have at most", f->max_len, "item");
                count++;
            }
        }
    }
    if (reject_unknown) {
        const char *key;
        json_t *value;
        /* The cast only drops const for the iteration macro, which reads. */
        json_object_foreach((json_t *)obj, key, value)
        {
            (void)value;
            int known = 0;
            for (size_t i = 0; i < n && !known; i++)
                known = strcmp(spec[i].name, key) == 0;
            if (!known) {
                json_errors_add(errors, key, "is not a known field");
                count++;
            }
        }
    }
    return count;
}

void json_errors_add(json_t *errors, const char *field, const char *message)
{
    if (!json_is_array(errors))
        return;
    json_t *e = json_pack("{s:s, s:s}", "field", field ? field : "", "message", message);
    /* Out of memory here only shortens the error list; the count returned stays right. */
    if (e && json_array_append_new(errors, e) != 0)
        return;
}

const char *json_get_str(const json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

long long json_get_int(const json_t *obj, const char *key, long long def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

char *json_dump_compact(const json_t *v)
{
    if (!v)
        return NULL;
    /* 10 significant digits: 12.3 stays "12.3", not "12.300000000000001". */
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
}
