-- Accounts (issue 3). Keep in step with 0001_users.pg.sql: same columns, same constraints.
-- Ids are UUIDv7 text; times are RFC 3339 UTC text with milliseconds, so they sort as text;
-- booleans are 0/1 integers.
CREATE TABLE users (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    full_name TEXT NOT NULL,
    -- Candidates practise for one of the 12 professions; staff accounts may have none.
    profession TEXT CHECK (profession IN ('medicine', 'nursing', 'dentistry', 'pharmacy',
        'physiotherapy', 'occupational-therapy', 'dietetics', 'optometry', 'podiatry',
        'radiography', 'speech-pathology', 'veterinary-science')),
    role TEXT NOT NULL DEFAULT 'candidate' CHECK (role IN ('candidate', 'tutor', 'admin')),
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    target_grade TEXT CHECK (target_grade IN ('A', 'B', 'C+', 'C', 'D', 'E')),
    -- A real calendar date, as PostgreSQL's DATE: date() alone accepts "2026-02-30".
    exam_date TEXT CHECK (exam_date IS NULL OR date(julianday(exam_date)) IS exam_date),
    first_language TEXT,
    country TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at TEXT,
    CHECK (role <> 'candidate' OR profession IS NOT NULL)
) STRICT;

-- Admin user list, newest first, optionally by role.
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_role_created_at_idx ON users (role, created_at);
