/* GET /v1/billing/plans (public) and GET /v1/billing/subscription (the caller's plan, status,
 * period and usage). */
#include "services/billing/billing.h"

#include "http/server.h"
#include "services/app.h"

static json_t *text_or_null(const db_rows *r, size_t i)
{
    const char *v = db_col_text(r, i);
    return v ? json_string(v) : json_null();
}

static void plans_list(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT id, name, price_minor, currency, \"interval\", sessions_per_month, voice, "
                 "llm FROM plans WHERE active = TRUE ORDER BY sort_order, id",
                 NULL, 0, &r) != DB_OK) {
        service_db_failed(req, res, c, "billing: plans");
        db_release(c);
        return;
    }
    json_t *items = json_array();
    while (db_rows_next(r) == 1)
        json_array_append_new(
            items,
            json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:b, s:b}", "id", text_or_null(r, 0),
                      "name", text_or_null(r, 1), "price_minor", (json_int_t)db_col_int(r, 2),
                      "currency", text_or_null(r, 3), "interval", text_or_null(r, 4),
                      "sessions_per_month",
                      db_col_is_null(r, 5) ? json_null() : json_integer(db_col_int(r, 5)), "voice",
                      (int)db_col_int(r, 6), "llm", (int)db_col_int(r, 7)));
    db_rows_free(r);
    db_release(c);
    http_res_json(req, res, 200, json_pack("{s:o}", "items", items));
    http_res_header(req, res, "Cache-Control", "public, max-age=300");
}

static void subscription_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    entitlement e;
    if (billing_entitlement(c, req->user_id, &e) != DB_OK) {
        service_db_failed(req, res, c, "billing: subscription");
        db_release(c);
        return;
    }
    db_release(c);
    http_res_json(
        req, res, 200,
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:I, s:o}, s:b, s:b}", "plan", e.plan, "status",
                  e.status, "current_period_start", e.period_start, "current_period_end",
                  e.period_end, "cancel_at_period_end", e.cancel_at_period_end, "usage",
                  "sessions_used", (json_int_t)e.sessions_used, "sessions_limit",
                  e.sessions_limit < 0 ? json_null() : json_integer(e.sessions_limit), "voice",
                  e.voice, "llm", e.llm));
}

static const int c_plans[] = {200, 0};
static const int c_sub[] = {200, 401, 403, 0};

static const route_def billing_routes[] = {
    {.method = HTTP_GET, .path = "/v1/billing/plans", .handler = plans_list, .service = "billing",
     .tag = "billing", .responses = c_plans,
     .summary = "The plans: price, interval, sessions per month (null = unlimited), voice"},
    {.method = HTTP_GET, .path = "/v1/billing/subscription", .handler = subscription_get,
     .service = "billing", .tag = "billing", .responses = c_sub, .auth = AUTH_USER,
     .summary = "The caller's plan, status, period and usage this period"},
};

int billing_register_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, billing_routes);
}
