/* Access tokens: JWT HS256 signed with libjwt. Verification pins HS256 before libjwt sees the
 * token (alg "none", RS256, anything else is rejected), looks the key up by `kid` among every
 * configured key (the first signs, all verify: rotation without logging everybody out) and
 * checks iss, aud, exp, iat, sub, role and jti. */
#ifndef PRAXIS_SERVICES_USERS_JWT_H
#define PRAXIS_SERVICES_USERS_JWT_H

#include "core/common.h"
#include "core/ids.h"
#include <stdint.h>

typedef struct jwt_keyring jwt_keyring;

typedef struct access_claims {
    char sub[UUID_STR_LEN];  /* user id */
    char sid[UUID_STR_LEN];  /* refresh-token family the token was issued with ("" if none) */
    char jti[UUID_STR_LEN];
    unsigned role;           /* ROLE_* */
    int64_t iat, exp;
} access_claims;

/* secrets: "kid:secret,…" (JWT_SECRETS) or NULL to use single_secret under kid "default". */
jwt_keyring *jwt_keyring_new(const char *secrets, const char *single_secret, const char *issuer,
                             const char *audience, char *err, size_t errlen);
void jwt_keyring_free(jwt_keyring *k);

/* Issues a token valid for ttl_s from now_s. *token is malloc'd. */
int jwt_issue(const jwt_keyring *k, const char *user_id, unsigned role, const char *sid,
              int64_t now_s, int ttl_s, char **token) WUR;
/* 0 when valid at now_s (60 s leeway on iat only), -1 otherwise. */
int jwt_verify(const jwt_keyring *k, const char *token, int64_t now_s, access_claims *out) WUR;

/* "candidate" ↔ ROLE_CANDIDATE …; 0 / NULL when unknown. */
unsigned role_parse(const char *name);
const char *role_name(unsigned role);

#endif
