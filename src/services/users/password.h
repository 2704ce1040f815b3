/* Account credentials rules shared by registration, password change and the admin CLI:
 * email normalisation and the password policy, and Argon2id hashing through libsodium. */
#ifndef PRAXIS_SERVICES_USERS_PASSWORD_H
#define PRAXIS_SERVICES_USERS_PASSWORD_H

#include "core/common.h"
#include <sodium.h>

#define EMAIL_MAX 254
#define PASSWORD_MIN 10
#define PASSWORD_MAX 128

/* Trims, lower-cases and checks the shape local@domain.tld. out gets the normalised address.
 * On failure *why is a client-safe reason ("must be a valid email address"). */
int email_normalize(const char *in, char *out, size_t outlen, const char **why) WUR;
/* Length 10..128 characters (UTF-8 code points) and not the email itself. */
int password_check_policy(const char *password, const char *email, const char **why) WUR;
/* Argon2id, libsodium's interactive limits. out holds crypto_pwhash_STRBYTES. */
int password_hash(const char *password, char out[crypto_pwhash_STRBYTES]) WUR;
/* 0 when password matches hash. */
int password_verify(const char *hash, const char *password) WUR;

#endif
