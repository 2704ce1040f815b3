-- Refresh tokens and single-use email tokens (issue 3). Only hashes of tokens are stored.
-- Keep in step with 0002_auth_tokens.pg.sql.

-- One row per issued refresh token. A refresh spends the row (revoked_at, replaced_by) and
-- issues the next one in the same family; presenting a spent token revokes the whole family.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    replaced_by TEXT REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_used_at TEXT,
    ip TEXT,
    user_agent TEXT
) STRICT;

CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id, created_at);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_replaced_by_idx ON refresh_tokens (replaced_by);

-- Email verification (24 h) and password reset (1 h) links; used_at makes them single use.
CREATE TABLE email_tokens (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose, created_at);
