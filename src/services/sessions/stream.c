/* The real-time stream: see stream.h and docs/realtime.md.
 *
 * Two threads per stream. The WebSocket thread (ws.c) reads: control messages become jobs,
 * audio goes through the VAD and, while the candidate speaks, into the recogniser, so that
 * when the end of the turn is decided only the final pass is left. The stream's own thread
 * runs the jobs (turns through session_take_turn, start, end), synthesises the patient's reply
 * sentence by sentence and paces its audio out in real time a little ahead of playback, so a
 * barge-in can stop it; it also keeps the clocks (timer events, the deadline, idle prompts,
 * idle sockets). Everything the two threads share is under the stream's mutex. */
#include "services/sessions/stream.h"

#include "audio/audio.h"
#include "audio/vad.h"
#include "core/buf.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "http/problem.h"
#include "http/server.h"
#include "http/ws.h"
#include "services/ai/ai.h"
#include "services/app.h"
#include "services/content/content.h"
#include "services/sessions/internal.h"
#include "speech/stt.h"
#include "speech/tts.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STREAM_MAX_MESSAGE ((size_t)64 << 10)  /* larger messages close with 1009 */
#define STREAM_MAX_FRAME_BYTES (32000u)         /* 1 s of PCM16 at 16 kHz */
#define STREAM_PREROLL_SAMPLES (AUDIO_RATE / 4) /* fed before the detected start: 250 ms */
#define STREAM_RING_SAMPLES (AUDIO_RATE / 2)
#define STREAM_UTTERANCE_MAX_SAMPLES ((size_t)60 * AUDIO_RATE)
#define STREAM_LEAD_MS 250                      /* audio sent ahead of the playback clock */
#define STREAM_CHUNK_SAMPLES (AUDIO_RATE / 10)  /* 100 ms per binary frame */
#define STREAM_MAX_JOBS 16
#define STREAM_PARTIAL_EVERY_MS 100
#define STREAM_TIMER_EVERY_MS 10000
#define STREAM_STATUS_EVERY_MS 2000
#define STREAM_IDLE_PROMPT_MS 15000
#define STREAM_TEXT_MAX 2000

typedef enum { JOB_START, JOB_TEXT, JOB_VOICE, JOB_END } job_kind;

typedef struct job {
    job_kind kind;
    char *text;
    json_t *words;
    int duration_ms;
    char audio_key[BLOB_KEY_LEN];
    int64_t said_at_ms;    /* wall clock when the candidate began */
    int64_t speech_end_ms; /* wall clock of the last voiced sample (voice), or receipt */
    struct job *next;
} job;

typedef struct stream stream;
struct stream {
    app *a;
    char session_id[UUID_STR_LEN];
    char user_id[UUID_STR_LEN];
    char mode[8];
    char domain[AI_DOMAIN_KEY_LEN]; /* the card's language model */
    char voice[16];
    json_t *card;
    ws_conn *ws;
    pthread_t thread;
    int thread_started;
    stream *next_open; /* the registry */

    pthread_mutex_t mu; /* everything below up to "input side" */
    pthread_cond_t cv;
    int stop;
    job *jobs, **jobs_tail;
    int njobs;
    char status[16];
    int64_t started_ms, ends_ms;
    int64_t last_msg_ms;      /* any client message: the idle-socket clock */
    int64_t last_activity_ms; /* speech or a turn: the idle-prompt clock */
    int in_speech;
    int ending;               /* the session is over: close once the last audio has played */
    /* playback */
    int playing;
    long long play_turn;
    int16_t *pending;         /* synthesised, not yet sent */
    size_t npending, cap_pending;
    size_t sent_samples, total_samples;
    int synth_done, barge;
    int64_t play_start_ms;    /* when the first chunk went out; 0 before */
    int64_t latency_from_ms;  /* end of the candidate's speech, for the latency histogram */
    const char *latency_mode;
    /* A recogniser taken from the pool ahead of the next utterance (by the stream thread, so
     * that choosing a decoder and switching it to this card's model, 100-400 ms under load,
     * never delays the audio of someone who has started to speak). */
    stt_stream *ready;
    int64_t ready_retry_ms;
    int warmed;

    /* input side: the WebSocket thread only */
    vad *vad;
    stt_stream *utt;
    int utt_failed;
    int16_t ring[STREAM_RING_SAMPLES];
    uint64_t ring_total; /* samples ever written to the ring */
    int16_t *rec;
    size_t nrec, cap_rec;
    uint64_t utt_start_sample;
    int64_t utt_start_wall;
    int64_t last_partial_ms;
    char last_partial[512];
};

/* ---- the registry of open streams: one per session -------------------------------------- */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static stream *registry;
static int registry_count;
static int registry_voice; /* voice streams among them */

static void registry_add(stream *s)
{
    pthread_mutex_lock(&registry_mu);
    for (stream *o = registry; o; o = o->next_open)
        if (strcmp(o->session_id, s->session_id) == 0)
            ws_close(o->ws, 4001, "replaced by a newer connection");
    s->next_open = registry;
    registry = s;
    registry_count++;
    if (strcmp(s->mode, "voice") == 0)
        registry_voice++;
    pthread_mutex_unlock(&registry_mu);
}

static void registry_remove(stream *s)
{
    pthread_mutex_lock(&registry_mu);
    for (stream **p = &registry; *p; p = &(*p)->next_open)
        if (*p == s) {
            *p = s->next_open;
            registry_count--;
            if (strcmp(s->mode, "voice") == 0)
                registry_voice--;
            break;
        }
    pthread_mutex_unlock(&registry_mu);
}

