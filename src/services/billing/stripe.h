/* Stripe on the wire: the form encoding its API takes (nested `a[b][0]=c` keys), the
 * Stripe-Signature check of incoming webhooks, and POSTs to its API over src/http/client.h
 * with the secret key, an Idempotency-Key reused on every retry, timeouts and backoff.
 * Nothing here touches the database; see docs/billing.md for how billing uses it. */
#ifndef PRAXIS_SERVICES_BILLING_STRIPE_H
#define PRAXIS_SERVICES_BILLING_STRIPE_H

#include "core/buf.h"
#include "core/common.h"

#include <jansson.h>
#include <stdint.h>

/* ---- form encoding --------------------------------------------------------------------- */

/* Appends params (a JSON object) to out as application/x-www-form-urlencoded the way Stripe
 * reads it: nested objects and arrays become bracketed keys (`metadata[user_id]=…`,
 * `line_items[0][price]=…`), strings are escaped, integers written in decimal, booleans as
 * true/false and null as an empty value (Stripe's "unset"). Keys keep the object's order.
 * -1 (out partly written) for a real number, a non-object top level, nesting deeper than 8
 * or when out's cap is reached. */
int stripe_form_encode(const json_t *params, buf *out) WUR;

/* ---- webhook signatures ------------------------------------------------------------------ */

#define STRIPE_SIG_TOLERANCE_S 300

typedef enum {
    STRIPE_SIG_OK = 0,
    STRIPE_SIG_BAD = 1,   /* missing or malformed header, or no v1 matches any secret */
    STRIPE_SIG_STALE = 2, /* a v1 matches, but t is more than tolerance_s from now_s */
} stripe_sig_result;

/* Checks a `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` header against the raw payload:
 * HMAC-SHA256 over "<t>.<payload>" keyed with each secret of the comma-separated list
 * (STRIPE_WEBHOOK_SECRET; several during a rotation), compared in constant time; any v1
 * matching any secret passes. Other schemes (v0) are ignored. */
stripe_sig_result stripe_signature_verify(const char *header, const void *payload, size_t len,
                                          const char *secrets, int64_t now_s,
                                          int64_t tolerance_s);

/* Writes "t=<t>,v1=<hex>" for payload signed with secret (tests and tools). */
void stripe_signature_header(const char *secret, int64_t t, const void *payload, size_t len,
                             char *out, size_t outlen);

/* ---- API calls --------------------------------------------------------------------------- */

#define STRIPE_IDEMPOTENCY_KEY_LEN 64 /* "praxis-<op>-<32 hex>" + NUL, op up to 16 chars */

/* A deterministic Idempotency-Key for one operation: the same (op, user, extra, request_key)
 * always gives the same key, so a client retrying our route with its own Idempotency-Key
 * reaches Stripe with the key of the first try. extra and request_key may be NULL. */
void stripe_idempotency_key(const char *op, const char *user_id, const char *extra,
                            const char *request_key, char out[STRIPE_IDEMPOTENCY_KEY_LEN]);

typedef struct stripe_api {
    const char *base;       /* STRIPE_API_BASE, no trailing slash */
    const char *secret_key; /* STRIPE_SECRET_KEY */
    int timeout_ms;         /* per attempt (STRIPE_TIMEOUT_MS) */
} stripe_api;

typedef enum {
    STRIPE_OK = 0,          /* 2xx with a JSON object: result.object */
    STRIPE_REJECTED = 1,    /* Stripe answered, but not as expected (4xx, or 2xx not JSON) */
    STRIPE_UNAVAILABLE = 2, /* no answer in time, or 429/5xx after every retry */
} stripe_outcome;

typedef struct stripe_result {
    long status;          /* HTTP status of the last attempt; 0 when none arrived */
    int attempts;
    json_t *object;       /* STRIPE_OK: the response object (stripe_result_free drops it) */
    long retry_after_s;   /* STRIPE_UNAVAILABLE: when to try again (Stripe's, or a default) */
    char error[256];      /* for the log: Stripe's error type, code and message, or why not */
} stripe_result;

/* POSTs params (form-encoded) to api->base + path with `Authorization: Bearer <key>` and
 * `Idempotency-Key: idempotency_key`; 3 attempts with jittered backoff on transport errors,
 * 429 and 5xx, the same key every time. Always release out with stripe_result_free. */
stripe_outcome stripe_post(const stripe_api *api, const char *path, const json_t *params,
                           const char *idempotency_key, stripe_result *out) WUR;
void stripe_result_free(stripe_result *r);

#endif
