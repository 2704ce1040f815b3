-- The audit log of auth and admin actions (issues 3, 4, 7) and the transactional outbox: jobs
-- (emails, scoring, webhooks out) committed with the change that causes them and sent by a
-- worker afterwards. Keep in step with 0007_audit_outbox.sqlite.sql.

CREATE TABLE audit_logs (
    id UUID PRIMARY KEY,
    -- Who did it (NULL: anonymous, e.g. a failed login, or the system).
    actor_id UUID REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL CHECK (length(action) > 0),
    -- What it was done to: a user, a scenario, a subscription... (not a foreign key).
    target_type TEXT,
    target_id TEXT,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    details JSONB CHECK (details IS NULL OR jsonb_typeof(details) = 'object'),
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

-- Admin filters (?actor_id=, ?action=), a user's export, and the unfiltered newest-first list.
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_id, created_at);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, created_at);
CREATE INDEX audit_logs_target_idx ON audit_logs (target_id, created_at);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at);

CREATE TABLE outbox (
    id UUID PRIMARY KEY,
    topic TEXT NOT NULL CHECK (length(topic) > 0),
    payload JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    -- A worker's lease on a 'processing' row: after a crash the row is taken again once it ends.
    locked_until TIMESTAMPTZ(3),
    locked_by TEXT,
    last_error TEXT,
    -- Optional idempotency key ("score:<session id>"): the same job is queued once.
    dedupe_key TEXT UNIQUE,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ(3),
    CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);

-- The dispatcher's poll: due pending rows, oldest first.
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
