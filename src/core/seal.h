/* Recordings encrypted at rest: libsodium secretstream (XChaCha20-Poly1305) in 64 KiB chunks,
 * with caller-supplied additional data bound to every chunk. */
#ifndef PRAXIS_CORE_SEAL_H
#define PRAXIS_CORE_SEAL_H

#include "core/buf.h"
#include "core/common.h"

#include <stdint.h>

#define SEAL_KEY_BYTES 32

/* DATA_KEY text: 64 hex characters or standard/url-safe base64 of 32 bytes (padded or not),
 * nothing else around it. Writes key only on success. 0 or -1. */
int seal_key_parse(const char *text, uint8_t key[SEAL_KEY_BYTES]) WUR;

/* Appends the sealed form of plain to out: a 4-byte magic/version "PXS1", the secretstream
 * header, then 64 KiB chunks, the last tagged FINAL (an empty plain is one empty FINAL chunk).
 * ad (may be NULL/0) is bound to every chunk as additional data (callers pass the owner id so a
 * blob cannot be moved to another user). 0, or -1 with out as it was (out->max too small,
 * no memory). */
int seal_encrypt(const uint8_t key[SEAL_KEY_BYTES], const void *ad, size_t adlen, const void *plain,
                 size_t len, buf *out) WUR;

/* Reverses seal_encrypt and appends the plain bytes to out. -1 on wrong key, wrong ad,
 * tampering, truncation (missing FINAL), trailing bytes, bad magic, or out->max too small;
 * out is then as it was (partly decrypted bytes left in its memory are wiped). 0 on success. */
int seal_decrypt(const uint8_t key[SEAL_KEY_BYTES], const void *ad, size_t adlen,
                 const void *sealed, size_t len, buf *out) WUR;

#endif
