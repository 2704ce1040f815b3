/* The in-process cache: values, TTLs on an injected clock, LRU eviction, prefix deletion,
 * fixed-window counters, the key/value limits, and counters under concurrent increments. */
#include "cache/cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static int64_t fake_now = 1000000;

static int64_t fake_clock(void)
{
    return fake_now;
}

static cache *new_cache(size_t max)
{
    cache *c = cache_memory_new(max);
    assert_non_null(c);
    fake_now = 1000000;
    cache_set_clock(c, fake_clock);
    return c;
}

/* The value at key, or NULL on a miss; caller frees. */
static char *get(cache *c, const char *key)
{
    char *v = NULL;
    size_t len = 0;
    int rc = cache_get(c, key, &v, &len);
    if (rc == CACHE_MISS) {
        assert_null(v);
        return NULL;
    }
    assert_int_equal(rc, CACHE_OK);
    assert_int_equal(strlen(v), len);
    return v;
}

static void assert_value(cache *c, const char *key, const char *want)
{
    char *v = get(c, key);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void set(cache *c, const char *key, const char *val, int64_t ttl_ms)
{
    assert_int_equal(cache_set(c, key, val, strlen(val), ttl_ms), CACHE_OK);
}

static void test_get_set_del(void **state)
{
    (void)state;
    cache *c = new_cache(100);
    assert_value(c, "greeting", NULL);
    set(c, "greeting", "hello", 0);
    assert_value(c, "greeting", "hello");
    set(c, "greeting", "hello again", 0);
    assert_value(c, "greeting", "hello again");
    assert_int_equal(cache_count(c), 1);

    /* Binary values keep their length; the copy is NUL-terminated after it. */
    char *v;
    size_t len;
    assert_int_equal(cache_set(c, "bin", "a\0b", 3, 0), CACHE_OK);
    assert_int_equal(cache_get(c, "bin", &v, &len), CACHE_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "a\0b", 4);
    free(v);
    assert_int_equal(cache_set(c, "empty", NULL, 0, 0), CACHE_OK);
    assert_value(c, "empty", "");

    assert_int_equal(cache_del(c, "greeting"), CACHE_OK);
    assert_value(c, "greeting", NULL);
    assert_int_equal(cache_del(c, "greeting"), CACHE_MISS);
    assert_int_equal(cache_count(c), 2);
    cache_free(c);
    cache_free(NULL);
}

static void test_ttl_expiry(void **state)
{
    (void)state;
    cache *c = new_cache(100);
    set(c, "short", "s", 1000);
    set(c, "forever", "f", 0);
    set(c, "negative", "n", -5);
    fake_now += 999;
    assert_value(c, "short", "s");
    fake_now += 1;
    assert_value(c, "short", NULL);
    assert_int_equal(cache_del(c, "short"), CACHE_MISS);
    fake_now += 365LL * 24 * 3600 * 1000;
    assert_value(c, "forever", "f");
    assert_value(c, "negative", "n");

    /* set replaces the TTL along with the value. */
    set(c, "k", "1", 1000);
    fake_now += 800;
    set(c, "k", "2", 1000);
    fake_now += 800;
    assert_value(c, "k", "2");
    set(c, "k", "3", 0);
    fake_now += 5000;
    assert_value(c, "k", "3");

    /* Expired keys nobody reads again do not count. */
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof(key), "tmp%d", i);
        set(c, key, "x", 10);
    }
    assert_int_equal(cache_count(c), 53);
    fake_now += 10;
    assert_int_equal(cache_count(c), 3);
    cache_free(c);
}

