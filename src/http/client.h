/* Outbound HTTP (libcurl easy interface): one blocking request at a time per call, with
 * timeouts, a response size cap, optional streaming of the body as it arrives (SSE), and
 * retries with exponential backoff on transport errors, 429 and 5xx (Retry-After honoured).
 * Used by every remote engine (Stripe, the chat LLM, Whisper-compatible STT, remote TTS,
 * LiveKit). curl_global_init must have run (main does it). Thread-safe: no shared state. */
#ifndef PRAXIS_HTTP_CLIENT_H
#define PRAXIS_HTTP_CLIENT_H

#include "core/buf.h"
#include "core/common.h"

/* Called with each piece of the response body as it arrives (only for 2xx responses; other
 * statuses are collected in res->body). Return non-zero to abort the transfer. */
typedef int (*http_client_chunk_fn)(const char *data, size_t len, void *ud);

typedef struct http_client_req {
    const char *method;             /* "GET", "POST", …; NULL = GET, or POST when body set */
    const char *url;
    const char *const *headers;     /* NULL-terminated "Name: value" lines; may be NULL */
    const void *body;               /* may be NULL */
    size_t body_len;
    int timeout_ms;                 /* whole request, per attempt; 0 = 15000 */
    int connect_timeout_ms;         /* 0 = min(timeout, 5000) */
    size_t max_response;            /* bytes kept in res->body; 0 = 4 MiB; more aborts */
    int max_attempts;               /* 0 or 1 = no retries */
    int backoff_ms;                 /* first retry delay, doubled each time, jittered; 0 = 250 */
    http_client_chunk_fn on_chunk;  /* may be NULL: the body goes to res->body */
    void *ud;
} http_client_req;

typedef struct http_client_res {
    long status;        /* HTTP status of the last attempt; 0 when no response arrived */
    buf body;           /* the body (or the error body when on_chunk was set); ptr NULL when empty */
    char content_type[128];
    int attempts;       /* attempts made */
    long retry_after_s; /* Retry-After (delta seconds) of the last response; -1 when absent */
    int aborted;        /* 1 when on_chunk asked to stop */
    int timed_out;      /* 1 when the last attempt ran out of time (timeout_ms or connecting) */
    char error[160];    /* transport error of the last attempt ("" when a response arrived) */
} http_client_res;

/* Runs the request. Returns 0 when a response arrived (any status: check res->status), -1
 * when none did after every attempt (error says why) or on a bad request. res must be
 * released with http_client_res_free in every case. Retries happen only on transport errors
 * (not on a response over max_response), 429 and 5xx, and never after on_chunk has received
 * data. A Retry-After the server sends is waited out in full; one longer than the client's
 * longest backoff (8 s) ends the retries, leaving that response (and res->retry_after_s) to
 * the caller. Every attempt sends the same headers, so an Idempotency-Key is reused. */
int http_client_request(const http_client_req *req, http_client_res *res) WUR;
void http_client_res_free(http_client_res *res);

/* Appends the application/x-www-form-urlencoded encoding of s to out. */
int http_form_escape(buf *out, const char *s) WUR;

#endif
