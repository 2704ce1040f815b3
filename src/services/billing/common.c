/* Small pieces every billing file uses: plans and Stripe prices, id and status checks, the
 * audit row of a plan change, the subscription view and the billing problems. */
#include "services/billing/internal.h"

#include "core/json.h"
#include "services/audit.h"

#include <stdio.h>
#include <string.h>

const char *billing_plan_for_price(const config *cfg, const char *price)
{
    if (!price || !*price)
        return NULL;
    if (cfg->stripe_price_standard && strcmp(price, cfg->stripe_price_standard) == 0)
        return "standard";
    if (cfg->stripe_price_premium && strcmp(price, cfg->stripe_price_premium) == 0)
        return "premium";
    return NULL;
}

const char *billing_price_for_plan(const config *cfg, const char *plan)
{
    if (!plan)
        return NULL;
    if (strcmp(plan, "standard") == 0)
        return cfg->stripe_price_standard;
    if (strcmp(plan, "premium") == 0)
        return cfg->stripe_price_premium;
    return NULL;
}

void billing_stripe_api(const config *cfg, stripe_api *out)
{
    out->base = cfg->stripe_api_base;
    out->secret_key = cfg->stripe_secret_key ? cfg->stripe_secret_key : "";
    out->timeout_ms = cfg->stripe_timeout_ms;
}

int billing_status_valid(const char *status)
{
    static const char *const statuses[] = {"trialing", "active",   "past_due",
                                           "canceled", "unpaid",   "incomplete",
                                           "incomplete_expired",   "paused"};
    if (!status)
        return 0;
    for (size_t i = 0; i < ARRAY_LEN(statuses); i++)
        if (strcmp(status, statuses[i]) == 0)
            return 1;
    return 0;
}

int billing_stripe_id_valid(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    return n < STRIPE_ID_MAX;
}

static json_t *snapshot_json(const sub_snapshot *s)
{
    if (!s || !s->plan)
        return json_null();
    return json_pack("{s:s, s:s, s:b}", "plan", s->plan, "status", s->status ? s->status : "",
                     "cancel_at_period_end", s->cancel_at_period_end);
}

int billing_audit_change(db_conn *c, const http_req *req, const char *actor_id,
                         const char *user_id, const char *subscription_id, const char *provider,
                         const sub_snapshot *from, const sub_snapshot *to, const char *source)
{
    json_t *details = json_pack("{s:s, s:s, s:o, s:o, s:s}", "subscription_id", subscription_id,
                                "provider", provider, "from", snapshot_json(from), "to",
                                snapshot_json(to), "source", source ? source : "");
    if (!details)
        return DB_ERROR;
    audit_entry e = {.action = "billing.subscription_changed", .actor_id = actor_id,
                     .target_type = "user", .target_id = user_id, .details = details};
    int rc = audit_write(c, req, &e);
    json_decref(details);
    return rc;
}

json_t *billing_subscription_json(const entitlement *e)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:b, s:o, s:{s:I, s:o}, s:b, s:b}", "plan",
                     e->plan, "status", e->status, "provider",
                     e->provider[0] ? json_string(e->provider) : json_null(),
                     "current_period_start", e->period_start, "current_period_end",
                     e->period_end, "cancel_at_period_end", e->cancel_at_period_end,
                     "grace_until", e->grace_until[0] ? json_string(e->grace_until) : json_null(),
                     "usage", "sessions_used", (json_int_t)e->sessions_used, "sessions_limit",
                     e->sessions_limit < 0 ? json_null() : json_integer(e->sessions_limit),
                     "voice", e->voice, "llm", e->llm);
}

void billing_unavailable(http_req *req, http_res *res, long retry_after_s)
{
    char ra[24];
    snprintf(ra, sizeof(ra), "%ld", retry_after_s > 0 ? retry_after_s : 10);
    http_res_problem_full(req, res, 503, "billing-unavailable", "Billing Unavailable",
                          "The payment provider did not answer in time. Try again shortly.",
                          NULL);
    http_res_header(req, res, "Retry-After", ra);
}

void billing_stripe_error(http_req *req, http_res *res)
{
    http_res_problem_full(req, res, 502, "stripe-error", "Payment Provider Error",
                          "The payment provider refused the request. It has been logged; try "
                          "again later or contact support.",
                          NULL);
}

void billing_no_provider(http_req *req, http_res *res, const char *detail)
{
    http_res_problem_full(req, res, 404, "billing-provider", "Billing Provider Not Configured",
                          detail, NULL);
}

void billing_conflict(http_req *req, http_res *res, const char *slug, const char *title,
                      const char *detail)
{
    http_res_problem_full(req, res, 409, slug, title, detail, NULL);
}
