/* Shared by the sessions service's files. */
#ifndef PRAXIS_SERVICES_SESSIONS_INTERNAL_H
#define PRAXIS_SERVICES_SESSIONS_INTERNAL_H

#include "core/ids.h"
#include "services/ai/patient.h"
#include "services/ai/patient_llm.h"
#include "store/db.h"
#include <jansson.h>

/* A session row as the service needs it. */
typedef struct session_row {
    char id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    char scenario_id[UUID_STR_LEN];
    long long version;
    char mode[8];
    char status[16];
    long long seed;
    int64_t started_ms;  /* -1 when not started */
    int64_t ends_ms;     /* -1 when not started */
    json_t *patient_state;
    char patient_engine[12]; /* "scripted" or "llm", chosen at creation */
} session_row;

#define SESSION_COLUMNS                                                                        \
    "id, user_id, scenario_id, scenario_version, mode, status, seed, started_at, ends_at, "     \
    "patient_state, patient_engine"

/* Loads a session; 1 found, 0 not found, <0 DB error. Caller frees row->patient_state. */
int session_load(db_conn *c, const char *id, session_row *row);

/* Appends the patient's closing line and marks the session completed, in the caller's
 * transaction. at_ms is the wall-clock time of completion. */
int session_complete(db_conn *c, session_row *row, const json_t *card, int64_t at_ms);

/* A turn row; meta may be NULL. */
int turn_insert(db_conn *c, const char *session_id, long long n, const char *speaker,
                const char *text, int64_t t_ms, const json_t *meta);
/* The next turn number of a session. */
int turn_next_n(db_conn *c, const char *session_id, long long *n);

/* Creates the pending feedback row and queues the scoring job, in the caller's transaction
 * (the one that completes the session). */
int session_queue_scoring(db_conn *c, const char *session_id);

/* The engine's context for a card (borrowed pointers into card). */
void patient_ctx_for(patient_context *ctx, const json_t *card, long long seed);

/* The patient's answer to one candidate utterance, from the session's engine (the llm engine,
 * with the scripted one as its fallback, or the scripted one): the one call text and voice
 * turns make. Updates row->patient_state (created when NULL); the caller stores it with the
 * turn. on_sentence (may be NULL) gets the reply sentence by sentence as it is known. May take
 * up to LLM_TIMEOUT_MS: hold no database connection or transaction across it. */
struct app;
int session_patient_respond(const struct app *a, session_row *row, const json_t *card,
                            const char *utterance, int64_t elapsed_ms,
                            patient_sentence_fn on_sentence, void *ud, patient_reply *out);

#endif
