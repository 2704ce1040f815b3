/* UUIDv7 (RFC 9562 section 5.7) with the 12-bit rand_a field used as a counter (method 1 of
 * section 6.2), so ids made in the same millisecond still sort in creation order. When the
 * counter runs out, or the wall clock steps back, the timestamp is advanced past the last one
 * used instead: ids stay strictly increasing within the process. */
#include "core/ids.h"

#include "core/timeutil.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t ids_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t ids_last_ms = -1;
static unsigned int ids_counter; /* the rand_a of the last id, 12 bits */

static void ids_sodium_init(void);

static void ids_sodium_init(void)
{
    /* Without a working CSPRNG every id and token would be guessable: refuse to go on. */
    if (sodium_init() < 0) {
        (void)fputs("praxis: libsodium failed to initialise\n", stderr);
        abort();
    }
}

void id_uuid7(char out[UUID_STR_LEN])
{
    if (pthread_once(&ids_once, ids_sodium_init) != 0)
        abort();
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));

    if (pthread_mutex_lock(&ids_lock) != 0)
        abort(); /* only fails on a corrupted mutex; monotonicity cannot be kept without it */
    int64_t now = time_now_ms();
    if (now < 0)
        now = 0;
    int64_t ms;
    unsigned int counter;
    if (now > ids_last_ms) {
        ms = now;
        /* A fresh random start with the top bit clear leaves at least 2048 increments before
         * the counter overflows into the next millisecond. */
        counter = ((unsigned int)b[6] << 8 | b[7]) & 0x7FFu;
    } else if (ids_counter < 0xFFFu) {
        ms = ids_last_ms;
        counter = ids_counter + 1;
    } else {
        ms = ids_last_ms + 1;
        counter = ((unsigned int)b[6] << 8 | b[7]) & 0x7FFu;
    }
    ids_last_ms = ms;
    ids_counter = counter;
    (void)pthread_mutex_unlock(&ids_lock);

    uint64_t ts = (uint64_t)ms & 0xFFFFFFFFFFFFull;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ts >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70u | (counter >> 8));
    b[7] = (unsigned char)(counter & 0xFFu);
    b[8] = (unsigned char)(0x80u | (b[8] & 0x3Fu));

    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0F];
    }
    out[o] = '\0';
}

/* Hex digits are accepted in either case: RFC 9562 says they are case-insensitive on input. */
int id_is_uuid(const char *s, size_t len)
{
    if (!s || len != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
