/* The scorer's entry point: validates the input at the edge, builds the analysed transcript
 * (scorer_text.c), runs the clinical and linguistic assessments and assembles the feedback report
 * of API.md. A pure function of its inputs: no clock, no randomness, arrays in transcript or table
 * order, so the same session scored twice gives byte-identical JSON.
 *
 * Voice word timings: start/end are seconds from the start of that turn's audio. Timings that
 * are clearly session-relative (the first word starts at or after the turn's t_ms) are shifted
 * back by t_ms, so either convention scores the same. */
#include "services/ai/scorer.h"
#include "services/ai/scorer_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_TURNS 2000
#define MAX_TEXT 20000        /* bytes per turn */
#define MAX_WORDS 4000        /* recogniser words per turn */
#define MAX_TOTAL_TEXT 262144 /* bytes over all turns: an hour of talk is about 60 KB */
#define MAX_NAMES 6

static int fail(char *err, size_t errlen, const char *f, ...) PRINTF_LIKE(3, 4);
static int fail(char *err, size_t errlen, const char *f, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, f);
        vsnprintf(err, errlen, f, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- input ---- */

static int number_ok(const json_t *v, double lo, double hi, double *out)
{
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return 0;
    *out = d;
    return 1;
}

static int load_words(sc_ctx *c, sc_turn *t, const json_t *words, size_t ti, char *err,
                      size_t errlen)
{
    if (!json_is_array(words))
        return fail(err, errlen, "turns[%zu].words must be an array", ti);
    size_t n = json_array_size(words);
    if (n > MAX_WORDS)
        return fail(err, errlen, "turns[%zu].words has more than %d words", ti, MAX_WORDS);
    t->words = arena_alloc(c->a, (n + 1) * sizeof(*t->words));
    if (!t->words)
        return fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *w = json_array_get(words, i);
        const char *s = json_string_value(json_object_get(w, "w"));
        sc_word *o = &t->words[i];
        if (!json_is_object(w) || !s)
            return fail(err, errlen, "turns[%zu].words[%zu] needs a string w", ti, i);
        if (!number_ok(json_object_get(w, "start"), 0, 1e7, &o->start) ||
            !number_ok(json_object_get(w, "end"), 0, 1e7, &o->end) || o->end < o->start)
            return fail(err, errlen, "turns[%zu].words[%zu] needs 0 <= start <= end", ti, i);
        if (!number_ok(json_object_get(w, "conf"), 0, 1, &o->conf))
            return fail(err, errlen, "turns[%zu].words[%zu].conf must be between 0 and 1", ti, i);
        if (i > 0 && o->start < t->words[i - 1].start)
            return fail(err, errlen, "turns[%zu].words are not in time order", ti);
        char *lw = arena_strdup(c->a, s);
        if (!lw)
            return fail(err, errlen, "out of memory");
        for (char *p = lw; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        o->w = lw;
    }
    t->nwords = n;
    /* session-relative timings → turn-relative */
    double t0 = (double)t->t_ms / 1000.0;
    if (n > 0 && t0 >= 5.0 && t->words[0].start >= t0 - 0.001)
        for (size_t i = 0; i < n; i++) {
            t->words[i].start -= t0;
            t->words[i].end -= t0;
        }
    return 0;
}

static int load_meta(sc_ctx *c, sc_turn *t, const json_t *meta, size_t ti, char *err, size_t errlen)
{
    if (!meta || json_is_null(meta))
        return 0;
    if (!json_is_object(meta))
        return fail(err, errlen, "turns[%zu].meta must be an object", ti);
    const json_t *kind = json_object_get(meta, "kind");
    if (kind && !json_is_string(kind) && !json_is_null(kind))
        return fail(err, errlen, "turns[%zu].meta.kind must be a string", ti);
    t->kind = json_string_value(kind);
    const json_t *topics = json_object_get(meta, "topics");
    const json_t *cues = json_object_get(meta, "cues");
    if (topics && !json_is_array(topics))
        return fail(err, errlen, "turns[%zu].meta.topics must be an array", ti);
    if (cues && !json_is_array(cues))
        return fail(err, errlen, "turns[%zu].meta.cues must be an array", ti);
    size_t nt = json_array_size(topics), nc = json_array_size(cues);
    size_t ncard = json_array_size(json_object_get(c->pcard, "cues"));
    t->topics = arena_alloc(c->a, (nt + 1) * sizeof(*t->topics));
    t->cues = arena_alloc(c->a, (nc + 1) * sizeof(*t->cues));
    if (!t->topics || !t->cues)
        return fail(err, errlen, "out of memory");
    for (size_t i = 0; i < nt; i++) {
        const char *s = json_string_value(json_array_get(topics, i));
        if (!s)
            return fail(err, errlen, "turns[%zu].meta.topics[%zu] must be a string", ti, i);
        t->topics[t->ntopics++] = s;
    }
    for (size_t i = 0; i < nc; i++) {
        const json_t *v = json_array_get(cues, i);
        if (!json_is_integer(v))
            return fail(err, errlen, "turns[%zu].meta.cues[%zu] must be an integer", ti, i);
        json_int_t k = json_integer_value(v);
        if (k < 0 || (size_t)k >= ncard)
            continue; /* a cue of another card version: nothing to compare it with */
        t->cues[t->ncues++] = (int)k;
    }
    return 0;
}

static int load_turns(sc_ctx *c, const json_t *turns, char *err, size_t errlen)
{
    size_t n = json_array_size(turns);
    if (n > MAX_TURNS)
        return fail(err, errlen, "more than %d turns", MAX_TURNS);
    c->turns = arena_calloc(c->a, (n + 1) * sizeof(*c->turns));
    if (!c->turns)
        return fail(err, errlen, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(turns, i);
        sc_turn *t = &c->turns[i];
        if (!json_is_object(j))
            return fail(err, errlen, "turns[%zu] must be an object", i);
        const json_t *nv = json_object_get(j, "n");
        if (!json_is_integer(nv) || json_integer_value(nv) < 0 || json_integer_value(nv) > 1000000)
            return fail(err, errlen, "turns[%zu].n must be a non-negative integer", i);
        t->n = (int)json_integer_value(nv);
        const char *speaker = json_string_value(json_object_get(j, "speaker"));
        if (!speaker || (strcmp(speaker, "candidate") != 0 && strcmp(speaker, "patient") != 0))
            return fail(err, errlen, "turns[%zu].speaker must be \"candidate\" or \"patient\"", i);
        t->candidate = strcmp(speaker, "candidate") == 0;
        const json_t *text = json_object_get(j, "text");
        if (!json_is_string(text))
            return fail(err, errlen, "turns[%zu].text must be a string", i);
        t->text = json_string_value(text);
        t->text_len = json_string_length(text);
        if (t->text_len > MAX_TEXT || strlen(t->text) != t->text_len)
            return fail(err, errlen, "turns[%zu].text is too long or holds a NUL byte", i);
        total += t->text_len;
        if (total > MAX_TOTAL_TEXT)
            return fail(err, errlen, "the transcript is longer than %d bytes", MAX_TOTAL_TEXT);
        double ms;
        if (!number_ok(json_object_get(j, "t_ms"), 0, 1e10, &ms))
            return fail(err, errlen, "turns[%zu].t_ms must be a non-negative number", i);
        t->t_ms = (int64_t)ms;
        const json_t *words = json_object_get(j, "words");
        if (words && !json_is_null(words) && load_words(c, t, words, i, err, errlen))
            return -1;
        if (load_meta(c, t, json_object_get(j, "meta"), i, err, errlen))
            return -1;
    }
    c->nturns = n;
    return 0;
}

/* The names the candidate may address people by: the patient card's name, then capitalised
 * words of the candidate card's "patient" line (which also names a child or an animal). */
static void load_names(sc_ctx *c)
{
    static const char *const skip[] = {"mr",    "mrs",     "ms",      "miss",   "dr",
                                       "the",   "a",       "an",      "mother", "father",
                                       "owner", "wife",    "husband", "son",    "daughter",
                                       "of",    "patient", "carer",   "and"};
    const char *sources[2] = {json_string_value(json_object_get(c->pcard, "name")),
                              json_string_value(json_object_get(c->ccard, "patient"))};
    for (int s = 0; s < 2; s++) {
        const char *p = sources[s];
        if (!p)
            continue;
        while (*p && c->nnames < MAX_NAMES) {
            while (*p && !isalpha((unsigned char)*p))
                p++;
            const char *start = p;
            while (*p && (isalpha((unsigned char)*p) || *p == '\'' || *p == '-'))
                p++;
            size_t len = (size_t)(p - start);
            if (len < 2 || !isupper((unsigned char)start[0]))
                continue;
            char *w = arena_strndup(c->a, start, len);
            if (!w)
                return;
            for (char *q = w; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            int dup = 0;
            for (size_t i = 0; i < ARRAY_LEN(skip) && !dup; i++)
                dup = strcmp(skip[i], w) == 0;
            for (size_t i = 0; i < c->nnames && !dup; i++)
                dup = strcmp(c->names[i], w) == 0;
            if (!dup)
                c->names[c->nnames++] = w;
        }
    }
    const char *role = json_string_value(json_object_get(c->ccard, "role"));
    if (role) {
        char *r = arena_strdup(c->a, role);
        if (r)
            for (char *q = r; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        c->role = r;
    }
}

/* ---- output ---- */

static double round_to(double x, double step)
{
    return floor(x / step + 0.5) * step;
}

static json_t *quote_json(sc_ctx *c, sc_ref r)
{
    return json_pack("{s:i, s:s}", "turn", c->turns[r.turn].n, "quote", scorer_quote(c, r));
}

/* Evidence that quotes nothing (an empty turn) is left out. */
static json_t *refs_json(sc_ctx *c, const sc_ref *refs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (*scorer_quote(c, refs[i]) && json_array_append_new(a, quote_json(c, refs[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *ling_json(sc_ctx *c, const sc_ling *l)
{
    json_t *comments = json_array();
    for (size_t i = 0; comments && i < l->ncomments; i++)
        json_array_append_new(comments, json_string(l->comments[i]));
    return json_pack("{s:o, s:o, s:o}", "score",
                     l->score < 0 ? json_null() : json_integer(l->score), "comments",
                     comments ? comments : json_array(), "evidence", refs_json(c, l->ev, l->nev));
}

static json_t *indicator_json(sc_ctx *c, const sc_indicator *ind)
{
    static const char *const met[] = {"not_met", "partly", "met"};
    json_t *o = json_pack("{s:s, s:s, s:o}", "code", ind->code, "met", met[ind->met], "evidence",
                          refs_json(c, ind->ev, ind->nev));
    if (!o)
        return NULL;
    const char *q = NULL;
    if (ind->met != MET_FULL && ind->has_missed && ind->missed.turn < c->nturns)
        q = ind->missed_quote ? ind->missed_quote : scorer_quote(c, ind->missed);
    /* nothing to point at (no candidate words at all): the indicator stands without "missed" */
    if (q && *q) {
        json_t *m = json_pack("{s:i, s:s, s:s}", "turn", c->turns[ind->missed.turn].n, "quote", q,
                              "why", ind->why ? ind->why : "");
        if (!m || json_object_set_new(o, "missed", m)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *clinical_json(sc_ctx *c)
{
    static const char *const names[CRIT__COUNT] = {"relationship_building", "patient_perspective",
                                                   "providing_structure", "information_gathering",
                                                   "information_giving"};
    static const int first[CRIT__COUNT + 1] = {IND_A1, IND_B1, IND_C1, IND_D1, IND_E1, IND__COUNT};
    json_t *out = json_object();
    for (int k = 0; out && k < CRIT__COUNT; k++) {
        json_t *inds = json_array();
        for (int i = first[k]; inds && i < first[k + 1]; i++)
            if (json_array_append_new(inds, indicator_json(c, &c->ind[i]))) {
                json_decref(inds);
                inds = NULL;
            }
        json_t *crit = json_pack("{s:i, s:o}", "score", c->clinical[k], "indicators", inds);
        if (!crit || json_object_set_new(out, names[k], crit)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *metric(double v, double step, int available)
{
    return available ? json_real(round_to(v, step)) : json_null();
}

static json_t *metrics_json(const sc_ctx *c)
{
    const sc_metrics *m = &c->m;
    int t = m->has_timing;
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I}", "speech_rate_wpm",
        metric(m->speech_rate_wpm, 1, t), "mean_length_of_run",
        metric(m->mean_length_of_run, 0.1, t), "pauses_per_min", metric(m->pauses_per_min, 0.1, t),
        "filler_rate", metric(m->filler_rate, 0.01, 1), "lexical_diversity",
        metric(m->lexical_diversity, 0.1, m->candidate_words > 0), "talk_time_ratio",
        metric(m->talk_time_ratio, 0.01, 1), "questions_open", (json_int_t)m->questions_open,
        "questions_closed", (json_int_t)m->questions_closed);
}

static json_t *overall_json(sc_ctx *c)
{
    double clinical = 0, ling = 0;
    for (int k = 0; k < CRIT__COUNT; k++)
        clinical += c->clinical[k];
    int assessed = 0;
    for (int k = 0; k < LING__COUNT; k++)
        if (c->ling[k].score >= 0) {
            ling += c->ling[k].score;
            assessed++;
        }
    /* without intelligibility the other three stand for all four: × 24/18 */
    double ling_scaled = assessed > 0 ? ling * 4.0 / (double)assessed : 0;
    double raw = ling_scaled + clinical;
    int est = scorer_band_estimate(raw);
    const char *note = arena_printf(
        c->a,
        "An estimate, not an OET result: OET publishes no conversion from criterion scores to "
        "the 0-500 scale. Raw %.1f of 39 (linguistic %.1f of 24%s, clinical %.0f of 15), mapped "
        "with the table in docs/scoring.md.",
        raw, ling_scaled,
        assessed < LING__COUNT ? ", scaled up because intelligibility was not assessed" : "",
        clinical);
    return json_pack("{s:i, s:s, s:s}", "estimated_score", est, "grade", scorer_band_grade(est),
                     "estimate_note", note ? note : "");
}

static json_t *build_report(sc_ctx *c, const scorer_input *in)
{
    json_t *ling = json_pack("{s:o, s:o, s:o, s:o}", "intelligibility",
                             ling_json(c, &c->ling[LING_INTELLIGIBILITY]), "fluency",
                             ling_json(c, &c->ling[LING_FLUENCY]), "appropriateness",
                             ling_json(c, &c->ling[LING_APPROPRIATENESS]), "grammar_expression",
                             ling_json(c, &c->ling[LING_GRAMMAR]));
    json_t *report =
        json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "session_id",
                  in->session_id ? json_string(in->session_id) : json_null(), "scorer_version",
                  SCORER_VERSION, "mode", c->voice ? "voice" : "text", "overall", overall_json(c),
                  "linguistic", ling, "clinical", clinical_json(c), "tasks", scorer_tasks_report(c),
                  "metrics", metrics_json(c));
    if (!report)
        return NULL;
    if (scorer_feedback_build(c, report)) {
        json_decref(report);
        return NULL;
    }
    return report;
}

json_t *scorer_score(const scorer_input *in, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!in)
        return fail(err, errlen, "no input"), NULL;
    if (!in->mode || (strcmp(in->mode, "text") != 0 && strcmp(in->mode, "voice") != 0))
        return fail(err, errlen, "mode must be \"text\" or \"voice\""), NULL;
    if (!json_is_object(in->scenario))
        return fail(err, errlen, "scenario must be an object"), NULL;
    const json_t *pcard = json_object_get(in->scenario, "patient_card");
    const json_t *ccard = json_object_get(in->scenario, "candidate_card");
    if (!json_is_object(pcard) || !json_is_object(ccard))
        return fail(err, errlen, "scenario needs candidate_card and patient_card objects"), NULL;
    const json_t *cues = json_object_get(pcard, "cues");
    const json_t *tasks = json_object_get(pcard, "expected_tasks");
    if ((cues && !json_is_array(cues)) || (tasks && !json_is_array(tasks)))
        return fail(err, errlen, "patient_card.cues and expected_tasks must be arrays"), NULL;
    if (!json_is_array(in->turns))
        return fail(err, errlen, "turns must be an array"), NULL;
    if (in->session_id && strlen(in->session_id) > 200)
        return fail(err, errlen, "session_id is too long"), NULL;

    sc_ctx c;
    memset(&c, 0, sizeof(c));
    c.a = arena_new();
    if (!c.a)
        return fail(err, errlen, "out of memory"), NULL;
    json_t *report = NULL;
    c.scenario = in->scenario;
    c.pcard = pcard;
    c.ccard = ccard;
    c.voice = strcmp(in->mode, "voice") == 0;
    if (scorer_lexicon_load(c.a, &c.lex)) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    load_names(&c);
    if (load_turns(&c, in->turns, err, errlen))
        goto out;
    for (size_t i = 0; i < c.nturns; i++) {
        if (scorer_turn_analyse(&c, &c.turns[i])) {
            fail(err, errlen, "out of memory");
            goto out;
        }
        if (c.turns[i].candidate)
            scorer_questions_classify(&c, &c.turns[i]);
    }
    scorer_clinical_assess(&c);
    scorer_metrics_compute(&c);
    if (scorer_grammar_scan(&c)) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    scorer_linguistic_assess(&c);
    report = build_report(&c, in);
    if (!report)
        fail(err, errlen, "out of memory building the report");
out:
    arena_free(c.a);
    return report;
}

/* ---- test hooks ---- */

int scorer_probe_text(const char *text, sc_probe *out)
{
    memset(out, 0, sizeof(*out));
    sc_ctx c;
    memset(&c, 0, sizeof(c));
    c.a = arena_new();
    if (!c.a)
        return -1;
    int rc = -1;
    sc_turn *t = arena_calloc(c.a, sizeof(*t));
    if (!t || scorer_lexicon_load(c.a, &c.lex))
        goto out;
    t->candidate = 1;
    t->n = 1;
    t->text = text;
    t->text_len = strlen(text);
    c.turns = t;
    c.nturns = 1;
    c.first_giving = 1;
    if (scorer_turn_analyse(&c, t))
        goto out;
    scorer_questions_classify(&c, t);
    out->cats = t->cats;
    for (size_t i = 0; i < t->nsent; i++)
        if (t->sent[i].qtype != Q_NONE) {
            out->qtype = t->sent[i].qtype;
            out->compound = t->sent[i].compound;
            out->leading = t->sent[i].leading;
            out->gathering = t->sent[i].gathering;
            break;
        }
    for (size_t i = 0; i < t->nsent; i++) {
        out->compound |= t->sent[i].compound;
        out->leading |= t->sent[i].leading;
    }
    scorer_metrics_compute(&c);
    if (scorer_grammar_scan(&c))
        goto out;
    scorer_linguistic_assess(&c);
    out->nerrors = c.nerrors;
    out->njargon = c.njargon;
    for (size_t i = 0; i < c.nerrors; i++) {
        size_t used = strlen(out->kinds);
        snprintf(out->kinds + used, sizeof(out->kinds) - used, "%s%s", used ? "," : "",
                 c.errors[i].kind);
    }
    rc = 0;
out:
    arena_free(c.a);
    return rc;
}
