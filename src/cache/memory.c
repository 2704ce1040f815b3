/* The in-process cache: a hash map for lookups plus a doubly linked list in recency order for
 * LRU eviction. Expiry is checked lazily on access, and every write also sweeps a few hash
 * buckets so keys nobody reads again do not linger. One mutex guards everything: every
 * operation is short and never calls out while holding it. */
#include "cache/cache_driver.h"

#include "core/timeutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NEVER INT64_MAX /* expires_at of a key without TTL */

enum {
    MIN_BUCKETS = 16,
    SWEEP_BUCKETS = 8, /* buckets examined for expired keys per write */
    INT_TEXT_MAX = 24, /* "-9223372036854775808" + NUL, rounded up */
};

typedef struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* recency list: prev is more recently used */
    uint64_t hash;
    int64_t expires_at; /* on the cache clock; NEVER = no TTL */
    char *val;          /* malloc'd, NUL-terminated */
    size_t len;
    size_t klen;
    char key[]; /* NUL-terminated */
} entry;

typedef struct mem_cache {
    struct cache base;
    pthread_mutex_t lock;
    entry **table;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t max_entries;
    entry *head, *tail; /* most / least recently used */
    size_t sweep_cursor;
    int64_t (*now_ms)(void);
    /* Keys come from clients (emails, addresses): a keyed hash (SipHash) keeps anyone from
     * choosing keys that all land in one bucket. */
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
} mem_cache;

static void mem_destroy(cache *c);
static int mem_get(cache *c, const char *key, char **val, size_t *len);
static int mem_set(cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms);
static int mem_del(cache *c, const char *key);
static int mem_del_prefix(cache *c, const char *prefix);
static int mem_incr(cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *value,
                    int64_t *ttl_left_ms);
static size_t mem_count(cache *c);
static void mem_set_clock(cache *c, int64_t (*now_ms)(void));

static int64_t mono_ms(void);
static uint64_t key_hash(const mem_cache *mc, const char *key, size_t klen);
static size_t bucket_of(uint64_t hash, size_t nbuckets);
static int64_t expiry_for(int64_t now, int64_t ttl_ms);
static int is_expired(const entry *e, int64_t now);
static entry *lookup(const mem_cache *mc, const char *key, size_t klen, uint64_t hash);
static entry *lookup_live(mem_cache *mc, const char *key, size_t klen, uint64_t hash, int64_t now);
static void list_unlink(mem_cache *mc, entry *e);
static void list_push_head(mem_cache *mc, entry *e);
static void touch(mem_cache *mc, entry *e);
static void remove_entry(mem_cache *mc, entry *e);
static void sweep(mem_cache *mc, int64_t now, size_t buckets);
static int table_grow(mem_cache *mc);
static entry *insert_new(mem_cache *mc, const char *key, size_t klen, uint64_t hash, char *val,
                         size_t len, int64_t expires_at, int64_t now);
static char *copy_value(const void *val, size_t len);
static int parse_int64(const char *s, size_t len, int64_t *out);

static const struct cache_ops memory_ops = {
    .destroy = mem_destroy,
    .get = mem_get,
    .set = mem_set,
    .del = mem_del,
    .del_prefix = mem_del_prefix,
    .incr = mem_incr,
    .count = mem_count,
    .set_clock = mem_set_clock,
};

cache *cache_memory_new(size_t max_entries)
{
    if (max_entries == 0 || sodium_init() < 0)
        return NULL;
    mem_cache *mc = calloc(1, sizeof(*mc));
    if (!mc)
        return NULL;
    mc->base.ops = &memory_ops;
    mc->max_entries = max_entries;
    mc->nbuckets = MIN_BUCKETS;
    mc->table = calloc(mc->nbuckets, sizeof(*mc->table));
    if (!mc->table || pthread_mutex_init(&mc->lock, NULL) != 0) {
        free(mc->table);
        free(mc);
        return NULL;
    }
    mc->now_ms = mono_ms;
    crypto_shorthash_keygen(mc->hash_key);
    return &mc->base;
}

static void mem_destroy(cache *c)
{
    mem_cache *mc = (mem_cache *)c;
    for (entry *e = mc->head, *next; e; e = next) {
        next = e->next;
        free(e->val);
        free(e);
    }
    free(mc->table);
    pthread_mutex_destroy(&mc->lock);
    free(mc);
}

/* ---- helpers (called with the lock held unless noted) --------------------------------- */

static int64_t mono_ms(void)
{
    return time_mono_ns() / 1000000;
}

/* Needs no lock: the hash key never changes after creation. */
static uint64_t key_hash(const mem_cache *mc, const char *key, size_t klen)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, klen, mc->hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

static size_t bucket_of(uint64_t hash, size_t nbuckets)
{
    return (size_t)(hash & (uint64_t)(nbuckets - 1));
}

static int64_t expiry_for(int64_t now, int64_t ttl_ms)
{
    if (ttl_ms <= 0 || ttl_ms >= NEVER - now)
        return NEVER;
    return now + ttl_ms;
}

