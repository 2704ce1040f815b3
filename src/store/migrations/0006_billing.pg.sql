-- Billing (issue 7): plans, Stripe customers, subscriptions, invoices, usage for quotas and
-- received Stripe events. Billing rows outlive account erasure (the user row is anonymised,
-- not deleted), hence ON DELETE RESTRICT towards users. Keep in step with
-- 0006_billing.sqlite.sql.

-- Seeded from data/plans.json; sessions_per_month NULL means unlimited.
CREATE TABLE plans (
    id TEXT PRIMARY KEY CHECK (length(id) > 0),
    name TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    interval TEXT NOT NULL CHECK (interval IN ('month', 'year')),
    sessions_per_month INTEGER CHECK (sessions_per_month >= 0),
    voice BOOLEAN NOT NULL DEFAULT FALSE,
    llm BOOLEAN NOT NULL DEFAULT FALSE,
    stripe_price_id TEXT UNIQUE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

-- The Stripe customer, created on a user's first checkout (before any subscription exists).
CREATE TABLE billing_customers (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE RESTRICT,
    stripe_customer_id TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    plan_id TEXT NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    provider TEXT NOT NULL CHECK (provider IN ('stripe', 'local')),
    status TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid',
        'incomplete', 'incomplete_expired', 'paused')),
    stripe_subscription_id TEXT UNIQUE,
    stripe_customer_id TEXT,
    current_period_start TIMESTAMPTZ(3),
    current_period_end TIMESTAMPTZ(3),
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    canceled_at TIMESTAMPTZ(3),
    trial_end TIMESTAMPTZ(3),
    -- Time of the Stripe event/object that set this state: an older event never overwrites it.
    state_at TIMESTAMPTZ(3) NOT NULL,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CHECK (provider <> 'stripe' OR stripe_subscription_id IS NOT NULL)
);

CREATE INDEX subscriptions_user_idx ON subscriptions (user_id, created_at);
CREATE INDEX subscriptions_plan_idx ON subscriptions (plan_id);
-- Grace-period and renewal sweeps.
CREATE INDEX subscriptions_status_period_idx ON subscriptions (status, current_period_end);

CREATE TABLE invoices (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    subscription_id UUID REFERENCES subscriptions (id) ON DELETE SET NULL,
    stripe_invoice_id TEXT UNIQUE,
    number TEXT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'uncollectible', 'void')),
    amount_due INTEGER NOT NULL CHECK (amount_due >= 0),
    amount_paid INTEGER NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    hosted_invoice_url TEXT,
    invoice_pdf TEXT,
    period_start TIMESTAMPTZ(3),
    period_end TIMESTAMPTZ(3),
    -- As subscriptions.state_at: out-of-order invoice.* events do not roll the status back.
    state_at TIMESTAMPTZ(3) NOT NULL,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

CREATE INDEX invoices_user_idx ON invoices (user_id, created_at);
CREATE INDEX invoices_subscription_idx ON invoices (subscription_id);

-- What quotas count, written in the same transaction as the session it counts.
CREATE TABLE usage_events (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    session_id UUID REFERENCES sessions (id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('session_started', 'voice_seconds')),
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

CREATE INDEX usage_events_user_idx ON usage_events (user_id, kind, created_at);
-- A session is counted once, however often its start is retried.
CREATE UNIQUE INDEX usage_events_session_started_idx ON usage_events (session_id)
    WHERE kind = 'session_started';

-- Every Stripe webhook event, stored once by id and processed in the same transaction as its
-- effects; a replay finds the row and does nothing.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY CHECK (length(id) > 0),
    type TEXT NOT NULL,
    created TIMESTAMPTZ(3) NOT NULL,
    livemode BOOLEAN NOT NULL DEFAULT FALSE,
    payload JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    received_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    processed_at TIMESTAMPTZ(3)
);

CREATE INDEX stripe_events_type_idx ON stripe_events (type, created);
