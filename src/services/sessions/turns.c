/* Taking a turn: the candidate's words (typed or recognised) go in, the patient's reply comes
 * out, both stored in one transaction with the engine's new state. REST text turns, REST audio
 * uploads and the real-time stream all come through here, so they cannot drift apart. */
#include "services/sessions/internal.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "services/app.h"
#include "services/content/content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads the caller's session and its card. Returns TURN_OK, TURN_NOT_FOUND or TURN_DB_ERROR. */
static int load_mine(db_conn *c, const char *session_id, const char *user_id, session_row *row,
                     json_t **card)
{
    *card = NULL;
    int rc = session_load(c, session_id, row);
    if (rc < 0)
        return TURN_DB_ERROR;
    if (rc == 0 || strcmp(row->user_id, user_id) != 0) {
        json_decref(row->patient_state);
        row->patient_state = NULL;
        return TURN_NOT_FOUND;
    }
    if (content_version_card(c, row->scenario_id, row->version, card) != DB_OK) {
        json_decref(row->patient_state);
        row->patient_state = NULL;
        return TURN_DB_ERROR;
    }
    return TURN_OK;
}

int session_take_turn(struct app *a, const char *session_id, const char *user_id,
                      const turn_input *in, patient_sentence_fn on_sentence, void *ud,
                      turn_outcome *out, char status[16])
{
    memset(out, 0, sizeof(*out));
    status[0] = '\0';
    db_conn *c = db_acquire(a->db);
    if (!c)
        return TURN_UNAVAILABLE;
    session_row row;
    json_t *card = NULL;
    int result = load_mine(c, session_id, user_id, &row, &card);
    if (result != TURN_OK) {
        db_release(c);
        return result;
    }
    int rc;
    result = TURN_DB_ERROR;
    if (strcmp(row.status, "active") != 0) {
        snprintf(status, 16, "%s", row.status);
        result = TURN_WRONG_STATE;
        goto out;
    }
    int64_t now_ms = time_now_ms();
    if (now_ms >= row.ends_ms) {
        /* Too late: the role-play is over. Complete it now (the sweeper would too). */
        rc = db_begin(c);
        if (rc == DB_OK)
            rc = session_complete(c, &row, card, now_ms);
        if (rc == DB_OK)
            rc = db_commit(c);
        if (rc != DB_OK)
            db_rollback(c);
        else
            app_kick_outbox(a);
        result = TURN_TIME_UP;
        goto out;
    }
    int64_t said = in->said_at_ms > 0 && in->said_at_ms <= now_ms ? in->said_at_ms : now_ms;
    int64_t t = said - row.started_ms;
    if (t < 0)
        t = 0;
    out->t_ms = t;
    long long n0 = 0;
    if (turn_next_n(c, row.id, &n0) != DB_OK)
        goto out;
    /* The patient may wait seconds on a remote model: the connection goes back to the pool
     * meanwhile, and the turn is refused (busy) if another one was stored in between. */
    db_release(c);
    c = NULL;
    if (session_patient_respond(a, &row, card, in->text, now_ms - row.started_ms, on_sentence,
                                ud, &out->reply) != 0) {
        log_msg(LOG_ERROR, "sessions: the patient engine failed on session %s", row.id);
        result = TURN_ENGINE_ERROR;
        goto out;
    }
    c = db_acquire(a->db);
    if (!c) {
        patient_reply_free(&out->reply);
        result = TURN_UNAVAILABLE;
        goto out;
    }
    char now[RFC3339_LEN];
    time_format_rfc3339(now_ms, now);
    char *state = json_dumps(row.patient_state, JSON_COMPACT);
    long long n = 0;
    int64_t affected = 0;
    rc = state ? db_begin(c) : DB_ERROR;
    if (rc == DB_OK)
        rc = turn_next_n(c, row.id, &n);
    if (rc == DB_OK && n != n0)
        rc = DB_ECONSTRAINT;
    if (rc == DB_OK)
        rc = in->voice ? turn_insert_voice(c, row.id, n, in->text, t, in->voice)
                       : turn_insert(c, row.id, n, "candidate", in->text, t, NULL);
    /* The reply comes when the candidate has finished: at the end of a voice utterance. */
    int64_t reply_t = in->voice ? t + in->voice->duration_ms : t;
    if (rc == DB_OK)
        rc = turn_insert(c, row.id, n + 1, "patient", out->reply.text, reply_t, out->reply.meta);
    if (rc == DB_OK) {
        const db_param p[] = {DB_TEXT(now), DB_TEXT(state), DB_TEXT(row.id)};
        rc = db_exec(c,
                     "UPDATE sessions SET last_activity_at = $1, updated_at = $1, "
                     "patient_state = $2 WHERE id = $3 AND status = 'active'",
                     p, 3, &affected);
    }
    if (rc == DB_OK && affected == 1 && out->reply.closing) {
        const db_param p[] = {DB_TEXT(now), DB_TEXT(row.id)};
        rc = db_exec(c,
                     "UPDATE sessions SET status = 'completed', completed_at = $1 WHERE id = $2",
                     p, 2, NULL);
        if (rc == DB_OK)
            rc = session_queue_scoring(c, row.id);
        if (rc == DB_OK)
            rc = session_count_voice(c, &row, now_ms);
    }
    if (rc == DB_OK && affected == 1)
        rc = db_commit(c);
    free(state);
    if (rc != DB_OK || affected != 1) {
        db_rollback(c);
        if (rc == DB_ECONSTRAINT || (rc == DB_OK && affected != 1)) {
            result = TURN_BUSY;
        } else {
            log_msg(LOG_ERROR, "sessions: store turn of %s: %s", row.id, db_errmsg(c));
            result = TURN_DB_ERROR;
        }
        patient_reply_free(&out->reply);
        goto out;
    }
    out->n = n;
    out->completed = out->reply.closing;
    if (out->completed)
        app_kick_outbox(a);
    result = TURN_OK;
out:
    if (c)
        db_release(c);
    json_decref(row.patient_state);
    json_decref(card);
    return result;
}

