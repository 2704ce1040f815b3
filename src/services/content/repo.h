/* The content store: scenarios, their immutable versions, the search index and the audit row
 * of every change. Write functions run inside the caller's transaction (db_begin … db_commit),
 * so a route commits a change together with its audit row and the seed commits the whole
 * library at once. Reads for candidates never select the patient card. The only place where
 * SQL differs between SQLite and PostgreSQL (full-text search) branches here, on
 * db_conn_kind. */
#ifndef PRAXIS_SERVICES_CONTENT_REPO_H
#define PRAXIS_SERVICES_CONTENT_REPO_H

#include "core/common.h"
#include "core/ids.h"
#include "http/server.h"
#include "store/db.h"
#include <jansson.h>

/* Results besides DB_OK and the negative DB_* codes. */
enum {
    SCENARIO_NOT_FOUND = 1,  /* no such scenario (for candidate reads: none published) */
    SCENARIO_SLUG_TAKEN = 2, /* another scenario already has the slug */
};

/* Who makes a change, for created_by and the audit row. */
typedef struct scenario_actor {
    const char *user_id; /* NULL: the system (praxis seed) */
    const http_req *req; /* the request, for ip / user agent / request id; may be NULL */
} scenario_actor;

/* Writes. doc is a validated, normalized document (scenario_validate, scenario_normalize). */

/* A new draft with version 1. The slug is doc's, or derived from the title when absent. */
int scenario_repo_create(db_conn *c, const scenario_actor *who, const json_t *doc,
                         char id[UUID_STR_LEN]) WUR;
/* A new immutable version (latest_version + 1). What candidates see does not change until the
 * next publish. A slug in doc renames the scenario; without one the slug stays. */
int scenario_repo_update(db_conn *c, const scenario_actor *who, const char *id, const json_t *doc,
                         long long *version) WUR;
/* Publishes the latest version: current_version = latest_version, state published, the
 * list columns (profession, difficulty, search_tags) and the search row follow it. Publishing
 * what is already published changes nothing (*changed = 0). */
int scenario_repo_publish(db_conn *c, const scenario_actor *who, const char *id, long long *version,
                          int *changed) WUR;
/* State archived; the search row goes. Archiving an archived scenario changes nothing. */
int scenario_repo_archive(db_conn *c, const scenario_actor *who, const char *id, int *changed) WUR;

/* Reads. */

/* The candidate view (scenario_candidate_view) of the published version. */
int scenario_repo_candidate_view(db_conn *c, const char *id, json_t **out) WUR;
/* The full document of the latest version plus id, slug, state, version, current_version,
 * latest_version, created_by and the timestamps. */
int scenario_repo_admin_view(db_conn *c, const char *id, json_t **out) WUR;
/* The full document (with slug and patient_card) of one version; version 0 = the latest. */
int scenario_repo_load_version(db_conn *c, const char *id, long long version, json_t **doc) WUR;
/* The id of the scenario with this slug. */
int scenario_repo_find_slug(db_conn *c, const char *slug, char id[UUID_STR_LEN]) WUR;

enum { SCENARIO_SEARCH_WORDS_MAX = 12 };

/* The words of a user's search text: up to 12 runs of [A-Za-z0-9], lowercased, joined by
 * single spaces into out (words that do not fit are dropped). Only these words ever reach
 * MATCH / to_tsquery, never the raw text. Returns the number of words. */
size_t scenario_search_words(const char *q, char *out, size_t outlen);

typedef struct scenario_query {
    const char *state;      /* admin lists: NULL = every state (candidate lists: published) */
    const char *profession; /* NULL = any */
    const char *difficulty;
    const char *tag;
    const char *words; /* candidate lists: scenario_search_words output, NULL = no search */
    int page;          /* >= 1 */
    int per_page;
} scenario_query;

/* Published scenarios as candidate summaries {id, version, title, profession, setting,
 * difficulty, tags, prep_seconds, roleplay_seconds}: by relevance when searching, else by
 * profession then title. *total counts every match. */
int scenario_repo_list_published(db_conn *c, const scenario_query *q, json_t **items,
                                 long long *total) WUR;
/* Every state, newest change first: {id, slug, state, title (latest version), profession,
 * difficulty, current_version, latest_version, created_at, updated_at, published_at,
 * archived_at}. */
int scenario_repo_list_admin(db_conn *c, const scenario_query *q, json_t **items,
                             long long *total) WUR;
/* {version, title, created_at, created_by, published}, oldest first. */
int scenario_repo_versions(db_conn *c, const char *id, int page, int per_page, json_t **items,
                           long long *total) WUR;

#endif
