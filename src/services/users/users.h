/* The users service: accounts, authentication, profile, GDPR export/erase, and the admin
 * routes over users and the audit log ("Auth" and "Users" in API.md). */
#ifndef PRAXIS_SERVICES_USERS_H
#define PRAXIS_SERVICES_USERS_H

#include "core/common.h"
#include "http/router.h"
#include "http/server.h"
#include "store/db.h"

#include "store/db.h"

struct app;

int users_register_routes(router *r) WUR;

/* The authentication middleware (ud = the app): for routes with .auth set, requires a valid
 * `Authorization: Bearer` access token of an existing, enabled user whose current role (read
 * from the database, so a demotion or a disable takes effect at once) is allowed; sets
 * req->user_id and req->role. 401 with WWW-Authenticate otherwise, 403 for disabled users and
 * for roles the route does not allow. */
http_middleware users_auth_middleware(struct app *a);

/* How to reach a user (for other services' emails and payment records): the email and full
 * name of an account that exists and is not erased. 1 found, 0 not (or erased), <0 DB error. */
int users_contact(db_conn *c, const char *user_id, char *email, size_t email_len, char *name,
                  size_t name_len) WUR;

#endif