int session_streams_open(void)
{
    pthread_mutex_lock(&registry_mu);
    int n = registry_count;
    pthread_mutex_unlock(&registry_mu);
    return n;
}

/* ---- small helpers ------------------------------------------------------------------------ */

metric_family *sessions_turn_latency(void)
{
    static const char *const labels[] = {"mode", NULL};
    static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4,
                                     0.6,   0.9,  1.2,   1.5,  2.0, 3.0, 5.0};
    return metrics_histogram("praxis_turn_latency_seconds",
                             "From the end of the candidate's turn to the patient's first "
                             "reply byte (voice: first audio byte on the stream)",
                             labels, buckets, ARRAY_LEN(buckets));
}

static void send_json(stream *s, json_t *ev)
{
    if (!ev)
        return;
    char *text = json_dump_compact(ev);
    json_decref(ev);
    if (text && ws_send_text(s->ws, text, strlen(text)) != 0)
        log_msg(LOG_DEBUG, "stream %s: event not sent (socket closing)", s->session_id);
    free(text);
}

static void send_error(stream *s, const char *code, const char *detail)
{
    send_json(s, json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "detail", detail));
}

static int64_t remaining_ms_locked(const stream *s, int64_t now)
{
    if (strcmp(s->status, "active") != 0 || s->ends_ms <= 0)
        return -1;
    return s->ends_ms > now ? s->ends_ms - now : 0;
}

static void job_free(job *j)
{
    if (!j)
        return;
    free(j->text);
    json_decref(j->words);
    free(j);
}

/* Queues a job for the stream thread; -1 when too many are waiting (the client is flooding). */
static int push_job(stream *s, job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->njobs >= STREAM_MAX_JOBS || s->stop) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    j->next = NULL;
    *s->jobs_tail = j;
    s->jobs_tail = &j->next;
    s->njobs++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static job *pop_job_locked(stream *s)
{
    job *j = s->jobs;
    if (j) {
        s->jobs = j->next;
        if (!s->jobs)
            s->jobs_tail = &s->jobs;
        s->njobs--;
    }
    return j;
}

static void refresh_session(stream *s, db_conn *c)
{
    session_row row;
    if (session_load(c, s->session_id, &row) != 1)
        return;
    json_decref(row.patient_state);
    pthread_mutex_lock(&s->mu);
    snprintf(s->status, sizeof(s->status), "%s", row.status);
    s->started_ms = row.started_ms;
    s->ends_ms = row.ends_ms;
    pthread_mutex_unlock(&s->mu);
}

static json_t *state_event(stream *s, int resumed)
{
    db_conn *c = db_acquire(s->a->db);
    long long turns = 0;
    if (c) {
        refresh_session(s, c);
        (void)turn_next_n(c, s->session_id, &turns);
        db_release(c);
    }
    int64_t now = time_now_ms();
    pthread_mutex_lock(&s->mu);
    int64_t remaining = remaining_ms_locked(s, now);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:i, s:s}", "type", "session.state",
                           "session_id", s->session_id, "status", s->status, "mode", s->mode,
                           "turns", (json_int_t)turns, "resumed", resumed, "sample_rate",
                           AUDIO_RATE, "voice", s->voice);
    json_object_set_new(ev, "remaining_ms", remaining >= 0 ? json_integer(remaining)
                                                           : json_null());
    pthread_mutex_unlock(&s->mu);
    return ev;
}

/* ---- playback (the stream thread) --------------------------------------------------------- */

static void finish_playback_locked(stream *s, int interrupted, int64_t now)
{
    int64_t total_ms = (int64_t)s->total_samples * 1000 / AUDIO_RATE;
    int64_t sent_ms = (int64_t)s->sent_samples * 1000 / AUDIO_RATE;
    int64_t played = s->play_start_ms ? now - s->play_start_ms : 0;
    if (played > sent_ms)
        played = sent_ms;
    if (!interrupted)
        played = total_ms;
    long long turn = s->play_turn;
    s->playing = 0;
    s->npending = 0;
    s->barge = 0;
    s->last_activity_ms = now;
    pthread_mutex_unlock(&s->mu);
    send_json(s, json_pack("{s:s, s:I, s:I, s:b}", "type", "patient.audio_end", "turn",
                           (json_int_t)turn, "played_ms", (json_int_t)played, "interrupted",
                           interrupted));
    if (interrupted) {
        db_conn *c = db_acquire(s->a->db);
        if (!c || turn_mark_interrupted(c, s->session_id, turn, (int)played) != DB_OK)
            log_msg(LOG_WARN, "stream %s: could not mark turn %lld interrupted", s->session_id,
                    turn);
        if (c)
            db_release(c);
    }
    pthread_mutex_lock(&s->mu);
}

