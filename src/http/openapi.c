/* Builds the OpenAPI 3.1 document from the router's table and renders /docs from it. */
#include "http/openapi.h"

#include "http/problem.h"

#include <stdio.h>
#include <stdint.h>
#include <strings.h>

void openapi_path(const char *tmpl, char *out, size_t outlen)
{
    size_t o = 0;
    int in_param = 0, skipping = 0;
    for (const char *p = tmpl; *p && o + 1 < outlen; p++) {
        if (*p == '{') {
            in_param = 1;
            skipping = 0;
        } else if (*p == '}') {
            in_param = 0;
            skipping = 0;
        } else if (in_param && *p == ':') {
            skipping = 1;
            continue;
        }
        if (!skipping)
            out[o++] = *p;
    }
    out[o] = '\0';
}

static json_t *param_schema(const char *tmpl, const char *name)
{
    /* Finds "{name:type}" in the template to type the parameter. */
    char pat[48];
    snprintf(pat, sizeof(pat), "{%s:", name);
    const char *t = strstr(tmpl, pat);
    if (t) {
        t += strlen(pat);
        if (strncmp(t, "uuid}", 5) == 0)
            return json_pack("{s:s, s:s}", "type", "string", "format", "uuid");
        if (strncmp(t, "int}", 4) == 0)
            return json_pack("{s:s, s:i}", "type", "integer", "minimum", 0);
    }
    return json_pack("{s:s}", "type", "string");
}

static json_t *path_params(const char *tmpl)
{
    json_t *arr = json_array();
    for (const char *p = strchr(tmpl, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = p + 1;
        while (*end && *end != '}' && *end != ':')
            end++;
        char name[40];
        size_t n = (size_t)(end - p - 1);
        if (n >= sizeof(name))
            continue;
        memcpy(name, p + 1, n);
        name[n] = '\0';
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in", "path",
                                             "required", 1, "schema", param_schema(tmpl, name)));
    }
    return arr;
}

static json_t *operation(const route_def *rd)
{
    char opid[160];
    snprintf(opid, sizeof(opid), "%s %s", http_method_name(rd->method), rd->path);
    json_t *op = json_pack("{s:s, s:s, s:[s]}", "summary", rd->summary ? rd->summary : "",
                           "operationId", opid, "tags", rd->tag ? rd->tag : rd->service);
    json_t *params = path_params(rd->path);
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    if (rd->body == BODY_JSON) {
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "type", "object"));
    } else if (rd->body == BODY_AUDIO) {
        json_t *content = json_object();
        const char *types[] = {"audio/wav", "audio/flac", "audio/ogg"};
        for (size_t i = 0; i < ARRAY_LEN(types); i++)
            json_object_set_new(content, types[i],
                                json_pack("{s:{s:s, s:s}}", "schema", "type", "string", "format",
                                          "binary"));
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:o}", "required", 1, "content", content));
    }
    json_t *responses = json_object();
    static const int default_codes[] = {200, 0};
    const int *codes = rd->responses ? rd->responses : default_codes;
    for (const int *c = codes; *c; c++) {
        char code[8];
        snprintf(code, sizeof(code), "%d", *c);
        json_t *resp;
        if (*c == 101) {
            resp = json_pack("{s:s}", "description", "Switching Protocols (WebSocket)");
        } else if (*c >= 400) {
            resp = json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", problem_title(*c),
                             "content", "application/problem+json", "schema", "$ref",
                             "#/components/schemas/Problem");
        } else if (*c == 204 || *c == 304) {
            resp = json_pack("{s:s}", "description", *c == 204 ? "No Content" : "Not Modified");
        } else {
            const char *type = rd->response_type ? rd->response_type : "application/json";
            resp = json_pack("{s:s, s:{s:{}}}", "description", *c == 201 ? "Created" : "OK",
                             "content", type);
        }
        json_object_set_new(responses, code, resp);
    }
    json_object_set_new(op, "responses", responses);
    if (rd->auth) {
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
        json_t *roles = json_array();
        static const struct {
            unsigned bit;
            const char *name;
        } role_names[] = {{ROLE_CANDIDATE, "candidate"}, {ROLE_TUTOR, "tutor"}, {ROLE_ADMIN, "admin"}};
        for (size_t i = 0; i < ARRAY_LEN(role_names); i++)
            if (rd->auth & role_names[i].bit)
                json_array_append_new(roles, json_string(role_names[i].name));
        json_object_set_new(op, "x-roles", roles);
    }
    return op;
}

