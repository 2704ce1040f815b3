/* Access tokens: issue/verify round trip and every way a token must be refused. */
#include "services/users/jwt.h"

#include "http/router.h"
#include "services/users/tokens.h"

#include <jansson.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

static const char *const SECRET = "0123456789abcdef0123456789abcdef";
static const char *const USER = "0190f2a4-5c3b-7d2e-9f10-0123456789ab";
static const char *const SID = "0190f2a4-5c3b-7d2e-9f10-0123456789ac";
#define NOW 1800000000

static jwt_keyring *ring(const char *secrets)
{
    char err[128];
    jwt_keyring *k = jwt_keyring_new(secrets, SECRET, "oet-praxis", "oet-praxis-api", err,
                                     sizeof(err));
    assert_non_null(k);
    return k;
}

static void b64url(const void *in, size_t len, char *out, size_t outlen)
{
    sodium_bin2base64(out, outlen, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Builds header.payload.signature by hand: what an attacker can do. */
static char *forge(const char *header, const char *payload, const char *secret, int sign512)
{
    char h[512], p[1024], sig[128], *out = malloc(2048);
    b64url(header, strlen(header), h, sizeof(h));
    b64url(payload, strlen(payload), p, sizeof(p));
    char signing[1600];
    snprintf(signing, sizeof(signing), "%s.%s", h, p);
    sig[0] = '\0';
    if (secret) {
        if (sign512) {
            unsigned char mac[crypto_auth_hmacsha512_BYTES];
            crypto_auth_hmacsha512_state st;
            crypto_auth_hmacsha512_init(&st, (const unsigned char *)secret, strlen(secret));
            crypto_auth_hmacsha512_update(&st, (const unsigned char *)signing, strlen(signing));
            crypto_auth_hmacsha512_final(&st, mac);
            b64url(mac, sizeof(mac), sig, sizeof(sig));
        } else {
            unsigned char mac[crypto_auth_hmacsha256_BYTES];
            crypto_auth_hmacsha256_state st;
            crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
            crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
            crypto_auth_hmacsha256_final(&st, mac);
            b64url(mac, sizeof(mac), sig, sizeof(sig));
        }
    }
    snprintf(out, 2048, "%s.%s", signing, sig);
    return out;
}

static char *payload(const char *iss, const char *aud, const char *role, long iat, long exp)
{
    char *p = malloc(512);
    snprintf(p, 512,
             "{\"sub\":\"%s\",\"role\":\"%s\",\"iss\":\"%s\",\"aud\":\"%s\",\"jti\":\"%s\","
             "\"iat\":%ld,\"exp\":%ld}",
             USER, role, iss, aud, SID, iat, exp);
    return p;
}

static void test_round_trip(void **state)
{
    (void)state;
    jwt_keyring *k = ring(NULL);
    char *tok = NULL;
    assert_int_equal(jwt_issue(k, USER, ROLE_TUTOR, SID, NOW, 900, &tok), 0);
    access_claims c;
    assert_int_equal(jwt_verify(k, tok, NOW + 10, &c), 0);
    assert_string_equal(c.sub, USER);
    assert_string_equal(c.sid, SID);
    assert_int_equal(c.role, ROLE_TUTOR);
    assert_int_equal(c.exp - c.iat, 900);
    /* Expired exactly at exp. */
    assert_int_equal(jwt_verify(k, tok, NOW + 900, &c), -1);
    /* Issued in the future beyond the leeway. */
    assert_int_equal(jwt_verify(k, tok, NOW - 120, &c), -1);
    free(tok);
    jwt_keyring_free(k);
}

static void test_forgeries(void **state)
{
    (void)state;
    jwt_keyring *k = ring(NULL);
    access_claims c;
    char *pl = payload("oet-praxis", "oet-praxis-api", "admin", NOW, NOW + 900);
    char *good = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"default\"}", pl, SECRET, 0);
    assert_int_equal(jwt_verify(k, good, NOW, &c), 0); /* the forger knows the secret: valid */
    char *none = forge("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"default\"}", pl, NULL, 0);
    assert_int_equal(jwt_verify(k, none, NOW, &c), -1);
    char *hs512 = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"default\"}", pl, SECRET, 1);
    assert_int_equal(jwt_verify(k, hs512, NOW, &c), -1);
    char *badsig = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"default\"}", pl,
                         "another secret entirely, 32 bytes!", 0);
    assert_int_equal(jwt_verify(k, badsig, NOW, &c), -1);
    char *nokid = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", pl, SECRET, 0);
    assert_int_equal(jwt_verify(k, nokid, NOW, &c), -1);
    char *pl_iss = payload("someone-else", "oet-praxis-api", "admin", NOW, NOW + 900);
    char *bad_iss = forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", pl_iss, SECRET, 0);
    assert_int_equal(jwt_verify(k, bad_iss, NOW, &c), -1);
    char *pl_aud = payload("oet-praxis", "another-api", "admin", NOW, NOW + 900);
    char *bad_aud = forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", pl_aud, SECRET, 0);
    assert_int_equal(jwt_verify(k, bad_aud, NOW, &c), -1);
    char *pl_role = payload("oet-praxis", "oet-praxis-api", "superuser", NOW, NOW + 900);
    char *bad_role = forge("{\"alg\":\"HS256\",\"kid\":\"default\"}", pl_role, SECRET, 0);
    assert_int_equal(jwt_verify(k, bad_role, NOW, &c), -1);
    /* Tampering: swap the payload of a genuine token. */
    char *tok = NULL;
    assert_int_equal(jwt_issue(k, USER, ROLE_CANDIDATE, NULL, NOW, 900, &tok), 0);
    char *dot = strchr(tok, '.');
    char *dot2 = strchr(dot + 1, '.');
    char p64[1024], tampered[2048];
    b64url(pl, strlen(pl), p64, sizeof(p64));
    snprintf(tampered, sizeof(tampered), "%.*s.%s%s", (int)(dot - tok), tok, p64, dot2);
    assert_int_equal(jwt_verify(k, tampered, NOW, &c), -1);
    const char *garbage[] = {"", "a.b", "a.b.c.d", "....", "x.y.z", "eyJ.eyJ.", NULL};
    for (size_t i = 0; i < ARRAY_LEN(garbage); i++)
        assert_int_equal(jwt_verify(k, garbage[i], NOW, &c), -1);
    free(tok);
    free(pl), free(good), free(none), free(hs512), free(badsig), free(nokid);
    free(pl_iss), free(bad_iss), free(pl_aud), free(bad_aud), free(pl_role), free(bad_role);
    jwt_keyring_free(k);
}