static void test_lru_eviction(void **state)
{
    (void)state;
    cache *c = new_cache(3);
    set(c, "a", "1", 0);
    set(c, "b", "2", 0);
    set(c, "c", "3", 0);
    /* Reading a makes b the least recently used. */
    assert_value(c, "a", "1");
    set(c, "d", "4", 0);
    assert_int_equal(cache_count(c), 3);
    assert_value(c, "b", NULL);
    assert_value(c, "a", "1");
    assert_value(c, "c", "3");
    assert_value(c, "d", "4");
    /* Now a is the oldest use; overwriting an existing key evicts nothing and refreshes it. */
    set(c, "a", "one", 0);
    assert_int_equal(cache_count(c), 3);
    set(c, "e", "5", 0);
    assert_value(c, "c", NULL);
    assert_value(c, "a", "one");
    /* An increment is a use too. */
    int64_t v, ttl;
    assert_int_equal(cache_set(c, "n", "7", 1, 0), CACHE_OK); /* evicts d */
    assert_value(c, "d", NULL);
    assert_int_equal(cache_incr(c, "n", 1, 0, &v, &ttl), CACHE_OK);
    set(c, "f", "6", 0); /* evicts e, the oldest use: a was read after it, n incremented */
    assert_value(c, "e", NULL);
    assert_value(c, "n", "8");
    cache_free(c);

    /* Many keys through a small cache: exactly the newest stay. */
    c = new_cache(1000);
    for (int i = 0; i < 10000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key%d", i);
        set(c, key, key, 0);
    }
    assert_int_equal(cache_count(c), 1000);
    assert_value(c, "key8999", NULL);
    assert_value(c, "key9000", "key9000");
    assert_value(c, "key9999", "key9999");
    cache_free(c);
    assert_null(cache_memory_new(0));
}

static void test_del_prefix(void **state)
{
    (void)state;
    cache *c = new_cache(100);
    set(c, "scenario:1:card", "a", 0);
    set(c, "scenario:1:list", "b", 0);
    set(c, "scenario:10:card", "c", 0);
    set(c, "scenario:2:card", "d", 0);
    set(c, "other", "e", 0);
    assert_int_equal(cache_del_prefix(c, "scenario:1:"), CACHE_OK);
    assert_value(c, "scenario:1:card", NULL);
    assert_value(c, "scenario:1:list", NULL);
    assert_value(c, "scenario:10:card", "c");
    assert_value(c, "scenario:2:card", "d");
    assert_int_equal(cache_count(c), 3);
    assert_int_equal(cache_del_prefix(c, "nothing:"), CACHE_OK);
    assert_int_equal(cache_del_prefix(c, ""), CACHE_OK);
    assert_int_equal(cache_count(c), 0);
    cache_free(c);
}

static void test_incr_window(void **state)
{
    (void)state;
    cache *c = new_cache(100);
    int64_t v = -1, ttl = -1;
    assert_int_equal(cache_incr(c, "w", 1, 60000, &v, &ttl), CACHE_OK);
    assert_int_equal(v, 1);
    assert_int_equal(ttl, 60000);
    fake_now += 30000;
    assert_int_equal(cache_incr(c, "w", 1, 60000, &v, &ttl), CACHE_OK);
    assert_int_equal(v, 2);
    assert_int_equal(ttl, 30000); /* not extended */
    assert_value(c, "w", "2");
    fake_now += 29999;
    assert_int_equal(cache_incr(c, "w", 5, 60000, &v, &ttl), CACHE_OK);
    assert_int_equal(v, 7);
    assert_int_equal(ttl, 1);
    fake_now += 1;
    /* The window is over: a new one opens at the increment. */
    assert_int_equal(cache_incr(c, "w", 1, 60000, &v, &ttl), CACHE_OK);
    assert_int_equal(v, 1);
    assert_int_equal(ttl, 60000);

    /* Negative steps, no TTL, NULL outputs. */
    assert_int_equal(cache_incr(c, "n", -3, 0, &v, &ttl), CACHE_OK);
    assert_int_equal(v, -3);
    assert_int_equal(ttl, -1);
    assert_int_equal(cache_incr(c, "n", 1, 0, NULL, NULL), CACHE_OK);
    assert_value(c, "n", "-2");
    /* A counter without TTL gets one from the next windowed increment (PEXPIRE NX). */
    assert_int_equal(cache_incr(c, "n", 1, 500, &v, &ttl), CACHE_OK);
    assert_int_equal(v, -1);
    assert_int_equal(ttl, 500);

    /* Only whole decimal integers count, and they do not overflow. */
    set(c, "text", "abc", 0);
    assert_int_equal(cache_incr(c, "text", 1, 0, &v, &ttl), CACHE_ERROR);
    assert_value(c, "text", "abc");
    set(c, "num", "41", 0);
    assert_int_equal(cache_incr(c, "num", 1, 0, &v, &ttl), CACHE_OK);
    assert_int_equal(v, 42);
    set(c, "space", " 1", 0);
    assert_int_equal(cache_incr(c, "space", 1, 0, &v, &ttl), CACHE_ERROR);
    set(c, "max", "9223372036854775807", 0);
    assert_int_equal(cache_incr(c, "max", 1, 0, &v, &ttl), CACHE_ERROR);
    assert_int_equal(cache_incr(c, "max", -1, 0, &v, &ttl), CACHE_OK);
    assert_int_equal(v, INT64_MAX - 1);
    set(c, "min", "-9223372036854775808", 0);
    assert_int_equal(cache_incr(c, "min", -1, 0, &v, &ttl), CACHE_ERROR);
    assert_int_equal(cache_incr(c, "min", 0, 0, &v, &ttl), CACHE_OK);
    assert_int_equal(v, INT64_MIN);
    set(c, "huge", "99999999999999999999", 0);
    assert_int_equal(cache_incr(c, "huge", 1, 0, &v, &ttl), CACHE_ERROR);
    cache_free(c);
}

