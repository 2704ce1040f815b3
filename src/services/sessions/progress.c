/* GET /v1/progress: the caller's trend over completed, scored sessions — per-criterion history
 * and moving average, the weakest criteria, sessions this month, the estimated score over time,
 * and the next scenarios to practise (unplayed cards whose tasks exercise the weakest
 * criteria). Everything is derived from progress_snapshots, written with each report. */
#include "services/sessions/internal.h"
#include "services/sessions/sessions.h"

#include "core/timeutil.h"
#include "http/server.h"
#include "services/app.h"
#include "services/content/content.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MOVING_WINDOW 5
#define HISTORY_MAX 100

static const struct criterion {
    const char *name;
    int max;
    /* Task verbs that exercise it, for recommendations. */
    const char *const verbs[6];
} criteria[] = {
    {"intelligibility", 6, {NULL}},
    {"fluency", 6, {NULL}},
    {"appropriateness", 6, {"explain", "reassure", "advise", NULL}},
    {"grammar_expression", 6, {"explain", "outline", NULL}},
    {"relationship_building", 3, {"reassure", "acknowledge", "respond", NULL}},
    {"patient_perspective", 3, {"explore", "address", "respond", "discuss", NULL}},
    {"providing_structure", 3, {"outline", "summarise", "explain", NULL}},
    {"information_gathering", 3, {"find", "take", "ask", "establish", "check", NULL}},
    {"information_giving", 3, {"explain", "advise", "outline", "inform", "describe", NULL}},
};
enum { NCRIT = ARRAY_LEN(criteria) };

/* First word of a task, lowercased ("Find out…" → "find"). */
static void first_word(const char *task, char *out, size_t outlen)
{
    size_t o = 0;
    while (*task && !isalpha((unsigned char)*task))
        task++;
    for (; *task && isalpha((unsigned char)*task) && o + 1 < outlen; task++)
        out[o++] = (char)tolower((unsigned char)*task);
    out[o] = '\0';
}

/* How many of a scenario's tasks exercise the weak criteria. */
static int fit(const json_t *tasks, const int *weak, size_t nweak)
{
    int score = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        char w[32];
        first_word(json_string_value(t) ? json_string_value(t) : "", w, sizeof(w));
        for (size_t k = 0; k < nweak; k++)
            for (const char *const *v = criteria[weak[k]].verbs; *v; v++)
                if (strcmp(w, *v) == 0)
                    score++;
    }
    return score;
}

