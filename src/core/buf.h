/* Growable byte buffer with a mandatory maximum: appending past it fails (curl's dynbuf). */
#ifndef PRAXIS_CORE_BUF_H
#define PRAXIS_CORE_BUF_H

#include "core/common.h"
#include <stdarg.h>

typedef struct {
    char *ptr;  /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* appends that would make len exceed max fail with BUF_TOO_BIG */
} buf;

enum { BUF_OK = 0, BUF_NOMEM = -1, BUF_TOO_BIG = -2 };

void buf_init(buf *b, size_t max);
void buf_free(buf *b);
void buf_reset(buf *b); /* len = 0, keeps memory */
int buf_append(buf *b, const void *p, size_t n) WUR;
int buf_puts(buf *b, const char *s) WUR;
int buf_printf(buf *b, const char *fmt, ...) WUR PRINTF_LIKE(2, 3);
int buf_vprintf(buf *b, const char *fmt, va_list ap) WUR PRINTF_LIKE(2, 0);
/* Gives the memory to the caller (free() it) and resets the buffer. "" when empty. */
char *buf_detach(buf *b, size_t *len);

#endif
