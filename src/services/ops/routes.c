/* HTTP surface of the operations endpoints. Readiness asks the database for a round trip; it is
 * what load balancers and Kubernetes use to take a replica out of rotation. */
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/openapi.h"
#include "http/problem.h"
#include "http/server.h"
#include "services/app.h"
#include "services/ops/ops.h"

#include <stdio.h>
#include <stdlib.h>

static void health_live(http_req *req, http_res *res)
{
    http_res_json(req, res, 200, json_pack("{s:s}", "status", "ok"));
}

static void health_ready(http_req *req, http_res *res)
{
    app *a = req->app;
    char err[256];
    if (!a->db || db_ping(a->db, err, sizeof(err)) != 0) {
        log_warn("readiness: database check failed: %s", a->db ? err : "not open");
        json_t *p = problem_new(503, "dependency-unavailable", "Service Unavailable",
                                "The database does not answer.", NULL);
        json_object_set_new(p, "checks", json_pack("{s:s}", "database", "unavailable"));
        http_res_problem_body(req, res, p);
        http_res_header(req, res, "Retry-After", "5");
        return;
    }
    http_res_json(req, res, 200,
                  json_pack("{s:s, s:{s:s}}", "status", "ok", "checks", "database", "ok"));
}

static void metrics_text(http_req *req, http_res *res)
{
    buf out;
    buf_init(&out, 64u << 20);
    if (metrics_render(&out) != 0) {
        buf_free(&out);
        http_res_problem(req, res, 500, NULL, NULL);
        return;
    }
    http_res_bytes(req, res, 200, "text/plain; version=0.0.4; charset=utf-8", out.ptr, out.len);
    buf_free(&out);
}

static void openapi_json(http_req *req, http_res *res)
{
    app *a = req->app;
    json_t *doc = openapi_document(a->router, a->cfg ? a->cfg->public_url : "/");
    if (!doc) {
        http_res_problem(req, res, 500, NULL, NULL);
        return;
    }
    http_res_json(req, res, 200, doc);
    http_res_header(req, res, "Cache-Control", "no-cache");
}

static void docs_page(http_req *req, http_res *res)
{
    app *a = req->app;
    json_t *doc = openapi_document(a->router, a->cfg ? a->cfg->public_url : "/");
    buf out;
    buf_init(&out, 8u << 20);
    if (!doc || openapi_render_html(doc, &out) != 0) {
        json_decref(doc);
        buf_free(&out);
        http_res_problem(req, res, 500, NULL, NULL);
        return;
    }
    json_decref(doc);
    http_res_bytes(req, res, 200, "text/html; charset=utf-8", out.ptr, out.len);
    res->is_html = 1;
    http_res_header(req, res, "Cache-Control", "no-cache");
    buf_free(&out);
}

static const int ok_only[] = {200, 0};
static const int ready_codes[] = {200, 503, 0};

static const route_def ops_routes[] = {
    {.method = HTTP_GET, .path = "/health/live", .handler = health_live, .service = "ops",
     .summary = "Liveness: 200 while the process runs", .tag = "operations",
     .responses = ok_only},
    {.method = HTTP_GET, .path = "/health/ready", .handler = health_ready, .service = "ops",
     .summary = "Readiness: 200 when the database answers, 503 naming the failing check",
     .tag = "operations", .responses = ready_codes},
    {.method = HTTP_GET, .path = "/metrics", .handler = metrics_text, .service = "ops",
     .summary = "Prometheus metrics (text format 0.0.4)", .tag = "operations",
     .responses = ok_only, .response_type = "text/plain"},
    {.method = HTTP_GET, .path = "/openapi.json", .handler = openapi_json, .service = "ops",
     .summary = "This OpenAPI 3.1 document", .tag = "operations", .responses = ok_only},
    {.method = HTTP_GET, .path = "/docs", .handler = docs_page, .service = "ops",
     .summary = "A page listing every operation", .tag = "operations", .responses = ok_only,
     .response_type = "text/html"},
};

int ops_register_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, ops_routes);
}