static int is_expired(const entry *e, int64_t now)
{
    return e->expires_at != NEVER && now >= e->expires_at;
}

static entry *lookup(const mem_cache *mc, const char *key, size_t klen, uint64_t hash)
{
    for (entry *e = mc->table[bucket_of(hash, mc->nbuckets)]; e; e = e->hnext)
        if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* Lazy expiry: an expired key found on access is removed on the spot. */
static entry *lookup_live(mem_cache *mc, const char *key, size_t klen, uint64_t hash, int64_t now)
{
    entry *e = lookup(mc, key, klen, hash);
    if (e && is_expired(e, now)) {
        remove_entry(mc, e);
        return NULL;
    }
    return e;
}

static void list_unlink(mem_cache *mc, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        mc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        mc->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_head(mem_cache *mc, entry *e)
{
    e->prev = NULL;
    e->next = mc->head;
    if (mc->head)
        mc->head->prev = e;
    else
        mc->tail = e;
    mc->head = e;
}

static void touch(mem_cache *mc, entry *e)
{
    if (mc->head == e)
        return;
    list_unlink(mc, e);
    list_push_head(mc, e);
}

static void remove_entry(mem_cache *mc, entry *e)
{
    for (entry **pp = &mc->table[bucket_of(e->hash, mc->nbuckets)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    }
    list_unlink(mc, e);
    mc->count--;
    free(e->val);
    free(e);
}

/* Examines up to `buckets` buckets from where the last sweep stopped (Redis's active expiry in
 * miniature): bounded work per write, and every bucket is visited within a few writes. */
static void sweep(mem_cache *mc, int64_t now, size_t buckets)
{
    if (buckets > mc->nbuckets)
        buckets = mc->nbuckets;
    for (size_t i = 0; i < buckets; i++) {
        size_t b = mc->sweep_cursor++ & (mc->nbuckets - 1);
        for (entry *e = mc->table[b], *next; e; e = next) {
            next = e->hnext;
            if (is_expired(e, now))
                remove_entry(mc, e);
        }
    }
}

static int table_grow(mem_cache *mc)
{
    if (mc->nbuckets == 0 || mc->nbuckets > SIZE_MAX / 2 / sizeof(*mc->table))
        return -1;
    size_t n = mc->nbuckets * 2;
    entry **t = calloc(n, sizeof(*t));
    if (!t)
        return -1;
    for (entry *e = mc->head; e; e = e->next) {
        size_t b = bucket_of(e->hash, n);
        e->hnext = t[b];
        t[b] = e;
    }
    free(mc->table);
    mc->table = t;
    mc->nbuckets = n;
    return 0;
}

/* Takes ownership of val (also on failure). Makes room first: expired keys in a few buckets,
 * then the least recently used while the cache is full. */
static entry *insert_new(mem_cache *mc, const char *key, size_t klen, uint64_t hash, char *val,
                         size_t len, int64_t expires_at, int64_t now)
{
    entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e) {
        free(val);
        return NULL;
    }
    sweep(mc, now, SWEEP_BUCKETS);
    while (mc->count >= mc->max_entries && mc->tail)
        remove_entry(mc, mc->tail);
    /* Load factor 1; a failed grow only makes chains longer. */
    if (mc->count >= mc->nbuckets)
        (void)table_grow(mc);
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->klen = klen;
    e->hash = hash;
    e->val = val;
    e->len = len;
    e->expires_at = expires_at;
    size_t b = bucket_of(hash, mc->nbuckets);
    e->hnext = mc->table[b];
    mc->table[b] = e;
    list_push_head(mc, e);
    mc->count++;
    return e;
}

/* Needs no lock. */
static char *copy_value(const void *val, size_t len)
{
    char *v = malloc(len + 1);
    if (!v)
        return NULL;
    if (len)
        memcpy(v, val, len);
    v[len] = '\0';
    return v;
}

/* The whole value must be a decimal integer, as Redis's INCR requires. */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || len >= INT_TEXT_MAX)
        return -1;
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        /* Accumulate negatively so INT64_MIN parses too. */
        if (v < (INT64_MIN + d) / 10)
            return -1;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return -1;
        v = -v;
    }
    *out = v;
    return 0;
}

/* ---- operations ----------------------------------------------------------------------- */

static int mem_get(cache *c, const char *key, char **val, size_t *len)
{
    mem_cache *mc = (mem_cache *)c;
    size_t klen = strlen(key);
    uint64_t hash = key_hash(mc, key, klen);
    int rc = CACHE_MISS;
    if (pthread_mutex_lock(&mc->lock) != 0)
        return CACHE_ERROR;
    entry *e = lookup_live(mc, key, klen, hash, mc->now_ms());
    if (e) {
        touch(mc, e);
        *val = copy_value(e->val, e->len);
        *len = *val ? e->len : 0;
        rc = *val ? CACHE_OK : CACHE_ERROR;
    }
    (void)pthread_mutex_unlock(&mc->lock);
    return rc;
}

