/* The per-request arena: a list of malloc'd chunks handed out by bumping a cursor. Nothing is
 * freed piecemeal; arena_free releases every chunk at once. Allocations bigger than a quarter
 * of a chunk get a chunk of their own so they do not waste the rest of the current one. */
#include "core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ARENA_ALIGN ((size_t)16)
#define ARENA_CHUNK_SIZE ((size_t)8192)
#define ARENA_BIG (ARENA_CHUNK_SIZE / 4)

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
};

struct arena {
    struct chunk *head; /* the chunk small allocations bump into; big ones sit behind it */
    size_t handed_out;
};

/* The header is rounded up so the first byte of data keeps malloc's 16-byte alignment. */
#define CHUNK_HEADER (((sizeof(struct chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN) * ARENA_ALIGN)

static unsigned char *chunk_data(struct chunk *c);
static struct chunk *chunk_new(size_t size);
static size_t align_up(size_t n);
static void *chunk_take(struct chunk *c, size_t n);

static unsigned char *chunk_data(struct chunk *c)
{
    return (unsigned char *)c + CHUNK_HEADER;
}

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

/* size must already be checked against overflow by the caller. The extra ARENA_ALIGN bytes
 * cover a malloc that only guarantees 8-byte alignment. */
static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = malloc(CHUNK_HEADER + size + ARENA_ALIGN);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size + ARENA_ALIGN;
    c->used = 0;
    return c;
}

arena *arena_new(void)
{
    arena *a = malloc(sizeof(*a));
    if (!a)
        return NULL;
    a->head = chunk_new(ARENA_CHUNK_SIZE);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->handed_out = 0;
    return a;
}

void arena_free(arena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

/* Returns a 16-byte aligned pointer into c with n bytes free, or NULL if c is too full. */
static void *chunk_take(struct chunk *c, size_t n)
{
    uintptr_t base = (uintptr_t)chunk_data(c);
    uintptr_t cur = base + c->used;
    uintptr_t aligned = (cur + (ARENA_ALIGN - 1)) & ~(uintptr_t)(ARENA_ALIGN - 1);
    size_t offset = (size_t)(aligned - base);
    if (offset > c->size || n > c->size - offset)
        return NULL;
    c->used = offset + n;
    return (void *)aligned;
}

void *arena_alloc(arena *a, size_t n)
{
    if (!a)
        return NULL;
    /* A zero-byte request still gets a distinct pointer, like malloc(1). */
    size_t want = n ? n : 1;
    if (want > SIZE_MAX - CHUNK_HEADER - 2 * ARENA_ALIGN)
        return NULL;
    void *p;
    if (want > ARENA_BIG) {
        struct chunk *big = chunk_new(align_up(want));
        if (!big)
            return NULL;
        /* Behind the head, so the head keeps serving small allocations. */
        big->next = a->head->next;
        a->head->next = big;
        p = chunk_take(big, want);
    } else {
        p = chunk_take(a->head, want);
        if (!p) {
            struct chunk *c = chunk_new(ARENA_CHUNK_SIZE);
            if (!c)
                return NULL;
            c->next = a->head;
            a->head = c;
            p = chunk_take(c, want);
        }
    }
    if (p)
        a->handed_out += n;
    return p;
}

void *arena_calloc(arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    if (len == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    if (!s)
        return NULL;
    return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(arena *a, const char *fmt, va_list ap)
{
    va_list measure;
    va_copy(measure, ap);
    /* measure is va_copy'd just above; the analyzer loses track of it across the call. */
    int n = vsnprintf(NULL, 0, fmt, measure); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(measure);
    if (n < 0)
        return NULL;
    size_t size = (size_t)n + 1;
    char *p = arena_alloc(a, size);
    if (!p)
        return NULL;
    if (vsnprintf(p, size, fmt, ap) != n)
        return NULL;
    return p;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const arena *a)
{
    return a ? a->handed_out : 0;
}
