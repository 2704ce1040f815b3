-- Practice sessions and their transcripts (issue 5). Keep in step with 0004_sessions.sqlite.sql.

CREATE TABLE sessions (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scenario_id UUID NOT NULL,
    -- The exact card played: an edit to the scenario never changes a past session.
    scenario_version INTEGER NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('text', 'voice')),
    status TEXT NOT NULL DEFAULT 'preparing'
        CHECK (status IN ('preparing', 'active', 'completed', 'abandoned')),
    patient_engine TEXT NOT NULL DEFAULT 'scripted' CHECK (patient_engine IN ('scripted', 'llm')),
    -- Seeds the scripted patient so a replay is deterministic.
    seed BIGINT NOT NULL,
    prep_ends_at TIMESTAMPTZ(3) NOT NULL,
    started_at TIMESTAMPTZ(3),
    ends_at TIMESTAMPTZ(3),
    completed_at TIMESTAMPTZ(3),
    abandoned_at TIMESTAMPTZ(3),
    last_activity_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CHECK (status <> 'active' OR (started_at IS NOT NULL AND ends_at IS NOT NULL)),
    CHECK (status <> 'completed' OR completed_at IS NOT NULL),
    CHECK (status <> 'abandoned' OR abandoned_at IS NOT NULL),
    FOREIGN KEY (scenario_id, scenario_version)
        REFERENCES scenario_versions (scenario_id, version) ON DELETE RESTRICT
);

-- The caller's sessions, newest first, optionally by status.
CREATE INDEX sessions_user_created_idx ON sessions (user_id, created_at);
CREATE INDEX sessions_user_status_idx ON sessions (user_id, status, created_at);
-- The sweeper: sessions idle too long or past their end.
CREATE INDEX sessions_status_activity_idx ON sessions (status, last_activity_at);
CREATE INDEX sessions_scenario_idx ON sessions (scenario_id, scenario_version);

CREATE TABLE turns (
    id UUID PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    n INTEGER NOT NULL CHECK (n >= 0),
    speaker TEXT NOT NULL CHECK (speaker IN ('candidate', 'patient')),
    input TEXT NOT NULL DEFAULT 'text' CHECK (input IN ('text', 'voice')),
    -- Raw: fillers, repetitions and self-corrections stay (scoring needs them).
    text TEXT NOT NULL,
    -- Milliseconds since the session started.
    t_ms INTEGER NOT NULL CHECK (t_ms >= 0),
    duration_ms INTEGER CHECK (duration_ms >= 0),
    -- Voice turns: [{w, start, end, conf}].
    words JSONB CHECK (words IS NULL OR jsonb_typeof(words) = 'array'),
    -- Blob store key of the recording (candidate) or synthesised speech (patient).
    audio_key TEXT CHECK (audio_key IS NULL OR length(audio_key) = 64),
    -- Barge-in: the patient was cut off after played_ms of its audio.
    interrupted BOOLEAN NOT NULL DEFAULT FALSE,
    played_ms INTEGER CHECK (played_ms >= 0),
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    UNIQUE (session_id, n)
);
