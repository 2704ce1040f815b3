-- The audit log of auth and admin actions (issues 3, 4, 7) and the transactional outbox: jobs
-- (emails, scoring, webhooks out) committed with the change that causes them and sent by a
-- worker afterwards. Keep in step with 0007_audit_outbox.pg.sql.

CREATE TABLE audit_logs (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    -- Who did it (NULL: anonymous, e.g. a failed login, or the system).
    actor_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL CHECK (length(action) > 0),
    -- What it was done to: a user, a scenario, a subscription... (not a foreign key).
    target_type TEXT,
    target_id TEXT,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    details TEXT CHECK (details IS NULL OR (json_valid(details) AND json_type(details) = 'object')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Admin filters (?actor_id=, ?action=), a user's export, and the unfiltered newest-first list.
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_id, created_at);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, created_at);
CREATE INDEX audit_logs_target_idx ON audit_logs (target_id, created_at);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    topic TEXT NOT NULL CHECK (length(topic) > 0),
    payload TEXT NOT NULL CHECK (json_valid(payload)),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- A worker's lease on a 'processing' row: after a crash the row is taken again once it ends.
    locked_until TEXT,
    locked_by TEXT,
    last_error TEXT,
    -- Optional idempotency key ("score:<session id>"): the same job is queued once.
    dedupe_key TEXT UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    sent_at TEXT,
    CHECK (status <> 'sent' OR sent_at IS NOT NULL)
) STRICT;

-- The dispatcher's poll: due pending rows, oldest first.
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
