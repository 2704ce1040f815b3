/* The HTTP server: libmicrohttpd with an internal thread pool, the request/response objects
 * handlers see, and the middleware chain. A request lives in its own arena, freed when MHD
 * reports the request complete. */
#ifndef PRAXIS_HTTP_SERVER_H
#define PRAXIS_HTTP_SERVER_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/common.h"
#include "http/router.h"
#include <jansson.h>
#include <stdint.h>

typedef struct http_server http_server;

typedef struct http_header {
    const char *name;
    const char *value;
    struct http_header *next;
} http_header;

typedef struct http_req {
    arena *pool;
    http_server *server;
    void *app;                /* the application context given to http_server_new */
    void *conn;               /* struct MHD_Connection * (opaque to handlers) */
    http_method method;
    const char *method_name;
    const char *path;         /* without the query string */
    route_result route_status;
    route_match match;        /* .route NULL unless ROUTE_FOUND */
    const char *route_label;  /* template for logs/metrics; "unmatched" when none */
    const char *request_id;
    const char *remote_ip;
    const char *user_id;      /* the authenticated user (set by the auth middleware) */
    unsigned role;            /* ROLE_* of the authenticated user, 0 when anonymous */
    const char *session_family; /* refresh-token family of the access token (sid), or NULL */
    int64_t start_ns;
    buf body;
    int body_too_large;
    size_t body_limit;
} http_req;

typedef struct http_res {
    int status;                /* 0 = not answered yet */
    const char *content_type;
    http_header *headers;
    buf body;
    int is_html;               /* HTML pages get a Content-Security-Policy */
    /* WebSocket upgrade (set by http_res_upgrade_ws) */
    const struct ws_handler *ws;
    void *ws_ud;
} http_res;

/* Request accessors. NULL when absent. Header names are case-insensitive. */
const char *http_req_header(const http_req *req, const char *name);
const char *http_req_query(const http_req *req, const char *name);
const char *http_req_param(const http_req *req, const char *name);

/* Response builders. All copy their inputs into the request arena/buffer. */
void http_res_header(http_req *req, http_res *res, const char *name, const char *value);
const char *http_res_get_header(const http_res *res, const char *name);
/* Adds token to the response's Vary header (merged, never duplicated). */
void http_res_vary(http_req *req, http_res *res, const char *token);
void http_res_remove_header(http_res *res, const char *name);
/* Steals the reference to body. */
void http_res_json(http_req *req, http_res *res, int status, json_t *body);
void http_res_bytes(http_req *req, http_res *res, int status, const char *content_type,
                    const void *data, size_t len);
/* problem+json; errors borrowed, may be NULL. detail may be NULL. */
void http_res_problem(http_req *req, http_res *res, int status, const char *detail,
                      json_t *errors);
void http_res_problem_full(http_req *req, http_res *res, int status, const char *slug,
                           const char *title, const char *detail, json_t *errors);
/* A problem built with problem_new and given extra members (steals it; its status is the
 * response's). */
void http_res_problem_body(http_req *req, http_res *res, json_t *problem);
/* Reads ?page= (>= 1, default 1) and ?per_page= (1..100, default 20) for list routes; answers
 * 422 naming the parameter and returns -1 when one is not a valid number. */
int http_req_pagination(http_req *req, http_res *res, int *page, int *per_page) WUR;
/* {"items": items, "page", "per_page", "total"}; steals items. */
json_t *http_list_body(json_t *items, int page, int per_page, long long total);

/* Parses the request body as a JSON object; on failure answers 400 and returns NULL. */
json_t *http_req_json(http_req *req, http_res *res);

/* Answers a WebSocket handshake: checks GET, `Upgrade: websocket`, `Connection: upgrade`,
 * `Sec-WebSocket-Version: 13` (else 426) and the key (else 400), then answers 101 and hands the
 * socket to a session thread running h. ud is used on that thread after the request is gone:
 * it must not live in the request arena. Returns 0 when the upgrade was accepted. */
int http_res_upgrade_ws(http_req *req, http_res *res, const struct ws_handler *h, void *ud);

/* Middleware: before() runs in chain order and may answer (return HTTP_DONE) to stop the chain;
 * after() runs in reverse order for every middleware whose before() ran, whatever answered. */
enum { HTTP_NEXT = 0, HTTP_DONE = 1 };
typedef struct http_middleware {
    const char *name;
    int (*before)(http_req *req, http_res *res, void *ud);
    void (*after)(http_req *req, http_res *res, void *ud);
    void *ud;
} http_middleware;

typedef struct http_server_options {
    const char *host;         /* bind address */
    int port;                 /* 0 = any free port (see http_server_port) */
    int threads;              /* MHD thread pool size */
    int request_timeout_s;    /* idle connection timeout */
    void *app;
} http_server_options;

/* The router and the middleware array must outlive the server. */
http_server *http_server_new(const http_server_options *opts, router *r,
                             const http_middleware *mw, size_t nmw);
/* Binds and starts serving. -1 with err (e.g. "PORT 8000: address already in use"). */
int http_server_start(http_server *s, char *err, size_t errlen) WUR;
int http_server_port(const http_server *s);
/* Graceful shutdown in two steps, so the caller can bound the wait and react to a second
 * signal: quiesce stops accepting (the listening socket closes, new connects are refused), asks
 * every WebSocket to close with 1001 and makes later responses carry `Connection: close`;
 * http_server_busy then counts what is still running (requests + WebSocket sessions); stop
 * joins MHD's threads. Call stop only when busy is 0: a handler still running would make it
 * wait for that handler, whatever the deadline — past the deadline the process exits instead. */
void http_server_quiesce(http_server *s);
int http_server_busy(const http_server *s);
void http_server_stop(http_server *s);
void http_server_free(http_server *s);
/* Requests currently being handled. */
int http_server_inflight(const http_server *s);
const router *http_server_router(const http_server *s);

#endif
