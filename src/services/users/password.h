/* Account credentials rules shared by registration, password change and the admin CLI: the
 * password policy and Argon2id hashing through libsodium. */
#ifndef PRAXIS_SERVICES_USERS_PASSWORD_H
#define PRAXIS_SERVICES_USERS_PASSWORD_H

#include "core/common.h"
#include "core/email.h"
#include <sodium.h>

#define PASSWORD_MIN 10
#define PASSWORD_MAX 128

/* Length 10..128 characters (UTF-8 code points), not the email itself, not a common password. */
int password_check_policy(const char *password, const char *email, const char **why) WUR;
/* 1 if password (case-insensitively) is one of the 10,000 most common passwords shipped in
 * data/common-passwords.txt (compiled in). */
int password_is_common(const char *password);
/* Argon2id, libsodium's interactive limits. out holds crypto_pwhash_STRBYTES. */
int password_hash(const char *password, char out[crypto_pwhash_STRBYTES]) WUR;
/* 0 when password matches hash. */
int password_verify(const char *hash, const char *password) WUR;
/* 1 when hash was made with other parameters than password_hash uses now (rehash on login). */
int password_needs_rehash(const char *hash);
/* Spends the time of one verification against a fixed hash: login with an unknown email must
 * cost what a wrong password costs, or response times tell which emails have accounts. */
void password_burn_time(const char *password);

#endif
