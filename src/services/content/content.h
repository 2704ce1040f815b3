/* The content service: the role-play library ("Content" in API.md). Candidates list, search
 * and read published scenarios (candidate view only, cached, with ETags); tutors and admins
 * create drafts, write new versions, publish and archive. */
#ifndef PRAXIS_SERVICES_CONTENT_H
#define PRAXIS_SERVICES_CONTENT_H

#include "core/common.h"
#include "http/router.h"
#include "store/db.h"
#include <jansson.h>

/* Prefix of every cache key the service writes; deleting it drops every cached view. */
#define CONTENT_CACHE_PREFIX "scn:"
#define CONTENT_CACHE_TTL_MS 60000

int content_register_routes(router *r) WUR;

/* For other services (sessions): the published version of a scenario and its full document
 * (patient card included — never hand it to a client). SCENARIO_NOT_FOUND (1) when the
 * scenario is unknown or not published. */
int content_published_card(db_conn *c, const char *scenario_id, long long *version,
                           json_t **doc) WUR;
/* Published scenarios of a profession (all professions when NULL) as
 * [{id, title, difficulty, tasks[]}] — the candidate side only, for recommendations. */
int content_published_summaries(db_conn *c, const char *profession, json_t **items) WUR;
/* The full document of one exact version (what a session was played with). */
int content_version_card(db_conn *c, const char *scenario_id, long long version, json_t **doc)
    WUR;

#endif