static int mem_set(cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    mem_cache *mc = (mem_cache *)c;
    size_t klen = strlen(key);
    uint64_t hash = key_hash(mc, key, klen);
    /* Copied before locking: a 1 MiB memcpy should not stall other threads. */
    char *copy = copy_value(val, len);
    if (!copy)
        return CACHE_ERROR;
    int rc = CACHE_OK;
    if (pthread_mutex_lock(&mc->lock) != 0) {
        free(copy);
        return CACHE_ERROR;
    }
    int64_t now = mc->now_ms();
    entry *e = lookup_live(mc, key, klen, hash, now);
    if (e) {
        free(e->val);
        e->val = copy;
        e->len = len;
        e->expires_at = expiry_for(now, ttl_ms);
        touch(mc, e);
        sweep(mc, now, SWEEP_BUCKETS);
    } else if (!insert_new(mc, key, klen, hash, copy, len, expiry_for(now, ttl_ms), now)) {
        rc = CACHE_ERROR;
    }
    (void)pthread_mutex_unlock(&mc->lock);
    return rc;
}

static int mem_del(cache *c, const char *key)
{
    mem_cache *mc = (mem_cache *)c;
    size_t klen = strlen(key);
    uint64_t hash = key_hash(mc, key, klen);
    if (pthread_mutex_lock(&mc->lock) != 0)
        return CACHE_ERROR;
    entry *e = lookup_live(mc, key, klen, hash, mc->now_ms());
    if (e)
        remove_entry(mc, e);
    (void)pthread_mutex_unlock(&mc->lock);
    return e ? CACHE_OK : CACHE_MISS;
}

static int mem_del_prefix(cache *c, const char *prefix)
{
    mem_cache *mc = (mem_cache *)c;
    size_t plen = strlen(prefix);
    if (pthread_mutex_lock(&mc->lock) != 0)
        return CACHE_ERROR;
    for (entry *e = mc->head, *next; e; e = next) {
        next = e->next;
        if (e->klen >= plen && memcmp(e->key, prefix, plen) == 0)
            remove_entry(mc, e);
    }
    (void)pthread_mutex_unlock(&mc->lock);
    return CACHE_OK;
}

static int mem_incr(cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *value,
                    int64_t *ttl_left_ms)
{
    mem_cache *mc = (mem_cache *)c;
    size_t klen = strlen(key);
    uint64_t hash = key_hash(mc, key, klen);
    int rc = CACHE_ERROR;
    if (pthread_mutex_lock(&mc->lock) != 0)
        return CACHE_ERROR;
    int64_t now = mc->now_ms();
    int64_t n;
    entry *e = lookup_live(mc, key, klen, hash, now);
    if (e) {
        int64_t cur;
        if (parse_int64(e->val, e->len, &cur) != 0 || __builtin_add_overflow(cur, by, &n))
            goto out;
        if (e->len + 1 < INT_TEXT_MAX) {
            char *v = realloc(e->val, INT_TEXT_MAX);
            if (!v)
                goto out;
            e->val = v;
        }
        e->len = (size_t)snprintf(e->val, INT_TEXT_MAX, "%" PRId64, n);
        /* A fixed window: the TTL is set when the window opens and never extended. A key
         * that has none gets one, like Redis's PEXPIRE NX. */
        if (e->expires_at == NEVER)
            e->expires_at = expiry_for(now, ttl_ms);
        touch(mc, e);
        sweep(mc, now, SWEEP_BUCKETS);
    } else {
        n = by;
        char *v = malloc(INT_TEXT_MAX);
        if (!v)
            goto out;
        size_t len = (size_t)snprintf(v, INT_TEXT_MAX, "%" PRId64, n);
        e = insert_new(mc, key, klen, hash, v, len, expiry_for(now, ttl_ms), now);
        if (!e)
            goto out;
    }
    *value = n;
    *ttl_left_ms = e->expires_at == NEVER ? -1 : e->expires_at - now;
    rc = CACHE_OK;
out:
    (void)pthread_mutex_unlock(&mc->lock);
    return rc;
}

/* Drops every expired key first, so the answer counts live keys only. O(entries): meant for
 * tests and occasional gauges, not for hot paths. */
static size_t mem_count(cache *c)
{
    mem_cache *mc = (mem_cache *)c;
    if (pthread_mutex_lock(&mc->lock) != 0)
        return 0;
    int64_t now = mc->now_ms();
    for (entry *e = mc->head, *next; e; e = next) {
        next = e->next;
        if (is_expired(e, now))
            remove_entry(mc, e);
    }
    size_t n = mc->count;
    (void)pthread_mutex_unlock(&mc->lock);
    return n;
}

static void mem_set_clock(cache *c, int64_t (*now_ms)(void))
{
    mem_cache *mc = (mem_cache *)c;
    if (pthread_mutex_lock(&mc->lock) != 0)
        return;
    mc->now_ms = now_ms ? now_ms : mono_ms;
    (void)pthread_mutex_unlock(&mc->lock);
}
