/* The HTTP server on libmicrohttpd: owns the listening socket, the per-request context
 * (arena, body, response), the middleware chain and routing, WebSocket upgrades and graceful
 * shutdown. Handlers never see MHD. */
#include "http/server.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "http/problem.h"
#include "http/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct http_server {
    http_server_options opts;
    router *router;
    const http_middleware *mw;
    size_t nmw;
    struct MHD_Daemon *daemon;
    int listen_fd;
    int port;
    atomic_int inflight;
    atomic_int ws_threads;
    atomic_int stopping;
    metric_family *inflight_gauge;
};

typedef struct req_ctx {
    http_req req;
    http_res res;
    int queued;
    int counted; /* contributes to inflight */
} req_ctx;

typedef struct upgrade_job {
    http_server *server;
    const ws_handler *handler;
    void *ud;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    uint8_t *pending;
    size_t npending;
} upgrade_job;

/* ---- request accessors ---------------------------------------------------------------- */

const char *http_req_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_param(const http_req *req, const char *name)
{
    return route_param_str(&req->match, name);
}

/* ---- response builders ---------------------------------------------------------------- */

void http_res_header(http_req *req, http_res *res, const char *name, const char *value)
{
    http_res_remove_header(res, name);
    http_header *h = arena_alloc(req->pool, sizeof(*h));
    if (!h)
        return;
    h->name = arena_strdup(req->pool, name);
    h->value = arena_strdup(req->pool, value);
    if (!h->name || !h->value)
        return;
    h->next = res->headers;
    res->headers = h;
}