/* Sends what the playback clock allows. Called with mu held; may drop and retake it. */
static void pace_locked(stream *s)
{
    if (!s->playing)
        return;
    int64_t now = time_now_ms();
    if (s->barge) {
        finish_playback_locked(s, 1, now);
        return;
    }
    int64_t elapsed = s->play_start_ms ? now - s->play_start_ms : 0;
    size_t allowed = (size_t)((elapsed + STREAM_LEAD_MS) * AUDIO_RATE / 1000);
    while (s->sent_samples < allowed && s->npending > 0 && !s->barge) {
        size_t n = s->npending < STREAM_CHUNK_SAMPLES ? s->npending : STREAM_CHUNK_SAMPLES;
        /* Send whole chunks unless synthesis is over (the tail may be short). */
        if (n < STREAM_CHUNK_SAMPLES && !s->synth_done && s->sent_samples > 0)
            break;
        int16_t chunk[STREAM_CHUNK_SAMPLES];
        memcpy(chunk, s->pending, n * sizeof(int16_t));
        memmove(s->pending, s->pending + n, (s->npending - n) * sizeof(int16_t));
        s->npending -= n;
        int first = s->sent_samples == 0;
        s->sent_samples += n;
        if (first) {
            s->play_start_ms = now;
            allowed = (size_t)(STREAM_LEAD_MS * AUDIO_RATE / 1000);
        }
        int64_t from = s->latency_from_ms;
        const char *mode = s->latency_mode;
        pthread_mutex_unlock(&s->mu);
        if (ws_send_binary(s->ws, chunk, n * sizeof(int16_t)) != 0)
            log_msg(LOG_DEBUG, "stream %s: audio not sent (socket closing)", s->session_id);
        if (first && from > 0)
            metrics_observe(sessions_turn_latency(), (const char *const[]){mode},
                            (double)(time_now_ms() - from) / 1000.0);
        pthread_mutex_lock(&s->mu);
    }
    if (s->playing && !s->barge && s->synth_done && s->npending == 0 &&
        s->sent_samples == s->total_samples &&
        (s->total_samples == 0 ||
         now - s->play_start_ms >= (int64_t)s->total_samples * 1000 / AUDIO_RATE))
        finish_playback_locked(s, 0, now);
    else if (s->barge)
        finish_playback_locked(s, 1, now);
}

/* Appends n samples to a growing array (doubling from 4 s of audio). 0 or -1 (no memory). */
static int samples_append(int16_t **arr, size_t *len, size_t *cap, const int16_t *samples,
                          size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : (size_t)AUDIO_RATE * 4;
        while (c < *len + n)
            c *= 2;
        int16_t *p = realloc(*arr, c * sizeof(int16_t));
        if (!p)
            return -1;
        *arr = p;
        *cap = c;
    }
    memcpy(*arr + *len, samples, n * sizeof(int16_t));
    *len += n;
    return 0;
}