static void test_rotation(void **state)
{
    (void)state;
    const char *s_new = "new-secret-new-secret-new-secret-!!";
    const char *s_old = "old-secret-old-secret-old-secret-!!";
    char spec[200];
    snprintf(spec, sizeof(spec), "new:%s,old:%s", s_new, s_old);
    jwt_keyring *k = ring(spec);
    access_claims c;
    char *tok = NULL;
    assert_int_equal(jwt_issue(k, USER, ROLE_ADMIN, NULL, NOW, 60, &tok), 0);
    assert_non_null(strstr(tok, "."));
    assert_int_equal(jwt_verify(k, tok, NOW, &c), 0);
    char *pl = payload("oet-praxis", "oet-praxis-api", "candidate", NOW, NOW + 900);
    char *old = forge("{\"alg\":\"HS256\",\"kid\":\"old\"}", pl, s_old, 0);
    assert_int_equal(jwt_verify(k, old, NOW, &c), 0);
    char *mislabelled = forge("{\"alg\":\"HS256\",\"kid\":\"new\"}", pl, s_old, 0);
    assert_int_equal(jwt_verify(k, mislabelled, NOW, &c), -1);
    char *retired = forge("{\"alg\":\"HS256\",\"kid\":\"retired\"}", pl, s_old, 0);
    assert_int_equal(jwt_verify(k, retired, NOW, &c), -1);
    /* A ring without the old key refuses what it signed. */
    char spec2[100];
    snprintf(spec2, sizeof(spec2), "new:%s", s_new);
    jwt_keyring *k2 = ring(spec2);
    assert_int_equal(jwt_verify(k2, old, NOW, &c), -1);
    char err[128];
    assert_null(jwt_keyring_new("a:x,a:y", NULL, "i", "a", err, sizeof(err)));
    assert_null(jwt_keyring_new("nocolon", NULL, "i", "a", err, sizeof(err)));
    free(tok), free(pl), free(old), free(mislabelled), free(retired);
    jwt_keyring_free(k);
    jwt_keyring_free(k2);
}

static void test_opaque_tokens(void **state)
{
    (void)state;
    char a[TOKEN_STR_LEN], b[TOKEN_STR_LEN], ha[TOKEN_HASH_LEN], hb[TOKEN_HASH_LEN];
    token_new(a);
    token_new(b);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_int_equal(token_hash(a, ha), 0);
    assert_int_equal(token_hash(a, hb), 0);
    assert_string_equal(ha, hb);
    assert_int_equal(strlen(ha), 64);
    assert_int_equal(token_hash(b, hb), 0);
    assert_string_not_equal(ha, hb);
    assert_int_equal(token_hash("short", ha), -1);
    assert_int_equal(token_hash("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", ha), -1);
    assert_int_equal(token_hash(NULL, ha), -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_forgeries),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_opaque_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
