/* The real-time stream of a practice session (GET /v1/sessions/{id}/stream, protocol in
 * docs/realtime.md): microphone audio in, voice-activity and end-of-turn detection, incremental
 * recognition, the patient's reply synthesised sentence by sentence and paced out in real time,
 * barge-in, timers and idle prompts. One stream per session: a reconnect replaces the old
 * socket and resumes the session from the database. */
#ifndef PRAXIS_SERVICES_SESSIONS_STREAM_H
#define PRAXIS_SERVICES_SESSIONS_STREAM_H

#include "core/common.h"
#include "http/router.h"

/* The WebSocket handler of the stream route (its .ws in the route table). */
extern const struct ws_handler session_stream_ws;

/* GET /v1/sessions/{id}/stream. */
void session_stream_route(struct http_req *req, struct http_res *res);

/* Streams open now (all sessions). */
int session_streams_open(void);

#endif