static const char *method_key(http_method m)
{
    switch (m) {
    case HTTP_GET: return "get";
    case HTTP_POST: return "post";
    case HTTP_PUT: return "put";
    case HTTP_PATCH: return "patch";
    case HTTP_DELETE: return "delete";
    case HTTP_OPTIONS: return "options";
    case HTTP_HEAD: return "head";
    }
    return "get";
}

json_t *openapi_document(const router *r, const char *server_url)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < router_count(r); i++) {
        const route_def *rd = router_at(r, i);
        if (rd->hidden)
            continue;
        char path[256];
        openapi_path(rd->path, path, sizeof(path));
        json_t *item = json_object_get(paths, path);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, path, item);
        }
        json_object_set_new(item, method_key(rd->method), operation(rd));
    }
    json_t *problem = json_pack(
        "{s:s, s:[s,s,s], s:{s:{s:s, s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, s:{s:s, s:{s:{s:s}, s:{s:s}}}}}}",
        "type", "object", "required", "type", "title", "status", "properties", "type", "type",
        "string", "format", "uri", "title", "type", "string", "status", "type", "integer",
        "detail", "type", "string", "errors", "type", "array", "items", "type", "object",
        "properties", "field", "type", "string", "message", "type", "string");
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:{s:o}, s:{s:{s:s, s:s, s:s}}}}",
                     "openapi", "3.1.0", "info", "title", "OET Praxis API", "version",
                     PRAXIS_VERSION, "description",
                     "Speaking practice for the Occupational English Test: role-play cards, an "
                     "AI patient, and feedback on the nine OET criteria.",
                     "servers", "url", server_url, "paths", paths, "components", "schemas",
                     "Problem", problem, "securitySchemes", "bearerAuth", "type", "http",
                     "scheme", "bearer", "bearerFormat", "JWT");
}

static int html_escape(buf *out, const char *s)
{
    for (; s && *s; s++) {
        int rc;
        switch (*s) {
        case '<': rc = buf_puts(out, "&lt;"); break;
        case '>': rc = buf_puts(out, "&gt;"); break;
        case '&': rc = buf_puts(out, "&amp;"); break;
        case '"': rc = buf_puts(out, "&quot;"); break;
        case '\'': rc = buf_puts(out, "&#39;"); break;
        default: rc = buf_append(out, s, 1); break;
        }
        if (rc != BUF_OK)
            return rc;
    }
    return BUF_OK;
}

int openapi_render_html(const json_t *doc, buf *out)
{
    int rc = buf_puts(out,
                      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<title>OET Praxis API</title><style>body{font:15px/1.5 system-ui,sans-serif;"
                      "max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2433}"
                      "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.35rem"
                      " .6rem;border-bottom:1px solid #dde}code{font-size:14px}.m{font-weight:600;"
                      "font-family:monospace}</style></head><body><h1>OET Praxis API</h1><p>Version ");
    if (rc == BUF_OK)
        rc = html_escape(out, json_string_value(json_object_get(json_object_get(doc, "info"),
                                                                "version")));
    if (rc == BUF_OK)
        rc = buf_puts(out, ". The machine-readable document is <a href=\"/openapi.json\">"
                           "/openapi.json</a>.</p><table><thead><tr><th>Method</th><th>Path</th>"
                           "<th>Summary</th><th>Responses</th></tr></thead><tbody>");
    const char *path;
    json_t *item;
    json_object_foreach((json_t *)(uintptr_t)json_object_get(doc, "paths"), path, item)
    {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op)
        {
            char upper[16];
            size_t i = 0;
            for (; m[i] && i + 1 < sizeof(upper); i++)
                upper[i] = (char)(m[i] - ('a' - 'A'));
            upper[i] = '\0';
            if (rc == BUF_OK)
                rc = buf_printf(out, "<tr><td class=\"m\">%s</td><td><code>", upper);
            if (rc == BUF_OK)
                rc = html_escape(out, path);
            if (rc == BUF_OK)
                rc = buf_puts(out, "</code></td><td>");
            if (rc == BUF_OK)
                rc = html_escape(out, json_string_value(json_object_get(op, "summary")));
            if (rc == BUF_OK)
                rc = buf_puts(out, "</td><td>");
            const char *code;
            json_t *r;
            int first = 1;
            json_object_foreach(json_object_get(op, "responses"), code, r)
            {
                if (rc == BUF_OK)
                    rc = buf_printf(out, "%s%s", first ? "" : ", ", code);
                first = 0;
            }
            if (rc == BUF_OK)
                rc = buf_puts(out, "</td></tr>");
        }
    }
    if (rc == BUF_OK)
        rc = buf_puts(out, "</tbody></table></body></html>");
    return rc;
}