static void progress_get(http_req *req, http_res *res)
{
    db_conn *c = service_db_acquire(req, res);
    if (!c)
        return;
    const db_param p[] = {DB_TEXT(req->user_id), DB_INT(HISTORY_MAX)};
    db_rows *r = NULL;
    if (db_query(c,
                 "SELECT p.session_id, p.created_at, p.estimated_score, p.grade, "
                 "p.intelligibility, p.fluency, p.appropriateness, p.grammar_expression, "
                 "p.relationship_building, p.patient_perspective, p.providing_structure, "
                 "p.information_gathering, p.information_giving, p.mode FROM progress_snapshots p "
                 "WHERE p.user_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT $2",
                 p, 2, &r) != DB_OK) {
        service_db_failed(req, res, c, "progress");
        db_release(c);
        return;
    }
    /* Rows come newest first; the history is shown oldest first. */
    json_t *rows = json_array();
    while (db_rows_next(r) == 1) {
        json_t *row = json_array();
        for (size_t i = 0; i < 14; i++) {
            const char *v = db_col_text(r, i);
            json_array_append_new(row, v ? json_string(v) : json_null());
        }
        json_array_insert_new(rows, 0, row);
    }
    db_rows_free(r);

    json_t *trend = json_array();
    json_t *crit = json_object();
    double avg[NCRIT];
    int have[NCRIT];
    for (size_t k = 0; k < NCRIT; k++) {
        json_object_set_new(crit, criteria[k].name,
                            json_pack("{s:[], s:n, s:i}", "history", "moving_average", "max",
                                      criteria[k].max));
        avg[k] = 0;
        have[k] = 0;
    }
    size_t n = json_array_size(rows);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        const char *at = json_string_value(json_array_get(row, 1));
        json_array_append_new(
            trend, json_pack("{s:O, s:s, s:i, s:O, s:O}", "session_id", json_array_get(row, 0),
                             "at", at, "estimated_score",
                             atoi(json_string_value(json_array_get(row, 2))), "grade",
                             json_array_get(row, 3), "mode", json_array_get(row, 13)));
        for (size_t k = 0; k < NCRIT; k++) {
            const char *v = json_string_value(json_array_get(row, 4 + k));
            if (!v)
                continue; /* intelligibility is not assessed in text mode */
            int score = atoi(v);
            json_array_append_new(
                json_object_get(json_object_get(crit, criteria[k].name), "history"),
                json_pack("{s:s, s:i}", "at", at, "score", score));
        }
    }
    /* Moving average over the last MOVING_WINDOW scored sessions of each criterion. */
    for (size_t k = 0; k < NCRIT; k++) {
        json_t *hist = json_object_get(json_object_get(crit, criteria[k].name), "history");
        size_t hn = json_array_size(hist), from = hn > MOVING_WINDOW ? hn - MOVING_WINDOW : 0;
        double sum = 0;
        for (size_t i = from; i < hn; i++)
            sum += (double)json_integer_value(json_object_get(json_array_get(hist, i), "score"));
        if (hn > from) {
            avg[k] = sum / (double)(hn - from);
            have[k] = 1;
            json_object_set_new(json_object_get(crit, criteria[k].name), "moving_average",
                                json_real((double)(long)(avg[k] * 100 + 0.5) / 100));
        }
    }
    /* Weakest: the lowest share of the criterion's maximum (ties: list order). */
    int weak[3];
    size_t nweak = 0;
    int used[NCRIT] = {0};
    for (; nweak < 3; nweak++) {
        int best = -1;
        for (size_t k = 0; k < NCRIT; k++)
            if (have[k] && !used[k] &&
                (best < 0 || avg[k] / criteria[k].max < avg[best] / criteria[best].max))
                best = (int)k;
        if (best < 0)
            break;
        used[best] = 1;
        weak[nweak] = best;
    }
    json_t *weakest = json_array();
    for (size_t i = 0; i < nweak; i++)
        json_array_append_new(weakest, json_string(criteria[weak[i]].name));

    /* Sessions this month and in all. */
    char now[RFC3339_LEN], month[RFC3339_LEN];
    time_format_rfc3339(time_now_ms(), now);
    snprintf(month, sizeof(month), "%.7s-01T00:00:00.000Z", now);
    const db_param mp[] = {DB_TEXT(req->user_id), DB_TEXT(month)};
    long long this_month = 0, completed = 0;
    if (db_query(c,
                 "SELECT count(*), COALESCE(SUM(CASE WHEN completed_at >= $2 THEN 1 ELSE 0 END), "
                 "0) FROM sessions WHERE user_id = $1 AND status = 'completed'",
                 mp, 2, &r) == DB_OK &&
        db_rows_next(r) == 1) {
        completed = db_col_int(r, 0);
        this_month = db_col_int(r, 1);
    }
    db_rows_free(r);

    /* Recommendations: published cards of the user's profession not yet played, ranked by how
     * many of their tasks exercise the weakest criteria, then by title. */
    json_t *recommended = json_array();
    const db_param up[] = {DB_TEXT(req->user_id)};
    char profession[64] = "";
    if (db_query(c, "SELECT profession FROM users WHERE id = $1", up, 1, &r) == DB_OK &&
        db_rows_next(r) == 1 && db_col_text(r, 0))
        snprintf(profession, sizeof(profession), "%s", db_col_text(r, 0));
    db_rows_free(r);
    json_t *cards = NULL;
    json_t *played = json_object();
    if (db_query(c, "SELECT DISTINCT scenario_id FROM sessions WHERE user_id = $1", up, 1, &r) ==
        DB_OK)
        while (db_rows_next(r) == 1)
            json_object_set_new(played, db_col_text(r, 0), json_true());
    db_rows_free(r);
    if (content_published_summaries(c, profession[0] ? profession : NULL, &cards) == DB_OK) {
        for (int pass = 0; pass < 2 && json_array_size(recommended) < 3; pass++) {
            int best_fit = -1;
            /* pass 0: unplayed cards, best fit first; pass 1: anything left, to fill 3. */
            for (;;) {
                json_t *pick = NULL;
                best_fit = -1;
                size_t i;
                json_t *card;
                json_array_foreach(cards, i, card)
                {
                    const char *id = json_string_value(json_object_get(card, "id"));
                    if (json_object_get(card, "taken") || (pass == 0 && json_object_get(played, id)))
                        continue;
                    int f = fit(json_object_get(card, "tasks"), weak, nweak);
                    if (f > best_fit) {
                        best_fit = f;
                        pick = card;
                    }
                }
                if (!pick || json_array_size(recommended) >= 3)
                    break;
                json_object_set_new(pick, "taken", json_true());
                json_array_append_new(
                    recommended,
                    json_pack("{s:O, s:O, s:O, s:s}", "id", json_object_get(pick, "id"), "title",
                              json_object_get(pick, "title"), "difficulty",
                              json_object_get(pick, "difficulty"), "reason",
                              nweak ? "its tasks practise your weakest criteria"
                                    : "a good card to start with"));
            }
        }
    }
    json_decref(cards);
    json_decref(played);
    db_release(c);

    json_t *latest = json_array_get(trend, json_array_size(trend) - 1);
    json_t *out = json_pack(
        "{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:s}", "sessions_completed", (json_int_t)completed,
        "sessions_this_month", (json_int_t)this_month, "sessions_scored", (json_int_t)n,
        "estimated_score",
        json_pack("{s:O, s:o}", "latest",
                  latest ? json_object_get(latest, "estimated_score") : json_null(), "trend",
                  trend),
        "criteria", crit, "weakest", weakest, "recommended_scenarios", recommended,
        "estimate_note",
        "Scores are estimates on OET's 0-500 scale from our rule-based scorer; OET publishes "
        "no conversion (see docs/scoring.md).");
    json_decref(rows);
    http_res_json(req, res, 200, out);
}

static const int c_progress[] = {200, 401, 403, 0};

static const route_def progress_routes[] = {
    {.method = HTTP_GET, .path = "/v1/progress", .handler = progress_get, .service = "sessions",
     .tag = "sessions", .responses = c_progress, .auth = AUTH_USER,
     .summary = "Per-criterion trend and moving average, weakest criteria, sessions this month, "
                "estimated score over time, recommended scenarios"},
};

int sessions_register_progress_routes(router *r)
{
    return ROUTER_ADD_TABLE(r, progress_routes);
}
