-- Scoring results (issue 6): one feedback report per session, one progress snapshot per
-- scored session. Keep in step with 0005_feedback.pg.sql.

CREATE TABLE feedback_reports (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    -- UNIQUE: a crash mid-scoring re-runs the job, it never produces a second report.
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
    scorer_version TEXT NOT NULL,
    -- The report of ../shared/API.md, set when ready.
    report TEXT CHECK (report IS NULL OR (json_valid(report) AND json_type(report) = 'object')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at TEXT,
    CHECK (status <> 'ready' OR (report IS NOT NULL AND completed_at IS NOT NULL))
) STRICT;

CREATE TABLE progress_snapshots (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    mode TEXT NOT NULL CHECK (mode IN ('text', 'voice')),
    -- An estimate on OET's 0-500 scale (steps of 10) and its grade.
    estimated_score INTEGER NOT NULL
        CHECK (estimated_score BETWEEN 0 AND 500 AND estimated_score % 10 = 0),
    grade TEXT NOT NULL CHECK (grade IN ('A', 'B', 'C+', 'C', 'D', 'E')),
    -- Linguistic criteria 0-6; intelligibility is not assessed in text mode (NULL).
    intelligibility INTEGER CHECK (intelligibility BETWEEN 0 AND 6),
    fluency INTEGER NOT NULL CHECK (fluency BETWEEN 0 AND 6),
    appropriateness INTEGER NOT NULL CHECK (appropriateness BETWEEN 0 AND 6),
    grammar_expression INTEGER NOT NULL CHECK (grammar_expression BETWEEN 0 AND 6),
    -- Clinical communication criteria 0-3.
    relationship_building INTEGER NOT NULL CHECK (relationship_building BETWEEN 0 AND 3),
    patient_perspective INTEGER NOT NULL CHECK (patient_perspective BETWEEN 0 AND 3),
    providing_structure INTEGER NOT NULL CHECK (providing_structure BETWEEN 0 AND 3),
    information_gathering INTEGER NOT NULL CHECK (information_gathering BETWEEN 0 AND 3),
    information_giving INTEGER NOT NULL CHECK (information_giving BETWEEN 0 AND 3),
    -- When the session was completed: the x axis of the progress trend.
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX progress_snapshots_user_idx ON progress_snapshots (user_id, created_at);
