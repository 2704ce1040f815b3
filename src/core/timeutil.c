/* Clocks and RFC 3339. Conversion between civil dates and days since the epoch is pure integer
 * arithmetic (Howard Hinnant's days_from_civil), so nothing depends on TZ, the locale or
 * timegm. Years are limited to 0000-9999, the range the four-digit format can express. */
#include "core/timeutil.h"

#include <time.h>

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in ms since the epoch. */
#define RFC3339_MIN_MS (-62167219200000LL)
#define RFC3339_MAX_MS (253402300799999LL)

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d);
static int is_leap(int64_t y);
static int days_in_month(int64_t y, int m);
static void put_digits(char *out, int64_t v, int width);
static int read_digits(const char *s, int width, int *out);

int64_t time_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && is_leap(y))
        return 29;
    return days[m - 1];
}

int64_t time_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (m + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *out, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void time_format_rfc3339(int64_t ms, char out[RFC3339_LEN])
{
    /* Clamped so the output always fits the fixed-width buffer. */
    if (ms < RFC3339_MIN_MS)
        ms = RFC3339_MIN_MS;
    if (ms > RFC3339_MAX_MS)
        ms = RFC3339_MAX_MS;
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    if (rem < 0) { /* floor division for instants before 1970 */
        rem += 86400000;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    put_digits(out, y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = 'T';
    put_digits(out + 11, rem / 3600000, 2);
    out[13] = ':';
    put_digits(out + 14, rem / 60000 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, rem / 1000 % 60, 2);
    out[19] = '.';
    put_digits(out + 20, rem % 1000, 3);
    out[23] = 'Z';
    out[24] = '\0';
}

/* Exactly width ASCII digits; 0 if any is missing. */
static int read_digits(const char *s, int width, int *out)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Accepts exactly date-time of RFC 3339 section 5.6: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
 * with 't'/'z' allowed in lower case. Leap seconds (:60) are rejected: nothing in the system
 * produces them and accepting them would make two strings map to one instant. Fractions longer
 * than milliseconds are truncated, never rounded, so parsing keeps the order of instants. */
int time_parse_rfc3339(const char *s, int64_t *ms)
{
    if (!s)
        return -1;
    int year, mon, day, hour, min, sec;
    if (!read_digits(s, 4, &year) || s[4] != '-' || !read_digits(s + 5, 2, &mon) || s[7] != '-' ||
        !read_digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
        !read_digits(s + 11, 2, &hour) || s[13] != ':' || !read_digits(s + 14, 2, &min) ||
        s[16] != ':' || !read_digits(s + 17, 2, &sec))
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 ||
        sec > 59)
        return -1;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!read_digits(p + 1, 2, &oh) || p[3] != ':' || !read_digits(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t days = time_days_from_civil(year, mon, day);
    int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - (int64_t)offset_min * 60;
    if (ms)
        *ms = secs * 1000 + frac_ms;
    return 0;
}
