/* The audit log: who did what to whom, from where. Rows are written inside the caller's
 * transaction so an action and its audit entry commit together. */
#ifndef PRAXIS_SERVICES_AUDIT_H
#define PRAXIS_SERVICES_AUDIT_H

#include "core/common.h"
#include "http/server.h"
#include "store/db.h"
#include <jansson.h>

typedef struct audit_entry {
    const char *action;      /* "user.register", "auth.login_failed", … */
    const char *actor_id;    /* NULL: anonymous or the system */
    const char *target_type; /* "user", "scenario", … */
    const char *target_id;
    const json_t *details;   /* an object or NULL; borrowed; never secrets */
} audit_entry;

/* Writes one row; ip, user agent and request id come from req (may be NULL). */
int audit_write(db_conn *c, const http_req *req, const audit_entry *e) WUR;

#endif
