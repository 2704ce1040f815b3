/* JWT HS256 access tokens over libjwt, with the header checked by us first. */
#include "services/users/jwt.h"

#include "core/errors.h"
#include "http/router.h"

#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_MAX_LEN 4096
#define MAX_KEYS 8

typedef struct {
    char kid[33];
    unsigned char *secret;
    size_t len;
} jwt_key;

struct jwt_keyring {
    jwt_key keys[MAX_KEYS];
    size_t n;
    char *issuer;
    char *audience;
};

static const struct {
    unsigned role;
    const char *name;
} roles[] = {{ROLE_CANDIDATE, "candidate"}, {ROLE_TUTOR, "tutor"}, {ROLE_ADMIN, "admin"}};

unsigned role_parse(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_LEN(roles); i++)
        if (strcmp(name, roles[i].name) == 0)
            return roles[i].role;
    return 0;
}

const char *role_name(unsigned role)
{
    for (size_t i = 0; i < ARRAY_LEN(roles); i++)
        if (roles[i].role == role)
            return roles[i].name;
    return NULL;
}

static int add_key(jwt_keyring *k, const char *kid, size_t kidlen, const char *secret,
                   size_t len)
{
    if (k->n == MAX_KEYS || kidlen == 0 || kidlen >= sizeof(k->keys[0].kid) || len == 0)
        return -1;
    jwt_key *key = &k->keys[k->n];
    memcpy(key->kid, kid, kidlen);
    key->kid[kidlen] = '\0';
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, key->kid) == 0)
            return -1;
    key->secret = malloc(len);
    if (!key->secret)
        return -1;
    memcpy(key->secret, secret, len);
    key->len = len;
    k->n++;
    return 0;
}

jwt_keyring *jwt_keyring_new(const char *secrets, const char *single_secret, const char *issuer,
                             const char *audience, char *err, size_t errlen)
{
    jwt_keyring *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->issuer = strdup(issuer);
    k->audience = strdup(audience);
    if (!k->issuer || !k->audience)
        goto fail;
    if (secrets && *secrets) {
        const char *p = secrets;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            const char *colon = memchr(p, ':', n);
            if (!colon || add_key(k, p, (size_t)(colon - p), colon + 1,
                                  n - (size_t)(colon - p) - 1) != 0) {
                err_set(err, errlen, "JWT_SECRETS: malformed, duplicate kid, or more than %d keys",
                        MAX_KEYS);
                goto fail;
            }
            p += n;
            if (*p == ',')
                p++;
        }
    } else if (single_secret && *single_secret) {
        if (add_key(k, "default", 7, single_secret, strlen(single_secret)) != 0)
            goto fail;
    } else {
        err_set(err, errlen, "JWT_SECRET: no signing key configured");
        goto fail;
    }
    return k;
fail:
    jwt_keyring_free(k);
    return NULL;
}

void jwt_keyring_free(jwt_keyring *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        sodium_memzero(k->keys[i].secret, k->keys[i].len);
        free(k->keys[i].secret);
    }
    free(k->issuer);
    free(k->audience);
    free(k);
}

int jwt_issue(const jwt_keyring *k, const char *user_id, unsigned role, const char *sid,
              int64_t now_s, int ttl_s, char **token)
{
    *token = NULL;
    const char *rname = role_name(role);
    if (!rname || k->n == 0)
        return -1;
    char jti[UUID_STR_LEN];
    id_uuid7(jti);
    jwt_t *j = NULL;
    int rc = jwt_new(&j);
    if (rc == 0)
        rc = jwt_set_alg(j, JWT_ALG_HS256, k->keys[0].secret, (int)k->keys[0].len);
    if (rc == 0)
        rc = jwt_add_header(j, "kid", k->keys[0].kid);
    if (rc == 0)
        rc = jwt_add_grant(j, "sub", user_id);
    if (rc == 0)
        rc = jwt_add_grant(j, "role", rname);
    if (rc == 0)
        rc = jwt_add_grant(j, "iss", k->issuer);
    if (rc == 0)
        rc = jwt_add_grant(j, "aud", k->audience);
    if (rc == 0)
        rc = jwt_add_grant(j, "jti", jti);
    if (rc == 0 && sid && *sid)
        rc = jwt_add_grant(j, "sid", sid);
    if (rc == 0)
        rc = jwt_add_grant_int(j, "iat", (long)now_s);
    if (rc == 0)
        rc = jwt_add_grant_int(j, "exp", (long)(now_s + ttl_s));
    if (rc == 0)
        *token = jwt_encode_str(j);
    jwt_free(j);
    return *token ? 0 : -1;
}

/* Decodes the first segment and insists on {"alg":"HS256"} with a known kid. */
static const jwt_key *header_key(const jwt_keyring *k, const char *token, size_t hlen)
{
    unsigned char raw[512];
    size_t rawlen = 0;
    if (hlen == 0 || hlen > 600 ||
        sodium_base642bin(raw, sizeof(raw) - 1, token, hlen, NULL, &rawlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return NULL;
    json_error_t e;
    json_t *h = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(h)) {
        json_decref(h);
        return NULL;
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    json_t *typ = json_object_get(h, "typ");
    const jwt_key *found = NULL;
    if (alg && strcmp(alg, "HS256") == 0 && kid &&
        (!typ || (json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0)))
        for (size_t i = 0; i < k->n; i++)
            if (strcmp(k->keys[i].kid, kid) == 0)
                found = &k->keys[i];
    json_decref(h);
    return found;
}

static int copy_uuid(const char *v, char out[UUID_STR_LEN])
{
    if (!v || !id_is_uuid(v, strlen(v)))
        return -1;
    memcpy(out, v, UUID_STR_LEN - 1);
    out[UUID_STR_LEN - 1] = '\0';
    return 0;
}

int jwt_verify(const jwt_keyring *k, const char *token, int64_t now_s, access_claims *out)
{
    memset(out, 0, sizeof(*out));
    if (!token)
        return -1;
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    if (len == 0 || len > JWT_MAX_LEN)
        return -1;
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0')
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return -1;
    }
    const jwt_key *key = header_key(k, token, (size_t)(dot1 - token));
    if (!key)
        return -1;
    jwt_t *j = NULL;
    if (jwt_decode(&j, token, key->secret, (int)key->len) != 0 || !j)
        return -1;
    int rc = -1;
    if (jwt_get_alg(j) != JWT_ALG_HS256)
        goto out;
    const char *iss = jwt_get_grant(j, "iss");
    const char *aud = jwt_get_grant(j, "aud");
    if (!iss || strcmp(iss, k->issuer) != 0 || !aud || strcmp(aud, k->audience) != 0)
        goto out;
    long exp = jwt_get_grant_int(j, "exp");
    long iat = jwt_get_grant_int(j, "iat");
    if (exp <= 0 || iat <= 0 || now_s >= exp || iat > now_s + 60)
        goto out;
    out->role = role_parse(jwt_get_grant(j, "role"));
    if (!out->role || copy_uuid(jwt_get_grant(j, "sub"), out->sub) != 0 ||
        copy_uuid(jwt_get_grant(j, "jti"), out->jti) != 0)
        goto out;
    const char *sid = jwt_get_grant(j, "sid");
    if (sid && copy_uuid(sid, out->sid) != 0)
        goto out;
    out->iat = iat;
    out->exp = exp;
    rc = 0;
out:
    jwt_free(j);
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
