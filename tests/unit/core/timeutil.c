/* Tests for RFC 3339 formatting and parsing: known instants, round trips over the whole
 * supported range, leap years, offsets, fractions and inputs that must be rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/timeutil.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = 12345;
    if (time_parse_rfc3339(s, &ms) != 0)
        fail_msg("expected \"%s\" to parse", s);
    return ms;
}

static void test_format_known_instants(void **state)
{
    (void)state;
    char out[RFC3339_LEN];
    time_format_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    time_format_rfc3339(1700000000123LL, out);
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    time_format_rfc3339(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    time_format_rfc3339(1709208000000LL, out);
    assert_string_equal(out, "2024-02-29T12:00:00.000Z");
    time_format_rfc3339(-2203891200000LL, out);
    assert_string_equal(out, "1900-03-01T00:00:00.000Z");
    time_format_rfc3339(253402300799999LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
}

static void test_format_clamps_to_four_digit_years(void **state)
{
    (void)state;
    char out[RFC3339_LEN];
    time_format_rfc3339(INT64_MAX, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    time_format_rfc3339(INT64_MIN, out);
    assert_string_equal(out, "0000-01-01T00:00:00.000Z");
}

static void test_parse_known_instants(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2023-11-14T22:13:20.123Z"), 1700000000123LL);
    assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), -62135596800000LL);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z"), -1);
}

static void test_round_trip_across_the_range(void **state)
{
    (void)state;
    char out[RFC3339_LEN];
    /* A deterministic walk over the whole supported range, with odd steps so that every month,
     * day and millisecond position gets exercised. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ms = (int64_t)(x % 315569520000000ull) - 62167219200000LL;
        time_format_rfc3339(ms, out);
        int64_t back = -7;
        assert_int_equal(time_parse_rfc3339(out, &back), 0);
        assert_int_equal(back, ms);
    }
}

static void test_leap_years(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), 951782400000LL);
    assert_int_equal(time_parse_rfc3339("2023-02-29T00:00:00Z", &ms), -1);
    assert_int_equal(time_parse_rfc3339("1900-02-29T00:00:00Z", &ms), -1);
    assert_int_equal(time_parse_rfc3339("2100-02-29T00:00:00Z", &ms), -1);
    assert_int_equal(time_parse_rfc3339("2024-02-30T00:00:00Z", &ms), -1);
    assert_int_equal(time_parse_rfc3339("2024-04-31T00:00:00Z", &ms), -1);
    assert_int_equal(time_parse_rfc3339("2024-12-32T00:00:00Z", &ms), -1);
    /* The day after Feb 28 in a common year is Mar 1. */
    assert_int_equal(parse_ok("2023-03-01T00:00:00Z") - parse_ok("2023-02-28T00:00:00Z"), 86400000);
    assert_int_equal(parse_ok("2024-03-01T00:00:00Z") - parse_ok("2024-02-28T00:00:00Z"),
                     2 * 86400000);
}

static void test_offsets_and_fractions(void **state)
{
    (void)state;
    int64_t utc = parse_ok("2024-01-01T00:00:00Z");
    assert_int_equal(parse_ok("2024-01-01T05:30:00+05:30"), utc);
    assert_int_equal(parse_ok("2023-12-31T16:00:00-08:00"), utc);
    assert_int_equal(parse_ok("2024-01-01T00:00:00+00:00"), utc);
    assert_int_equal(parse_ok("2024-01-01T00:00:00-00:00"), utc);
    assert_int_equal(parse_ok("2024-01-01t00:00:00z"), utc);
    assert_int_equal(parse_ok("2024-01-01T00:00:00.1Z"), utc + 100);
    assert_int_equal(parse_ok("2024-01-01T00:00:00.12Z"), utc + 120);
    assert_int_equal(parse_ok("2024-01-01T00:00:00.123Z"), utc + 123);
    /* Sub-millisecond digits are truncated, never rounded up into the next millisecond. */
    assert_int_equal(parse_ok("2024-01-01T00:00:00.123999999Z"), utc + 123);
    assert_int_equal(parse_ok("2024-01-01T05:30:00.5+05:30"), utc + 500);
    /* An offset can move the instant across a date boundary, even into the previous year. */
    assert_int_equal(parse_ok("2024-01-01T00:30:00+01:00"), utc - 30 * 60000);
}

static void test_rejects_invalid_inputs(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2024",
        "2024-01-01",
        "2024-01-01T00:00:00",   /* no offset */
        "2024-1-01T00:00:00Z",   /* one-digit month */
        "2024-01-01 00:00:00Z",  /* space instead of T */
        "2024-01-01T00:00:00Z ", /* trailing space */
        "2024-01-01T00:00:00Zjunk",
        " 2024-01-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z",  /* leap seconds are not accepted */
        "2024-01-01T00:00:00.Z", /* empty fraction */
        "2024-01-01T00:00:00,5Z",
        "2024-01-01T00:00:00+0530",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+05:60",
        "2024-01-01T00:00:00+5:30",
        "2024-01-01T00:00:00+05:30:00",
        "2024-01-01T00:00:00UTC",
        "+2024-01-01T00:00:00Z",
        "2024-01-01T00:00:0aZ",
        "2024/01/01T00:00:00Z",
        "tomorrow",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 777;
        if (time_parse_rfc3339(bad[i], &ms) != -1)
            fail_msg("expected \"%s\" to be rejected", bad[i]);
        assert_int_equal(ms, 777); /* untouched on failure */
    }
    int64_t ms;
    assert_int_equal(time_parse_rfc3339(NULL, &ms), -1);
}

static void test_clocks(void **state)
{
    (void)state;
    /* After 2020-01-01 and before 2100-01-01. */
    int64_t now = time_now_ms();
    assert_true(now > 1577836800000LL);
    assert_true(now < 4102444800000LL);
    int64_t a = time_mono_ns();
    int64_t b = time_mono_ns();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_instants),
        cmocka_unit_test(test_format_clamps_to_four_digit_years),
        cmocka_unit_test(test_parse_known_instants),
        cmocka_unit_test(test_round_trip_across_the_range),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_offsets_and_fractions),
        cmocka_unit_test(test_rejects_invalid_inputs),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
