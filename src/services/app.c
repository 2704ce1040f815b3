/* Which services run in this process, and the routes they bring. */
#include "services/app.h"

#include "audio/audio.h"

#include "services/content/content.h"
#include "core/log.h"
#include "http/server.h"
#include "services/ai/ai.h"
#include "services/billing/billing.h"
#include "services/ops/ops.h"
#include "services/rtc/rtc.h"
#include "services/sessions/sessions.h"
#include "services/users/users.h"

#include <stdio.h>
#include <strings.h>

static const struct {
    const char *name;
    unsigned bit;
} service_names[] = {
    {"gateway", SERVICE_GATEWAY}, {"users", SERVICE_USERS},     {"sessions", SERVICE_SESSIONS},
    {"content", SERVICE_CONTENT}, {"billing", SERVICE_BILLING}, {"webrtc", SERVICE_RTC},
    {"ai", SERVICE_AI},
};

int app_parse_services(const char *s, unsigned *out, char *err, size_t errlen)
{
    *out = 0;
    if (!s || !*s) {
        snprintf(err, errlen, "--services: empty; use \"all\" or a list like gateway,users");
        return -1;
    }
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        unsigned bit = 0;
        if (n == 3 && strncasecmp(p, "all", 3) == 0)
            bit = SERVICE_ALL;
        for (size_t i = 0; !bit && i < ARRAY_LEN(service_names); i++)
            if (strlen(service_names[i].name) == n && strncasecmp(p, service_names[i].name, n) == 0)
                bit = service_names[i].bit;
        if (!bit) {
            snprintf(err, errlen,
                     "--services: unknown service \"%.*s\" (known: all, gateway, users, "
                     "sessions, content, billing, webrtc, ai)",
                     (int)(n > 40 ? 40 : n), p);
            return -1;
        }
        *out |= bit;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int app_register_routes(router *r, unsigned services)
{
    /* Every process serves the operations endpoints. */
    if (ops_register_routes(r) != 0)
        return -1;
    if ((services & SERVICE_USERS) && users_register_routes(r) != 0)
        return -1;
    if ((services & SERVICE_CONTENT) && content_register_routes(r) != 0)
        return -1;
    if ((services & SERVICE_SESSIONS) && sessions_register_routes(r) != 0)
        return -1;
    if ((services & SERVICE_AI) && ai_register_routes(r) != 0)
        return -1;
    if ((services & SERVICE_BILLING) && billing_register_routes(r) != 0)
        return -1;
    if ((services & SERVICE_RTC) && rtc_register_routes(r) != 0)
        return -1;
    return 0;
}

void app_kick_outbox(const app *a)
{
    if (a && a->outbox)
        outbox_kick(a->outbox);
}

db_conn *service_db_acquire(http_req *req, http_res *res)
{
    app *a = req->app;
    db_conn *c = db_acquire(a->db);
    if (!c) {
        http_res_header(req, res, "Retry-After", "5");
        http_res_problem(req, res, 503, "The database is unavailable; please try again.", NULL);
    }
    return c;
}

void service_audio_refused(http_req *req, http_res *res, int why, const char *detail)
{
    int unsupported = why == AUDIO_E_UNSUPPORTED;
    if (!detail || !*detail)
        detail = audio_status_text((audio_status)why);
    http_res_problem_full(req, res, unsupported ? 415 : 422,
                          unsupported ? "unsupported-audio" : "bad-audio",
                          unsupported ? "Unsupported Audio" : "Unusable Audio", detail, NULL);
}

void service_db_failed(http_req *req, http_res *res, db_conn *c, const char *what)
{
    log_error("%s failed: %s (request %s)", what, c ? db_errmsg(c) : "no connection",
              req->request_id ? req->request_id : "-");
    http_res_problem(req, res, 500, "Something went wrong on our side; please try again.", NULL);
}
