/* Scoring after a role-play: completing a session queues a "session.score" job (outbox, same
 * transaction) next to a pending feedback row; the job scores the stored transcript with the
 * rule-based scorer and stores the report and a progress snapshot in one transaction. A crash
 * mid-scoring re-runs the job (outbox lease); UNIQUE(session_id) keeps it to one report. */
#include "services/sessions/internal.h"
#include "services/sessions/sessions.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "events/outbox.h"
#include "services/ai/scorer.h"
#include "services/content/content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_TOPIC "session.score"

int session_queue_scoring(db_conn *c, const char *session_id)
{
    char id[UUID_STR_LEN], now[RFC3339_LEN], key[64];
    id_uuid7(id);
    time_format_rfc3339(time_now_ms(), now);
    const db_param p[] = {DB_TEXT(id), DB_TEXT(session_id), DB_TEXT(SCORER_VERSION), DB_TEXT(now)};
    int rc = db_exec(c,
                     "INSERT INTO feedback_reports (id, session_id, status, scorer_version, "
                     "created_at, updated_at) VALUES ($1, $2, 'pending', $3, $4, $4) "
                     "ON CONFLICT (session_id) DO NOTHING",
                     p, ARRAY_LEN(p), NULL);
    if (rc != DB_OK)
        return rc;
    json_t *payload = json_pack("{s:s}", "session_id", session_id);
    snprintf(key, sizeof(key), "score:%s", session_id);
    rc = payload ? outbox_enqueue(c, SCORE_TOPIC, payload, key) : DB_ERROR;
    json_decref(payload);
    return rc;
}

/* The stored transcript in the scorer's shape. */
static json_t *load_turns(db_conn *c, const char *session_id)
{
    const db_param p[] = {DB_TEXT(session_id)};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT n, speaker, text, t_ms, words, meta FROM turns WHERE session_id = $1 "
                 "ORDER BY n",
                 p, 1, &r) != DB_OK)
        return NULL;
    json_t *turns = json_array();
    int step;
    while ((step = db_rows_next(r)) == 1) {
        json_t *t = json_pack("{s:I, s:s, s:s, s:I}", "n", (json_int_t)db_col_int(r, 0),
                              "speaker", db_col_text(r, 1), "text", db_col_text(r, 2), "t_ms",
                              (json_int_t)db_col_int(r, 3));
        json_error_t e;
        const char *w = db_col_text(r, 4), *m = db_col_text(r, 5);
        if (w)
            json_object_set_new(t, "words", json_loads(w, 0, &e));
        if (m)
            json_object_set_new(t, "meta", json_loads(m, 0, &e));
        json_array_append_new(turns, t);
    }
    db_rows_free(r);
    if (step < 0) {
        json_decref(turns);
        return NULL;
    }
    return turns;
}

static json_t *criterion_score(const json_t *report, const char *group, const char *name)
{
    return json_object_get(json_object_get(json_object_get(report, group), name), "score");
}