static int on_tts_audio(const int16_t *samples, size_t n, void *ud)
{
    stream *s = ud;
    pthread_mutex_lock(&s->mu);
    if (s->stop || s->barge || !s->playing) {
        pthread_mutex_unlock(&s->mu);
        return 1;
    }
    if (samples_append(&s->pending, &s->npending, &s->cap_pending, samples, n) != 0) {
        pthread_mutex_unlock(&s->mu);
        return 1;
    }
    s->total_samples += n;
    pace_locked(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* The patient says turn `turn`: text now, then (voice sessions) audio paced from here on. */
static void speak(stream *s, long long turn, const char *text, const char *kind,
                  int64_t latency_from_ms)
{
    json_t *ev = json_pack("{s:s, s:I, s:s}", "type", "patient.text", "turn", (json_int_t)turn,
                           "text", text);
    if (kind)
        json_object_set_new(ev, "kind", json_string(kind));
    send_json(s, ev);
    int voice = strcmp(s->mode, "voice") == 0 && s->a->tts && text && *text;
    if (!voice) {
        if (latency_from_ms > 0)
            metrics_observe(sessions_turn_latency(), (const char *const[]){"text"},
                            (double)(time_now_ms() - latency_from_ms) / 1000.0);
        pthread_mutex_lock(&s->mu);
        s->last_activity_ms = time_now_ms();
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->playing) /* a new reply cuts the one still playing */
        finish_playback_locked(s, 1, time_now_ms());
    s->playing = 1;
    s->play_turn = turn;
    s->npending = 0;
    s->sent_samples = s->total_samples = 0;
    s->synth_done = s->barge = 0;
    s->play_start_ms = 0;
    s->latency_from_ms = latency_from_ms;
    s->latency_mode = "voice";
    pthread_mutex_unlock(&s->mu);
    send_json(s, json_pack("{s:s, s:I, s:i, s:s, s:i}", "type", "patient.audio_start", "turn",
                           (json_int_t)turn, "sample_rate", AUDIO_RATE, "format", "pcm_s16le",
                           "channels", 1));
    int rc = tts_speak(s->a->tts, s->voice, text, on_tts_audio, s);
    if (rc < 0)
        log_msg(LOG_WARN, "stream %s: speech synthesis failed for turn %lld", s->session_id,
                turn);
    pthread_mutex_lock(&s->mu);
    s->synth_done = 1;
    pace_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* The session is over: tell the client, then close once the closing line has played. */
static void end_stream(stream *s, const char *status, const char *reason)
{
    pthread_mutex_lock(&s->mu);
    snprintf(s->status, sizeof(s->status), "%s", status);
    s->ending = 1;
    pthread_mutex_unlock(&s->mu);
    char url[96];
    snprintf(url, sizeof(url), "/v1/sessions/%s/feedback", s->session_id);
    send_json(s, json_pack("{s:s, s:s, s:s, s:s}", "type", "session.ended", "status", status,
                           "reason", reason, "feedback_url", url));
}

/* ---- jobs (the stream thread) ------------------------------------------------------------- */

static void turn_failed(stream *s, int rc, const char *status)
{
    switch (rc) {
    case TURN_WRONG_STATE:
        send_error(s, "wrong_state",
                   strcmp(status, "preparing") == 0
                       ? "The role-play has not started yet: send {\"type\":\"start\"}."
                       : "This session has already ended.");
        break;
    case TURN_BUSY:
        send_error(s, "busy", "Another turn of this session was being stored; say it again.");
        break;
    case TURN_NOT_FOUND:
        send_error(s, "not_found", "The session no longer exists.");
        break;
    default:
        send_error(s, "server_error", "Something went wrong on our side; please try again.");
    }
}

/* The closing line stored by whoever completed the session (the sweeper, or a turn that came
 * too late), so the stream can still say it. */
static void say_stored_closing(stream *s, db_conn *c)
{
    const db_param p[] = {DB_TEXT(s->session_id)};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT n, text FROM turns WHERE session_id = $1 AND speaker = 'patient' "
                 "ORDER BY n DESC LIMIT 1",
                 p, 1, &r) == DB_OK &&
        db_rows_next(r) == 1) {
        long long n = db_col_int(r, 0);
        char *text = strdup(db_col_text(r, 1));
        db_rows_free(r);
        if (text)
            speak(s, n, text, "closing", 0);
        free(text);
        return;
    }
    db_rows_free(r);
}

static void run_turn(stream *s, db_conn *c, job *j)
{
    turn_voice v = {.words = j->words, .duration_ms = j->duration_ms,
                    .audio_key = j->audio_key[0] ? j->audio_key : NULL};
    turn_input in = {.text = j->text, .voice = j->kind == JOB_VOICE ? &v : NULL,
                     .said_at_ms = j->said_at_ms};
    turn_outcome o;
    char status[16];
    int rc = session_take_turn(s->a, s->session_id, s->user_id, &in, NULL, NULL, &o, status);
    if (rc == TURN_TIME_UP) {
        send_error(s, "time_up", "The role-play time is over; the session has ended.");
        say_stored_closing(s, c);
        end_stream(s, "completed", "time_up");
        return;
    }
    if (rc != TURN_OK) {
        turn_failed(s, rc, status);
        if (rc == TURN_WRONG_STATE && strcmp(status, "preparing") != 0)
            end_stream(s, status, "ended");
        return;
    }
    json_t *fin = json_pack("{s:s, s:I, s:s, s:s, s:I}", "type", "transcript.final", "turn",
                            (json_int_t)o.n, "text", j->text, "input",
                            j->kind == JOB_VOICE ? "voice" : "text", "t_ms", (json_int_t)o.t_ms);
    if (j->words)
        json_object_set(fin, "words", j->words);
    send_json(s, fin);
    const char *kind = json_string_value(json_object_get(o.reply.meta, "kind"));
    speak(s, o.n + 1, o.reply.text ? o.reply.text : "", kind, j->speech_end_ms);
    if (o.completed)
        end_stream(s, "completed", "closing_line");
    patient_reply_free(&o.reply);
}

static void run_job(stream *s, job *j)
{
    db_conn *c = db_acquire(s->a->db);
    if (!c) {
        send_error(s, "unavailable", "The database is unavailable; please try again.");
        return;
    }
    turn_outcome o;
    char status[16];
    int rc;
    switch (j->kind) {
    case JOB_START:
        rc = session_begin(s->a, c, s->session_id, s->user_id, &o, status);
        if (rc == TURN_OK || (rc == TURN_WRONG_STATE && strcmp(status, "active") == 0)) {
            send_json(s, state_event(s, rc != TURN_OK));
            if (rc == TURN_OK && o.n == -1)
                speak(s, 0, o.reply.text, "opening", 0);
        } else {
            turn_failed(s, rc, status);
        }
        patient_reply_free(&o.reply);
        break;
    case JOB_TEXT:
    case JOB_VOICE:
        run_turn(s, c, j);
        break;
    case JOB_END:
        rc = session_finish(s->a, c, s->session_id, s->user_id, &o, status);
        if (rc == TURN_OK) {
            if (o.n >= -1 && o.reply.text)
                speak(s, o.n + 1, o.reply.text, "closing", 0);
            end_stream(s, "completed", "ended_by_candidate");
        } else {
            turn_failed(s, rc, status);
        }
        patient_reply_free(&o.reply);
        break;
    }
    db_release(c);
}

/* Once a second: the deadline, status changes made elsewhere, timer events, idle prompts and
 * idle sockets. */
static void tick(stream *s, int64_t now, int64_t *next_timer, int64_t *next_status)
{
    pthread_mutex_lock(&s->mu);
    int active = strcmp(s->status, "active") == 0 && !s->ending;
    int64_t ends = s->ends_ms;
    int idle_socket = now - s->last_msg_ms >= (int64_t)s->a->cfg->stream_idle_s * 1000;
    double scale = s->a->cfg->session_time_scale;
    int64_t prompt_after = (int64_t)((double)STREAM_IDLE_PROMPT_MS * scale);
    if (prompt_after < 3000)
        prompt_after = 3000;
    int quiet = active && !s->playing && !s->in_speech && s->njobs == 0 &&
                now - s->last_activity_ms >= prompt_after;
    int64_t remaining = remaining_ms_locked(s, now);
    pthread_mutex_unlock(&s->mu);

    if (idle_socket) {
        ws_close(s->ws, 4000, "idle: no message within STREAM_IDLE_SECONDS");
        return;
    }
    if (active && ends > 0 && now >= ends) {
        db_conn *c = db_acquire(s->a->db);
        if (!c)
            return;
        turn_outcome o;
        char status[16];
        int rc = session_finish(s->a, c, s->session_id, s->user_id, &o, status);
        if (rc == TURN_OK && o.n >= -1 && o.reply.text)
            speak(s, o.n + 1, o.reply.text, "closing", 0);
        else if (rc == TURN_WRONG_STATE && strcmp(status, "completed") == 0)
            say_stored_closing(s, c); /* the sweeper was first */
        patient_reply_free(&o.reply);
        db_release(c);
        if (rc == TURN_OK || rc == TURN_WRONG_STATE)
            end_stream(s, rc == TURN_OK ? "completed" : status, "time_up");
        return;
    }
    if (now >= *next_status) {
        *next_status = now + STREAM_STATUS_EVERY_MS;
        db_conn *c = db_acquire(s->a->db);
        if (c) {
            refresh_session(s, c);
            db_release(c);
        }
        pthread_mutex_lock(&s->mu);
        int over = strcmp(s->status, "completed") == 0 || strcmp(s->status, "abandoned") == 0;
        int already = s->ending;
        char status[16];
        snprintf(status, sizeof(status), "%s", s->status);
        pthread_mutex_unlock(&s->mu);
        if (over && !already) {
            end_stream(s, status, "ended");
            return;
        }
    }
    if (active && now >= *next_timer) {
        *next_timer = now + STREAM_TIMER_EVERY_MS;
        send_json(s, json_pack("{s:s, s:I}", "type", "session.timer", "remaining_ms",
                               (json_int_t)remaining));
    }
    if (quiet) {
        db_conn *c = db_acquire(s->a->db);
        if (!c)
            return;
        turn_outcome o;
        if (session_patient_idle(s->a, c, s->session_id, s->user_id, &o) == TURN_OK &&
            o.n >= -1 && o.reply.text) {
            const char *kind = json_string_value(json_object_get(o.reply.meta, "kind"));
            speak(s, o.n + 1, o.reply.text, kind ? kind : "prompt", 0);
        }
        pthread_mutex_lock(&s->mu);
        s->last_activity_ms = time_now_ms();
        pthread_mutex_unlock(&s->mu);
        patient_reply_free(&o.reply);
        db_release(c);
    }
}

/* A decoder switched to a new model searches slowly until its first real utterance has grown
 * the search tree: that utterance took 400 ms longer to recognise with four sessions on two
 * cores. So the stream's first recogniser hears a typical candidate question, spoken by the
 * patient's synthesiser, before the candidate says anything (during preparation). */
static int warm_collect(const int16_t *samples, size_t n, void *ud)
{
    stt_stream *st = ud;
    return stt_stream_feed(st, samples, n) == 0 ? 0 : 1;
}

static void warm_recogniser(stream *s)
{
    if (!s->a->tts)
        return;
    stt_stream *st = stt_stream_begin(s->a->stt, s->domain, s->card);
    if (!st)
        return;
    stt_result r;
    memset(&r, 0, sizeof(r));
    if (tts_speak(s->a->tts, "rms",
                  "Hello, I'm one of the clinicians. Can you tell me what brought you in today?",
                  warm_collect, st) == 0 &&
        stt_stream_finish(st, &r) == 0)
        stt_result_free(&r);
    stt_stream_free(st);
}

/* Takes a recogniser for the next utterance when none is held, the pool has one per voice
 * stream (never starving another session of its decoder) and nothing else is waiting. Called
 * on the stream thread with mu held; drops it while the pool works. */
static void prepare_recogniser_locked(stream *s)
{
    if (s->ready || s->in_speech || s->ending || s->stop || s->jobs ||
        strcmp(s->mode, "voice") != 0 || !s->a->stt ||
        (strcmp(s->status, "active") != 0 && strcmp(s->status, "preparing") != 0))
        return;
    int64_t now = time_now_ms();
    if (now < s->ready_retry_ms)
        return;
    pthread_mutex_lock(&registry_mu);
    int voice_streams = registry_voice;
    pthread_mutex_unlock(&registry_mu);
    if (voice_streams > s->a->cfg->stt_decoders) {
        s->ready_retry_ms = now + 1000; /* fewer decoders than speakers: take one per turn */
        return;
    }
    int warm = !s->warmed;
    s->warmed = 1;
    pthread_mutex_unlock(&s->mu);
    int64_t t0 = time_mono_ns();
    if (warm)
        warm_recogniser(s);
    stt_stream *st = stt_stream_begin(s->a->stt, s->domain, s->card);
    log_msg(LOG_DEBUG, "stream %s: recogniser ready in %lld ms", s->session_id,
            (long long)((time_mono_ns() - t0) / 1000000));
    pthread_mutex_lock(&s->mu);
    if (!st)
        s->ready_retry_ms = time_now_ms() + 1000;
    else if (s->ready || s->stop)
        stt_stream_free(st);
    else
        s->ready = st;
}

static void *stream_main(void *arg)
{
    stream *s = arg;
    int64_t next_tick = 0, next_timer = time_now_ms() + STREAM_TIMER_EVERY_MS;
    int64_t next_status = time_now_ms() + STREAM_STATUS_EVERY_MS;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pace_locked(s);
        if (s->ending && !s->playing && !s->jobs) {
            pthread_mutex_unlock(&s->mu);
            ws_close(s->ws, 1000, "session ended");
            pthread_mutex_lock(&s->mu);
            break;
        }
        job *j = pop_job_locked(s);
        if (j) {
            pthread_mutex_unlock(&s->mu);
            if (!s->ending)
                run_job(s, j);
            else
                send_error(s, "wrong_state", "This session has already ended.");
            job_free(j);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        prepare_recogniser_locked(s);
        int64_t now = time_now_ms();
        if (now >= next_tick) {
            next_tick = now + 1000;
            pthread_mutex_unlock(&s->mu);
            tick(s, now, &next_timer, &next_status);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        int64_t wait = s->playing ? 20 : next_tick - now;
        if (wait > 1000)
            wait = 1000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        ts.tv_sec += (time_t)(wait / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    /* Let a running playback end cleanly for the records. */
    if (s->playing)
        finish_playback_locked(s, 1, time_now_ms());
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- audio in (the WebSocket thread) ------------------------------------------------------ */

static int rec_append(stream *s, const int16_t *samples, size_t n)
{
    if (s->nrec + n > STREAM_UTTERANCE_MAX_SAMPLES)
        return -1;
    return samples_append(&s->rec, &s->nrec, &s->cap_rec, samples, n);
}

static void ring_push(stream *s, const int16_t *samples, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s->ring[(s->ring_total + i) % STREAM_RING_SAMPLES] = samples[i];
    s->ring_total += n;
}

static void utterance_begin(stream *s, uint64_t start_sample)
{
    int64_t now = time_now_ms();
    pthread_mutex_lock(&s->mu);
    s->in_speech = 1;
    s->last_activity_ms = now;
    if (s->playing)
        s->barge = 1; /* the candidate talks over the patient: stop its audio */
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    s->nrec = 0;
    s->last_partial[0] = '\0';
    s->last_partial_ms = now;
    s->utt_failed = 0;
    s->utt_start_sample = start_sample;
    s->utt_start_wall = now - (int64_t)((s->ring_total - start_sample) * 1000 / AUDIO_RATE);
    pthread_mutex_lock(&s->mu);
    s->utt = s->ready;
    s->ready = NULL;
    pthread_cond_signal(&s->cv); /* the stream thread takes the next one */
    pthread_mutex_unlock(&s->mu);
    int64_t t0 = time_mono_ns();
    if (!s->utt)
        s->utt = stt_stream_begin(s->a->stt, s->domain, s->card);
    int64_t took_ms = (time_mono_ns() - t0) / 1000000;
    if (took_ms > 100)
        log_msg(LOG_WARN, "stream %s: the recogniser took %lld ms to start an utterance",
                s->session_id, (long long)took_ms);
    if (!s->utt) {
        s->utt_failed = 1;
        send_error(s, "stt_busy", "Speech recognition is busy; please say that again.");
    }
    /* What was said just before the detector was sure: from the ring. */
    uint64_t from = start_sample > STREAM_PREROLL_SAMPLES ? start_sample - STREAM_PREROLL_SAMPLES
                                                           : 0;
    uint64_t oldest = s->ring_total > STREAM_RING_SAMPLES ? s->ring_total - STREAM_RING_SAMPLES
                                                          : 0;
    if (from < oldest)
        from = oldest;
    int16_t tmp[STREAM_RING_SAMPLES];
    size_t n = 0;
    for (uint64_t i = from; i < s->ring_total; i++)
        tmp[n++] = s->ring[i % STREAM_RING_SAMPLES];
    if (n > 0) {
        if (s->utt && stt_stream_feed(s->utt, tmp, n) != 0)
            s->utt_failed = 1;
        (void)rec_append(s, tmp, n);
    }
    send_json(s, json_pack("{s:s, s:I}", "type", "vad.speech_start", "at_ms",
                           (json_int_t)(start_sample * 1000 / AUDIO_RATE)));
}

static void utterance_end(stream *s, uint64_t end_sample, uint64_t fed)
{
    int64_t now = time_now_ms();
    int64_t speech_end_wall = now - (int64_t)((fed - end_sample) * 1000 / AUDIO_RATE);
    log_msg(LOG_DEBUG, "stream %s: end of turn at %llu ms, decided at %llu ms", s->session_id,
            (unsigned long long)(end_sample * 1000 / AUDIO_RATE),
            (unsigned long long)(fed * 1000 / AUDIO_RATE));
    pthread_mutex_lock(&s->mu);
    s->in_speech = 0;
    s->last_activity_ms = now;
    pthread_mutex_unlock(&s->mu);
    send_json(s, json_pack("{s:s, s:I}", "type", "vad.speech_end", "at_ms",
                           (json_int_t)(end_sample * 1000 / AUDIO_RATE)));
    stt_result r;
    memset(&r, 0, sizeof(r));
    int ok = s->utt && !s->utt_failed && stt_stream_finish(s->utt, &r) == 0;
    stt_stream_free(s->utt);
    s->utt = NULL;
    if (!ok) {
        if (!s->utt_failed)
            send_error(s, "stt_failed", "That could not be recognised; please say it again.");
        stt_result_free(&r);
        return;
    }
    if (!r.text || !*r.text) {
        /* A cough or a noise: nothing to answer. */
        send_json(s, json_pack("{s:s, s:s, s:b}", "type", "transcript.final", "text", "",
                               "ignored", 1));
        stt_result_free(&r);
        return;
    }
    job *j = calloc(1, sizeof(*j));
    if (!j || !(j->text = strdup(r.text))) {
        free(j);
        stt_result_free(&r);
        send_error(s, "server_error", "Out of memory; please say that again.");
        return;
    }
    j->kind = JOB_VOICE;
    j->words = stt_words_json(&r);
    j->duration_ms = (int)((end_sample - s->utt_start_sample) * 1000 / AUDIO_RATE);
    j->said_at_ms = s->utt_start_wall;
    j->speech_end_ms = speech_end_wall;
    stt_result_free(&r);
    /* The recording is sealed and stored before the turn is queued so the turn row can point
     * at it; a failure loses the recording, never the turn. */
    if (session_recording_store(s->a, s->user_id, s->rec, s->nrec, j->audio_key) != 0) {
        j->audio_key[0] = '\0';
        log_msg(LOG_WARN, "stream %s: the recording could not be stored", s->session_id);
    }
    if (push_job(s, j) != 0) {
        job_free(j);
        send_error(s, "rate_limited", "Too many turns are waiting; slow down.");
    }
}

struct vad_events {
    int n;
    vad_event_type type[8];
    uint64_t at[8];
};

static void collect_event(vad_event_type t, uint64_t at, void *ud)
{
    struct vad_events *e = ud;
    if (e->n < 8) {
        e->type[e->n] = t;
        e->at[e->n] = at;
        e->n++;
    }
}

static void on_audio(stream *s, const uint8_t *data, size_t len)
{
    if (strcmp(s->mode, "voice") != 0) {
        send_error(s, "audio_not_expected", "This is a text session: send {\"type\":\"text\"}.");
        return;
    }
    if (len == 0 || len % 2 != 0 || len > STREAM_MAX_FRAME_BYTES) {
        send_error(s, "bad_frame",
                   "Audio frames are 16 kHz PCM16 mono, little-endian, 20-100 ms "
                   "(640-3200 bytes; at most 1 s).");
        return;
    }
    pthread_mutex_lock(&s->mu);
    int active = strcmp(s->status, "active") == 0 && !s->ending;
    pthread_mutex_unlock(&s->mu);
    if (!active) {
        send_error(s, "wrong_state", "Audio is accepted while the role-play is active.");
        return;
    }
    size_t n = len / 2;
    int16_t frame[STREAM_MAX_FRAME_BYTES / 2];
    for (size_t i = 0; i < n; i++)
        frame[i] = (int16_t)(uint16_t)(data[2 * i] | (data[2 * i + 1] << 8));
    struct vad_events ev = {0};
    vad_feed(s->vad, frame, n, collect_event, &ev);
    uint64_t fed = vad_samples_fed(s->vad);
    int ended = 0;
    uint64_t end_at = 0;
    for (int i = 0; i < ev.n; i++) {
        if (ev.type[i] == VAD_SPEECH_START && !s->utt && !s->utt_failed)
            utterance_begin(s, ev.at[i]);
        else if (ev.type[i] == VAD_SPEECH_END) {
            ended = 1;
            end_at = ev.at[i];
        }
    }
    int in_utt = s->utt != NULL || s->utt_failed;
    if (in_utt) {
        if (s->utt && stt_stream_feed(s->utt, frame, n) != 0)
            s->utt_failed = 1;
        if (rec_append(s, frame, n) != 0 && !ended) {
            /* A turn is at most 60 s: end it here. */
            vad_flush(s->vad, collect_event, &ev);
            ended = 1;
            end_at = fed;
        }
    }
    ring_push(s, frame, n);
    if (ended && in_utt) {
        utterance_end(s, end_at, fed);
        s->utt_failed = 0;
        vad_set_complete(s->vad, 0);
        return;
    }
    int64_t now = time_now_ms();
    if (s->utt && now - s->last_partial_ms >= STREAM_PARTIAL_EVERY_MS) {
        s->last_partial_ms = now;
        const char *p = stt_stream_partial(s->utt);
        if (p && *p && strcmp(p, s->last_partial) != 0) {
            snprintf(s->last_partial, sizeof(s->last_partial), "%s", p);
            send_json(s, json_pack("{s:s, s:s}", "type", "transcript.partial", "text", p));
            int complete = vad_looks_complete(p);
            vad_set_complete(s->vad, complete);
            log_msg(LOG_DEBUG, "stream %s: partial at %llu ms (complete %d): %s", s->session_id,
                    (unsigned long long)(vad_samples_fed(s->vad) * 1000 / AUDIO_RATE), complete,
                    p);
        }
    }
}

/* ---- control messages (the WebSocket thread) ---------------------------------------------- */

static void on_control(stream *s, const char *text, size_t len)
{
    json_error_t e;
    json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    const char *type = json_is_object(m) ? json_string_value(json_object_get(m, "type")) : NULL;
    if (!type) {
        send_error(s, "bad_message",
                   m ? "A control message is a JSON object with a string \"type\"."
                     : "The message is not valid JSON.");
        json_decref(m);
        return;
    }
    if (strcmp(type, "ping") == 0) {
        json_t *pong = json_pack("{s:s, s:I}", "type", "pong", "t", (json_int_t)time_now_ms());
        json_t *id = json_object_get(m, "id");
        if (id)
            json_object_set(pong, "id", id);
        send_json(s, pong);
    } else if (strcmp(type, "start") == 0 || strcmp(type, "end") == 0) {
        job *j = calloc(1, sizeof(*j));
        if (j) {
            j->kind = strcmp(type, "start") == 0 ? JOB_START : JOB_END;
            if (push_job(s, j) != 0) {
                job_free(j);
                send_error(s, "rate_limited", "Too many requests are waiting; slow down.");
            }
        }
    } else if (strcmp(type, "text") == 0) {
        const char *t = json_string_value(json_object_get(m, "text"));
        size_t tl = t ? strlen(t) : 0;
        if (!t || tl == 0 || tl > STREAM_TEXT_MAX) {
            send_error(s, "bad_message", "\"text\" must be a string of 1-2000 characters.");
        } else {
            job *j = calloc(1, sizeof(*j));
            if (j && (j->text = strdup(t))) {
                j->kind = JOB_TEXT;
                j->said_at_ms = j->speech_end_ms = time_now_ms();
                if (push_job(s, j) != 0) {
                    job_free(j);
                    send_error(s, "rate_limited", "Too many turns are waiting; slow down.");
                }
            } else {
                free(j);
            }
        }
    } else if (strcmp(type, "commit") == 0) {
        /* Push-to-talk: the candidate says the turn is over now. */
        struct vad_events ev = {0};
        vad_flush(s->vad, collect_event, &ev);
        for (int i = 0; i < ev.n; i++)
            if (ev.type[i] == VAD_SPEECH_END && (s->utt || s->utt_failed)) {
                utterance_end(s, ev.at[i], vad_samples_fed(s->vad));
                s->utt_failed = 0;
            }
    } else {
        send_error(s, "unknown_type",
                   "Known control messages: start, text, end, commit, ping.");
    }
    json_decref(m);
}

/* ---- the WebSocket handler ---------------------------------------------------------------- */

static int on_open(ws_conn *c, void *ud)
{
    stream *s = ud;
    s->ws = c;
    registry_add(s);
    send_json(s, state_event(s, 1));
    if (pthread_create(&s->thread, NULL, stream_main, s) != 0)
        return -1;
    s->thread_started = 1;
    return 0;
}

static void on_message(ws_conn *c, int type, const uint8_t *data, size_t len, void *ud)
{
    (void)c;
    stream *s = ud;
    pthread_mutex_lock(&s->mu);
    s->last_msg_ms = time_now_ms();
    pthread_mutex_unlock(&s->mu);
    if (type == WS_BINARY)
        on_audio(s, data, len);
    else
        on_control(s, (const char *)data, len);
}

static void stream_free(stream *s)
{
    if (!s)
        return;
    vad_free(s->vad);
    stt_stream_free(s->utt);
    stt_stream_free(s->ready);
    while (s->jobs) {
        job *j = s->jobs;
        s->jobs = j->next;
        job_free(j);
    }
    json_decref(s->card);
    free(s->pending);
    free(s->rec);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void on_close(ws_conn *c, uint16_t code, void *ud)
{
    (void)c;
    (void)code;
    stream *s = ud;
    if (!s)
        return;
    registry_remove(s);
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    stream_free(s);
}

const ws_handler session_stream_ws = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
    .max_message = STREAM_MAX_MESSAGE,
};

/* ---- the route ------------------------------------------------------------------------------ */

static stream *stream_new(app *a, const session_row *row, const char *user_id, json_t *card)
{
    stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->a = a;
    snprintf(s->session_id, sizeof(s->session_id), "%s", row->id);
    snprintf(s->user_id, sizeof(s->user_id), "%s", user_id);
    snprintf(s->mode, sizeof(s->mode), "%s", row->mode);
    snprintf(s->status, sizeof(s->status), "%s", row->status);
    ai_domain_key(row->scenario_id, row->version, s->domain);
    s->card = card;
    const char *voice = tts_voice_for(json_object_get(card, "patient_card"));
    snprintf(s->voice, sizeof(s->voice), "%s", voice ? voice : "slt");
    s->started_ms = row->started_ms;
    s->ends_ms = row->ends_ms;
    s->jobs_tail = &s->jobs;
    s->last_msg_ms = s->last_activity_ms = time_now_ms();
    vad_params vp;
    vad_params_default(&vp);
    vp.hangover_short_ms = a->cfg->vad_hangover_short_ms;
    vp.hangover_long_ms = a->cfg->vad_hangover_long_ms;
    vp.min_speech_ms = a->cfg->vad_min_speech_ms;
    s->vad = vad_new(&vp);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!s->vad) {
        s->card = NULL;
        stream_free(s);
        return NULL;
    }
    return s;
}

static int offers_bearer(const char *protocols)
{
    if (!protocols)
        return 0;
    while (*protocols == ' ')
        protocols++;
    return strncasecmp(protocols, "bearer", 6) == 0 &&
           (protocols[6] == ',' || protocols[6] == ' ' || protocols[6] == '\0');
}

void session_stream_route(http_req *req, http_res *res)
{
    app *a = req->app;
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    session_row row;
    json_t *card = NULL;
    int rc = session_load(c, http_req_param(req, "id"), &row);
    json_decref(row.patient_state);
    if (rc < 0) {
        service_db_failed(req, res, c, "stream: load session");
        goto out;
    }
    if (rc == 0 || strcmp(row.user_id, req->user_id) != 0) {
        http_res_problem(req, res, 404, "No session with this id.", NULL);
        goto out;
    }
    if (strcmp(row.status, "preparing") != 0 && strcmp(row.status, "active") != 0) {
        http_res_problem_full(req, res, 409, "wrong-state", "Wrong Session State",
                              "This session has already ended.", NULL);
        goto out;
    }
    if (strcmp(row.mode, "voice") == 0 && (!a->stt || !a->tts)) {
        http_res_header(req, res, "Retry-After", "30");
        http_res_problem(req, res, 503, "Speech services are not available on this server.",
                         NULL);
        goto out;
    }
    if (content_version_card(c, row.scenario_id, row.version, &card) != DB_OK) {
        service_db_failed(req, res, c, "stream: load card");
        goto out;
    }
    stream *s = stream_new(a, &row, req->user_id, card);
    if (!s) {
        http_res_problem(req, res, 500, "Out of memory.", NULL);
        goto out;
    }
    card = NULL;
    if (http_res_upgrade_ws(req, res, &session_stream_ws, s) != 0) {
        stream_free(s);
        goto out;
    }
    if (offers_bearer(http_req_header(req, "Sec-WebSocket-Protocol")))
        http_res_header(req, res, "Sec-WebSocket-Protocol", "bearer");
out:
    json_decref(card);
    db_release(c);
}
