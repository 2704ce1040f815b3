/* The sessions service: practice role-plays ("Practice sessions" in API.md). A session plays
 * one exact scenario version: preparing → active → completed, or abandoned. The patient is
 * the conversation engine of services/ai/patient.h, whose state is stored with the session. */
#ifndef PRAXIS_SERVICES_SESSIONS_H
#define PRAXIS_SERVICES_SESSIONS_H

#include "core/common.h"
#include "http/router.h"
#include "store/db.h"

struct app;

int sessions_register_routes(router *r) WUR;
/* POST …/audio, GET …/turns/{n}/audio and the stream (registered by sessions_register_routes). */
int sessions_register_voice_routes(router *r) WUR;
/* GET /v1/progress (registered by sessions_register_routes). */
int sessions_register_progress_routes(router *r) WUR;

/* Whether session_id is a session of user_id, and its status ("preparing", "active",
 * "completed", "abandoned") into status. 1 yes; 0 when there is no such session or it is
 * another user's (callers answer 404 either way); <0 DB error. For services that act on a
 * session (the media room) without reading the sessions table themselves. */
int sessions_lookup(db_conn *c, const char *session_id, const char *user_id, char status[16]) WUR;

/* One pass of the sweeper: active sessions past ends_at get the closing line and complete;
 * sessions idle for idle_s are abandoned. Returns how many sessions changed, or -1. */
int sessions_sweep(db *d, int idle_s);

/* Registers the scoring job ("session.score") on the outbox. */
struct outbox_dispatcher;
int sessions_register_jobs(struct outbox_dispatcher *o, db *d) WUR;

/* The sweeper thread, running sessions_sweep every interval_ms until stopped. */
typedef struct sessions_sweeper sessions_sweeper;
sessions_sweeper *sessions_sweeper_start(db *d, int interval_ms, int idle_s);
void sessions_sweeper_stop(sessions_sweeper *s);

#endif
