/* Tests for sealed recordings: round trips across chunk boundaries, every way a sealed blob can
 * be wrong (key, owner, tampering, truncation, trailing bytes, magic) is refused with the output
 * left as it was, and DATA_KEY parsing in hex and both base64 alphabets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/seal.h"

#include <sodium.h>
#include <stdlib.h>

#define CHUNK 65536u
#define OVERHEAD_FIXED (4u + crypto_secretstream_xchacha20poly1305_HEADERBYTES)
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES

static const char OWNER[] = "0190a4c2-7d3e-7b1a-9c2f-3e4d5f6a7b8c";

static void make_key(uint8_t key[SEAL_KEY_BYTES], unsigned char seed_byte)
{
    unsigned char seed[randombytes_SEEDBYTES];
    memset(seed, seed_byte, sizeof(seed));
    randombytes_buf_deterministic(key, SEAL_KEY_BYTES, seed);
}

static unsigned char *make_plain(size_t n)
{
    unsigned char seed[randombytes_SEEDBYTES] = {7};
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    randombytes_buf_deterministic(p, n, seed);
    return p;
}

/* Seals n bytes with OWNER as additional data into a fresh buffer. */
static buf seal_n(const uint8_t key[SEAL_KEY_BYTES], const unsigned char *plain, size_t n)
{
    buf s;
    buf_init(&s, 4u << 20);
    assert_int_equal(seal_encrypt(key, OWNER, strlen(OWNER), plain, n, &s), 0);
    return s;
}

/* Decrypting must fail and leave out exactly as it was ("keep" as its contents). */
static void assert_refused(const uint8_t key[SEAL_KEY_BYTES], const void *ad, size_t adlen,
                           const void *sealed, size_t len)
{
    buf out;
    buf_init(&out, 4u << 20);
    assert_int_equal(buf_puts(&out, "keep"), BUF_OK);
    assert_int_equal(seal_decrypt(key, ad, adlen, sealed, len, &out), -1);
    assert_int_equal(out.len, 4);
    assert_string_equal(out.ptr, "keep");
    buf_free(&out);
}

static void test_round_trips_across_chunk_boundaries(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 1u << 20};
    uint8_t key[SEAL_KEY_BYTES];
    make_key(key, 1);
    for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        unsigned char *plain = make_plain(n);
        buf s = seal_n(key, plain, n);
        size_t chunks = n == 0 ? 1 : (n + CHUNK - 1) / CHUNK;
        assert_int_equal(s.len, OVERHEAD_FIXED + chunks * ABYTES + n);
        assert_memory_equal(s.ptr, "PXS1", 4);

        buf out;
        buf_init(&out, 4u << 20);
        assert_int_equal(buf_puts(&out, "prefix:"), BUF_OK);
        assert_int_equal(seal_decrypt(key, OWNER, strlen(OWNER), s.ptr, s.len, &out), 0);
        assert_int_equal(out.len, 7 + n);
        assert_memory_equal(out.ptr, "prefix:", 7);
        if (n)
            assert_memory_equal(out.ptr + 7, plain, n);
        buf_free(&out);
        buf_free(&s);
        free(plain);
    }
}

static void test_no_additional_data_and_fresh_nonces(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    make_key(key, 2);
    buf a, b, out;
    buf_init(&a, 1024);
    buf_init(&b, 1024);
    buf_init(&out, 1024);
    assert_int_equal(seal_encrypt(key, NULL, 0, "same words", 10, &a), 0);
    assert_int_equal(seal_encrypt(key, NULL, 0, "same words", 10, &b), 0);
    /* A random header per blob: equal recordings do not give equal blobs. */
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.ptr, b.ptr, a.len);
    assert_int_equal(seal_decrypt(key, NULL, 0, a.ptr, a.len, &out), 0);
    assert_string_equal(out.ptr, "same words");
    /* Sealed without an owner, it does not open for one (and the reverse). */
    assert_refused(key, OWNER, strlen(OWNER), a.ptr, a.len);
    buf_free(&a);
    buf_free(&b);
    buf_free(&out);

    unsigned char plain[] = "x";
    buf s = seal_n(key, plain, 1);
    assert_refused(key, NULL, 0, s.ptr, s.len);
    buf_free(&s);
}

static void test_wrong_key_or_owner_is_refused(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES], other[SEAL_KEY_BYTES];
    make_key(key, 3);
    make_key(other, 4);
    unsigned char *plain = make_plain(CHUNK + 100);
    buf s = seal_n(key, plain, CHUNK + 100);
    assert_refused(other, OWNER, strlen(OWNER), s.ptr, s.len);
    static const char OTHER_OWNER[] = "0190a4c2-7d3e-7b1a-9c2f-3e4d5f6a7b8d";
    assert_refused(key, OTHER_OWNER, strlen(OTHER_OWNER), s.ptr, s.len);
    assert_refused(key, OWNER, strlen(OWNER) - 1, s.ptr, s.len);
    buf_free(&s);
    free(plain);
}

