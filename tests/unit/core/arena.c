/* Tests for the per-request arena: alignment, zeroing, big allocations, strings and sizes that
 * would overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"

#include <stdlib.h>

static void test_alignment_and_contents_survive_many_chunks(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    enum { N = 2000 };
    unsigned char *ptrs[N];
    for (size_t i = 0; i < N; i++) {
        size_t n = 1 + i % 97;
        ptrs[i] = arena_alloc(a, n);
        assert_non_null(ptrs[i]);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], (int)(i & 0xFF), n);
    }
    /* Nothing handed out earlier was overwritten by later allocations. */
    for (size_t i = 0; i < N; i++) {
        size_t n = 1 + i % 97;
        for (size_t k = 0; k < n; k++)
            assert_int_equal(ptrs[i][k], i & 0xFF);
    }
    arena_free(a);
}

static void test_calloc_zeroes_reused_looking_memory(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    for (int round = 0; round < 50; round++) {
        unsigned char *p = arena_calloc(a, 300);
        assert_non_null(p);
        for (size_t i = 0; i < 300; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xAB, 300);
    }
    arena_free(a);
}

static void test_big_allocation_gets_own_chunk_and_small_ones_continue(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    char *small1 = arena_alloc(a, 10);
    assert_non_null(small1);
    size_t big_n = 1u << 20;
    unsigned char *big = arena_alloc(a, big_n);
    assert_non_null(big);
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 0x5A, big_n);
    char *small2 = arena_alloc(a, 10);
    assert_non_null(small2);
    /* The small allocation after the big one still comes from the first chunk, right after
     * small1 (16-byte slots), not from a fresh chunk. */
    assert_ptr_equal(small2, small1 + 16);
    assert_int_equal(big[big_n - 1], 0x5A);
    assert_int_equal(arena_used(a), 10 + big_n + 10);
    arena_free(a);
}

static void test_sizes_that_would_overflow_fail_cleanly(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    assert_null(arena_alloc(a, SIZE_MAX));
    assert_null(arena_alloc(a, SIZE_MAX - 1));
    assert_null(arena_alloc(a, SIZE_MAX - 15));
    assert_null(arena_calloc(a, SIZE_MAX - 16));
    assert_null(arena_alloc(NULL, 8));
    /* The arena is still usable after the failures. */
    char *s = arena_strdup(a, "still fine");
    assert_string_equal(s, "still fine");
    arena_free(a);
}

static void test_zero_size_allocations_are_distinct(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    void *p = arena_alloc(a, 0);
    void *q = arena_alloc(a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    arena_free(a);
}

static void test_strings(void **state)
{
    (void)state;
    arena *a = arena_new();
    assert_non_null(a);
    assert_string_equal(arena_strdup(a, "hello"), "hello");
    assert_string_equal(arena_strdup(a, ""), "");
    assert_null(arena_strdup(a, NULL));
    assert_string_equal(arena_strndup(a, "hello world", 5), "hello");
    assert_string_equal(arena_strndup(a, "hi", 100), "hi");
    assert_string_equal(arena_printf(a, "%s-%d-%.2f", "x", 42, 1.5), "x-42-1.50");

    /* Longer than a chunk: goes through the big-allocation path. */
    char *long_text = arena_printf(a, "%0*d", 20000, 7);
    assert_non_null(long_text);
    assert_int_equal(strlen(long_text), 20000);
    assert_int_equal(long_text[19999], '7');
    assert_int_equal(long_text[0], '0');
    arena_free(a);
}

static void test_free_null_is_harmless(void **state)
{
    (void)state;
    arena_free(NULL);
    assert_int_equal(arena_used(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_contents_survive_many_chunks),
        cmocka_unit_test(test_calloc_zeroes_reused_looking_memory),
        cmocka_unit_test(test_big_allocation_gets_own_chunk_and_small_ones_continue),
        cmocka_unit_test(test_sizes_that_would_overflow_fail_cleanly),
        cmocka_unit_test(test_zero_size_allocations_are_distinct),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_free_null_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
