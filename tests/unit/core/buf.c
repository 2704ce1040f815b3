/* Tests for the capped growable buffer: the maximum is enforced exactly, failures leave the
 * contents untouched, sizes near SIZE_MAX cannot wrap, and detach hands over a C string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"

#include <stdlib.h>

static void test_append_up_to_max_then_too_big(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "hello", 5), BUF_OK);
    assert_int_equal(buf_puts(&b, "world"), BUF_OK); /* exactly at max */
    assert_string_equal(b.ptr, "helloworld");
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_puts(&b, "!"), BUF_TOO_BIG);
    assert_string_equal(b.ptr, "helloworld");
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_append(&b, "", 0), BUF_OK);
    buf_free(&b);
}

static void test_printf_respects_max_and_keeps_contents(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_printf(&b, "%d-%s", 12345, "abc"), BUF_OK);
    assert_string_equal(b.ptr, "12345-abc");
    assert_int_equal(buf_printf(&b, "%s", "12345678"), BUF_TOO_BIG);
    assert_string_equal(b.ptr, "12345-abc");
    assert_int_equal(b.len, 9);
    assert_int_equal(buf_printf(&b, "%s", "1234567"), BUF_OK);
    assert_int_equal(b.len, 16);
    assert_int_equal(strlen(b.ptr), 16);
    buf_free(&b);
}

static void test_grows_across_many_appends(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 100000);
    for (size_t i = 0; i < 100000; i++)
        assert_int_equal(buf_append(&b, i % 2 ? "b" : "a", 1), BUF_OK);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.ptr[100000], '\0');
    assert_int_equal(b.ptr[99999], 'b');
    assert_true(b.cap <= 100001); /* never allocates beyond what max can use */
    assert_int_equal(buf_append(&b, "x", 1), BUF_TOO_BIG);
    buf_free(&b);
}

static void test_overflowing_lengths_fail_without_wrapping(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, SIZE_MAX);
    assert_int_equal(buf_puts(&b, "0123456789"), BUF_OK);
    /* len + n would exceed SIZE_MAX */
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), BUF_TOO_BIG);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX - 5), BUF_TOO_BIG);
    /* len + n == SIZE_MAX leaves no room for the NUL */
    assert_int_equal(buf_append(&b, "x", SIZE_MAX - 10), BUF_NOMEM);
    assert_string_equal(b.ptr, "0123456789");

    buf c;
    buf_init(&c, 100);
    assert_int_equal(buf_append(&c, "x", SIZE_MAX), BUF_TOO_BIG);
    assert_null(c.ptr);
    buf_free(&b);
    buf_free(&c);
}

static void test_zero_max_accepts_only_nothing(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "a"), BUF_TOO_BIG);
    assert_int_equal(buf_puts(&b, ""), BUF_OK);
    assert_string_equal(b.ptr, "");
    buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 1000);
    assert_int_equal(buf_puts(&b, "some text here"), BUF_OK);
    size_t cap = b.cap;
    char *mem = b.ptr;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.ptr, "");
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.ptr, mem);
    assert_int_equal(buf_puts(&b, "again"), BUF_OK);
    assert_string_equal(b.ptr, "again");
    buf_free(&b);
}

static void test_detach_hands_over_string(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 100);
    size_t len = 99;
    char *empty = buf_detach(&b, &len);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    assert_int_equal(len, 0);
    free(empty);

    assert_int_equal(buf_puts(&b, "payload"), BUF_OK);
    char *s = buf_detach(&b, &len);
    assert_string_equal(s, "payload");
    assert_int_equal(len, 7);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100);
    free(s);

    /* The buffer is reusable after detaching. */
    assert_int_equal(buf_puts(&b, "next"), BUF_OK);
    char *t = buf_detach(&b, NULL);
    assert_string_equal(t, "next");
    free(t);
    buf_free(&b);
}

static void test_binary_data_with_nul_bytes(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 64);
    const char data[] = {'a', '\0', 'b', '\0'};
    assert_int_equal(buf_append(&b, data, sizeof(data)), BUF_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.ptr, data, 4);
    assert_int_equal(b.ptr[4], '\0');
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_up_to_max_then_too_big),
        cmocka_unit_test(test_printf_respects_max_and_keeps_contents),
        cmocka_unit_test(test_grows_across_many_appends),
        cmocka_unit_test(test_overflowing_lengths_fail_without_wrapping),
        cmocka_unit_test(test_zero_max_accepts_only_nothing),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_detach_hands_over_string),
        cmocka_unit_test(test_binary_data_with_nul_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