static void test_tampering_anywhere_is_refused(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    make_key(key, 5);
    size_t n = CHUNK + 1000;
    unsigned char *plain = make_plain(n);
    buf s = seal_n(key, plain, n);
    size_t first_chunk = OVERHEAD_FIXED, second_chunk = OVERHEAD_FIXED + CHUNK + ABYTES;
    const size_t spots[] = {0,
                            3,
                            4,
                            OVERHEAD_FIXED - 1,
                            first_chunk,
                            first_chunk + 1,
                            first_chunk + 5000,
                            second_chunk - 1,
                            second_chunk,
                            second_chunk + 500,
                            s.len - 1};
    for (size_t i = 0; i < ARRAY_LEN(spots); i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            s.ptr[spots[i]] = (char)(s.ptr[spots[i]] ^ (1 << bit));
            assert_refused(key, OWNER, strlen(OWNER), s.ptr, s.len);
            s.ptr[spots[i]] = (char)(s.ptr[spots[i]] ^ (1 << bit));
        }
    }
    /* Unmodified it still opens: the loop above restored every byte. */
    buf out;
    buf_init(&out, 4u << 20);
    assert_int_equal(seal_decrypt(key, OWNER, strlen(OWNER), s.ptr, s.len, &out), 0);
    assert_memory_equal(out.ptr, plain, n);
    buf_free(&out);
    buf_free(&s);
    free(plain);
}

static void test_truncation_trailing_bytes_and_magic(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    make_key(key, 6);
    size_t n = 2 * CHUNK + 10;
    unsigned char *plain = make_plain(n);
    buf s = seal_n(key, plain, n);
    const char *ad = OWNER;
    size_t adlen = strlen(OWNER);

    /* Cut at each chunk boundary: every chunk left is authentic, only FINAL is missing. */
    assert_refused(key, ad, adlen, s.ptr, OVERHEAD_FIXED + CHUNK + ABYTES);
    assert_refused(key, ad, adlen, s.ptr, OVERHEAD_FIXED + 2 * (CHUNK + ABYTES));
    assert_refused(key, ad, adlen, s.ptr, OVERHEAD_FIXED);
    assert_refused(key, ad, adlen, s.ptr, s.len - 1);
    assert_refused(key, ad, adlen, s.ptr, 10);
    assert_refused(key, ad, adlen, s.ptr, 0);

    /* Anything after the FINAL chunk. */
    buf longer;
    buf_init(&longer, 4u << 20);
    assert_int_equal(buf_append(&longer, s.ptr, s.len), BUF_OK);
    assert_int_equal(buf_append(&longer, "\0", 1), BUF_OK);
    assert_refused(key, ad, adlen, longer.ptr, longer.len);
    /* ... including a second complete sealed blob. */
    buf again = seal_n(key, plain, 1);
    buf_reset(&longer);
    assert_int_equal(buf_append(&longer, s.ptr, s.len), BUF_OK);
    assert_int_equal(buf_append(&longer, again.ptr, again.len), BUF_OK);
    assert_refused(key, ad, adlen, longer.ptr, longer.len);

    /* A FINAL chunk that is full-size: the trailing bytes cannot hide in it. */
    unsigned char *full = make_plain(CHUNK);
    buf exact = seal_n(key, full, CHUNK);
    buf_reset(&longer);
    assert_int_equal(buf_append(&longer, exact.ptr, exact.len), BUF_OK);
    assert_int_equal(buf_append(&longer, "junk", 4), BUF_OK);
    assert_refused(key, ad, adlen, longer.ptr, longer.len);
    assert_int_equal(buf_append(&longer, again.ptr, again.len), BUF_OK);
    assert_refused(key, ad, adlen, longer.ptr, longer.len);
    buf_free(&exact);
    free(full);

    /* Chunks in another order. */
    buf_reset(&longer);
    size_t c = CHUNK + ABYTES;
    assert_int_equal(buf_append(&longer, s.ptr, OVERHEAD_FIXED), BUF_OK);
    assert_int_equal(buf_append(&longer, s.ptr + OVERHEAD_FIXED + c, c), BUF_OK);
    assert_int_equal(buf_append(&longer, s.ptr + OVERHEAD_FIXED, c), BUF_OK);
    assert_int_equal(
        buf_append(&longer, s.ptr + OVERHEAD_FIXED + 2 * c, s.len - OVERHEAD_FIXED - 2 * c),
        BUF_OK);
    assert_int_equal(longer.len, s.len);
    assert_refused(key, ad, adlen, longer.ptr, longer.len);

    /* Another format version, or not a sealed blob at all. */
    s.ptr[3] = '2';
    assert_refused(key, ad, adlen, s.ptr, s.len);
    assert_refused(key, ad, adlen, "RIFF....WAVEfmt ", 16);

    buf_free(&again);
    buf_free(&longer);
    buf_free(&s);
    free(plain);
}

