-- Role-play library search (issue 4). Keep in step with 0008_content_search.sqlite.sql: the same
-- column, and a search table holding the text of each scenario's *published* version (written
-- at publish, removed at archive), ranked title > setting = tasks > background.

-- ",tag1,tag2," of the published version, so a tag filter is one portable
-- LIKE '%,' || $n || ',%' (tags are [a-z0-9-], so they hold no LIKE wildcard).
ALTER TABLE scenarios ADD COLUMN search_tags TEXT NOT NULL DEFAULT '';

-- The english configuration stems like SQLite's Porter tokenizer. The document is built at
-- publish with setweight: title A, setting B, tasks B, background C; ranked with ts_rank.
CREATE TABLE scenario_search (
    scenario_id UUID PRIMARY KEY REFERENCES scenarios (id) ON DELETE CASCADE,
    document TSVECTOR NOT NULL
);

CREATE INDEX scenario_search_document_idx ON scenario_search USING GIN (document);
