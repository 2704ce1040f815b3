/* The content service: the role-play library ("Content" in API.md). Candidates list, search
 * and read published scenarios (candidate view only, cached, with ETags); tutors and admins
 * create drafts, write new versions, publish and archive. */
#ifndef PRAXIS_SERVICES_CONTENT_H
#define PRAXIS_SERVICES_CONTENT_H

#include "core/common.h"
#include "http/router.h"

/* Prefix of every cache key the service writes; deleting it drops every cached view. */
#define CONTENT_CACHE_PREFIX "scn:"
#define CONTENT_CACHE_TTL_MS 60000

int content_register_routes(router *r) WUR;

#endif
