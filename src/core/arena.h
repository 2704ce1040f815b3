/* Per-request arena: many small allocations, freed in one go when the request ends. */
#ifndef PRAXIS_CORE_ARENA_H
#define PRAXIS_CORE_ARENA_H

#include "core/common.h"
#include <stdarg.h>

typedef struct arena arena;

/* NULL on out-of-memory. */
arena *arena_new(void);
void arena_free(arena *a);

/* All return NULL on out-of-memory; memory is 16-byte aligned and zeroed by arena_calloc. */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) PRINTF_LIKE(2, 3);
char *arena_vprintf(arena *a, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);

/* Bytes handed out so far (for tests and metrics). */
size_t arena_used(const arena *a);

#endif
