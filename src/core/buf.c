/* The growable byte buffer with a hard maximum. Every size computation is checked so that a
 * hostile length (up to SIZE_MAX) fails with BUF_TOO_BIG or BUF_NOMEM instead of wrapping. */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BUF_MIN_CAP ((size_t)64)

static int buf_reserve(buf *b, size_t extra) WUR;

void buf_init(buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_free(buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

/* Makes room for extra more bytes plus the terminating NUL. */
static int buf_reserve(buf *b, size_t extra)
{
    if (b->len > b->max || extra > b->max - b->len)
        return BUF_TOO_BIG;
    size_t need = b->len + extra;
    if (need == SIZE_MAX)
        return BUF_NOMEM; /* no room left for the NUL */
    need += 1;
    if (need <= b->cap)
        return BUF_OK;
    /* Doubling keeps appends amortised O(1); never allocate past what max can use. */
    size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    size_t limit = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
    if (cap > limit)
        cap = limit;
    char *p = realloc(b->ptr, cap);
    if (!p)
        return BUF_NOMEM;
    b->ptr = p;
    b->cap = cap;
    return BUF_OK;
}

int buf_append(buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return BUF_OK;
}

int buf_puts(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list measure;
    va_copy(measure, ap);
    /* measure is va_copy'd just above; the analyzer loses track of it across the call. */
    int n = vsnprintf(NULL, 0, fmt, measure); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(measure);
    if (n < 0)
        return BUF_NOMEM;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    if (vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap) != n) {
        b->ptr[b->len] = '\0';
        return BUF_NOMEM;
    }
    b->len += (size_t)n;
    return BUF_OK;
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *buf_detach(buf *b, size_t *len)
{
    char *p = b->ptr;
    size_t n = b->len;
    if (!p) {
        p = malloc(1);
        if (!p)
            return NULL;
        p[0] = '\0';
        n = 0;
    }
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    if (len)
        *len = n;
    return p;
}
