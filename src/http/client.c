/* Outbound HTTP over libcurl: see client.h. */
#include "http/client.h"

#include "core/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CLIENT_TIMEOUT_DEFAULT_MS 15000
#define CLIENT_CONNECT_MAX_MS 5000
#define CLIENT_MAX_RESPONSE_DEFAULT ((size_t)4 << 20)
#define CLIENT_BACKOFF_DEFAULT_MS 250
#define CLIENT_BACKOFF_MAX_MS 8000
#define CLIENT_ATTEMPTS_MAX 8

struct transfer {
    const http_client_req *req;
    http_client_res *res;
    long status;        /* from the status line, known before the body arrives */
    size_t streamed;    /* bytes given to on_chunk */
    long retry_after_s; /* -1 when absent */
    int too_large;      /* the response outgrew max_response: retrying cannot help */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud);
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud);
static int one_attempt(struct transfer *t, char *err, size_t errlen);
static int retryable(long status);
static void sleep_ms(long ms);

int http_client_request(const http_client_req *req, http_client_res *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_s = -1;
    size_t max = req->max_response ? req->max_response : CLIENT_MAX_RESPONSE_DEFAULT;
    buf_init(&res->body, max);
    if (!req->url || (strncmp(req->url, "http://", 7) != 0 &&
                      strncmp(req->url, "https://", 8) != 0)) {
        snprintf(res->error, sizeof(res->error), "the URL must start with http:// or https://");
        return -1;
    }
    int attempts = req->max_attempts < 1 ? 1 : req->max_attempts;
    if (attempts > CLIENT_ATTEMPTS_MAX)
        attempts = CLIENT_ATTEMPTS_MAX;
    long delay = req->backoff_ms > 0 ? req->backoff_ms : CLIENT_BACKOFF_DEFAULT_MS;

    struct transfer t = {.req = req, .res = res};
    for (int i = 0; i < attempts; i++) {
        t.status = 0;
        t.retry_after_s = -1;
        t.too_large = 0;
        buf_reset(&res->body);
        res->status = 0;
        res->content_type[0] = '\0';
        res->error[0] = '\0';
        res->timed_out = 0;
        res->attempts = i + 1;
        int rc = one_attempt(&t, res->error, sizeof(res->error));
        res->retry_after_s = rc == 0 ? t.retry_after_s : -1;
        int again = (rc != 0 && !res->aborted && !t.too_large) ||
                    (rc == 0 && retryable(res->status));
        if (!again || t.streamed > 0 || i + 1 == attempts)
            return rc;
        long wait;
        if (rc == 0 && t.retry_after_s >= 0) {
            /* The server said how long: wait that, never less (jitter would undercut it), and
             * give up when it is longer than this client would ever back off. The comparison
             * is in seconds so a huge value cannot overflow. */
            if (t.retry_after_s > CLIENT_BACKOFF_MAX_MS / 1000)
                return rc;
            wait = t.retry_after_s * 1000;
        } else {
            /* Full jitter between half and all of the delay, so many clients do not retry in
             * step. */
            wait = delay / 2 + (long)randombytes_uniform((uint32_t)(delay / 2 + 1));
        }
        log_msg(LOG_WARN, "http client: %s %s: %s; retry %d in %ld ms",
                req->method ? req->method : (req->body ? "POST" : "GET"), req->url,
                rc != 0 ? res->error : "retryable status", i + 1, wait);
        sleep_ms(wait);
        delay = delay * 2 > CLIENT_BACKOFF_MAX_MS ? CLIENT_BACKOFF_MAX_MS : delay * 2;
    }
    return -1;
}

void http_client_res_free(http_client_res *res)
{
    if (res)
        buf_free(&res->body);
}

int http_form_escape(buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        int rc;
        if (plain) {
            rc = buf_append(out, p, 1);
        } else if (ch == ' ') {
            rc = buf_append(out, "+", 1);
        } else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = buf_append(out, enc, 3);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int one_attempt(struct transfer *t, char *err, size_t errlen)
{
    const http_client_req *req = t->req;
    http_client_res *res = t->res;
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    int rc = -1;
    for (const char *const *p = req->headers; p && *p; p++) {
        struct curl_slist *n = curl_slist_append(hdrs, *p);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        hdrs = n;
    }
    /* No "Expect: 100-continue" round trip on large bodies. */
    struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
    if (!n) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    hdrs = n;

    long timeout = req->timeout_ms > 0 ? req->timeout_ms : CLIENT_TIMEOUT_DEFAULT_MS;
    long connect = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                   : timeout < CLIENT_CONNECT_MAX_MS ? timeout
                                                     : CLIENT_CONNECT_MAX_MS;
    const char *method = req->method ? req->method : (req->body ? "POST" : "GET");
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "praxis/" PRAXIS_VERSION);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") == 0)
            curl_easy_setopt(h, CURLOPT_POST, 1L);
        else
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }

    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    res->status = status;
    char *ct = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(res->content_type, sizeof(res->content_type), "%s", ct);
    if (cc == CURLE_OK) {
        rc = 0;
    } else if (cc == CURLE_WRITE_ERROR && res->aborted) {
        snprintf(err, errlen, "stopped by the caller");
        rc = -1;
    } else if (cc == CURLE_WRITE_ERROR) {
        snprintf(err, errlen, "the response is larger than %zu bytes", res->body.max);
        t->too_large = 1;
        rc = -1;
    } else {
        snprintf(err, errlen, "%s", curl_easy_strerror(cc));
        res->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        rc = -1;
    }
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct transfer *t = ud;
    size_t n = size * nmemb;
    if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* "HTTP/1.1 200 OK": a new response (after 100 Continue, or a retry). */
        const char *sp = memchr(data, ' ', n);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char tmp[32];
        size_t l = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, data + 12, l);
        tmp[l] = '\0';
        char *end = NULL;
        errno = 0;
        long v = strtol(tmp, &end, 10);
        if (!errno && end != tmp && v >= 0)
            t->retry_after_s = v;
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct transfer *t = ud;
    size_t n = size * nmemb;
    if (t->req->on_chunk && t->status >= 200 && t->status < 300) {
        if (t->req->on_chunk(data, n, t->req->ud) != 0) {
            t->res->aborted = 1;
            return 0;
        }
        t->streamed += n;
        return n;
    }
    return buf_append(&t->res->body, data, n) == 0 ? n : 0;
}

static int retryable(long status)
{
    return status == 429 || status >= 500;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
