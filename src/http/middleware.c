/* Middleware units: request id, access log, metrics, security headers, gzip, CORS and body
 * checks (size 413, media type 415). Each is a before/after pair over http_req/http_res. */
#include "http/middleware.h"

#include "core/ids.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <zlib.h>

/* ---- request id ----------------------------------------------------------------------- */

int request_id_is_sane(const char *id)
{
    if (!id)
        return 0;
    size_t n = strlen(id);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

static int request_id_before(http_req *req, http_res *res, void *ud)
{
    (void)res;
    (void)ud;
    const char *given = http_req_header(req, "X-Request-Id");
    if (request_id_is_sane(given)) {
        req->request_id = arena_strdup(req->pool, given);
    } else {
        char id[UUID_STR_LEN];
        id_uuid7(id);
        req->request_id = arena_strdup(req->pool, id);
    }
    return HTTP_NEXT;
}

static void request_id_after(http_req *req, http_res *res, void *ud)
{
    (void)ud;
    if (req->request_id)
        http_res_header(req, res, "X-Request-Id", req->request_id);
}

/* ---- access log ----------------------------------------------------------------------- */

static void access_log_after(http_req *req, http_res *res, void *ud)
{
    (void)ud;
    if (!log_enabled(LOG_INFO))
        return;
    double ms = (double)(time_mono_ns() - req->start_ns) / 1e6;
    json_t *line = json_pack("{s:s, s:s, s:s, s:i, s:f, s:I, s:s, s:s}", "msg", "request",
                             "method", req->method_name ? req->method_name : "?", "route",
                             req->route_label, "status", res->status, "duration_ms", ms, "bytes",
                             (json_int_t)res->body.len, "request_id",
                             req->request_id ? req->request_id : "", "ip",
                             req->remote_ip ? req->remote_ip : "");
    if (!line)
        return;
    if (req->user_id)
        json_object_set_new(line, "user_id", json_string(req->user_id));
    log_json(LOG_INFO, line);
}

/* ---- metrics -------------------------------------------------------------------------- */

static metric_family *m_requests, *m_duration;

static void metrics_init_families(void)
{
    static const char *const req_labels[] = {"method", "route", "status", NULL};
    static const char *const dur_labels[] = {"method", "route", NULL};
    static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    m_requests = metrics_counter("http_requests_total", "HTTP requests answered.", req_labels);
    m_duration = metrics_histogram("http_request_duration_seconds",
                                   "Time from request start to response queued.", dur_labels,
                                   buckets, ARRAY_LEN(buckets));
}

static void metrics_after(http_req *req, http_res *res, void *ud)
{
    (void)ud;
    char status[8];
    snprintf(status, sizeof(status), "%d", res->status);
    const char *method = req->method ? http_method_name(req->method) : "OTHER";
    const char *lv[] = {method, req->route_label, status};
    metrics_inc(m_requests, lv, 1);
    metrics_observe(m_duration, lv, (double)(time_mono_ns() - req->start_ns) / 1e9);
}

/* ---- security headers ----------------------------------------------------------------- */

static void security_after(http_req *req, http_res *res, void *ud)
{
    const middleware_config *cfg = ud;
    http_res_header(req, res, "X-Content-Type-Options", "nosniff");
    http_res_header(req, res, "X-Frame-Options", "DENY");
    http_res_header(req, res, "Referrer-Policy", "no-referrer");
    if (res->is_html)
        http_res_header(req, res, "Content-Security-Policy",
                        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                        "img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
                        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    else
        http_res_header(req, res, "Content-Security-Policy",
                        "default-src 'none'; frame-ancestors 'none'");
    if (!http_res_get_header(res, "Cache-Control"))
        http_res_header(req, res, "Cache-Control", "no-store");
    if (cfg && cfg->hsts)
        http_res_header(req, res, "Strict-Transport-Security",
                        "max-age=31536000; includeSubDomains");
}

/* ---- gzip ----------------------------------------------------------------------------- */

#define GZIP_MIN_BYTES 1024

int accepts_gzip(const char *ae)
{
    /* Looks for a "gzip" (or "*") coding whose q is not 0. */
    if (!ae)
        return 0;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ')
            p++;
        size_t tl = (size_t)(p - tok);
        double q = 1.0;
        while (*p == ' ')
            p++;
        while (*p == ';') {
            p++;
            while (*p == ' ')
                p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
                q = strtod(p + 2, NULL);
            while (*p && *p != ';' && *p != ',')
                p++;
        }
        int is_gzip = (tl == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tl == 1 && *tok == '*');
        if (is_gzip && q > 0)
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

static int compressible(const char *type)
{
    if (!type)
        return 0;
    return strncmp(type, "text/", 5) == 0 || strncmp(type, "application/json", 16) == 0 ||
           strncmp(type, "application/problem+json", 24) == 0 ||
           strncmp(type, "application/javascript", 22) == 0;
}

static int gzip_bytes(const char *in, size_t len, buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&zs, (uLong)len);
    buf_init(out, (size_t)bound + 64);
    if (buf_append(out, "", 0) != BUF_OK) {
        deflateEnd(&zs);
        return -1;
    }
    char *dst = malloc(bound);
    if (!dst) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    size_t produced = (size_t)zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END || buf_append(out, dst, produced) != BUF_OK) {
        free(dst);
        buf_free(out);
        return -1;
    }
    free(dst);
    return 0;
}

static void gzip_after(http_req *req, http_res *res, void *ud)
{
    (void)ud;
    if (!compressible(res->content_type) || res->status == 101 || res->status == 204 ||
        res->status == 304 || http_res_get_header(res, "Content-Encoding"))
        return;
    http_res_vary(req, res, "Accept-Encoding");
    if (res->body.len < GZIP_MIN_BYTES || !accepts_gzip(http_req_header(req, "Accept-Encoding")))
        return;
    buf z;
    if (gzip_bytes(res->body.ptr, res->body.len, &z) != 0)
        return; /* serve uncompressed rather than fail */
    buf_free(&res->body);
    res->body = z;
    res->body.max = SIZE_MAX / 2;
    http_res_header(req, res, "Content-Encoding", "gzip");
    /* The bytes changed, so a strong validator no longer names them (RFC 9110 8.8.1). */
    const char *etag = http_res_get_header(res, "ETag");
    if (etag && strncmp(etag, "W/", 2) != 0) {
        char *weak = arena_printf(req->pool, "W/%s", etag);
        if (weak)
            http_res_header(req, res, "ETag", weak);
    }
}

/* ---- CORS ----------------------------------------------------------------------------- */

int cors_policy_parse(cors_policy *p, const char *csv)
{
    memset(p, 0, sizeof(*p));
    if (!csv)
        return 0;
    const char *s = csv;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t n = (size_t)(t - s);
        if (n == 1 && *s == '*') {
            p->any = 1;
        } else if (n > 0) {
            char **no = realloc(p->origins, (p->n + 1) * sizeof(*no));
            if (!no)
                goto fail;
            p->origins = no;
            /* Origins compare without a trailing slash. */
            while (n > 0 && s[n - 1] == '/')
                n--;
            p->origins[p->n] = strndup(s, n);
            if (!p->origins[p->n])
                goto fail;
            p->n++;
        }
        s = e;
    }
    return 0;
fail:
    cors_policy_free(p);
    return -1;
}