static void test_limits(void **state)
{
    (void)state;
    cache *c = new_cache(100);
    char key[514];
    memset(key, 'k', 513);
    key[513] = '\0';
    char *v = (char *)1;
    size_t len = 99;
    int64_t n;
    assert_int_equal(cache_set(c, key, "x", 1, 0), CACHE_ERROR);
    assert_int_equal(cache_get(c, key, &v, &len), CACHE_ERROR);
    assert_null(v);
    assert_int_equal(len, 0);
    assert_int_equal(cache_incr(c, key, 1, 0, &n, NULL), CACHE_ERROR);
    assert_int_equal(cache_del(c, key), CACHE_ERROR);
    key[512] = '\0'; /* 512 bytes is the longest key */
    set(c, key, "x", 0);
    assert_value(c, key, "x");

    size_t mib = 1u << 20;
    char *big = malloc(mib + 1);
    assert_non_null(big);
    memset(big, 'v', mib + 1);
    assert_int_equal(cache_set(c, "big", big, mib + 1, 0), CACHE_ERROR);
    assert_int_equal(cache_set(c, "big", big, mib, 0), CACHE_OK);
    assert_int_equal(cache_get(c, "big", &v, &len), CACHE_OK);
    assert_int_equal(len, mib);
    assert_int_equal(v[mib], '\0');
    free(v);
    free(big);

    assert_int_equal(cache_set(c, NULL, "x", 1, 0), CACHE_ERROR);
    assert_int_equal(cache_set(c, "k", NULL, 1, 0), CACHE_ERROR);
    assert_int_equal(cache_get(c, "k", NULL, NULL), CACHE_ERROR);
    assert_int_equal(cache_set(NULL, "k", "x", 1, 0), CACHE_ERROR);
    assert_int_equal(cache_count(NULL), 0);
    cache_free(c);
}

enum { THREADS = 8, INCRS = 5000 };

static void *incr_worker(void *arg)
{
    cache *c = arg;
    for (int i = 0; i < INCRS; i++) {
        int64_t v;
        if (cache_incr(c, "shared", 1, 0, &v, NULL) != CACHE_OK)
            return (void *)1;
        /* Other keys churn through the same lock and table meanwhile. */
        char key[32];
        snprintf(key, sizeof(key), "t%p-%d", (void *)&v, i % 64);
        if (cache_set(c, key, "x", 1, 0) != CACHE_OK)
            return (void *)1;
        char *got;
        if (cache_get(c, key, &got, NULL) == CACHE_OK)
            free(got);
    }
    return NULL;
}

static void test_concurrent_incr(void **state)
{
    (void)state;
    cache *c = cache_memory_new(256); /* real clock; small enough to evict under load */
    assert_non_null(c);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, incr_worker, c), 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    /* "shared" is used on every round by every thread, so LRU never picks it. */
    int64_t v;
    assert_int_equal(cache_incr(c, "shared", 0, 0, &v, NULL), CACHE_OK);
    assert_int_equal(v, THREADS * INCRS);
    cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_set_del),     cmocka_unit_test(test_ttl_expiry),
        cmocka_unit_test(test_lru_eviction),    cmocka_unit_test(test_del_prefix),
        cmocka_unit_test(test_incr_window),     cmocka_unit_test(test_limits),
        cmocka_unit_test(test_concurrent_incr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
