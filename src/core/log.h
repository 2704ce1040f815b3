/* The process logger: one JSON object per line on stderr (a documented singleton). */
#ifndef PRAXIS_CORE_LOG_H
#define PRAXIS_CORE_LOG_H

#include "core/common.h"
#include <jansson.h>
#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Parses "debug|info|warn|error"; returns -1 if unknown. */
int log_level_parse(const char *s, log_level *out) WUR;
void log_init(log_level min, FILE *out);
int log_enabled(log_level l);

/* {"ts":..., "level":..., "msg":...} */
void log_msg(log_level l, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Writes obj with "ts" and "level" added; takes ownership of obj. */
void log_json(log_level l, json_t *obj);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
