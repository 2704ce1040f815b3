/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. One
 * implementation for every place that must refuse or repair text (WebSocket frames, email
 * headers, log lines, outbox errors). */
#ifndef PRAXIS_CORE_UTF8_H
#define PRAXIS_CORE_UTF8_H

#include "core/common.h"

/* Length of the valid sequence starting at p (1-4), or 0 if invalid or cut short by avail. */
size_t utf8_seq_len(const unsigned char *p, size_t avail);
/* 1 if the n bytes at s are valid UTF-8. */
int utf8_valid(const void *s, size_t n);

#endif