int session_begin(struct app *a, db_conn *c, const char *session_id, const char *user_id,
                  turn_outcome *out, char status[16])
{
    memset(out, 0, sizeof(*out));
    status[0] = '\0';
    session_row row;
    json_t *card = NULL;
    int result = load_mine(c, session_id, user_id, &row, &card);
    if (result != TURN_OK)
        return result;
    result = TURN_DB_ERROR;
    if (strcmp(row.status, "preparing") != 0) {
        snprintf(status, 16, "%s", row.status);
        result = TURN_WRONG_STATE;
        goto out;
    }
    patient_context ctx;
    if (session_patient_ready(&row, card, &ctx) != 0 ||
        patient_open(&ctx, row.patient_state, &out->reply) != 0)
        goto out;
    int64_t t = time_now_ms();
    char now[RFC3339_LEN], ends[RFC3339_LEN];
    time_format_rfc3339(t, now);
    time_format_rfc3339(t + (int64_t)((double)ctx.roleplay_seconds * 1000.0 *
                                      a->cfg->session_time_scale),
                        ends);
    char *state = json_dumps(row.patient_state, JSON_COMPACT);
    const db_param p[] = {DB_TEXT(now), DB_TEXT(ends), DB_TEXT(state), DB_TEXT(row.id)};
    int64_t affected = 0;
    int rc = state ? db_begin(c) : DB_ERROR;
    if (rc == DB_OK)
        rc = db_exec(c,
                     "UPDATE sessions SET status = 'active', started_at = $1, ends_at = $2, "
                     "last_activity_at = $1, updated_at = $1, patient_state = $3 "
                     "WHERE id = $4 AND status = 'preparing'",
                     p, 4, &affected);
    int has_line = out->reply.text && *out->reply.text;
    if (rc == DB_OK && affected == 1 && has_line)
        rc = turn_insert(c, row.id, 0, "patient", out->reply.text, 0, out->reply.meta);
    if (rc == DB_OK && affected == 1)
        rc = db_commit(c);
    free(state);
    if (rc != DB_OK || affected != 1) {
        db_rollback(c);
        patient_reply_free(&out->reply);
        if (rc == DB_OK) {
            snprintf(status, 16, "active");
            result = TURN_WRONG_STATE;
        } else {
            log_msg(LOG_ERROR, "sessions: start %s: %s", row.id, db_errmsg(c));
        }
        goto out;
    }
    out->n = has_line ? -1 : -2; /* the opener is turn 0 = n + 1 */
    result = TURN_OK;
out:
    json_decref(row.patient_state);
    json_decref(card);
    return result;
}