const char *http_res_get_header(const http_res *res, const char *name)
{
    for (const http_header *h = res->headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

void http_res_vary(http_req *req, http_res *res, const char *token)
{
    const char *cur = http_res_get_header(res, "Vary");
    if (!cur) {
        http_res_header(req, res, "Vary", token);
        return;
    }
    size_t tl = strlen(token);
    for (const char *p = cur; (p = strcasestr(p, token)) != NULL; p += tl) {
        int starts = p == cur || p[-1] == ' ' || p[-1] == ',';
        int ends = p[tl] == '\0' || p[tl] == ',' || p[tl] == ' ';
        if (starts && ends)
            return;
    }
    char *merged = arena_printf(req->pool, "%s, %s", cur, token);
    if (merged)
        http_res_header(req, res, "Vary", merged);
}

void http_res_remove_header(http_res *res, const char *name)
{
    for (http_header **pp = &res->headers; *pp;) {
        if (strcasecmp((*pp)->name, name) == 0)
            *pp = (*pp)->next;
        else
            pp = &(*pp)->next;
    }
}

static void set_body(http_req *req, http_res *res, int status, const char *type, const void *data,
                     size_t len)
{
    buf_reset(&res->body);
    res->status = status;
    res->content_type = arena_strdup(req->pool, type);
    if (len && buf_append(&res->body, data, len) != BUF_OK) {
        /* Only an out-of-memory can get here (the response buffer has no client-fed cap). */
        buf_reset(&res->body);
        res->status = 500;
        res->content_type = "application/problem+json";
        static const char oom[] = "{\"type\":\"" PROBLEM_TYPE_BASE "internal-error\","
                                  "\"title\":\"Internal Server Error\",\"status\":500}";
        (void)!buf_append(&res->body, oom, sizeof(oom) - 1);
    }
}

void http_res_bytes(http_req *req, http_res *res, int status, const char *content_type,
                    const void *data, size_t len)
{
    set_body(req, res, status, content_type, data, len);
}

static void res_json_typed(http_req *req, http_res *res, int status, const char *type, json_t *body)
{
    char *text = body ? json_dump_compact(body) : NULL;
    json_decref(body);
    if (!text) {
        set_body(req, res, 500, "application/problem+json", NULL, 0);
        return;
    }
    set_body(req, res, status, type, text, strlen(text));
    free(text);
}

void http_res_json(http_req *req, http_res *res, int status, json_t *body)
{
    res_json_typed(req, res, status, "application/json", body);
}

void http_res_problem_full(http_req *req, http_res *res, int status, const char *slug,
                           const char *title, const char *detail, json_t *errors)
{
    res_json_typed(req, res, status, "application/problem+json",
                   problem_new(status, slug, title, detail, errors));
}

void http_res_problem_body(http_req *req, http_res *res, json_t *problem)
{
    json_t *st = json_object_get(problem, "status");
    res_json_typed(req, res, json_is_integer(st) ? (int)json_integer_value(st) : 500,
                   "application/problem+json", problem);
}

void http_res_problem(http_req *req, http_res *res, int status, const char *detail,
                      json_t *errors)
{
    http_res_problem_full(req, res, status, NULL, NULL, detail, errors);
}

json_t *http_req_json(http_req *req, http_res *res)
{
    char err[256];
    json_t *obj = json_parse_object(req->body.ptr ? req->body.ptr : "", req->body.len, err,
                                    sizeof(err));
    if (!obj)
        http_res_problem_full(req, res, 400, "malformed-json", "Malformed JSON", err, NULL);
    return obj;
}

static int query_int(const char *v, int min, int max, int def, int *out)
{
    if (!v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return -1;
    *out = (int)n;
    return 0;
}

int http_req_pagination(http_req *req, http_res *res, int *page, int *per_page)
{
    json_t *errors = json_array();
    if (query_int(http_req_query(req, "page"), 1, 1000000, 1, page) != 0)
        json_errors_add(errors, "page", "must be an integer of at least 1");
    if (query_int(http_req_query(req, "per_page"), 1, 100, 20, per_page) != 0)
        json_errors_add(errors, "per_page", "must be an integer between 1 and 100");
    int bad = json_array_size(errors) > 0;
    if (bad)
        http_res_problem(req, res, 422, "Invalid pagination parameters.", errors);
    json_decref(errors);
    return bad ? -1 : 0;
}

json_t *http_list_body(json_t *items, int page, int per_page, long long total)
{
    return json_pack("{s:o, s:i, s:i, s:I}", "items", items, "page", page, "per_page", per_page,
                     "total", (json_int_t)total);
}

/* ---- request life cycle --------------------------------------------------------------- */

static size_t body_limit_for(const route_def *rd)
{
    if (rd && rd->body_max)
        return rd->body_max;
    return rd && rd->body == BODY_AUDIO ? HTTP_BODY_MAX_AUDIO : HTTP_BODY_MAX_JSON;
}

static const char *client_ip(arena *a, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return "unknown";
    char host[NI_MAXHOST];
    const struct sockaddr *sa = ci->client_addr;
    socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
        return "unknown";
    return arena_strdup(a, host);
}

static req_ctx *ctx_new(http_server *s, struct MHD_Connection *conn, const char *url,
                        const char *method)
{
    arena *a = arena_new();
    if (!a)
        return NULL;
    req_ctx *ctx = arena_calloc(a, sizeof(*ctx));
    if (!ctx) {
        arena_free(a);
        return NULL;
    }
    http_req *req = &ctx->req;
    req->pool = a;
    req->server = s;
    req->app = s->opts.app;
    req->conn = conn;
    req->start_ns = time_mono_ns();
    req->method_name = arena_strdup(a, method);
    req->method = http_method_parse(method);
    req->path = arena_strdup(a, url);
    req->remote_ip = client_ip(a, conn);
    req->route_label = "unmatched";
    if (!req->method_name || !req->path) {
        arena_free(a);
        return NULL;
    }
    if (req->method)
        req->route_status = router_match(s->router, req->method, req->path, a, &req->match);
    else
        req->route_status = ROUTE_NOT_FOUND;
    if (req->route_status == ROUTE_FOUND)
        req->route_label = req->match.template_path;
    req->body_limit = body_limit_for(req->match.route);
    buf_init(&req->body, req->body_limit);
    buf_init(&ctx->res.body, SIZE_MAX / 2);
    return ctx;
}

static void ctx_free(req_ctx *ctx)
{
    buf_free(&ctx->req.body);
    buf_free(&ctx->res.body);
    arena_free(ctx->req.pool);
}

/* Routing outcome and handler: runs when no middleware answered. */
static void route_and_handle(http_req *req, http_res *res)
{
    char allow[96];
    switch (req->route_status) {
    case ROUTE_NOT_FOUND:
        if (!req->method) {
            /* An unknown method: 501 (RFC 9110 15.6.2), not 405, which must list an Allow. */
            http_res_problem(req, res, 501, "The server does not support this method.", NULL);
            return;
        }
        http_res_problem(req, res, 404, "No resource at this path.", NULL);
        return;
    case ROUTE_METHOD_NOT_ALLOWED:
        router_allow_header(req->match.allow, allow, sizeof(allow));
        http_res_header(req, res, "Allow", allow);
        if (req->method == HTTP_OPTIONS) {
            set_body(req, res, 204, "text/plain", NULL, 0);
            return;
        }
        http_res_problem(req, res, 405, "This path does not support this method.", NULL);
        return;
    case ROUTE_FOUND:
        break;
    }
    req->match.route->handler(req, res);
    if (res->status == 0) {
        log_error("handler for %s %s produced no response", req->method_name, req->route_label);
        http_res_problem(req, res, 500, NULL, NULL);
    }
}

static void dispatch(req_ctx *ctx)
{
    http_server *s = ctx->req.server;
    http_req *req = &ctx->req;
    http_res *res = &ctx->res;
    size_t ran = 0;
    int answered = 0;
    for (; ran < s->nmw; ran++) {
        const http_middleware *m = &s->mw[ran];
        if (m->before && m->before(req, res, m->ud) == HTTP_DONE) {
            ran++;
            answered = 1;
            break;
        }
    }
    if (!answered)
        route_and_handle(req, res);
    while (ran > 0) {
        const http_middleware *m = &s->mw[--ran];
        if (m->after)
            m->after(req, res, m->ud);
    }
}

static void *upgrade_thread(void *arg)
{
    upgrade_job *job = arg;
    ws_session_run(job->fd, job->pending, job->npending, job->handler, job->ud);
    MHD_upgrade_action(job->urh, MHD_UPGRADE_ACTION_CLOSE);
    atomic_fetch_sub(&job->server->ws_threads, 1);
    free(job->pending);
    free(job);
    return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *connection, void *con_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    (void)connection;
    (void)con_cls;
    upgrade_job *job = cls;
    pthread_t t;
    if (extra_in_size) {
        job->pending = malloc(extra_in_size);
        if (!job->pending)
            goto fail;
        memcpy(job->pending, extra_in, extra_in_size);
        job->npending = extra_in_size;
    }
    job->fd = sock;
    job->urh = urh;
    atomic_fetch_add(&job->server->ws_threads, 1);
    if (pthread_create(&t, NULL, upgrade_thread, job) != 0) {
        atomic_fetch_sub(&job->server->ws_threads, 1);
        goto fail;
    }
    pthread_detach(t);
    return;
fail:
    log_error("websocket: could not start a session thread");
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    free(job->pending);
    free(job);
}

static enum MHD_Result queue_response(req_ctx *ctx)
{
    http_server *s = ctx->req.server;
    http_res *res = &ctx->res;
    struct MHD_Response *r = NULL;
    ctx->queued = 1;
    if (res->ws && res->status == 101) {
        upgrade_job *job = calloc(1, sizeof(*job));
        if (!job)
            return MHD_NO;
        job->server = s;
        job->handler = res->ws;
        job->ud = res->ws_ud;
        r = MHD_create_response_for_upgrade(on_upgrade, job);
        if (!r) {
            free(job);
            return MHD_NO;
        }
        /* MHD adds "Connection: Upgrade"; the Upgrade header is ours to set. */
        MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    } else {
        size_t len = 0;
        char *body = buf_detach(&res->body, &len);
        if (!body)
            return MHD_NO;
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(body);
            return MHD_NO;
        }
        if (res->content_type && res->status != 204 && res->status != 304)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    }
    for (const http_header *h = res->headers; h; h = h->next)
        if (MHD_add_response_header(r, h->name, h->value) != MHD_YES)
            log_warn("response header %s rejected", h->name);
    if (atomic_load(&s->stopping))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(ctx->req.conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static int parse_content_length(const char *v, size_t *out)
{
    if (!v || !*v)
        return -1;
    size_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (n > (SIZE_MAX - 9) / 10)
            return -1;
        n = n * 10 + (size_t)(*p - '0');
    }
    *out = n;
    return 0;
}

/* Decides on the first call, before any body byte is read, whether the request is refused
 * outright (announced body over the limit): answering now spares reading 25 MiB for nothing. */
static int refuse_early(req_ctx *ctx)
{
    size_t cl = 0;
    const char *v = http_req_header(&ctx->req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (v && parse_content_length(v, &cl) == 0 && cl > ctx->req.body_limit) {
        ctx->req.body_too_large = 1;
        return 1;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    http_server *s = cls;
    req_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = ctx_new(s, conn, url, method);
        if (!ctx)
            return MHD_NO;
        *con_cls = ctx;
        atomic_fetch_add(&s->inflight, 1);
        ctx->counted = 1;
        if (refuse_early(ctx)) {
            dispatch(ctx);
            return queue_response(ctx);
        }
        return MHD_YES;
    }
    if (ctx->queued) {
        /* Answered early: MHD may still hand us the body; drop it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->req.body_too_large &&
            buf_append(&ctx->req.body, upload_data, *upload_data_size) != BUF_OK) {
            ctx->req.body_too_large = 1;
            buf_free(&ctx->req.body);
            buf_init(&ctx->req.body, 0);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    dispatch(ctx);
    return queue_response(ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    http_server *s = cls;
    req_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !ctx->queued)
        log_info("request %s %s ended before an answer (client gone or timeout)",
                 ctx->req.method_name, ctx->req.route_label);
    if (ctx->counted)
        atomic_fetch_sub(&s->inflight, 1);
    ctx_free(ctx);
    *con_cls = NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* MHD's own unescaping turns "%00" into a NUL, which would silently cut the path short
 * ("/health/live%00junk" routed as "/health/live"). This one decodes every escape except %00,
 * which stays literal and so can never match a route or hide in a parameter. Applies to the
 * path and to query arguments alike. */
static size_t unescape_no_nul(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int h, l;
        if (*r == '%' && (h = hexval(r[1])) >= 0 && (l = hexval(r[2])) >= 0 && (h | l) != 0) {
            *w++ = (char)(h * 16 + l);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_msg(LOG_WARN, "http: %s", msg);
}

/* ---- server life cycle ---------------------------------------------------------------- */

http_server *http_server_new(const http_server_options *opts, router *r,
                             const http_middleware *mw, size_t nmw)
{
    http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->opts = *opts;
    s->router = r;
    s->mw = mw;
    s->nmw = nmw;
    s->listen_fd = -1;
    return s;
}

/* We bind the socket ourselves so a taken port is reported with its real reason. */
static int open_listener(http_server *s, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", s->opts.port);
    int rc = getaddrinfo(s->opts.host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "HOST %s: %s", s->opts.host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "PORT %d: cannot listen on %s: %s", s->opts.port, s->opts.host,
                 strerror(last_errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    s->listen_fd = fd;
    return 0;
}

/* Read at scrape time, so the gauge is never stale. */
static void collect_inflight(void *ud)
{
    http_server *s = ud;
    metrics_set(s->inflight_gauge, NULL, (double)atomic_load(&s->inflight));
}

int http_server_start(http_server *s, char *err, size_t errlen)
{
    if (open_listener(s, err, errlen) != 0)
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    unsigned threads = s->opts.threads > 0 ? (unsigned)s->opts.threads : 1;
    /* The logger must come first or MHD logs the options that precede it on its own. */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(s->opts.request_timeout_s > 0 ? s->opts.request_timeout_s : 30),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_no_nul, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "PORT %d: the HTTP server could not start", s->opts.port);
        close(s->listen_fd);
        s->listen_fd = -1;
        return -1;
    }
    s->inflight_gauge =
        metrics_gauge("http_requests_in_flight", "HTTP requests being handled now.", NULL);
    metrics_on_collect(collect_inflight, s);
    return 0;
}

int http_server_port(const http_server *s) { return s->port; }
int http_server_inflight(const http_server *s) { return atomic_load(&s->inflight); }
const router *http_server_router(const http_server *s) { return s->router; }

void http_server_quiesce(http_server *s)
{
    if (!s->daemon || atomic_exchange(&s->stopping, 1))
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET) {
        close(lfd);
        s->listen_fd = -1;
    }
    ws_shutdown_all();
}

int http_server_busy(const http_server *s)
{
    return atomic_load(&s->inflight) + atomic_load(&s->ws_threads);
}

void http_server_stop(http_server *s)
{
    if (!s->daemon)
        return;
    http_server_quiesce(s);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    http_server_stop(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s);
}

/* ---- WebSocket handshake -------------------------------------------------------------- */

/* 1 if the comma-separated header value contains token (case-insensitive). */
static int header_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *end = v;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - v) == tl && strncasecmp(v, token, tl) == 0)
            return 1;
        v = end;
    }
    return 0;
}

int http_res_upgrade_ws(http_req *req, http_res *res, const ws_handler *h, void *ud)
{
    const char *upgrade = http_req_header(req, "Upgrade");
    const char *connection = http_req_header(req, "Connection");
    const char *version = http_req_header(req, "Sec-WebSocket-Version");
    const char *key = http_req_header(req, "Sec-WebSocket-Key");
    char accept[29];
    if (req->method != HTTP_GET || !upgrade || strcasecmp(upgrade, "websocket") != 0 ||
        !header_has_token(connection, "upgrade")) {
        http_res_header(req, res, "Upgrade", "websocket");
        http_res_problem(req, res, 426, "This resource is a WebSocket: send an upgrade request.",
                         NULL);
        return -1;
    }
    if (!version || strcmp(version, "13") != 0) {
        http_res_header(req, res, "Sec-WebSocket-Version", "13");
        http_res_problem(req, res, 426, "Only WebSocket version 13 is supported.", NULL);
        return -1;
    }
    if (!key || ws_accept_key(key, accept) != 0) {
        http_res_problem(req, res, 400, "Sec-WebSocket-Key is missing or malformed.", NULL);
        return -1;
    }
    buf_reset(&res->body);
    res->status = 101;
    res->content_type = NULL;
    res->ws = h;
    res->ws_ud = ud;
    http_res_header(req, res, "Sec-WebSocket-Accept", accept);
    return 0;
}
