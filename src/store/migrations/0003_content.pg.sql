-- Role-play library (issue 4): a scenario and its immutable versions. Every edit writes a new
-- scenario_versions row; sessions keep the version they were played with.
-- Keep in step with 0003_content.sqlite.sql. Full-text search is added by a later migration.

CREATE TABLE scenarios (
    id UUID PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE CHECK (length(slug) > 0),
    state TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'published', 'archived')),
    -- Copied from the version candidates see, so lists filter without a join.
    profession TEXT NOT NULL CHECK (profession IN ('medicine', 'nursing', 'dentistry', 'pharmacy',
        'physiotherapy', 'occupational-therapy', 'dietetics', 'optometry', 'podiatry',
        'radiography', 'speech-pathology', 'veterinary-science')),
    difficulty TEXT NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard')),
    -- The published version (NULL until first published) and the newest one.
    current_version INTEGER CHECK (current_version >= 1),
    latest_version INTEGER NOT NULL DEFAULT 1 CHECK (latest_version >= 1),
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ(3),
    archived_at TIMESTAMPTZ(3),
    CHECK (current_version IS NULL OR current_version <= latest_version),
    CHECK (state <> 'published' OR current_version IS NOT NULL)
);

CREATE INDEX scenarios_list_idx ON scenarios (state, profession, difficulty);
CREATE INDEX scenarios_created_by_idx ON scenarios (created_by);

CREATE TABLE scenario_versions (
    scenario_id UUID NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 1),
    title TEXT NOT NULL,
    profession TEXT NOT NULL CHECK (profession IN ('medicine', 'nursing', 'dentistry', 'pharmacy',
        'physiotherapy', 'occupational-therapy', 'dietetics', 'optometry', 'podiatry',
        'radiography', 'speech-pathology', 'veterinary-science')),
    setting TEXT NOT NULL,
    role TEXT NOT NULL,
    difficulty TEXT NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard')),
    tags JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    prep_seconds INTEGER NOT NULL DEFAULT 180 CHECK (prep_seconds > 0),
    roleplay_seconds INTEGER NOT NULL DEFAULT 300 CHECK (roleplay_seconds > 0),
    -- What the candidate sees: {role, setting, patient, background, tasks[]}.
    candidate_card JSONB NOT NULL CHECK (jsonb_typeof(candidate_card) = 'object'),
    -- Never shown to candidates: {name, age, gender, voice, persona, background, facts[],
    -- cues[], concerns[], closing_line, expected_tasks[]}.
    patient_card JSONB NOT NULL CHECK (jsonb_typeof(patient_card) = 'object'),
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (scenario_id, version)
);

CREATE INDEX scenario_versions_created_by_idx ON scenario_versions (created_by);

-- The published version must exist (SQLite declares this inline; PostgreSQL needs the table).
ALTER TABLE scenarios ADD CONSTRAINT scenarios_current_version_fkey
    FOREIGN KEY (id, current_version) REFERENCES scenario_versions (scenario_id, version);
