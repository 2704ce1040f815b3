/* The router: method + path template → route. Templates are literal segments and typed
 * parameters: "/v1/sessions/{id:uuid}/turns/{n:int}/audio" ({name} alone is a string). A path
 * whose parameter does not parse as its type does not match (→ 404). Literal segments win
 * over parameters when two templates match. The route table is also the source of the
 * OpenAPI document, so a route cannot exist without being documented. */
#ifndef PRAXIS_HTTP_ROUTER_H
#define PRAXIS_HTTP_ROUTER_H

#include "core/arena.h"
#include "core/common.h"

typedef enum {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
} http_method;

/* 0 for an unknown method name. */
http_method http_method_parse(const char *s);
const char *http_method_name(http_method m);

typedef enum { BODY_NONE = 0, BODY_JSON, BODY_AUDIO } route_body;

#define HTTP_BODY_MAX_JSON (1u << 20)   /* 1 MiB */
#define HTTP_BODY_MAX_AUDIO (25u << 20) /* 25 MiB */

struct http_req;
struct http_res;
struct ws_handler;
struct rate_rule;

/* Who may call a route: 0 = public, else the roles allowed (a valid access token of an
 * enabled user with one of these roles). Declared on the route, enforced by the auth
 * middleware: handlers never check roles themselves. */
enum {
    ROLE_CANDIDATE = 1 << 0,
    ROLE_TUTOR = 1 << 1,
    ROLE_ADMIN = 1 << 2,
    AUTH_PUBLIC = 0,
    AUTH_USER = ROLE_CANDIDATE | ROLE_TUTOR | ROLE_ADMIN,
    AUTH_STAFF = ROLE_TUTOR | ROLE_ADMIN,
};
typedef void (*http_handler)(struct http_req *req, struct http_res *res);

typedef struct route_def {
    http_method method;
    const char *path;      /* template */
    http_handler handler;
    const char *service;   /* "ops", "users", "content", "sessions", "billing", "rtc", "ai" */
    const char *summary;   /* one line for OpenAPI and /docs */
    const char *tag;       /* OpenAPI tag */
    route_body body;       /* what the request body must be */
    size_t body_max;       /* bytes accepted (413 beyond); 0 = the default for body */
    const int *responses;  /* status codes it can answer, 0-terminated (OpenAPI) */
    const char *response_type; /* content type of 2xx bodies; NULL = application/json */
    const struct ws_handler *ws; /* non-NULL: the route upgrades to a WebSocket */
    int hidden;            /* not in OpenAPI (test harness routes only) */
    unsigned auth;         /* AUTH_PUBLIC or the ROLE_* bits allowed */
    const struct rate_rule *rate_limits; /* terminated by a rule with name NULL; may be NULL */
} route_def;

enum { ROUTER_MAX_PARAMS = 8 };

typedef enum { PARAM_STRING = 0, PARAM_UUID, PARAM_INT } route_param_type;

typedef struct {
    const char *name;
    const char *value; /* decoded, arena-owned */
    long long ival;    /* PARAM_INT */
    route_param_type type;
} route_param;

typedef struct {
    const route_def *route;
    const char *template_path;
    route_param params[ROUTER_MAX_PARAMS];
    size_t nparams;
    unsigned allow; /* ROUTE_METHOD_NOT_ALLOWED: methods the path supports (HEAD with GET) */
} route_match;

typedef enum { ROUTE_FOUND = 0, ROUTE_NOT_FOUND, ROUTE_METHOD_NOT_ALLOWED } route_result;

typedef struct router router;

router *router_new(void);
void router_free(router *r);
/* Copies nothing: def must outlive the router (route tables are static). Fails on a malformed
 * template, too many parameters, or a duplicate method+template. */
int router_add(router *r, const route_def *def) WUR;
/* Adds a service's whole route table; stops at the first route that cannot be added. */
int router_add_table(router *r, const route_def *defs, size_t n) WUR;
#define ROUTER_ADD_TABLE(r, table) router_add_table((r), (table), ARRAY_LEN(table))

/* path is already percent-decoded (the HTTP layer decodes once; decoding again here would let
 * "%252F" become a slash). HEAD matches GET routes. Param values are copied into a. */
route_result router_match(const router *r, http_method m, const char *path, arena *a,
                          route_match *out);
const char *route_param_str(const route_match *m, const char *name);
size_t router_count(const router *r);
const route_def *router_at(const router *r, size_t i);
/* Writes "GET, HEAD, POST" for an allow mask into out. */
void router_allow_header(unsigned allow, char *out, size_t outlen);

#endif
