/* Small shared definitions: result annotation, string slices, array length. */
#ifndef PRAXIS_CORE_COMMON_H
#define PRAXIS_CORE_COMMON_H

#include <stddef.h>
#include <string.h>

/* Every function that can fail is marked so the compiler rejects an ignored result. */
#define WUR __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A non-owning view of bytes; ptr need not be NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} slice;

#define SLICE_LIT(s) ((slice){(s), sizeof(s) - 1})
static inline slice slice_from(const char *s) { return (slice){s, s ? strlen(s) : 0}; }
static inline int slice_eq(slice a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

#endif
