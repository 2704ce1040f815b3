/* Opaque secrets handed to clients (refresh tokens, email links): 256 random bits, base64url,
 * stored only as their SHA-256 so a database leak reveals no usable token. */
#ifndef PRAXIS_SERVICES_USERS_TOKENS_H
#define PRAXIS_SERVICES_USERS_TOKENS_H

#include "core/common.h"

#define TOKEN_STR_LEN 44  /* 43 base64url chars + NUL */
#define TOKEN_HASH_LEN 65 /* sha256 hex + NUL */

void token_new(char out[TOKEN_STR_LEN]);
/* -1 when the input cannot be a token we issued (wrong length or alphabet). */
int token_hash(const char *token, char out[TOKEN_HASH_LEN]) WUR;

#endif