int session_patient_idle(struct app *a, db_conn *c, const char *session_id,
                         const char *user_id, turn_outcome *out)
{
    (void)a;
    memset(out, 0, sizeof(*out));
    session_row row;
    json_t *card = NULL;
    int result = load_mine(c, session_id, user_id, &row, &card);
    if (result != TURN_OK)
        return result;
    result = TURN_DB_ERROR;
    int64_t now_ms = time_now_ms();
    if (strcmp(row.status, "active") != 0 || now_ms >= row.ends_ms) {
        result = TURN_WRONG_STATE;
        goto out;
    }
    patient_context ctx;
    int64_t t = now_ms - row.started_ms;
    if (session_patient_ready(&row, card, &ctx) != 0 ||
        patient_idle(&ctx, row.patient_state, t, &out->reply) != 0)
        goto out;
    if (!out->reply.text || !*out->reply.text) {
        result = TURN_OK; /* nothing to say: out->n stays -2 */
        out->n = -2;
        goto out;
    }
    char now[RFC3339_LEN];
    time_format_rfc3339(now_ms, now);
    char *state = json_dumps(row.patient_state, JSON_COMPACT);
    long long n = 0;
    int64_t affected = 0;
    int rc = state ? db_begin(c) : DB_ERROR;
    if (rc == DB_OK)
        rc = turn_next_n(c, row.id, &n);
    if (rc == DB_OK)
        rc = turn_insert(c, row.id, n, "patient", out->reply.text, t, out->reply.meta);
    if (rc == DB_OK) {
        const db_param p[] = {DB_TEXT(now), DB_TEXT(state), DB_TEXT(row.id)};
        rc = db_exec(c,
                     "UPDATE sessions SET updated_at = $1, patient_state = $2 "
                     "WHERE id = $3 AND status = 'active'",
                     p, 3, &affected);
    }
    if (rc == DB_OK && affected == 1)
        rc = db_commit(c);
    free(state);
    if (rc != DB_OK || affected != 1) {
        db_rollback(c);
        patient_reply_free(&out->reply);
        result = rc == DB_OK || rc == DB_ECONSTRAINT ? TURN_BUSY : TURN_DB_ERROR;
        goto out;
    }
    out->n = n - 1;
    out->t_ms = t;
    result = TURN_OK;
out:
    json_decref(row.patient_state);
    json_decref(card);
    return result;
}

int session_finish(struct app *a, db_conn *c, const char *session_id, const char *user_id,
                   turn_outcome *out, char status[16])
{
    memset(out, 0, sizeof(*out));
    status[0] = '\0';
    out->n = -2;
    session_row row;
    json_t *card = NULL;
    int result = load_mine(c, session_id, user_id, &row, &card);
    if (result != TURN_OK)
        return result;
    if (strcmp(row.status, "active") != 0) {
        snprintf(status, 16, "%s", row.status);
        result = TURN_WRONG_STATE;
        goto out;
    }
    long long before = 0;
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = turn_next_n(c, row.id, &before);
    if (rc == DB_OK)
        rc = session_complete(c, &row, card, time_now_ms());
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK) {
        db_rollback(c);
        result = TURN_DB_ERROR;
        goto out;
    }
    app_kick_outbox(a);
    /* The closing line the completion stored (if any) is turn `before`. */
    const db_param p[] = {DB_TEXT(row.id), DB_INT(before)};
    db_rows *r = NULL;
    if (db_query(c, "SELECT text, t_ms FROM turns WHERE session_id = $1 AND n = $2", p, 2,
                 &r) == DB_OK &&
        db_rows_next(r) == 1) {
        out->reply.text = strdup(db_col_text(r, 0));
        out->t_ms = db_col_int(r, 1);
        out->n = before - 1;
    }
    db_rows_free(r);
    out->completed = 1;
    snprintf(status, 16, "completed");
    result = TURN_OK;
out:
    json_decref(row.patient_state);
    json_decref(card);
    return result;
}
