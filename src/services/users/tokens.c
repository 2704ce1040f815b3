/* Opaque token generation and hashing (libsodium). */
#include "services/users/tokens.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void token_new(char out[TOKEN_STR_LEN])
{
    unsigned char raw[32];
    if (sodium_init() < 0)
        abort();
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, TOKEN_STR_LEN, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

int token_hash(const char *token, char out[TOKEN_HASH_LEN])
{
    if (!token || strlen(token) != TOKEN_STR_LEN - 1)
        return -1;
    for (const char *p = token; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return -1;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, TOKEN_STR_LEN - 1);
    sodium_bin2hex(out, TOKEN_HASH_LEN, h, sizeof(h));
    return 0;
}
