/* The cache entry points: argument and limit checks shared by every implementation, then a
 * dispatch through the implementation's vtable (cache_driver.h). */
#include "cache/cache_driver.h"

static int key_ok(const char *key);

static int key_ok(const char *key)
{
    return key && strnlen(key, CACHE_KEY_MAX + 1) <= CACHE_KEY_MAX;
}

void cache_free(cache *c)
{
    if (c)
        c->ops->destroy(c);
}

int cache_get(cache *c, const char *key, char **val, size_t *len)
{
    if (val)
        *val = NULL;
    if (len)
        *len = 0;
    if (!c || !val || !key_ok(key))
        return CACHE_ERROR;
    size_t ignored;
    return c->ops->get(c, key, val, len ? len : &ignored);
}

int cache_set(cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    if (!c || !key_ok(key) || (!val && len) || len > CACHE_VALUE_MAX)
        return CACHE_ERROR;
    return c->ops->set(c, key, val ? val : "", len, ttl_ms);
}

int cache_del(cache *c, const char *key)
{
    if (!c || !key_ok(key))
        return CACHE_ERROR;
    return c->ops->del(c, key);
}

int cache_del_prefix(cache *c, const char *prefix)
{
    if (!c || !key_ok(prefix))
        return CACHE_ERROR;
    return c->ops->del_prefix(c, prefix);
}

int cache_incr(cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *value,
               int64_t *ttl_left_ms)
{
    int64_t v = 0, t = -1;
    if (value)
        *value = 0;
    if (ttl_left_ms)
        *ttl_left_ms = -1;
    if (!c || !key_ok(key))
        return CACHE_ERROR;
    int rc = c->ops->incr(c, key, by, ttl_ms, &v, &t);
    if (rc == CACHE_OK) {
        if (value)
            *value = v;
        if (ttl_left_ms)
            *ttl_left_ms = t;
    }
    return rc;
}

size_t cache_count(cache *c)
{
    return c ? c->ops->count(c) : 0;
}

void cache_set_clock(cache *c, int64_t (*now_ms)(void))
{
    if (c)
        c->ops->set_clock(c, now_ms);
}