static int store_report(db_conn *c, const session_row *row, const json_t *report)
{
    char now[RFC3339_LEN], id[UUID_STR_LEN];
    time_format_rfc3339(time_now_ms(), now);
    id_uuid7(id);
    char *text = json_dumps(report, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    if (!text)
        return DB_ERROR;
    const json_t *overall = json_object_get(report, "overall");
    json_t *intel = criterion_score(report, "linguistic", "intelligibility");
    const db_param rp[] = {DB_TEXT(text), DB_TEXT(SCORER_VERSION), DB_TEXT(now),
                           DB_TEXT(row->id)};
    const db_param sp[] = {
        DB_TEXT(id),
        DB_TEXT(row->user_id),
        DB_TEXT(row->id),
        DB_TEXT(row->mode),
        DB_INT(json_integer_value(json_object_get(overall, "estimated_score"))),
        DB_TEXT(json_string_value(json_object_get(overall, "grade"))),
        json_is_integer(intel) ? DB_INT(json_integer_value(intel)) : DB_NULL,
        DB_INT(json_integer_value(criterion_score(report, "linguistic", "fluency"))),
        DB_INT(json_integer_value(criterion_score(report, "linguistic", "appropriateness"))),
        DB_INT(json_integer_value(criterion_score(report, "linguistic", "grammar_expression"))),
        DB_INT(json_integer_value(criterion_score(report, "clinical", "relationship_building"))),
        DB_INT(json_integer_value(criterion_score(report, "clinical", "patient_perspective"))),
        DB_INT(json_integer_value(criterion_score(report, "clinical", "providing_structure"))),
        DB_INT(json_integer_value(criterion_score(report, "clinical", "information_gathering"))),
        DB_INT(json_integer_value(criterion_score(report, "clinical", "information_giving"))),
        DB_TEXT(now),
    };
    int rc = db_begin(c);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "UPDATE feedback_reports SET status = 'ready', report = $1, "
                     "scorer_version = $2, completed_at = $3, updated_at = $3, "
                     "attempts = attempts + 1 WHERE session_id = $4 AND status <> 'ready'",
                     rp, ARRAY_LEN(rp), NULL);
    if (rc == DB_OK)
        rc = db_exec(c,
                     "INSERT INTO progress_snapshots (id, user_id, session_id, mode, "
                     "estimated_score, grade, intelligibility, fluency, appropriateness, "
                     "grammar_expression, relationship_building, patient_perspective, "
                     "providing_structure, information_gathering, information_giving, "
                     "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                     "$13, $14, $15, $16) ON CONFLICT (session_id) DO NOTHING",
                     sp, ARRAY_LEN(sp), NULL);
    if (rc == DB_OK)
        rc = db_commit(c);
    if (rc != DB_OK)
        db_rollback(c);
    free(text);
    return rc;
}

static int score_job(const char *topic, const json_t *payload, void *ud, char *err,
                     size_t errlen)
{
    (void)topic;
    db *d = ud;
    const char *sid = json_string_value(json_object_get(payload, "session_id"));
    if (!sid) {
        snprintf(err, errlen, "payload without session_id");
        return -1;
    }
    db_conn *c = db_acquire(d);
    if (!c) {
        snprintf(err, errlen, "no database connection");
        return -1;
    }
    session_row row;
    json_t *card = NULL, *turns = NULL, *scenario = NULL, *report = NULL;
    int rc = -1;
    if (session_load(c, sid, &row) != 1) {
        /* Erased with its account meanwhile: nothing left to score. */
        rc = 0;
        goto out;
    }
    if (content_version_card(c, row.scenario_id, row.version, &card) != DB_OK ||
        !(turns = load_turns(c, sid))) {
        snprintf(err, errlen, "loading the session failed: %s", db_errmsg(c));
        goto out;
    }
    scenario = json_pack("{s:O, s:O, s:O, s:O, s:O}", "title", json_object_get(card, "title"),
                         "profession", json_object_get(card, "profession"), "difficulty",
                         json_object_get(card, "difficulty"), "candidate_card",
                         json_object_get(card, "candidate_card"), "patient_card",
                         json_object_get(card, "patient_card"));
    scorer_input in = {.scenario = scenario, .turns = turns, .mode = row.mode, .session_id = sid};
    report = scenario ? scorer_score(&in, err, errlen) : NULL;
    if (!report)
        goto out;
    if (store_report(c, &row, report) != DB_OK) {
        snprintf(err, errlen, "storing the report failed: %s", db_errmsg(c));
        goto out;
    }
    rc = 0;
out:
    json_decref(report);
    json_decref(scenario);
    json_decref(turns);
    json_decref(card);
    json_decref(row.patient_state);
    db_release(c);
    return rc;
}

int sessions_register_jobs(outbox_dispatcher *o, db *d)
{
    return outbox_register(o, SCORE_TOPIC, score_job, d);
}
