/* Stripe's form encoding, webhook signatures and API POSTs: see stripe.h. */
#include "services/billing/stripe.h"

#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <inttypes.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORM_DEPTH_MAX 8
#define SIG_V1_MAX 8          /* v1 entries looked at in one header */
#define STRIPE_ATTEMPTS 3
#define STRIPE_BACKOFF_MS 200
#define STRIPE_RESPONSE_MAX (1u << 20)
#define STRIPE_BODY_MAX (64u << 10)
#define STRIPE_RETRY_AFTER_DEFAULT_S 10
#define STRIPE_RETRY_AFTER_MAX_S 300
/* The API version whose object shapes billing reads (webhooks may carry newer shapes; the
 * readers accept both, see webhook.c). */
#define STRIPE_VERSION_HEADER "Stripe-Version: 2024-06-20"

static int encode_value(buf *out, buf *key, const json_t *v, int depth, int *first);

/* ---- form encoding --------------------------------------------------------------------- */

int stripe_form_encode(const json_t *params, buf *out)
{
    if (!json_is_object(params))
        return -1;
    buf key;
    buf_init(&key, 4096);
    int first = out->len == 0;
    int rc = encode_value(out, &key, params, 0, &first);
    buf_free(&key);
    return rc;
}

/* key holds the escaped key so far ("line_items[0]"); each level appends to it and cuts it
 * back afterwards. */
static int encode_value(buf *out, buf *key, const json_t *v, int depth, int *first)
{
    if (depth > FORM_DEPTH_MAX)
        return -1;
    size_t mark = key->len;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_t *obj = (json_t *)(uintptr_t)v; /* jansson's iterators take non-const */
        json_object_foreach(obj, k, child)
        {
            int rc = depth == 0 ? 0 : buf_append(key, "[", 1);
            if (rc == 0)
                rc = http_form_escape(key, k);
            if (rc == 0 && depth > 0)
                rc = buf_append(key, "]", 1);
            if (rc == 0)
                rc = encode_value(out, key, child, depth + 1, first);
            key->len = mark;
            if (key->ptr)
                key->ptr[mark] = '\0';
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    if (depth == 0)
        return -1;
    if (json_is_array(v)) {
        size_t i;
        const json_t *child;
        json_array_foreach(v, i, child)
        {
            int rc = buf_printf(key, "[%zu]", i);
            if (rc == 0)
                rc = encode_value(out, key, child, depth + 1, first);
            key->len = mark;
            if (key->ptr)
                key->ptr[mark] = '\0';
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    if (json_is_real(v))
        return -1; /* Stripe amounts are integers; a float here is a bug upstream */
    if ((!*first && buf_append(out, "&", 1) != 0) || buf_append(out, key->ptr, key->len) != 0 ||
        buf_append(out, "=", 1) != 0)
        return -1;
    *first = 0;
    if (json_is_string(v))
        return http_form_escape(out, json_string_value(v));
    if (json_is_integer(v))
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_boolean(v))
        return buf_puts(out, json_is_true(v) ? "true" : "false");
    return 0; /* null: "key=" */
}

/* ---- webhook signatures ------------------------------------------------------------------ */

static void sign(const char *secret, size_t secret_len, const char *t, size_t tlen,
                 const void *payload, size_t len, unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, tlen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, payload, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

stripe_sig_result stripe_signature_verify(const char *header, const void *payload, size_t len,
                                          const char *secrets, int64_t now_s,
                                          int64_t tolerance_s)
{
    if (!header || !secrets || (!payload && len))
        return STRIPE_SIG_BAD;
    const char *t = NULL;
    size_t tlen = 0;
    unsigned char sigs[SIG_V1_MAX][crypto_auth_hmacsha256_BYTES];
    size_t nsigs = 0;
    for (const char *p = header; *p;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *k = skip_spaces(p, end);
        const char *eq = memchr(k, '=', (size_t)(end - k));
        if (eq) {
            const char *v = eq + 1;
            size_t vlen = (size_t)(end - v);
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (eq - k == 1 && k[0] == 't' && !t) {
                t = v;
                tlen = vlen;
            } else if (eq - k == 2 && k[0] == 'v' && k[1] == '1' && nsigs < SIG_V1_MAX &&
                       vlen == (size_t)2 * crypto_auth_hmacsha256_BYTES) {
                size_t got = 0;
                if (sodium_hex2bin(sigs[nsigs], sizeof(sigs[nsigs]), v, vlen, NULL, &got, NULL) ==
                        0 &&
                    got == sizeof(sigs[nsigs]))
                    nsigs++;
            }
        }
        p = *end ? end + 1 : end;
    }
    /* t: 1 to 12 digits (a plausible Unix time, no sign, no overflow). */
    if (!t || tlen == 0 || tlen > 12 || nsigs == 0)
        return STRIPE_SIG_BAD;
    int64_t ts = 0;
    for (size_t i = 0; i < tlen; i++) {
        if (t[i] < '0' || t[i] > '9')
            return STRIPE_SIG_BAD;
        ts = ts * 10 + (t[i] - '0');
    }
    int match = 0;
    for (const char *s = secrets; *s && !match;) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        const char *a = skip_spaces(s, end);
        const char *b = end;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            unsigned char mac[crypto_auth_hmacsha256_BYTES];
            sign(a, (size_t)(b - a), t, tlen, payload, len, mac);
            for (size_t i = 0; i < nsigs; i++)
                if (sodium_memcmp(mac, sigs[i], sizeof(mac)) == 0)
                    match = 1;
            sodium_memzero(mac, sizeof(mac));
        }
        s = *end ? end + 1 : end;
    }
    if (!match)
        return STRIPE_SIG_BAD;
    int64_t skew = now_s - ts;
    if (skew > tolerance_s || skew < -tolerance_s)
        return STRIPE_SIG_STALE;
    return STRIPE_SIG_OK;
}

void stripe_signature_header(const char *secret, int64_t t, const void *payload, size_t len,
                             char *out, size_t outlen)
{
    char ts[24];
    snprintf(ts, sizeof(ts), "%" PRId64, t);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    sign(secret, strlen(secret), ts, strlen(ts), payload, len, mac);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, outlen, "t=%s,v1=%s", ts, hex);
}

