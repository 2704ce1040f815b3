/* The one way modules report a failure message to their caller: a bounded, printf-style write
 * into a caller-owned buffer, tolerant of a NULL or empty buffer. */
#ifndef PRAXIS_CORE_ERRORS_H
#define PRAXIS_CORE_ERRORS_H

#include "core/common.h"

void err_set(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);

#endif
