/* The billing service: plans, what a user's plan entitles them to, usage, and paying for a
 * plan ("Billing" in API.md, docs/billing.md). Subscriptions come from Stripe (checkout,
 * customer portal, signed webhooks) or, in development, from the local provider; either way
 * the entitlement below is what the rest of the system asks. */
#ifndef PRAXIS_SERVICES_BILLING_H
#define PRAXIS_SERVICES_BILLING_H

#include "core/common.h"
#include "http/router.h"
#include "store/db.h"

typedef struct entitlement {
    char plan[32];          /* plan id: free, standard, premium */
    char status[24];        /* subscription status; "active" for the free plan */
    long long sessions_limit; /* -1 = unlimited */
    long long sessions_used;  /* in the current period */
    long long voice_seconds_used; /* in the current period */
    int voice, llm;
    char period_start[32];  /* RFC 3339 */
    char period_end[32];    /* when the quota resets */
    int cancel_at_period_end;
    int paid;               /* 1 when a subscription (not the free plan) applies */
    char provider[8];       /* "stripe" or "local" when paid, "" for the free plan */
    char subscription_id[40]; /* our id of the subscription that applies; "" when free */
    char stripe_subscription_id[128]; /* "" unless provider is stripe */
    char grace_until[32];   /* past_due: the plan applies until then; "" otherwise */
} entitlement;

/* Serialises quota decisions for one user inside the caller's transaction: SQLite already
 * has a single writer; PostgreSQL locks the user's row until commit. */
int billing_lock_user(db_conn *c, const char *user_id) WUR;
/* What user_id may do right now (in the caller's transaction when one is open): the plan of
 * an active or trialing subscription whose period has not ended, or of a past_due one inside
 * its grace period (BILLING_GRACE_DAYS after the status changed); else the free plan, whose
 * period is the calendar month (UTC). Usage counts from the period's start. */
int billing_entitlement(db_conn *c, const char *user_id, entitlement *out) WUR;
/* Counts a started session against the quota; call in the transaction that creates it. */
int billing_record_session(db_conn *c, const char *user_id, const char *session_id) WUR;
/* Records seconds of voice practice (seconds >= 0; 0 writes nothing) for session_id in the
 * caller's transaction; GET /v1/billing/usage reports the period's sum in minutes, rounded
 * up. DB_ERROR for a negative count. */
int billing_record_voice_seconds(db_conn *c, const char *user_id, const char *session_id,
                                 long long seconds) WUR;

int billing_register_routes(router *r) WUR;

#endif