/* ---- API calls --------------------------------------------------------------------------- */

void stripe_idempotency_key(const char *op, const char *user_id, const char *extra,
                            const char *request_key, char out[STRIPE_IDEMPOTENCY_KEY_LEN])
{
    /* Fields are NUL-separated so ("ab","c") and ("a","bc") differ. */
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    const char *parts[] = {op, user_id, extra, request_key};
    for (size_t i = 0; i < ARRAY_LEN(parts); i++) {
        const char *s = parts[i] ? parts[i] : "";
        crypto_hash_sha256_update(&st, (const unsigned char *)s, strlen(s) + 1);
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    char hex[33];
    sodium_bin2hex(hex, sizeof(hex), h, 16);
    snprintf(out, STRIPE_IDEMPOTENCY_KEY_LEN, "praxis-%.16s-%s", op, hex);
}

/* Stripe's {"error": {"type", "code", "message"}} as one log line. */
static void error_text(const http_client_res *hr, char *out, size_t outlen)
{
    json_error_t jerr;
    json_t *body = hr->body.ptr ? json_loadb(hr->body.ptr, hr->body.len, 0, &jerr) : NULL;
    json_t *e = json_object_get(body, "error");
    if (json_is_object(e))
        snprintf(out, outlen, "HTTP %ld %s/%s: %s", hr->status, json_get_str(e, "type", "?"),
                 json_get_str(e, "code", "-"), json_get_str(e, "message", ""));
    else
        snprintf(out, outlen, "HTTP %ld without a Stripe error object", hr->status);
    json_decref(body);
}

stripe_outcome stripe_post(const stripe_api *api, const char *path, const json_t *params,
                           const char *idempotency_key, stripe_result *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = STRIPE_RETRY_AFTER_DEFAULT_S;
    buf form, url;
    buf_init(&form, STRIPE_BODY_MAX);
    buf_init(&url, 2048);
    if (stripe_form_encode(params, &form) != 0 ||
        buf_printf(&url, "%s%s", api->base, path) != 0) {
        snprintf(out->error, sizeof(out->error), "the request could not be encoded");
        buf_free(&form);
        buf_free(&url);
        return STRIPE_REJECTED;
    }
    char auth[1100], idem[300];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api->secret_key);
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idempotency_key);
    const char *headers[] = {auth, idem, "Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", STRIPE_VERSION_HEADER,
                             NULL};
    http_client_req hreq = {.method = "POST",
                            .url = url.ptr,
                            .headers = headers,
                            .body = form.ptr ? form.ptr : "",
                            .body_len = form.len,
                            .timeout_ms = api->timeout_ms,
                            .max_response = STRIPE_RESPONSE_MAX,
                            .max_attempts = STRIPE_ATTEMPTS,
                            .backoff_ms = STRIPE_BACKOFF_MS};
    http_client_res hres;
    int rc = http_client_request(&hreq, &hres);
    sodium_memzero(auth, sizeof(auth));
    out->status = hres.status;
    out->attempts = hres.attempts;
    stripe_outcome outcome;
    if (rc != 0) {
        snprintf(out->error, sizeof(out->error), "no answer: %s", hres.error);
        outcome = STRIPE_UNAVAILABLE;
    } else if (hres.status == 429 || hres.status >= 500) {
        error_text(&hres, out->error, sizeof(out->error));
        if (hres.retry_after_s >= 0)
            out->retry_after_s = hres.retry_after_s > STRIPE_RETRY_AFTER_MAX_S
                                     ? STRIPE_RETRY_AFTER_MAX_S
                                     : (hres.retry_after_s < 1 ? 1 : hres.retry_after_s);
        outcome = STRIPE_UNAVAILABLE;
    } else if (hres.status < 200 || hres.status >= 300) {
        error_text(&hres, out->error, sizeof(out->error));
        outcome = STRIPE_REJECTED;
    } else {
        json_error_t jerr;
        out->object = hres.body.ptr ? json_loadb(hres.body.ptr, hres.body.len, 0, &jerr) : NULL;
        if (json_is_object(out->object)) {
            outcome = STRIPE_OK;
        } else {
            json_decref(out->object);
            out->object = NULL;
            snprintf(out->error, sizeof(out->error), "HTTP %ld with a body that is not a JSON "
                     "object", hres.status);
            outcome = STRIPE_REJECTED;
        }
    }
    if (outcome != STRIPE_OK)
        log_warn("stripe: POST %s: %s (%d attempt%s)", path, out->error, out->attempts,
                 out->attempts == 1 ? "" : "s");
    http_client_res_free(&hres);
    buf_free(&form);
    buf_free(&url);
    return outcome;
}

void stripe_result_free(stripe_result *r)
{
    if (r) {
        json_decref(r->object);
        r->object = NULL;
    }
}
