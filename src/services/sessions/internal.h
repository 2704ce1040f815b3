/* Shared by the sessions service's files. */
#ifndef PRAXIS_SERVICES_SESSIONS_INTERNAL_H
#define PRAXIS_SERVICES_SESSIONS_INTERNAL_H

#include "core/buf.h"
#include "core/ids.h"
#include "services/ai/patient.h"
#include "services/ai/patient_llm.h"
#include "store/blob.h"
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

/* Voice sessions count their minutes (start to at_ms, at most to ends_at) towards the plan's
 * usage, in the caller's transaction; text sessions write nothing. */
int session_count_voice(db_conn *c, const session_row *row, int64_t at_ms);

/* A turn row; meta may be NULL. */
int turn_insert(db_conn *c, const char *session_id, long long n, const char *speaker,
                const char *text, int64_t t_ms, const json_t *meta);
/* What a voice turn adds to a turn row. */
typedef struct turn_voice {
    const json_t *words;   /* [{w, start, end, conf}] (seconds) or NULL */
    int duration_ms;       /* length of the utterance */
    const char *audio_key; /* blob key of the sealed recording, or NULL */
} turn_voice;
/* A candidate turn said by voice (input 'voice'). */
int turn_insert_voice(db_conn *c, const char *session_id, long long n, const char *text,
                      int64_t t_ms, const turn_voice *v);
/* Barge-in: the patient's turn n was cut off after played_ms of its audio. */
int turn_mark_interrupted(db_conn *c, const char *session_id, long long n, int played_ms);
/* The next turn number of a session. */
int turn_next_n(db_conn *c, const char *session_id, long long *n);

/* Creates the pending feedback row and queues the scoring job, in the caller's transaction
 * (the one that completes the session). */
int session_queue_scoring(db_conn *c, const char *session_id);

/* ---- taking a turn (turns.c): one path for REST text, REST audio and the stream ---------- */

struct app;

/* What the candidate said. */
typedef struct turn_input {
    const char *text;        /* the words (raw: fillers and repetitions stay) */
    const turn_voice *voice; /* NULL for a typed turn */
    int64_t said_at_ms;      /* wall clock when the candidate began; 0 = now */
} turn_input;

typedef struct turn_outcome {
    long long n;          /* the candidate turn; the patient's reply is n + 1 */
    int64_t t_ms;         /* ms since the role-play started */
    patient_reply reply;  /* the patient's answer (free with patient_reply_free) */
    int completed;        /* the reply was the closing line: the session is completed */
} turn_outcome;

enum {
    TURN_OK = 0,
    TURN_NOT_FOUND = 1,  /* no such session, or not the caller's */
    TURN_WRONG_STATE = 2, /* not active (status has the state) */
    TURN_TIME_UP = 3,     /* past ends_at: the session was completed with the closing line */
    TURN_BUSY = 4,        /* another turn of this session committed first */
    TURN_UNAVAILABLE = 5, /* no database connection could be had */
    TURN_ENGINE_ERROR = 6, /* the patient engine failed (even its scripted fallback) */
    TURN_DB_ERROR = -1,
};

/* Asks the session's patient engine (no database connection is held meanwhile: a remote
 * model may take seconds), then stores the candidate's turn and the reply in one transaction;
 * completes the session when the reply is the closing line (scoring queued). on_sentence (may
 * be NULL) gets the reply sentence by sentence as the engine produces it. status (16 bytes)
 * receives the session's status for TURN_WRONG_STATE. */
int session_take_turn(struct app *a, const char *session_id, const char *user_id,
                      const turn_input *in, patient_sentence_fn on_sentence, void *ud,
                      turn_outcome *out, char status[16]);

/* Starts a preparing session (→ active, clocks set) and stores the patient's opening line as
 * turn 0 when the card has one (out->n = -1 then, so the line is turn n + 1; -2 when none). */
int session_begin(struct app *a, db_conn *c, const char *session_id, const char *user_id,
                  turn_outcome *out, char status[16]);
/* The candidate has been silent: the patient raises a due cue or a silence prompt, stored as
 * its turn n + 1; out->n = -2 and no turn when it has nothing to say. TURN_WRONG_STATE when the
 * session is not active or its time is up. */
int session_patient_idle(struct app *a, db_conn *c, const char *session_id,
                         const char *user_id, turn_outcome *out);
/* Ends an active session now: the closing line (turn n + 1, text in out->reply.text; n = -2
 * when none was stored), completed, scoring queued. */
int session_finish(struct app *a, db_conn *c, const char *session_id, const char *user_id,
                   turn_outcome *out, char status[16]);

/* A candidate's utterance (16 kHz mono) stored as a WAV sealed to user_id; key receives its
 * blob key. 0 or -1. */
int session_recording_store(const struct app *a, const char *user_id, const int16_t *samples,
                            size_t n, char key[BLOB_KEY_LEN]);
/* Appends the WAV of a recording to wav; -1 when it is missing, or not user_id's, or damaged. */
int session_recording_load(const struct app *a, const char *user_id, const char *key,
                           buf *wav);

/* praxis_turn_latency_seconds{mode}: from the end of the candidate's turn to the first byte of
 * the patient's reply (mode text: typed, REST or stream; voice: the stream, end of speech to
 * first audio, end-of-turn detection included; upload: a REST recording, whole request). */
struct metric_family;
struct metric_family *sessions_turn_latency(void);

/* The engine's context for a card (borrowed pointers into card). */
void patient_ctx_for(patient_context *ctx, const json_t *card, long long seed);
/* The context for row's card, with row->patient_state created when the session has none yet.
 * 0, or -1 when the state cannot be created (no memory). */
int session_patient_ready(session_row *row, const json_t *card, patient_context *ctx);

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
