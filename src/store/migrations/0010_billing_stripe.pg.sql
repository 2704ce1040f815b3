-- Billing with Stripe (issue 7, second slice): what decides whether a webhook may change a
-- subscription, the past_due grace period, why each Stripe event changed what it did, and the
-- single-use links of the local (development) provider. Keep in step with
-- 0010_billing_stripe.sqlite.sql.

-- Out-of-order events: state_at (0006) is the `created` of the event that last wrote the row;
-- state_rank breaks ties inside one second (subscription.created 0 < updated 1 < deleted 2),
-- and state_event_id names that event.
ALTER TABLE subscriptions ADD COLUMN state_rank INTEGER NOT NULL DEFAULT 0
    CHECK (state_rank BETWEEN -1 AND 2);
ALTER TABLE subscriptions ADD COLUMN state_event_id TEXT;
-- When the status last changed, and for past_due until when the plan still applies
-- (status_changed_at + BILLING_GRACE_DAYS at the time of the change).
ALTER TABLE subscriptions ADD COLUMN status_changed_at TIMESTAMPTZ(3);
ALTER TABLE subscriptions ADD COLUMN grace_until TIMESTAMPTZ(3);
UPDATE subscriptions SET status_changed_at = updated_at;
UPDATE subscriptions SET grace_until = updated_at + interval '3 days' WHERE status = 'past_due';

CREATE INDEX subscriptions_customer_idx ON subscriptions (stripe_customer_id);

-- What processing an event did (applied, stale, ignored, unlinked), for operators.
ALTER TABLE stripe_events ADD COLUMN outcome TEXT;

-- The local provider's links (BILLING_PROVIDER=local, never in production): checkout links
-- are single use, portal links only expire; stored hashed like every other token.
CREATE TABLE billing_local_tokens (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('checkout', 'portal')),
    plan_id TEXT REFERENCES plans (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ(3) NOT NULL,
    used_at TIMESTAMPTZ(3),
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CHECK (purpose <> 'checkout' OR plan_id IS NOT NULL)
);

CREATE INDEX billing_local_tokens_user_idx ON billing_local_tokens (user_id, created_at);
