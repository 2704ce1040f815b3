/* GET /v1/billing/plans (public), and the caller's subscription, usage and invoices; the
 * route tables of the other billing files are registered from here too. */
#include "services/billing/internal.h"

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
    http_res_json(req, res, 200, billing_subscription_json(&e));
}

static void usage_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    entitlement e;
    if (billing_entitlement(c, req->user_id, &e) != DB_OK) {
        service_db_failed(req, res, c, "billing: usage");
        db_release(c);
        return;
    }
    db_release(c);
    http_res_json(
        req, res, 200,
        json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:b}", "plan", e.plan, "period_start",
                  e.period_start, "period_end", e.period_end, "sessions_used",
                  (json_int_t)e.sessions_used, "sessions_limit",
                  e.sessions_limit < 0 ? json_null() : json_integer(e.sessions_limit),
                  "voice_minutes_used", (json_int_t)((e.voice_seconds_used + 59) / 60), "voice",
                  e.voice));
}

static void invoices_list(http_req *req, http_res *res)
{
    int page, per_page;
    if (http_req_pagination(req, res, &page, &per_page) != 0)
        return;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(req->user_id), DB_INT(per_page),
                          DB_INT((long long)(page - 1) * per_page)};
    db_rows *r = NULL;
    long long total = -1;
    if (db_query(c, "SELECT count(*) FROM invoices WHERE user_id = $1", p, 1, &r) == DB_OK &&
        db_rows_next(r) == 1)
        total = db_col_int(r, 0);
    db_rows_free(r);
    r = NULL;
    if (total < 0 ||
        db_query(c,
                 "SELECT id, number, status, amount_due, amount_paid, currency, "
                 "hosted_invoice_url, invoice_pdf, period_start, period_end, created_at "
                 "FROM invoices WHERE user_id = $1 ORDER BY created_at DESC, id DESC "
                 "LIMIT $2 OFFSET $3",
                 p, 3, &r) != DB_OK) {
        service_db_failed(req, res, c, "billing: invoices");
        db_release(c);
        return;
    }
    json_t *items = json_array();
    while (db_rows_next(r) == 1)
        json_array_append_new(
            items, json_pack("{s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                             text_or_null(r, 0), "number", text_or_null(r, 1), "status",
                             text_or_null(r, 2), "amount_due", (json_int_t)db_col_int(r, 3),
                             "amount_paid", (json_int_t)db_col_int(r, 4), "currency",
                             text_or_null(r, 5), "hosted_invoice_url", text_or_null(r, 6),
                             "invoice_pdf", text_or_null(r, 7), "period_start",
                             text_or_null(r, 8), "period_end", text_or_null(r, 9), "created_at",
                             text_or_null(r, 10)));
    db_rows_free(r);
    db_release(c);
    http_res_json(req, res, 200, http_list_body(items, page, per_page, total));
}

static const int c_plans[] = {200, 0};
static const int c_sub[] = {200, 401, 403, 0};
static const int c_list[] = {200, 401, 403, 422, 0};

static const route_def billing_routes[] = {
    {.method = HTTP_GET, .path = "/v1/billing/plans", .handler = plans_list, .service = "billing",
     .tag = "billing", .responses = c_plans,
     .summary = "The plans: price, interval, sessions per month (null = unlimited), voice"},
    {.method = HTTP_GET, .path = "/v1/billing/subscription", .handler = subscription_get,
     .service = "billing", .tag = "billing", .responses = c_sub, .auth = AUTH_USER,
     .summary = "The caller's plan, status, period and usage this period"},
    {.method = HTTP_GET, .path = "/v1/billing/usage", .handler = usage_get, .service = "billing",
     .tag = "billing", .responses = c_sub, .auth = AUTH_USER,
     .summary = "This period's usage: sessions used and the limit, voice minutes, the period"},
    {.method = HTTP_GET, .path = "/v1/billing/invoices", .handler = invoices_list,
     .service = "billing", .tag = "billing", .responses = c_list, .auth = AUTH_USER,
     .summary = "The caller's invoices, newest first (?page=&per_page=)"},
};

int billing_register_routes(router *r)
{
    if (ROUTER_ADD_TABLE(r, billing_routes) != 0 || billing_register_pay_routes(r) != 0 ||
        billing_register_webhook_routes(r) != 0 || billing_register_local_routes(r) != 0)
        return -1;
    return 0;
}
