/* Shared by the billing files (not the service's API, which is billing.h): plan/price
 * mapping, the Stripe subscription state and the rule that writes it, audit rows, problems,
 * the local provider's links, and each file's route table. */
#ifndef PRAXIS_SERVICES_BILLING_INTERNAL_H
#define PRAXIS_SERVICES_BILLING_INTERNAL_H

#include "core/config.h"
#include "http/server.h"
#include "services/billing/billing.h"
#include "services/billing/stripe.h"

#include <jansson.h>
#include <stdint.h>

#define STRIPE_ID_MAX 128 /* "sub_…", "cus_…", "in_…", "evt_…": far shorter in practice */

/* The plan a Stripe price id stands for (STRIPE_PRICE_STANDARD / _PREMIUM); NULL if none. */
const char *billing_plan_for_price(const config *cfg, const char *price);
/* The Stripe price of a paid plan; NULL for free and unknown plans. */
const char *billing_price_for_plan(const config *cfg, const char *plan);
void billing_stripe_api(const config *cfg, stripe_api *out);
/* 1 for the subscription statuses Stripe defines (and the schema allows). */
int billing_status_valid(const char *status);
/* 1 if s can be a Stripe object id: 1..127 of [A-Za-z0-9_]. */
int billing_stripe_id_valid(const char *s);

/* ---- subscription state ---------------------------------------------------------------- */

/* Ties inside one second of event time: a later kind of event wins. The local provider and
 * API answers write with RANK_UPDATED; the placeholder a completed checkout leaves loses to
 * everything. */
enum { RANK_PLACEHOLDER = -1, RANK_CREATED = 0, RANK_UPDATED = 1, RANK_DELETED = 2 };

typedef struct sub_state {
    char stripe_id[STRIPE_ID_MAX];
    char customer[STRIPE_ID_MAX];   /* "" when absent */
    char status[24];
    char plan[32];                  /* from the price; "" when the price is not ours */
    char user_id[40];               /* metadata.user_id when it is a UUID; "" otherwise */
    char period_start[32], period_end[32]; /* RFC 3339; "" when absent */
    char canceled_at[32], trial_end[32];   /* "" when null */
    int cancel_at_period_end;
} sub_state;

/* Reads a Stripe subscription object (either API version's shape: periods at the top level
 * or on the first item). -1 with *why when it cannot be used. */
int billing_sub_read(const config *cfg, const json_t *obj, sub_state *out, const char **why);

typedef enum { APPLY_APPLIED = 0, APPLY_STALE, APPLY_UNLINKED, APPLY_IGNORED } apply_outcome;
const char *billing_apply_outcome_name(apply_outcome o);

/* Writes s to our subscription row in the caller's transaction, under the out-of-order rule:
 * nothing changes when (at_ms, rank) is older than what last wrote the row, or when s's period
 * starts before the row's. The user is the row's, else metadata.user_id, else the customer's;
 * without one → APPLY_UNLINKED. A status change starts the past_due grace (at_ms +
 * BILLING_GRACE_DAYS). Plan, status or cancel_at_period_end changes write an audit row.
 * source names the writer (event id, "api"); actor_id the user who asked (NULL: Stripe). */
int billing_sub_apply(db_conn *c, const http_req *req, const config *cfg, const sub_state *s,
                      int64_t at_ms, int rank, const char *source, const char *actor_id,
                      apply_outcome *out) WUR;

/* One audit row "billing.subscription_changed" for user_id: from (NULL fields = no previous
 * row) → to. actor_id NULL = the system (a webhook). */
typedef struct sub_snapshot {
    const char *plan;
    const char *status;
    int cancel_at_period_end;
} sub_snapshot;
int billing_audit_change(db_conn *c, const http_req *req, const char *actor_id,
                         const char *user_id, const char *subscription_id, const char *provider,
                         const sub_snapshot *from, const sub_snapshot *to, const char *source)
    WUR;

/* ---- answers ----------------------------------------------------------------------------- */

/* The caller's subscription as GET /v1/billing/subscription shows it. */
json_t *billing_subscription_json(const entitlement *e);
/* 503 billing-unavailable with Retry-After: Stripe did not answer in time or is overloaded. */
void billing_unavailable(http_req *req, http_res *res, long retry_after_s);
/* 502 stripe-error: Stripe refused a request we expected it to accept. */
void billing_stripe_error(http_req *req, http_res *res);
/* 404 billing-provider: the provider this route needs is not the one configured. */
void billing_no_provider(http_req *req, http_res *res, const char *detail);
void billing_conflict(http_req *req, http_res *res, const char *slug, const char *title,
                      const char *detail);

/* ---- the local provider (BILLING_PROVIDER=local, not in production) ------------------------- */

#define LOCAL_TOKEN_LEN 44 /* 43 base64url chars + NUL */
#define LOCAL_TOKEN_TTL_S 3600

/* 1 when the local provider serves (BILLING_PROVIDER=local and PRODUCTION=false). */
int billing_local_enabled(const config *cfg);
/* A new link token of purpose ("checkout" with plan, "portal") for user_id, stored hashed. */
int billing_local_token_new(db_conn *c, const char *user_id, const char *purpose,
                            const char *plan, char token[LOCAL_TOKEN_LEN]) WUR;
/* Starts a local subscription to plan now (period: one calendar month), ending any other
 * live local one, with its audit row, in the caller's transaction. */
int billing_local_activate(db_conn *c, const http_req *req, const char *user_id,
                           const char *plan) WUR;

/* ---- route tables --------------------------------------------------------------------------- */

int billing_register_pay_routes(router *r) WUR;     /* checkout, portal, cancel */
int billing_register_webhook_routes(router *r) WUR; /* POST /v1/webhooks/stripe */
int billing_register_local_routes(router *r) WUR;   /* the local provider's pages */

#endif
