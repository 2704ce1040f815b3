/* The cache interface: a key/value store with TTLs and atomic counters, shared by the rate
 * limiter and the content cache. One implementation now (in-process memory, LRU + TTL); Redis
 * implements the same operations when replicas must share state. Thread-safe. */
#ifndef PRAXIS_CACHE_CACHE_H
#define PRAXIS_CACHE_CACHE_H

#include "core/common.h"
#include <stdint.h>

typedef struct cache cache;

enum { CACHE_OK = 0, CACHE_MISS = 1, CACHE_ERROR = -1 };

/* In-process store holding at most max_entries keys; the least recently used goes first. */
cache *cache_memory_new(size_t max_entries);
void cache_free(cache *c);

/* Copies the value into a malloc'd buffer (NUL-terminated, *len excludes the NUL). */
int cache_get(cache *c, const char *key, char **val, size_t *len) WUR;
/* ttl_ms <= 0: no expiry. */
int cache_set(cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms) WUR;
int cache_del(cache *c, const char *key);
/* Removes every key starting with prefix (invalidation of a family of entries). */
int cache_del_prefix(cache *c, const char *prefix);
/* Atomically adds by to the integer at key (created as 0 with ttl_ms when missing or
 * expired; the TTL is not extended by later increments: a fixed window). *value gets the new
 * value and *ttl_left_ms the time until the key expires. */
int cache_incr(cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *value,
               int64_t *ttl_left_ms) WUR;
size_t cache_count(cache *c);

/* For tests: a clock override (ms, monotonic). NULL restores the real clock. */
void cache_set_clock(cache *c, int64_t (*now_ms)(void));

#endif
