/* The users service: accounts, authentication, profile, GDPR export/erase, and the admin
 * routes over users and the audit log ("Auth" and "Users" in API.md). */
#ifndef PRAXIS_SERVICES_USERS_H
#define PRAXIS_SERVICES_USERS_H

#include "core/common.h"
#include "http/router.h"
#include "http/server.h"

struct app;

int users_register_routes(router *r) WUR;

/* The authentication middleware (ud = the app): for routes with .auth set, requires a valid
 * `Authorization: Bearer` access token of an existing, enabled user whose current role (read
 * from the database, so a demotion or a disable takes effect at once) is allowed; sets
 * req->user_id and req->role. 401 with WWW-Authenticate otherwise, 403 for disabled users and
 * for roles the route does not allow. */
http_middleware users_auth_middleware(struct app *a);

#endif
