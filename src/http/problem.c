/* Problem details (RFC 9457) with the project's type URIs and standard titles. */
#include "http/problem.h"

#include <stdio.h>

static const struct {
    int status;
    const char *slug;
    const char *title;
} known[] = {
    {400, "bad-request", "Bad Request"},
    {401, "unauthorized", "Unauthorized"},
    {402, "payment-required", "Payment Required"},
    {403, "forbidden", "Forbidden"},
    {404, "not-found", "Not Found"},
    {405, "method-not-allowed", "Method Not Allowed"},
    {406, "not-acceptable", "Not Acceptable"},
    {408, "request-timeout", "Request Timeout"},
    {409, "conflict", "Conflict"},
    {410, "gone", "Gone"},
    {412, "precondition-failed", "Precondition Failed"},
    {413, "payload-too-large", "Payload Too Large"},
    {415, "unsupported-media-type", "Unsupported Media Type"},
    {422, "validation-failed", "Validation Failed"},
    {426, "upgrade-required", "Upgrade Required"},
    {429, "rate-limited", "Too Many Requests"},
    {500, "internal-error", "Internal Server Error"},
    {501, "unsupported-method", "Method Not Supported"},
    {502, "bad-gateway", "Bad Gateway"},
    {503, "service-unavailable", "Service Unavailable"},
    {504, "gateway-timeout", "Gateway Timeout"},
};

const char *problem_slug(int status)
{
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (known[i].status == status)
            return known[i].slug;
    return status >= 500 ? "internal-error" : "bad-request";
}

const char *problem_title(int status)
{
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (known[i].status == status)
            return known[i].title;
    return status >= 500 ? "Internal Server Error" : "Bad Request";
}

json_t *problem_new(int status, const char *slug, const char *title, const char *detail,
                    json_t *errors)
{
    if (!slug)
        slug = problem_slug(status);
    if (!title)
        title = problem_title(status);
    char type[160];
    snprintf(type, sizeof(type), "%s%s", PROBLEM_TYPE_BASE, slug);
    json_t *p = json_pack("{s:s, s:s, s:i}", "type", type, "title", title, "status", status);
    if (!p)
        return NULL;
    if (detail)
        json_object_set_new(p, "detail", json_string(detail));
    if (errors && json_array_size(errors) > 0)
        json_object_set(p, "errors", errors);
    return p;
}
