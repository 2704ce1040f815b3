-- Scoring results (issue 6): one feedback report per session, one progress snapshot per
-- scored session. Keep in step with 0005_feedback.sqlite.sql.

CREATE TABLE feedback_reports (
    id UUID PRIMARY KEY,
    -- UNIQUE: a crash mid-scoring re-runs the job, it never produces a second report.
    session_id UUID NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
    scorer_version TEXT NOT NULL,
    -- The report of ../shared/API.md, set when ready.
    report JSONB CHECK (report IS NULL OR jsonb_typeof(report) = 'object'),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error TEXT,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ(3),
    CHECK (status <> 'ready' OR (report IS NOT NULL AND completed_at IS NOT NULL))
);

CREATE TABLE progress_snapshots (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id UUID NOT NULL UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
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
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

CREATE INDEX progress_snapshots_user_idx ON progress_snapshots (user_id, created_at);
