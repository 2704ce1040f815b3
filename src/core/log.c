/* The process logger (a documented singleton): one compact JSON object per line with "ts" and
 * "level" first. A mutex around the write keeps lines from different threads whole. Messages
 * are sanitised to valid UTF-8 because they may quote client input. */
#include "core/log.h"

#include "core/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_out; /* NULL = stderr, so logging works before log_init */
static log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static log_level clamp_level(log_level l);
static json_t *string_sanitized(const char *s);
static void write_line(json_t *line);
static json_t *line_new(log_level l);

int log_level_parse(const char *s, log_level *out)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            if (out)
                *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_init(log_level min, FILE *out)
{
    if (pthread_mutex_lock(&log_lock) != 0)
        return;
    __atomic_store_n(&log_min, clamp_level(min), __ATOMIC_RELAXED);
    log_out = out;
    (void)pthread_mutex_unlock(&log_lock);
}

static log_level clamp_level(log_level l)
{
    if ((int)l < (int)LOG_DEBUG)
        return LOG_DEBUG;
    if ((int)l > (int)LOG_ERROR)
        return LOG_ERROR;
    return l;
}

int log_enabled(log_level l)
{
    /* An int read racing with log_init at startup is harmless; no lock on the hot path. */
    return (int)clamp_level(l) >= (int)__atomic_load_n(&log_min, __ATOMIC_RELAXED);
}

/* json_string rejects invalid UTF-8; replace each bad byte with U+FFFD instead of dropping
 * the whole message. */
static json_t *string_sanitized(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return json_string("");
    char *out = malloc(n * 3 + 1);
    if (!out)
        return json_string("");
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len = 0;
        unsigned int cp = 0;
        if (c < 0x80) {
            len = 1;
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07u;
        }
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                ok = 0;
            else
                cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid too. */
        if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                   (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = 0;
        if (ok) {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
        }
    }
    out[o] = '\0';
    j = json_string(out);
    free(out);
    return j ? j : json_string("");
}

static void write_line(json_t *line)
{
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (pthread_mutex_lock(&log_lock) != 0) {
        free(text);
        return;
    }
    FILE *out = log_out ? log_out : stderr;
    if (text) {
        (void)fputs(text, out);
        (void)fputc('\n', out);
    } else {
        /* Out of memory while encoding: still say something rather than nothing. */
        (void)fputs("{\"level\":\"error\",\"msg\":\"log line could not be encoded\"}\n", out);
    }
    (void)fflush(out);
    (void)pthread_mutex_unlock(&log_lock);
    free(text);
}

/* A new object with ts and level, ready for the caller's fields. */
static json_t *line_new(log_level l)
{
    char ts[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), ts);
    json_t *line = json_object();
    if (!line)
        return NULL;
    if (json_object_set_new(line, "ts", json_string(ts)) != 0 ||
        json_object_set_new(line, "level", json_string(level_names[clamp_level(l)])) != 0) {
        json_decref(line);
        return NULL;
    }
    return line;
}

void log_msg(log_level l, const char *fmt, ...)
{
    if (!log_enabled(l))
        return;
    va_list ap, measure;
    va_start(ap, fmt);
    va_copy(measure, ap);
    /* measure is va_copy'd just above; the analyzer loses track of it across the call. */
    int n = vsnprintf(NULL, 0, fmt, measure); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(measure);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg && vsnprintf(msg, (size_t)n + 1, fmt, ap) != n) {
        free(msg);
        msg = NULL;
    }
    va_end(ap);
    json_t *line = line_new(l);
    if (line && json_object_set_new(line, "msg", string_sanitized(msg ? msg : fmt)) != 0) {
        json_decref(line);
        line = NULL;
    }
    free(msg);
    write_line(line);
    json_decref(line);
}

void log_json(log_level l, json_t *obj)
{
    if (!log_enabled(l)) {
        json_decref(obj);
        return;
    }
    json_t *line = line_new(l);
    if (line && !json_is_object(obj)) {
        if (json_object_set_new(line, "msg", json_string("log_json called without an object")) !=
            0) {
            json_decref(line);
            line = NULL;
        }
    } else if (line) {
        /* The logger's own ts and level win over same-named fields of the caller. */
        const char *key;
        json_t *value;
        json_object_foreach(obj, key, value)
        {
            if (strcmp(key, "ts") == 0 || strcmp(key, "level") == 0)
                continue;
            if (json_object_set(line, key, value) != 0) {
                json_decref(line);
                line = NULL;
                break;
            }
        }
    }
    json_decref(obj);
    write_line(line);
    json_decref(line);
}
