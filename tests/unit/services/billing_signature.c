/* Stripe-Signature verification (src/services/billing/stripe.c): the HMAC-SHA256 scheme over
 * "<t>.<payload>", several v1 entries, several secrets (rotation), the timestamp window, and
 * every malformed header we can think of being refused rather than crashing. */
#include "services/billing/stripe.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#define T0 1700000000
#define PAYLOAD "{\"id\":\"evt_1\"}"
/* HMAC-SHA256 of "1700000000.{\"id\":\"evt_1\"}", computed independently (Python hmac). */
#define SIG_TEST "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
#define SIG_NEW "f3ac0c93c23f69e2e6046d7f0e2c82c93d0403de0f8651457189ab70fbbfcaae"
#define SIG_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static stripe_sig_result verify(const char *header, const char *secrets, int64_t now)
{
    return stripe_signature_verify(header, PAYLOAD, strlen(PAYLOAD), secrets, now,
                                   STRIPE_SIG_TOLERANCE_S);
}

static void test_known_vector(void **state)
{
    (void)state;
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, "whsec_test", T0), STRIPE_SIG_OK);
    /* Our own signer agrees with the independent one. */
    char h[200];
    stripe_signature_header("whsec_test", T0, PAYLOAD, strlen(PAYLOAD), h, sizeof(h));
    assert_string_equal(h, "t=1700000000,v1=" SIG_TEST);
    /* Upper-case hex is the same signature. */
    assert_int_equal(verify("t=1700000000,v1=C89214B5B5DA833DAED6F0B8C5BB6BD58CEA9022BD80CCC78230"
                            "F3942D632925",
                            "whsec_test", T0),
                     STRIPE_SIG_OK);
}

static void test_wrong_secret_payload_or_time(void **state)
{
    (void)state;
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, "whsec_other", T0), STRIPE_SIG_BAD);
    /* The timestamp is part of what is signed: changing it breaks the signature. */
    assert_int_equal(verify("t=1700000001,v1=" SIG_TEST, "whsec_test", T0), STRIPE_SIG_BAD);
    const char *other = "{\"id\":\"evt_2\"}";
    assert_int_equal(stripe_signature_verify("t=1700000000,v1=" SIG_TEST, other, strlen(other),
                                             "whsec_test", T0, 300),
                     STRIPE_SIG_BAD);
    /* One byte more (a trailing newline) is another payload. */
    assert_int_equal(stripe_signature_verify("t=1700000000,v1=" SIG_TEST, PAYLOAD "\n",
                                             strlen(PAYLOAD) + 1, "whsec_test", T0, 300),
                     STRIPE_SIG_BAD);
}

static void test_rotation_and_several_v1(void **state)
{
    (void)state;
    /* Two secrets configured, the header signed with either. */
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, "whsec_new,whsec_test", T0),
                     STRIPE_SIG_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG_NEW, "whsec_new, whsec_test", T0),
                     STRIPE_SIG_OK);
    /* Stripe sends one v1 per active secret during its own rotation: any match passes. */
    assert_int_equal(verify("t=1700000000,v1=" SIG_ZERO ",v1=" SIG_NEW, "whsec_new", T0),
                     STRIPE_SIG_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST ",v1=" SIG_NEW, "whsec_test", T0),
                     STRIPE_SIG_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG_ZERO ",v1=" SIG_ZERO, "whsec_test", T0),
                     STRIPE_SIG_BAD);
    /* v0 (Stripe's test scheme) and unknown keys are ignored, spaces tolerated. */
    assert_int_equal(verify(" t=1700000000 , v0=" SIG_TEST ", x=1 ,v1=" SIG_TEST " ",
                            "whsec_test", T0),
                     STRIPE_SIG_OK);
    assert_int_equal(verify("t=1700000000,v0=" SIG_TEST, "whsec_test", T0), STRIPE_SIG_BAD);
    /* Empty entries in the secret list are skipped, not used as an empty key. */
    char h[200];
    stripe_signature_header("", T0, PAYLOAD, strlen(PAYLOAD), h, sizeof(h));
    assert_int_equal(verify(h, ",,whsec_test,", T0), STRIPE_SIG_BAD);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, ",,whsec_test,", T0), STRIPE_SIG_OK);
}

static void test_timestamp_window(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" SIG_TEST;
    assert_int_equal(verify(h, "whsec_test", T0 + 300), STRIPE_SIG_OK);
    assert_int_equal(verify(h, "whsec_test", T0 + 301), STRIPE_SIG_STALE);
    assert_int_equal(verify(h, "whsec_test", T0 - 300), STRIPE_SIG_OK);
    assert_int_equal(verify(h, "whsec_test", T0 - 301), STRIPE_SIG_STALE);
    /* Staleness is only reported for a genuine signature: a forgery is just bad. */
    assert_int_equal(verify("t=1700000000,v1=" SIG_ZERO, "whsec_test", T0 + 10000),
                     STRIPE_SIG_BAD);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "garbage",
        "t=,v1=" SIG_TEST,
        "v1=" SIG_TEST,
        "t=1700000000",
        "t=1700000000,v1=",
        "t=1700000000,v1=abc",
        "t=1700000000,v1=" SIG_TEST "00",
        "t=-1700000000,v1=" SIG_TEST,
        "t=17000000x0,v1=" SIG_TEST,
        "t=1700000000000000000000,v1=" SIG_TEST,
        "t=1700000000,v1=zz9214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925",
        ",,,,",
        "=,=,=",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(verify(bad[i], "whsec_test", T0), STRIPE_SIG_BAD);
    assert_int_equal(verify(NULL, "whsec_test", T0), STRIPE_SIG_BAD);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, NULL, T0), STRIPE_SIG_BAD);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, "", T0), STRIPE_SIG_BAD);
    /* The first t counts; a second one cannot move the signed time. */
    assert_int_equal(verify("t=1700000000,t=1,v1=" SIG_TEST, "whsec_test", T0), STRIPE_SIG_OK);
    /* An empty payload is signed like any other. */
    char h[200];
    stripe_signature_header("whsec_test", T0, "", 0, h, sizeof(h));
    assert_int_equal(stripe_signature_verify(h, "", 0, "whsec_test", T0, 300), STRIPE_SIG_OK);
    assert_int_equal(stripe_signature_verify(h, NULL, 0, "whsec_test", T0, 300), STRIPE_SIG_OK);
}

static void test_many_v1_entries(void **state)
{
    (void)state;
    /* The ninth v1 onwards is not looked at: a header cannot make us compute without bound. */
    char h[2000];
    int n = snprintf(h, sizeof(h), "t=1700000000");
    for (int i = 0; i < 8; i++)
        n += snprintf(h + n, sizeof(h) - (size_t)n, ",v1=" SIG_ZERO);
    snprintf(h + n, sizeof(h) - (size_t)n, ",v1=" SIG_TEST);
    assert_int_equal(verify(h, "whsec_test", T0), STRIPE_SIG_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_wrong_secret_payload_or_time),
        cmocka_unit_test(test_rotation_and_several_v1),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_many_v1_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