static void test_output_cap_is_respected(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    make_key(key, 8);
    unsigned char *plain = make_plain(1000);
    buf small;
    buf_init(&small, 1000); /* too small for 1000 bytes plus the overhead */
    assert_int_equal(buf_puts(&small, "keep"), BUF_OK);
    assert_int_equal(seal_encrypt(key, NULL, 0, plain, 1000, &small), -1);
    assert_int_equal(small.len, 4);
    assert_string_equal(small.ptr, "keep");

    buf s;
    buf_init(&s, 2000);
    assert_int_equal(seal_encrypt(key, NULL, 0, plain, 1000, &s), 0);
    buf_reset(&small);
    small.max = 999;
    assert_int_equal(seal_decrypt(key, NULL, 0, s.ptr, s.len, &small), -1);
    assert_int_equal(small.len, 0);
    small.max = 1000;
    assert_int_equal(seal_decrypt(key, NULL, 0, s.ptr, s.len, &small), 0);
    assert_memory_equal(small.ptr, plain, 1000);
    buf_free(&s);
    buf_free(&small);
    free(plain);
}

static void test_key_parse_hex_and_base64(void **state)
{
    (void)state;
    uint8_t want[SEAL_KEY_BYTES], key[SEAL_KEY_BYTES];
    for (size_t i = 0; i < SEAL_KEY_BYTES; i++)
        want[i] = (uint8_t)i;
    static const char *const good[] = {
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        memset(key, 0xAA, sizeof(key));
        assert_int_equal(seal_key_parse(good[i], key), 0);
        assert_memory_equal(key, want, SEAL_KEY_BYTES);
    }

    /* A key whose base64 uses the characters the two alphabets disagree on. */
    uint8_t want2[SEAL_KEY_BYTES];
    for (size_t i = 0; i < 30; i++)
        want2[i] = (uint8_t[]){0xfb, 0xef, 0xff}[i % 3];
    want2[30] = 0xfe;
    want2[31] = 0xff;
    static const char *const good2[] = {
        "++//++//++//++//++//++//++//++//++//++///v8=",
        "--__--__--__--__--__--__--__--__--__--___v8=",
        "--__--__--__--__--__--__--__--__--__--___v8",
        "fbeffffbeffffbeffffbeffffbeffffbeffffbeffffbeffffbeffffbeffffeff",
    };
    for (size_t i = 0; i < ARRAY_LEN(good2); i++) {
        memset(key, 0, sizeof(key));
        assert_int_equal(seal_key_parse(good2[i], key), 0);
        assert_memory_equal(key, want2, SEAL_KEY_BYTES);
    }

    static const char *const bad[] = {
        "",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",   /* 63 */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0", /* 65 */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",    /* 31 bytes */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
        "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1",
        " 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", /* 31 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", /* 33 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8*",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",
        "++//++//++//++//++//++//++//++//++//++//_v8=", /* mixed alphabets */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "correct horse battery staple",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memset(key, 0x55, sizeof(key));
        assert_int_equal(seal_key_parse(bad[i], key), -1);
        for (size_t j = 0; j < SEAL_KEY_BYTES; j++)
            assert_int_equal(key[j], 0x55); /* untouched on failure */
    }
    assert_int_equal(seal_key_parse(NULL, key), -1);
}

static void test_parsed_key_seals_and_opens(void **state)
{
    (void)state;
    uint8_t a[SEAL_KEY_BYTES], b[SEAL_KEY_BYTES];
    assert_int_equal(
        seal_key_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", a), 0);
    assert_int_equal(seal_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", b), 0);
    buf s, out;
    buf_init(&s, 1024);
    buf_init(&out, 1024);
    assert_int_equal(seal_encrypt(a, OWNER, strlen(OWNER), "hello", 5, &s), 0);
    assert_int_equal(seal_decrypt(b, OWNER, strlen(OWNER), s.ptr, s.len, &out), 0);
    assert_string_equal(out.ptr, "hello");
    buf_free(&s);
    buf_free(&out);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips_across_chunk_boundaries),
        cmocka_unit_test(test_no_additional_data_and_fresh_nonces),
        cmocka_unit_test(test_wrong_key_or_owner_is_refused),
        cmocka_unit_test(test_tampering_anywhere_is_refused),
        cmocka_unit_test(test_truncation_trailing_bytes_and_magic),
        cmocka_unit_test(test_output_cap_is_respected),
        cmocka_unit_test(test_key_parse_hex_and_base64),
        cmocka_unit_test(test_parsed_key_seals_and_opens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
