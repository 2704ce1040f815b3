/* The billing service: plans, what a user's plan entitles them to, and usage ("Billing" in
 * API.md). This first slice serves the plans and the caller's subscription and enforces the
 * monthly session quota at session creation; Stripe checkout, webhooks and invoices follow. */
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
    int voice, llm;
    char period_start[32];  /* RFC 3339 */
    char period_end[32];    /* when the quota resets */
    int cancel_at_period_end;
    int paid;               /* 1 when a subscription (not the free plan) applies */
} entitlement;

/* Serialises quota decisions for one user inside the caller's transaction: SQLite already
 * has a single writer; PostgreSQL locks the user's row until commit. */
int billing_lock_user(db_conn *c, const char *user_id) WUR;
/* What user_id may do right now (in the caller's transaction when one is open). */
int billing_entitlement(db_conn *c, const char *user_id, entitlement *out) WUR;
/* Counts a started session against the quota; call in the transaction that creates it. */
int billing_record_session(db_conn *c, const char *user_id, const char *session_id) WUR;

int billing_register_routes(router *r) WUR;

#endif
