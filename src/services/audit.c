/* Audit rows. */
#include "services/audit.h"

#include "core/ids.h"
#include "core/json.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>

int audit_write(db_conn *c, const http_req *req, const audit_entry *e)
{
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    char *details = e->details ? json_dump_compact(e->details) : NULL;
    const char *ua = req ? http_req_header(req, "User-Agent") : NULL;
    char ua_cut[256];
    if (ua) {
        /* User agents are client-controlled: keep the row bounded. */
        size_t n = strnlen(ua, sizeof(ua_cut) - 1);
        memcpy(ua_cut, ua, n);
        ua_cut[n] = '\0';
        ua = ua_cut;
    }
    const db_param p[] = {
        DB_TEXT(id),
        DB_TEXT(e->actor_id),
        DB_TEXT(e->action),
        DB_TEXT(e->target_type),
        DB_TEXT(e->target_id),
        DB_TEXT(req ? req->remote_ip : NULL),
        DB_TEXT(ua),
        DB_TEXT(req ? req->request_id : NULL),
        DB_TEXT(details),
        DB_TEXT(now),
    };
    int rc = db_exec(c,
                     "INSERT INTO audit_logs (id, actor_id, action, target_type, target_id, ip, "
                     "user_agent, request_id, details, created_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                     p, ARRAY_LEN(p), NULL);
    free(details);
    return rc;
}
