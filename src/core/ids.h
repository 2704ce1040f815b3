/* Identifiers: UUIDv7 (time-ordered, RFC 9562) for rows and request ids, random tokens. */
#ifndef PRAXIS_CORE_IDS_H
#define PRAXIS_CORE_IDS_H

#include "core/common.h"

#define UUID_STR_LEN 37 /* 36 chars + NUL */

/* Writes a new lowercase UUIDv7 into out. Thread-safe; monotonic within a process. */
void id_uuid7(char out[UUID_STR_LEN]);
/* 1 if s is a canonical (8-4-4-4-12 hex) UUID string, any version. */
int id_is_uuid(const char *s, size_t len);

#endif
