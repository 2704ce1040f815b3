/* OpenAPI generation: every routed operation is documented, hidden ones are not, parameters are
 * typed, and the page escapes what it prints. */
#include "http/openapi.h"

#include "services/app.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void h(struct http_req *req, struct http_res *res)
{
    (void)req;
    (void)res;
}

static const route_def extra[] = {
    {.method = HTTP_POST, .path = "/v1/things", .handler = h, .service = "x", .summary = "JSON <thing>",
     .body = BODY_JSON},
    {.method = HTTP_GET, .path = "/_test/secret", .handler = h, .service = "test", .hidden = 1},
};

static void test_path_conversion(void **state)
{
    (void)state;
    char out[128];
    openapi_path("/v1/sessions/{id:uuid}/turns/{n:int}/audio", out, sizeof(out));
    assert_string_equal(out, "/v1/sessions/{id}/turns/{n}/audio");
    openapi_path("/v1/users/{id}", out, sizeof(out));
    assert_string_equal(out, "/v1/users/{id}");
}

static void test_document_matches_router(void **state)
{
    (void)state;
    router *r = router_new();
    assert_int_equal(app_register_routes(r, SERVICE_ALL), 0);
    for (size_t i = 0; i < ARRAY_LEN(extra); i++)
        assert_int_equal(router_add(r, &extra[i]), 0);
    json_t *doc = openapi_document(r, "http://localhost:8000");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    size_t ops = 0;
    const char *p;
    json_t *item;
    json_object_foreach(paths, p, item) ops += json_object_size(item);
    /* Every visible route is one operation: nothing missing, nothing invented. */
    size_t visible = 0;
    for (size_t i = 0; i < router_count(r); i++)
        if (!router_at(r, i)->hidden)
            visible++;
    assert_int_equal(ops, visible);
    for (size_t i = 0; i < router_count(r); i++) {
        const route_def *rd = router_at(r, i);
        char path[256];
        openapi_path(rd->path, path, sizeof(path));
        json_t *pi = json_object_get(paths, path);
        if (rd->hidden) {
            assert_null(pi);
            continue;
        }
        assert_non_null(pi);
    }
    json_t *audio = json_object_get(json_object_get(paths, "/v1/sessions/{id}/turns/{n}/audio"), "get");
    json_t *params = json_object_get(audio, "parameters");
    assert_int_equal(json_array_size(params), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(params, 0), "schema"), "format")), "uuid");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(params, 1), "schema"), "type")), "integer");
    assert_non_null(json_object_get(json_object_get(json_object_get(audio, "responses"), "200"), "content"));
    assert_non_null(json_object_get(json_object_get(json_object_get(json_object_get(audio, "responses"), "200"), "content"), "audio/wav"));
    json_t *nf = json_object_get(json_object_get(audio, "responses"), "404");
    assert_non_null(json_object_get(json_object_get(nf, "content"), "application/problem+json"));
    json_t *up = json_object_get(json_object_get(paths, "/v1/sessions/{id}/audio"), "post");
    assert_non_null(json_object_get(json_object_get(json_object_get(up, "requestBody"), "content"), "audio/flac"));
    json_t *js = json_object_get(json_object_get(paths, "/v1/things"), "post");
    assert_non_null(json_object_get(json_object_get(json_object_get(js, "requestBody"), "content"), "application/json"));
    assert_non_null(json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Problem"));

    /* Guarded routes say so; public ones do not. */
    json_t *me = json_object_get(json_object_get(paths, "/v1/users/me"), "get");
    assert_non_null(json_object_get(me, "security"));
    assert_int_equal(json_array_size(json_object_get(me, "x-roles")), 3);
    json_t *live = json_object_get(json_object_get(paths, "/health/live"), "get");
    assert_null(json_object_get(live, "security"));
    json_t *admin = json_object_get(json_object_get(paths, "/v1/admin/users"), "get");
    assert_string_equal(json_string_value(json_array_get(json_object_get(admin, "x-roles"), 0)),
                        "admin");

    buf html;
    buf_init(&html, 1u << 20);
    assert_int_equal(openapi_render_html(doc, &html), 0);
    assert_non_null(strstr(html.ptr, "/health/ready"));
    assert_non_null(strstr(html.ptr, "JSON &lt;thing&gt;"));
    assert_null(strstr(html.ptr, "<wav>"));
    assert_null(strstr(html.ptr, "/_test/secret"));
    buf_free(&html);
    json_decref(doc);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_conversion),
        cmocka_unit_test(test_document_matches_router),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
