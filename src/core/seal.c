/* Sealing recordings at rest. Format: "PXS1" | secretstream header | chunks, where every chunk
 * but the last holds exactly SEAL_CHUNK plain bytes, so chunk boundaries need no length fields:
 * the reader takes min(rest, SEAL_CHUNK + ABYTES) each time. The FINAL tag on the last chunk is
 * what makes truncation at a chunk boundary detectable. */
#include "core/seal.h"

#include <sodium.h>
#include <stdlib.h>

#define SEAL_MAGIC "PXS1"
#define SEAL_MAGIC_LEN ((size_t)4)
#define SEAL_CHUNK ((size_t)65536)
#define SEAL_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SEAL_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES

static size_t sealed_size(size_t len);
static void out_rollback(buf *out, size_t len, int wipe);

int seal_key_parse(const char *text, uint8_t key[SEAL_KEY_BYTES])
{
    if (!text)
        return -1;
    size_t n = strlen(text);
    unsigned char tmp[SEAL_KEY_BYTES];
    size_t got = 0;
    int ok = 0;
    if (n == (size_t)2 * SEAL_KEY_BYTES) {
        /* NULL end pointer: libsodium fails unless every character was a hex digit. */
        ok = sodium_hex2bin(tmp, sizeof(tmp), text, n, NULL, &got, NULL) == 0 &&
             got == SEAL_KEY_BYTES;
    } else {
        static const int variants[] = {
            sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
            sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
        for (size_t i = 0; i < ARRAY_LEN(variants) && !ok; i++)
            ok = sodium_base642bin(tmp, sizeof(tmp), text, n, NULL, &got, NULL, variants[i]) == 0 &&
                 got == SEAL_KEY_BYTES;
    }
    if (ok)
        memcpy(key, tmp, SEAL_KEY_BYTES);
    sodium_memzero(tmp, sizeof(tmp));
    return ok ? 0 : -1;
}

/* Bytes seal_encrypt produces for len plain bytes, or SIZE_MAX when that does not fit. */
static size_t sealed_size(size_t len)
{
    size_t chunks = len == 0 ? 1 : len / SEAL_CHUNK + (len % SEAL_CHUNK != 0);
    size_t fixed = SEAL_MAGIC_LEN + SEAL_HEADER;
    if (chunks > (SIZE_MAX - fixed) / SEAL_ABYTES)
        return SIZE_MAX;
    size_t over = fixed + chunks * SEAL_ABYTES;
    return len > SIZE_MAX - over ? SIZE_MAX : over + len;
}

/* Puts out back to len bytes; wipe clears what was appended (decrypted plain text). */
static void out_rollback(buf *out, size_t len, int wipe)
{
    if (!out->ptr)
        return;
    if (wipe && out->len > len)
        sodium_memzero(out->ptr + len, out->len - len);
    out->len = len;
    out->ptr[len] = '\0';
}

int seal_encrypt(const uint8_t key[SEAL_KEY_BYTES], const void *ad, size_t adlen, const void *plain,
                 size_t len, buf *out)
{
    if ((!ad && adlen) || (!plain && len) || out->len > out->max)
        return -1;
    size_t need = sealed_size(len);
    if (need == SIZE_MAX || need > out->max - out->len || sodium_init() < 0)
        return -1;
    unsigned char *chunk = malloc(SEAL_CHUNK + SEAL_ABYTES);
    if (!chunk)
        return -1;

    size_t orig = out->len;
    int rc = -1;
    crypto_secretstream_xchacha20poly1305_state st;
    unsigned char header[SEAL_HEADER];
    crypto_secretstream_xchacha20poly1305_init_push(&st, header, key);
    if (buf_append(out, SEAL_MAGIC, SEAL_MAGIC_LEN) || buf_append(out, header, sizeof(header)))
        goto out;
    const unsigned char *p = plain;
    size_t rest = len;
    do {
        size_t n = rest < SEAL_CHUNK ? rest : SEAL_CHUNK;
        unsigned char tag = n == rest ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                      : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
        unsigned long long clen = 0;
        if (crypto_secretstream_xchacha20poly1305_push(&st, chunk, &clen, p, n, ad, adlen, tag) !=
                0 ||
            buf_append(out, chunk, (size_t)clen))
            goto out;
        if (n) /* plain may be NULL when len == 0 */
            p += n;
        rest -= n;
    } while (rest > 0);
    rc = 0;
out:
    if (rc)
        out_rollback(out, orig, 0);
    sodium_memzero(&st, sizeof(st));
    free(chunk);
    return rc;
}

int seal_decrypt(const uint8_t key[SEAL_KEY_BYTES], const void *ad, size_t adlen,
                 const void *sealed, size_t len, buf *out)
{
    if ((!ad && adlen) || !sealed || out->len > out->max)
        return -1;
    const unsigned char *p = sealed;
    if (len < SEAL_MAGIC_LEN + SEAL_HEADER + SEAL_ABYTES ||
        memcmp(p, SEAL_MAGIC, SEAL_MAGIC_LEN) != 0 || sodium_init() < 0)
        return -1;
    unsigned char *chunk = malloc(SEAL_CHUNK + SEAL_ABYTES);
    if (!chunk)
        return -1;

    size_t orig = out->len;
    int rc = -1;
    crypto_secretstream_xchacha20poly1305_state st;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&st, p + SEAL_MAGIC_LEN, key) != 0)
        goto out;
    p += SEAL_MAGIC_LEN + SEAL_HEADER;
    size_t rest = len - SEAL_MAGIC_LEN - SEAL_HEADER;
    for (;;) {
        /* Running out here means the FINAL chunk is missing: truncated. */
        if (rest < SEAL_ABYTES)
            goto out;
        size_t clen = rest < SEAL_CHUNK + SEAL_ABYTES ? rest : SEAL_CHUNK + SEAL_ABYTES;
        unsigned long long mlen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, chunk, &mlen, &tag, p, clen, ad,
                                                       adlen) != 0 ||
            buf_append(out, chunk, (size_t)mlen))
            goto out;
        p += clen;
        rest -= clen;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            if (rest != 0)
                goto out; /* trailing bytes after the authenticated end */
            break;
        }
        if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
            goto out; /* seal_encrypt never writes PUSH or REKEY */
    }
    rc = 0;
out:
    if (rc)
        out_rollback(out, orig, 1);
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(chunk, SEAL_CHUNK + SEAL_ABYTES);
    free(chunk);
    return rc;
}
