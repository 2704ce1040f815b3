/* The test harness: `praxis serve` plus routes that only tests need (a WebSocket echo, a slow
 * request for graceful-shutdown tests, JSON and audio bodies for the error-shape tests). It is
 * built only with the tests and never installed; `praxis` itself has none of these routes. */
#include "core/json.h"
#include "core/log.h"
#include "http/server.h"
#include "http/ws.h"
#include "services/app.h"
#include "services/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void echo_message(ws_conn *c, int type, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    int rc = type == WS_TEXT ? ws_send_text(c, (const char *)data, len)
                             : ws_send_binary(c, data, len);
    if (rc != 0)
        log_warn("harness: echo send failed");
}

static const ws_handler echo_ws = {.on_message = echo_message, .max_message = 1u << 20};

static void ws_echo(http_req *req, http_res *res)
{
    (void)http_res_upgrade_ws(req, res, &echo_ws, NULL);
}

/* Sleeps ?ms= milliseconds (max 30 s) and answers: an in-flight request for shutdown tests. */
static void slow(http_req *req, http_res *res)
{
    const char *ms = http_req_query(req, "ms");
    long v = ms ? strtol(ms, NULL, 10) : 1000;
    if (v < 0 || v > 30000)
        v = 1000;
    usleep((useconds_t)v * 1000);
    http_res_json(req, res, 200, json_pack("{s:s, s:i}", "status", "done", "slept_ms", (int)v));
}

/* Validates a small JSON body: the shapes of 400 and 422 answers. */
static void echo_json(http_req *req, http_res *res)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    static const json_field_spec spec[] = {
        {.name = "name", .type = JF_STRING, .required = 1, .min_len = 1, .max_len = 40},
        {.name = "count", .type = JF_INTEGER, .required = 1},
        {.name = "tags", .type = JF_ARRAY},
    };
    json_t *errors = json_array();
    if (json_validate(body, spec, ARRAY_LEN(spec), 1, errors) > 0) {
        http_res_problem(req, res, 422, "Some fields are invalid.", errors);
        json_decref(errors);
        json_decref(body);
        return;
    }
    json_decref(errors);
    http_res_json(req, res, 200, body);
}

static void echo_audio(http_req *req, http_res *res)
{
    http_res_json(req, res, 200, json_pack("{s:I}", "bytes", (json_int_t)req->body.len));
}

/* A large JSON answer, for gzip tests. */
static void big(http_req *req, http_res *res)
{
    json_t *items = json_array();
    for (int i = 0; i < 500; i++)
        json_array_append_new(items, json_pack("{s:i, s:s}", "n", i, "text",
                                               "The patient reports chest pain on exertion."));
    http_res_json(req, res, 200, json_pack("{s:o}", "items", items));
}

static const int codes_ws[] = {101, 400, 426, 0};
static const int codes_json[] = {200, 400, 413, 415, 422, 0};
static const int codes_audio[] = {200, 413, 415, 0};
static const int codes_ok[] = {200, 0};

static const route_def harness_routes[] = {
    {.method = HTTP_GET, .path = "/_test/ws", .handler = ws_echo, .service = "test",
     .summary = "WebSocket echo", .responses = codes_ws, .ws = &echo_ws, .hidden = 1},
    {.method = HTTP_GET, .path = "/_test/slow", .handler = slow, .service = "test",
     .summary = "Slow request", .responses = codes_ok, .hidden = 1},
    {.method = HTTP_GET, .path = "/_test/big", .handler = big, .service = "test",
     .summary = "Large JSON", .responses = codes_ok, .hidden = 1},
    {.method = HTTP_POST, .path = "/_test/echo", .handler = echo_json, .service = "test",
     .summary = "JSON echo", .body = BODY_JSON, .responses = codes_json, .hidden = 1},
    {.method = HTTP_POST, .path = "/_test/audio", .handler = echo_audio, .service = "test",
     .summary = "Audio size", .body = BODY_AUDIO, .responses = codes_audio, .hidden = 1},
};

static int add_harness_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, harness_routes);
}

int main(int argc, char **argv)
{
    int port = -1;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
    char err[512];
    config cfg;
    if (config_load(&cfg, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "praxis-harness: configuration error: %s\n", err);
        return EXIT_USAGE;
    }
    log_init(cfg.log_level, stderr);
    if (port >= 0)
        cfg.port = port;
    int rc = serve_run(&cfg, SERVICE_ALL, add_harness_routes);
    config_free(&cfg);
    return rc;
}
