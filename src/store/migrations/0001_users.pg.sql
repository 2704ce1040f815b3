-- Accounts (issue 3). Keep in step with 0001_users.sqlite.sql: same columns, same constraints.
-- TIMESTAMPTZ(3) keeps milliseconds, the precision the API and the SQLite driver use.
CREATE TABLE users (
    id UUID PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    full_name TEXT NOT NULL,
    -- Candidates practise for one of the 12 professions; staff accounts may have none.
    profession TEXT CHECK (profession IN ('medicine', 'nursing', 'dentistry', 'pharmacy',
        'physiotherapy', 'occupational-therapy', 'dietetics', 'optometry', 'podiatry',
        'radiography', 'speech-pathology', 'veterinary-science')),
    role TEXT NOT NULL DEFAULT 'candidate' CHECK (role IN ('candidate', 'tutor', 'admin')),
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    target_grade TEXT CHECK (target_grade IN ('A', 'B', 'C+', 'C', 'D', 'E')),
    exam_date DATE,
    first_language TEXT,
    country TEXT,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ(3),
    CHECK (role <> 'candidate' OR profession IS NOT NULL)
);

-- Admin user list, newest first, optionally by role.
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_role_created_at_idx ON users (role, created_at);
