/* Session storage and life cycle shared by the routes and the sweeper: loading, turns,
 * completion with the closing line, and the periodic sweep. */
#include "services/sessions/internal.h"
#include "services/sessions/sessions.h"

#include "services/billing/billing.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "services/app.h"
#include "services/content/content.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void patient_ctx_for(patient_context *ctx, const json_t *card, long long seed)
{
    ctx->patient_card = json_object_get(card, "patient_card");
    ctx->candidate_card = json_object_get(card, "candidate_card");
    ctx->seed = (uint64_t)seed;
    ctx->roleplay_seconds = (int)json_integer_value(json_object_get(card, "roleplay_seconds"));
}

int session_patient_ready(session_row *row, const json_t *card, patient_context *ctx)
{
    patient_ctx_for(ctx, card, row->seed);
    if (!row->patient_state)
        row->patient_state = patient_state_new(ctx);
    return row->patient_state ? 0 : -1;
}

int session_patient_respond(const app *a, session_row *row, const json_t *card,
                            const char *utterance, int64_t elapsed_ms,
                            patient_sentence_fn on_sentence, void *ud, patient_reply *out)
{
    patient_context ctx;
    if (session_patient_ready(row, card, &ctx) != 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    if (strcmp(row->patient_engine, "llm") == 0) {
        /* Without LLM_BASE_URL now (a restart changed it) the llm engine answers "disabled",
         * through the scripted patient. */
        const config *cfg = a ? a->cfg : NULL;
        llm_config lc = {cfg ? cfg->llm_base_url : NULL, cfg ? cfg->llm_api_key : NULL,
                         cfg ? cfg->llm_model : NULL, cfg ? cfg->llm_timeout_ms : 0};
        return patient_llm_respond(&lc, &ctx, row->patient_state, utterance, elapsed_ms,
                                   on_sentence, ud, out);
    }
    int rc = patient_respond(&ctx, row->patient_state, utterance, elapsed_ms, out);
    if (rc == 0)
        patient_say_sentences(out->text, on_sentence, ud);
    return rc;
}

static int64_t parse_ms(const char *s)
{
    int64_t ms;
    return s && time_parse_rfc3339(s, &ms) == 0 ? ms : -1;
}

int session_load(db_conn *c, const char *id, session_row *row)
{
    memset(row, 0, sizeof(*row));
    const db_param p[] = {DB_TEXT(id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = $1", p, 1, &r);
    if (rc != DB_OK)
        return rc;
    int step = db_rows_next(r);
    if (step == 1) {
        snprintf(row->id, sizeof(row->id), "%s", db_col_text(r, 0));
        snprintf(row->user_id, sizeof(row->user_id), "%s", db_col_text(r, 1));
        snprintf(row->scenario_id, sizeof(row->scenario_id), "%s", db_col_text(r, 2));
        row->version = db_col_int(r, 3);
        snprintf(row->mode, sizeof(row->mode), "%s", db_col_text(r, 4));
        snprintf(row->status, sizeof(row->status), "%s", db_col_text(r, 5));
        row->seed = db_col_int(r, 6);
        row->started_ms = parse_ms(db_col_text(r, 7));
        row->ends_ms = parse_ms(db_col_text(r, 8));
        const char *st = db_col_text(r, 9);
        json_error_t e;
        row->patient_state = st ? json_loads(st, 0, &e) : NULL;
        const char *engine = db_col_text(r, 10);
        snprintf(row->patient_engine, sizeof(row->patient_engine), "%s",
                 engine ? engine : "scripted");
    }
    db_rows_free(r);
    return step;
}

int sessions_lookup(db_conn *c, const char *session_id, const char *user_id, char status[16])
{
    status[0] = '\0';
    const db_param p[] = {DB_TEXT(session_id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT user_id, status FROM sessions WHERE id = $1", p, 1, &r);
    if (rc != DB_OK)
        return rc < 0 ? rc : -1;
    int step = db_rows_next(r);
    int found = 0;
    if (step == 1 && user_id && strcmp(db_col_text(r, 0), user_id) == 0) {
        snprintf(status, 16, "%s", db_col_text(r, 1));
        found = 1;
    }
    db_rows_free(r);
    return step < 0 ? step : found;
}

int turn_next_n(db_conn *c, const char *session_id, long long *n)
{
    const db_param p[] = {DB_TEXT(session_id)};
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT COALESCE(MAX(n), -1) + 1 FROM turns WHERE session_id = $1", p, 1,
                      &r);
    if (rc != DB_OK)
        return rc;
    rc = db_rows_next(r) == 1 ? DB_OK : DB_ERROR;
    if (rc == DB_OK)
        *n = db_col_int(r, 0);
    db_rows_free(r);
    return rc;
}

int turn_insert(db_conn *c, const char *session_id, long long n, const char *speaker,
                const char *text, int64_t t_ms, const json_t *meta)
{
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    char *m = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    const db_param p[] = {DB_TEXT(id),       DB_TEXT(session_id), DB_INT(n),
                          DB_TEXT(speaker),  DB_TEXT(text),       DB_INT(t_ms < 0 ? 0 : t_ms),
                          DB_TEXT(m),        DB_TEXT(now)};
    int rc = db_exec(c,
                     "INSERT INTO turns (id, session_id, n, speaker, text, t_ms, meta, created_at) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                     p, ARRAY_LEN(p), NULL);
    free(m);
    return rc;
}

int turn_insert_voice(db_conn *c, const char *session_id, long long n, const char *text,
                      int64_t t_ms, const turn_voice *v)
{
    char id[UUID_STR_LEN], now[RFC3339_LEN];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    char *words = v->words ? json_dumps(v->words, JSON_COMPACT) : NULL;
    const db_param p[] = {DB_TEXT(id),
                          DB_TEXT(session_id),
                          DB_INT(n),
                          DB_TEXT(text),
                          DB_INT(t_ms < 0 ? 0 : t_ms),
                          DB_INT(v->duration_ms < 0 ? 0 : v->duration_ms),
                          DB_TEXT(words),
                          DB_TEXT(v->audio_key),
                          DB_TEXT(now)};
    int rc = db_exec(c,
                     "INSERT INTO turns (id, session_id, n, speaker, input, text, t_ms, "
                     "duration_ms, words, audio_key, created_at) "
                     "VALUES ($1, $2, $3, 'candidate', 'voice', $4, $5, $6, $7, $8, $9)",
                     p, ARRAY_LEN(p), NULL);
    free(words);
    return rc;
}

int turn_mark_interrupted(db_conn *c, const char *session_id, long long n, int played_ms)
{
    const db_param p[] = {DB_INT(played_ms < 0 ? 0 : played_ms), DB_TEXT(session_id), DB_INT(n)};
    return db_exec(c,
                   "UPDATE turns SET interrupted = TRUE, played_ms = $1 "
                   "WHERE session_id = $2 AND n = $3 AND speaker = 'patient'",
                   p, 3, NULL);
}

int session_count_voice(db_conn *c, const session_row *row, int64_t at_ms)
{
    if (strcmp(row->mode, "voice") != 0 || row->started_ms < 0)
        return DB_OK;
    int64_t end = row->ends_ms >= 0 && at_ms > row->ends_ms ? row->ends_ms : at_ms;
    int64_t ms = end - row->started_ms;
    return billing_record_voice_seconds(c, row->user_id, row->id, ms > 0 ? (ms + 999) / 1000 : 0);
}

int session_complete(db_conn *c, session_row *row, const json_t *card, int64_t at_ms)
{
    patient_context ctx;
    patient_reply reply = {0};
    int rc = session_patient_ready(row, card, &ctx) == 0 &&
                     patient_close(&ctx, row->patient_state, &reply) == 0
                 ? DB_OK
                 : DB_ERROR;
    long long n = 0;
    int64_t t = row->started_ms >= 0 ? at_ms - row->started_ms : 0;
    if (row->ends_ms >= 0 && row->started_ms >= 0 && at_ms > row->ends_ms)
        t = row->ends_ms - row->started_ms; /* the closing line belongs at the deadline */
    if (rc == DB_OK)
        rc = turn_next_n(c, row->id, &n);
    if (rc == DB_OK && reply.text && *reply.text)
        rc = turn_insert(c, row->id, n, "patient", reply.text, t, reply.meta);
    char now[RFC3339_LEN];
    time_format_rfc3339(at_ms, now);
    char *state = rc == DB_OK ? json_dumps(row->patient_state, JSON_COMPACT) : NULL;
    if (rc == DB_OK) {
        const db_param p[] = {DB_TEXT(now), DB_TEXT(state), DB_TEXT(row->id)};
        int64_t affected = 0;
        rc = db_exec(c,
                     "UPDATE sessions SET status = 'completed', completed_at = $1, "
                     "updated_at = $1, last_activity_at = $1, patient_state = $2 "
                     "WHERE id = $3 AND status = 'active'",
                     p, 3, &affected);
        if (rc == DB_OK && affected != 1)
            rc = DB_ERROR;
    }
    if (rc == DB_OK)
        rc = session_queue_scoring(c, row->id);
    if (rc == DB_OK)
        rc = session_count_voice(c, row, at_ms);
    free(state);
    patient_reply_free(&reply);
    if (rc == DB_OK)
        snprintf(row->status, sizeof(row->status), "completed");
    return rc;
}

/* ---- the sweeper ------------------------------------------------------------------------ */

static int complete_expired(db *d)
{
    db_conn *c = db_acquire(d);
    if (!c)
        return -1;
    char now[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(now)};
    db_rows *r = NULL;
    int changed = 0;
    json_t *ids = json_array();
    if (db_query(c,
                 "SELECT id FROM sessions WHERE status = 'active' AND ends_at <= $1 "
                 "ORDER BY ends_at LIMIT 100",
                 p, 1, &r) == DB_OK) {
        while (db_rows_next(r) == 1)
            json_array_append_new(ids, json_string(db_col_text(r, 0)));
    }
    db_rows_free(r);
    size_t i;
    json_t *jid;
    json_array_foreach(ids, i, jid)
    {
        session_row row;
        memset(&row, 0, sizeof(row));
        json_t *card = NULL;
        int committed = 0;
        int rc = db_begin(c);
        /* Re-read inside the transaction: a request may have completed it meanwhile. */
        if (rc == DB_OK && session_load(c, json_string_value(jid), &row) == 1 &&
            strcmp(row.status, "active") == 0 &&
            content_version_card(c, row.scenario_id, row.version, &card) == DB_OK) {
            rc = session_complete(c, &row, card, time_now_ms());
            if (rc == DB_OK && db_commit(c) == DB_OK) {
                committed = 1;
                changed++;
            }
        }
        if (!committed)
            db_rollback(c);
        json_decref(card);
        json_decref(row.patient_state);
    }
    json_decref(ids);
    db_release(c);
    return changed;
}

static int abandon_idle(db *d, int idle_s)
{
    db_conn *c = db_acquire(d);
    if (!c)
        return -1;
    char now[RFC3339_LEN], cutoff[RFC3339_LEN];
    int64_t t = time_now_ms();
    time_format_rfc3339(t, now);
    time_format_rfc3339(t - (int64_t)idle_s * 1000, cutoff);
    const db_param p[] = {DB_TEXT(now), DB_TEXT(cutoff)};
    int64_t affected = 0;
    int rc = db_exec(c,
                     "UPDATE sessions SET status = 'abandoned', abandoned_at = $1, updated_at = $1 "
                     "WHERE status IN ('preparing', 'active') AND last_activity_at < $2 AND "
                     "(ends_at IS NULL OR ends_at > $1)",
                     p, 2, &affected);
    db_release(c);
    return rc == DB_OK ? (int)affected : -1;
}

int sessions_sweep(db *d, int idle_s)
{
    int a = complete_expired(d);
    int b = abandon_idle(d, idle_s);
    if (a < 0 || b < 0)
        return -1;
    if (a + b > 0)
        log_info("sessions: %d completed at their deadline, %d abandoned", a, b);
    return a + b;
}

struct sessions_sweeper {
    db *d;
    int interval_ms, idle_s;
    int stop;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cv;
};

static void *sweeper_main(void *arg)
{
    sessions_sweeper *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        pthread_mutex_unlock(&s->lock);
        (void)sessions_sweep(s->d, s->idle_s);
        pthread_mutex_lock(&s->lock);
        if (s->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += s->interval_ms / 1000;
        ts.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

sessions_sweeper *sessions_sweeper_start(db *d, int interval_ms, int idle_s)
{
    sessions_sweeper *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->d = d;
    s->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    s->idle_s = idle_s;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    return s;
}

void sessions_sweeper_stop(sessions_sweeper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cv);
    free(s);
}
