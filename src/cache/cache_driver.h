/* Internal to src/cache: the vtable between the generic entry points (cache.c) and the
 * implementations (memory.c now, redis.c later). cache.c checks arguments and the key/value
 * limits before dispatching, so every implementation sees the same valid input. Nothing outside
 * src/cache includes this file. */
#ifndef PRAXIS_CACHE_CACHE_DRIVER_H
#define PRAXIS_CACHE_CACHE_DRIVER_H

#include "cache/cache.h"

#define CACHE_KEY_MAX 512          /* bytes, excluding the NUL */
#define CACHE_VALUE_MAX (1u << 20) /* 1 MiB */

struct cache_ops {
    void (*destroy)(cache *c);
    /* val and len are non-NULL here; *val is malloc'd and NUL-terminated. */
    int (*get)(cache *c, const char *key, char **val, size_t *len);
    int (*set)(cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms);
    int (*del)(cache *c, const char *key);
    int (*del_prefix)(cache *c, const char *prefix);
    /* value and ttl_left_ms are non-NULL here; ttl_left_ms is -1 for a key without expiry. */
    int (*incr)(cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *value,
                int64_t *ttl_left_ms);
    size_t (*count)(cache *c);
    void (*set_clock)(cache *c, int64_t (*now_ms)(void));
};

/* Every implementation's object starts with this header. */
struct cache {
    const struct cache_ops *ops;
};

#endif
