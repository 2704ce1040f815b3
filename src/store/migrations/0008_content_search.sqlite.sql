-- Role-play library search (issue 4). Keep in step with 0008_content_search.pg.sql: the same
-- column, and a search table holding the text of each scenario's *published* version (written
-- at publish, removed at archive), ranked title > setting = tasks > background.

-- ",tag1,tag2," of the published version, so a tag filter is one portable
-- LIKE '%,' || $n || ',%' (tags are [a-z0-9-], so they hold no LIKE wildcard).
ALTER TABLE scenarios ADD COLUMN search_tags TEXT NOT NULL DEFAULT '';

-- FTS5 with the Porter stemmer ("vomiting" finds "vomit"); ranked with
-- bm25(scenario_search, 0, 10, 5, 2, 5). No foreign key on a virtual table: queries join
-- scenarios, and archive deletes the row.
CREATE VIRTUAL TABLE scenario_search USING fts5(
    scenario_id UNINDEXED,
    title,
    setting,
    background,
    tasks,
    tokenize = 'porter unicode61'
);