void cors_policy_free(cors_policy *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->origins[i]);
    free(p->origins);
    memset(p, 0, sizeof(*p));
}

int cors_origin_allowed(const cors_policy *p, const char *origin)
{
    if (!p || !origin || !*origin)
        return 0;
    if (p->any)
        return 1;
    for (size_t i = 0; i < p->n; i++)
        if (strcasecmp(p->origins[i], origin) == 0)
            return 1;
    return 0;
}

static void cors_allow_headers(http_req *req, http_res *res, const cors_policy *p,
                               const char *origin)
{
    http_res_header(req, res, "Access-Control-Allow-Origin", p->any ? "*" : origin);
    if (!p->any)
        http_res_vary(req, res, "Origin");
}

static int cors_before(http_req *req, http_res *res, void *ud)
{
    const middleware_config *cfg = ud;
    const char *origin = http_req_header(req, "Origin");
    const char *want = http_req_header(req, "Access-Control-Request-Method");
    if (req->method != HTTP_OPTIONS || !origin || !want)
        return HTTP_NEXT;
    /* A preflight: answered here, never by a handler. */
    if (!cors_origin_allowed(cfg->cors, origin)) {
        http_res_problem(req, res, 403, "This origin is not allowed to call the API.", NULL);
        return HTTP_DONE;
    }
    if (req->route_status == ROUTE_NOT_FOUND) {
        http_res_problem(req, res, 404, "No resource at this path.", NULL);
        return HTTP_DONE;
    }
    http_method m = http_method_parse(want);
    char allow[96];
    router_allow_header(req->match.allow, allow, sizeof(allow));
    if (!m || !(req->match.allow & (unsigned)m)) {
        http_res_header(req, res, "Allow", allow);
        http_res_problem(req, res, 405, "This path does not support the requested method.",
                         NULL);
        return HTTP_DONE;
    }
    http_res_bytes(req, res, 204, "text/plain", NULL, 0);
    cors_allow_headers(req, res, cfg->cors, origin);
    http_res_header(req, res, "Access-Control-Allow-Methods", allow);
    http_res_header(req, res, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, X-Request-Id, If-None-Match, Idempotency-Key");
    http_res_header(req, res, "Access-Control-Max-Age", "600");
    return HTTP_DONE;
}

static void cors_after(http_req *req, http_res *res, void *ud)
{
    const middleware_config *cfg = ud;
    const char *origin = http_req_header(req, "Origin");
    if (http_res_get_header(res, "Access-Control-Allow-Origin") ||
        !cors_origin_allowed(cfg->cors, origin))
        return;
    cors_allow_headers(req, res, cfg->cors, origin);
    http_res_header(req, res, "Access-Control-Expose-Headers",
                    "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, "
                    "RateLimit-Reset, Location, ETag");
}

/* ---- body checks ---------------------------------------------------------------------- */

void content_type_media(const char *v, char *out, size_t outlen)
{
    size_t o = 0;
    if (!outlen)
        return;
    if (v) {
        while (*v == ' ')
            v++;
        for (; *v && *v != ';' && *v != ' ' && o + 1 < outlen; v++)
            out[o++] = (char)tolower((unsigned char)*v);
    }
    out[o] = '\0';
}

static const char *const audio_types[] = {"audio/wav", "audio/x-wav", "audio/wave",
                                          "audio/vnd.wave", "audio/flac", "audio/x-flac",
                                          "audio/ogg"};

static int body_before(http_req *req, http_res *res, void *ud)
{
    (void)ud;
    if (req->body_too_large) {
        char detail[96];
        if (req->body_limit >= (1u << 20))
            snprintf(detail, sizeof(detail), "The request body exceeds the %zu MiB limit.",
                     req->body_limit >> 20);
        else
            snprintf(detail, sizeof(detail), "The request body exceeds the %zu KiB limit.",
                     req->body_limit >> 10);
        http_res_problem(req, res, 413, detail, NULL);
        return HTTP_DONE;
    }
    if (req->route_status != ROUTE_FOUND || req->match.route->body == BODY_NONE)
        return HTTP_NEXT;
    char media[96];
    content_type_media(http_req_header(req, "Content-Type"), media, sizeof(media));
    if (req->match.route->body == BODY_JSON) {
        if (req->body.len == 0 && !media[0])
            return HTTP_NEXT; /* no body at all: the handler says what is missing */
        if (strcmp(media, "application/json") != 0) {
            http_res_problem(req, res, 415, "Send the body as application/json.", NULL);
            return HTTP_DONE;
        }
        return HTTP_NEXT;
    }
    for (size_t i = 0; i < ARRAY_LEN(audio_types); i++)
        if (strcmp(media, audio_types[i]) == 0)
            return HTTP_NEXT;
    http_res_problem(req, res, 415, "Send the audio as audio/wav, audio/flac or audio/ogg.",
                     NULL);
    return HTTP_DONE;
}

/* ---- the chain ------------------------------------------------------------------------ */

size_t http_middleware_chain(const middleware_config *cfg, http_middleware *out, size_t cap)
{
    metrics_init_families();
    const http_middleware chain[] = {
        {"request_id", request_id_before, request_id_after, NULL},
        {"access_log", NULL, access_log_after, NULL},
        {"metrics", NULL, metrics_after, NULL},
        {"security_headers", NULL, security_after, (void *)(uintptr_t)cfg},
        {"gzip", NULL, gzip_after, NULL},
        {"cors", cors_before, cors_after, (void *)(uintptr_t)cfg},
        {"body", body_before, NULL, NULL},
    };
    size_t n = ARRAY_LEN(chain) < cap ? ARRAY_LEN(chain) : cap;
    memcpy(out, chain, n * sizeof(*out));
    return n;
}
