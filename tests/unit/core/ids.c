/* Tests for UUIDv7: canonical lowercase form, version and variant bits, the embedded
 * timestamp, strict ordering within a process and uniqueness across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ids.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdlib.h>

static void test_format_version_and_variant(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        char id[UUID_STR_LEN];
        id_uuid7(id);
        assert_int_equal(strlen(id), 36);
        assert_true(id_is_uuid(id, 36));
        for (size_t k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(id[k], '-');
            else
                assert_non_null(strchr("0123456789abcdef", id[k]));
        }
        assert_int_equal(id[14], '7');           /* version 7 */
        assert_non_null(strchr("89ab", id[19])); /* variant 10xx */
    }
}

static void test_timestamp_is_now(void **state)
{
    (void)state;
    int64_t before = time_now_ms();
    char id[UUID_STR_LEN];
    id_uuid7(id);
    int64_t after = time_now_ms();
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    int64_t ts = (int64_t)strtoll(hex, NULL, 16);
    /* The generator may borrow a few ms ahead when the per-ms counter runs out. */
    assert_true(ts >= before);
    assert_true(ts <= after + 100);
}

static void test_strictly_increasing_as_strings(void **state)
{
    (void)state;
    char prev[UUID_STR_LEN];
    id_uuid7(prev);
    for (int i = 0; i < 10000; i++) {
        char id[UUID_STR_LEN];
        id_uuid7(id);
        if (strcmp(prev, id) >= 0)
            fail_msg("not increasing: %s then %s", prev, id);
        memcpy(prev, id, UUID_STR_LEN);
    }
}

enum { THREADS = 8, PER_THREAD = 5000 };
static char thread_ids[THREADS * PER_THREAD][UUID_STR_LEN];

static void *make_ids(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < PER_THREAD; i++)
        id_uuid7(thread_ids[t * PER_THREAD + i]);
    return NULL;
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_unique_across_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (size_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, make_ids, (void *)(uintptr_t)t), 0);
    for (size_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    /* Each thread saw its own ids in increasing order... */
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 1; i < PER_THREAD; i++)
            assert_true(strcmp(thread_ids[t * PER_THREAD + i - 1], thread_ids[t * PER_THREAD + i]) <
                        0);
    /* ...and no id was handed out twice. */
    qsort(thread_ids, THREADS * PER_THREAD, UUID_STR_LEN, cmp_ids);
    for (size_t i = 1; i < THREADS * PER_THREAD; i++)
        if (strcmp(thread_ids[i - 1], thread_ids[i]) == 0)
            fail_msg("duplicate id %s", thread_ids[i]);
}

static void test_is_uuid(void **state)
{
    (void)state;
    assert_true(id_is_uuid("01890a5d-ac96-774b-bcce-b302099a8057", 36));
    assert_true(id_is_uuid("00000000-0000-0000-0000-000000000000", 36));
    assert_true(id_is_uuid("550E8400-E29B-41D4-A716-446655440000", 36)); /* v4, upper case */
    assert_false(id_is_uuid("01890a5d-ac96-774b-bcce-b302099a805", 35));
    assert_false(id_is_uuid("01890a5d-ac96-774b-bcce-b302099a80577", 37));
    assert_false(id_is_uuid("01890a5dac96-774b-bcce-b302099a80577", 36));
    assert_false(id_is_uuid("01890a5d-ac96-774b-bcce-b302099a805g", 36));
    assert_false(id_is_uuid("{1890a5d-ac96-774b-bcce-b302099a8057}", 36));
    assert_false(id_is_uuid("01890a5d_ac96_774b_bcce_b302099a8057", 36));
    assert_false(id_is_uuid("", 0));
    assert_false(id_is_uuid(NULL, 36));
    /* Only the first len bytes count: a longer string with a valid prefix is not a UUID. */
    const char *longer = "01890a5d-ac96-774b-bcce-b302099a8057-extra";
    assert_false(id_is_uuid(longer, strlen(longer)));
    assert_true(id_is_uuid(longer, 36));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_version_and_variant),
        cmocka_unit_test(test_timestamp_is_now),
        cmocka_unit_test(test_strictly_increasing_as_strings),
        cmocka_unit_test(test_unique_across_threads),
        cmocka_unit_test(test_is_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
