/* The application context every handler reaches through req->app: configuration and the shared
 * resources of this process. Built by main (or the test harness) and passed down, never global. */
#ifndef PRAXIS_SERVICES_APP_H
#define PRAXIS_SERVICES_APP_H

#include "cache/cache.h"
#include "core/config.h"
#include "events/outbox.h"
#include "http/router.h"
#include "store/blob.h"
#include "store/db.h"

#include <stdint.h>

/* The services of the system, as named in --services. */
typedef enum {
    SERVICE_GATEWAY = 1 << 0,
    SERVICE_USERS = 1 << 1,
    SERVICE_SESSIONS = 1 << 2,
    SERVICE_CONTENT = 1 << 3,
    SERVICE_BILLING = 1 << 4,
    SERVICE_RTC = 1 << 5,
    SERVICE_AI = 1 << 6,
    SERVICE_ALL = (1 << 7) - 1,
} service_set;

typedef struct app {
    const config *cfg;
    db *db;
    blob_store *blobs;
    const router *router;
    unsigned services; /* service_set bits this process runs */
    int64_t started_ms;
    cache *cache;              /* rate limits, content cache */
    struct jwt_keyring *keys;  /* access-token keys */
    outbox_dispatcher *outbox; /* NULL in processes that do not send (kick is skipped) */
    struct tts *tts;           /* the patient's voice; NULL in processes without ai/sessions */
    struct stt *stt;           /* speech recognition; NULL in processes without ai/sessions */
} app;

/* Borrows a database connection for a request; when none can be had, answers 503 with
 * Retry-After and returns NULL. */
struct http_req;
struct http_res;
db_conn *service_db_acquire(struct http_req *req, struct http_res *res);
/* Logs what failed (with the driver's message and the request id) and answers a 500 that says
 * nothing of it. */
void service_db_failed(struct http_req *req, struct http_res *res, db_conn *c, const char *what);

/* Refuses an uploaded recording (why: its audio_status): 415 unsupported-audio when it is not
 * audio we read, else 422 bad-audio; detail says why (audio_decode's reason, or the status's sentence when empty). */
void service_audio_refused(struct http_req *req, struct http_res *res, int why,
                           const char *detail);

/* Wakes the outbox after a commit that queued a job. */
void app_kick_outbox(const app *a);

/* Parses "all" or a comma list ("gateway,users"). -1 with err naming the unknown service. */
int app_parse_services(const char *s, unsigned *out, char *err, size_t errlen) WUR;

/* Registers every route of the services in `services` (ops routes always). */
int app_register_routes(router *r, unsigned services) WUR;

#endif
