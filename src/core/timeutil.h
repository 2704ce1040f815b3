/* Clocks and the one time format of the system: RFC 3339 UTC with milliseconds. */
#ifndef PRAXIS_CORE_TIMEUTIL_H
#define PRAXIS_CORE_TIMEUTIL_H

#include "core/common.h"
#include <stdint.h>

#define RFC3339_LEN 25 /* "2026-11-25T14:58:23.123Z" + NUL */

int64_t time_now_ms(void);       /* wall clock, ms since the epoch */
int64_t time_mono_ns(void);      /* monotonic, for durations */
/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out[RFC3339_LEN]. */
void time_format_rfc3339(int64_t ms, char out[RFC3339_LEN]);
/* Parses RFC 3339 (any offset, optional fraction) into ms since the epoch; -1 if invalid. */
int time_parse_rfc3339(const char *s, int64_t *ms) WUR;
/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (pure arithmetic). */
int64_t time_days_from_civil(int64_t y, int m, int d);

#endif
