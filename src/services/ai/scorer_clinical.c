/* The clinical communication criteria: each indicator A1–E5 decided as met / partly / not met
 * from where things happen in the transcript (which turn, after what the patient said, before
 * or after the first explanation), with the candidate's words as evidence or the missed moment
 * quoted. docs/scoring.md gives every rule in a table; the criterion score is
 * scorer_band_clinical() of the indicators' average (met 1, partly 0.5). */
#include "services/ai/scorer_internal.h"

#include <stdarg.h>
#include <string.h>

#define GIVING_MIN_WORDS 18      /* a turn that explains: at least this many statement words */
#define MONOLOGUE_WORDS 110      /* a chunk too long to take in without a pause */
#define MONOLOGUE_LONG_WORDS 180 /* a lecture */
#define MONOLOGUE_SECONDS 45.0   /* voice: the same, by duration */
#define INTERRUPT_GAP_MS 300     /* voice: starting this soon after the patient stops */
#define EST_MS_PER_WORD 330      /* voice without patient word timings: ≈ 180 wpm */
#define D5_WINDOW 40             /* a summary gives back what the last 40 turns said */
#define D5_MAX_SUMMARIES 30      /* bounds the work on pathological input */

/* ---- small helpers ---- */

static int has(const sc_sentence *s, sc_cat cat)
{
    return (s->cats & CATBIT(cat)) != 0;
}

static void ev_add(sc_indicator *ind, size_t turn, size_t sent)
{
    if (ind->nev >= SC_MAX_EVIDENCE)
        return;
    for (size_t i = 0; i < ind->nev; i++)
        if (ind->ev[i].turn == turn && ind->ev[i].sent == sent)
            return;
    ind->ev[ind->nev++] = (sc_ref){turn, sent};
}

static void miss(sc_ctx *c, sc_indicator *ind, size_t turn, size_t sent, const char *why)
{
    if (ind->has_missed)
        return;
    ind->has_missed = 1;
    ind->missed = (sc_ref){turn, sent};
    ind->why = why ? why : "";
    (void)c;
}

static void decide(sc_indicator *ind, int full, int partly)
{
    ind->met = full ? MET_FULL : partly ? MET_PARTLY : MET_NOT;
}

static size_t first_candidate(const sc_ctx *c)
{
    for (size_t i = 0; i < c->nturns; i++)
        if (c->turns[i].candidate)
            return i;
    return c->nturns;
}

static size_t last_candidate(const sc_ctx *c)
{
    for (size_t i = c->nturns; i > 0; i--)
        if (c->turns[i - 1].candidate)
            return i - 1;
    return c->nturns;
}

static size_t next_candidate(const sc_ctx *c, size_t from)
{
    for (size_t i = from + 1; i < c->nturns; i++)
        if (c->turns[i].candidate)
            return i;
    return c->nturns;
}

/* The anchor for a missed opportunity when nothing better exists: a candidate turn. */
static size_t anchor(const sc_ctx *c, size_t preferred)
{
    if (preferred < c->nturns && c->turns[preferred].candidate)
        return preferred;
    size_t f = first_candidate(c);
    return f;
}

static const char *fmt(sc_ctx *c, const char *f, ...) PRINTF_LIKE(2, 3);
static const char *fmt(sc_ctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    const char *s = arena_vprintf(c->a, f, ap);
    va_end(ap);
    return s ? s : "";
}

static int topic_is(const char *topic, const char *const *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(topic, parts[i]))
            return 1;
    return 0;
}

/* Content stems shared between two token ranges (function words and short words ignored). */
static size_t overlap(const sc_token *a, size_t a0, size_t a1, const sc_token *b, size_t b0,
                      size_t b1)
{
    size_t n = 0;
    for (size_t i = a0; i < a1; i++) {
        if (a[i].stop || a[i].filler || strlen(a[i].stem) < 3)
            continue;
        int dup = 0;
        for (size_t k = a0; k < i && !dup; k++)
            dup = strcmp(a[k].stem, a[i].stem) == 0;
        if (dup)
            continue;
        for (size_t j = b0; j < b1; j++)
            if (strcmp(a[i].stem, b[j].stem) == 0) {
                n++;
                break;
            }
    }
    return n;
}

/* ---- turn roles ---- */

static void mark_giving(sc_ctx *c)
{
    c->first_giving = c->nturns;
    size_t first = first_candidate(c);
    for (size_t i = 0; i < c->nturns; i++) {
        sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        size_t words = 0, statements = 0;
        for (size_t s = 0; s < t->nsent; s++) {
            if (t->sent[s].qtype != Q_NONE)
                continue;
            statements++;
            for (size_t k = t->sent[s].t0; k < t->sent[s].t1; k++)
                words += !t->tok[k].filler;
        }
        t->statement_words = words;
        int opening = i == first && (t->cats & CATBIT(CAT_GREETING));
        t->giving = !opening && words >= GIVING_MIN_WORDS && (statements >= 2 || words >= 25);
        if (t->giving && c->first_giving == c->nturns)
            c->first_giving = i;
    }
}

static double voice_duration(const sc_turn *t)
{
    if (t->nwords == 0)
        return 0;
    return t->words[t->nwords - 1].end - t->words[0].start;
}

/* ---- cues: what the patient raised and whether the next candidate turn took it up ---- */

typedef struct {
    size_t turn;      /* patient turn */
    const char *kind; /* concern, resistance, question, remark, or "feeling" (no card cue) */
    const char *line;
    double weight;
    double score;       /* 0, 0.5 or 1 */
    size_t reply;       /* the candidate turn that followed */
    const char **stems; /* the line's distinct content stems, computed once */
    size_t nstems;
} cue_event;

static const char *cue_kind(const sc_ctx *c, int idx, const char **line)
{
    const json_t *cues = json_object_get(c->pcard, "cues");
    const json_t *cue = json_array_get(cues, (size_t)idx);
    *line = json_string_value(json_object_get(cue, "line"));
    const char *k = json_string_value(json_object_get(cue, "kind"));
    return k ? k : "remark";
}

/* The distinct content stems of a cue line (function words and short words left out). */
static void cue_stems(sc_ctx *c, cue_event *ev)
{
    const char **w;
    size_t n = scorer_tokenize_words(c->a, ev->line ? ev->line : "", &w);
    ev->nstems = 0;
    ev->stems = arena_alloc(c->a, (n + 1) * sizeof(*ev->stems));
    if (!ev->stems)
        return;
    for (size_t i = 0; i < n; i++) {
        if (scorer_is_stopword(w[i]) || strlen(w[i]) < 3)
            continue;
        const char *st = scorer_stem(c->a, w[i]);
        if (!st)
            continue;
        int dup = 0;
        for (size_t j = 0; j < ev->nstems && !dup; j++)
            dup = strcmp(ev->stems[j], st) == 0;
        if (!dup)
            ev->stems[ev->nstems++] = st;
    }
}

/* How many of the cue's content stems a turn repeats. */
static size_t line_overlap(const cue_event *ev, const sc_turn *t)
{
    size_t hits = 0;
    for (size_t i = 0; i < ev->nstems; i++)
        for (size_t k = 0; k < t->ntok; k++)
            if (strcmp(t->tok[k].stem, ev->stems[i]) == 0) {
                hits++;
                break;
            }
    return hits;
}

static double score_cue(sc_ctx *c, cue_event *ev)
{
    const sc_turn *r = &c->turns[ev->reply];
    const uint64_t ack_mask = CATBIT(CAT_EMPATHY) | CATBIT(CAT_NORMALISE) | CATBIT(CAT_REFER_BACK) |
                              CATBIT(CAT_CUE_RESPONSE);
    int ack = (r->cats & ack_mask) != 0;
    int explore = 0;
    for (size_t s = 0; s < r->nsent; s++) {
        const sc_sentence *se = &r->sent[s];
        if (se->qtype != Q_NONE &&
            (se->cats & (CATBIT(CAT_ICE_CONCERNS) | CATBIT(CAT_ICE_IDEAS) | CATBIT(CAT_CLARIFY) |
                         CATBIT(CAT_FACILITATE) | CATBIT(CAT_OPEN_REQUEST))))
            explore = 1;
    }
    size_t content = ev->nstems;
    size_t hits = line_overlap(ev, r);
    /* an answer takes up the cue's words: two of them, or one in a short cue or a full reply */
    int answer = hits >= 2 || (hits >= 1 && (content <= 4 || r->statement_words >= 15));
    if (strcmp(ev->kind, "question") == 0) {
        /* "Yes, …", "No, …", "I'm afraid…" answer a yes/no question directly */
        for (size_t k = 0; k < r->ntok && k < 4 && !answer; k++) {
            const char *w = r->tok[k].w;
            answer = strcmp(w, "yes") == 0 || strcmp(w, "no") == 0 || strcmp(w, "afraid") == 0 ||
                     strcmp(w, "unfortunately") == 0;
        }
        if (answer && r->statement_words >= 8)
            return 1;
        return ack || explore || answer ? 0.5 : 0;
    }
    if (strcmp(ev->kind, "resistance") == 0) {
        if ((ack || explore) && (answer || r->statement_words >= 15))
            return 1;
        return ack || explore || answer ? 0.5 : 0;
    }
    if (strcmp(ev->kind, "remark") == 0)
        return ack || explore || answer ? 1 : 0.5;
    /* concern or a feeling */
    if (ack || explore)
        return 1;
    return answer ? 0.5 : 0;
}

static size_t collect_cues(sc_ctx *c, cue_event *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nturns && n < cap; i++) {
        const sc_turn *t = &c->turns[i];
        if (t->candidate || (t->kind && strcmp(t->kind, "closing") == 0))
            continue;
        size_t reply = next_candidate(c, i);
        if (reply >= c->nturns)
            continue;
        if (t->ncues > 0) {
            for (size_t k = 0; k < t->ncues && n < cap; k++) {
                cue_event *ev = &out[n];
                memset(ev, 0, sizeof(*ev));
                ev->turn = i;
                ev->kind = cue_kind(c, t->cues[k], &ev->line);
                if (!ev->line)
                    ev->line = t->text;
                ev->weight = 1;
                ev->reply = reply;
                n++;
            }
        } else if (t->cats & CATBIT(CAT_EMOTION)) {
            cue_event *ev = &out[n++];
            memset(ev, 0, sizeof(*ev));
            ev->turn = i;
            ev->kind = "feeling";
            ev->line = t->text;
            ev->weight = 0.5;
            ev->reply = reply;
        }
    }
    for (size_t k = 0; k < n; k++) {
        cue_stems(c, &out[k]);
        out[k].score = score_cue(c, &out[k]);
    }
    return n;
}

/* The sentence of turn t that best shows a reply: the first with one of mask, else sentence 0. */
static size_t sent_with(const sc_turn *t, uint64_t mask)
{
    for (size_t s = 0; s < t->nsent; s++)
        if (t->sent[s].cats & mask)
            return s;
    return 0;
}

/* ---- A: relationship building ---- */

static int is_role_word(const sc_ctx *c, const char *w)
{
    static const char *const roles[] = {
        "doctor",       "nurse",     "dentist",   "pharmacist",   "physiotherapist",
        "physio",       "dietitian", "dietician", "optometrist",  "podiatrist",
        "radiographer", "therapist", "vet",       "veterinarian", "pathologist",
        "gp",           "registrar", "surgeon",   "specialist",   "midwife"};
    if (c->role && strstr(c->role, w) && strlen(w) >= 3)
        return 1;
    for (size_t i = 0; i < ARRAY_LEN(roles); i++)
        if (strcmp(roles[i], w) == 0)
            return 1;
    return 0;
}

static void assess_a1(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_A1];
    size_t first = first_candidate(c);
    int greet = 0, intro = 0, purpose = 0, seen = 0;
    for (size_t i = first; i < c->nturns && seen < 2; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        seen++;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (has(se, CAT_GREETING) && !greet) {
                greet = 1;
                ev_add(ind, i, s);
            }
            int in = has(se, CAT_INTRODUCTION);
            for (size_t k = se->t0; k + 2 < se->t1 && !in; k++) {
                if (strcmp(t->tok[k].w, "i") != 0 || strcmp(t->tok[k + 1].w, "am") != 0)
                    continue;
                const sc_token *n2 = &t->tok[k + 2];
                if (is_role_word(c, n2->w) || (n2->cap && strcmp(n2->w, "i") != 0))
                    in = 1;
                for (size_t j = k + 2; j < se->t1 && j < k + 6; j++)
                    if (is_role_word(c, t->tok[j].w))
                        in = 1;
            }
            if (in && !intro) {
                intro = 1;
                ev_add(ind, i, s);
            }
            if ((has(se, CAT_PURPOSE) || has(se, CAT_SIGNPOST)) && se->qtype == Q_NONE &&
                !purpose) {
                purpose = 1;
                ev_add(ind, i, s);
            }
        }
    }
    int parts = greet + intro + purpose;
    decide(ind, parts == 3, parts == 2);
    if (parts < 3 && first < c->nturns) {
        const char *missing[3] = {"", "", ""};
        size_t n = 0;
        if (!greet)
            missing[n++] = "a greeting";
        if (!intro)
            missing[n++] = "your name and role";
        if (!purpose)
            missing[n++] = "the purpose of the talk";
        miss(c, ind, first, SC_WHOLE,
             n == 1   ? fmt(c, "The opening leaves out %s.", missing[0])
             : n == 2 ? fmt(c, "The opening leaves out %s and %s.", missing[0], missing[1])
                      : fmt(c, "The opening leaves out %s, %s and %s.", missing[0], missing[1],
                            missing[2]));
    }
}

static void assess_a2(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_A2];
    size_t polite = 0, ack = 0, names = 0, rude = 0, rude_turn = c->nturns, rude_sent = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        int after_patient = i > 0 && !c->turns[i - 1].candidate;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (has(se, CAT_POLITENESS)) {
                polite++;
                if (ind->nev < 1)
                    ev_add(ind, i, s);
            }
            if (s == 0 && after_patient &&
                (se->cats &
                 (CATBIT(CAT_ACKNOWLEDGE) | CATBIT(CAT_EMPATHY) | CATBIT(CAT_CUE_RESPONSE)))) {
                ack++;
                ev_add(ind, i, s);
            }
            if (se->cats & (CATBIT(CAT_DISMISSIVE) | CATBIT(CAT_INFORMAL))) {
                if (rude++ == 0) {
                    rude_turn = i;
                    rude_sent = s;
                }
            }
        }
        for (size_t k = 0; k < t->ntok; k++)
            for (size_t j = 0; j < c->nnames && j < 2; j++)
                names += strcmp(t->tok[k].w, c->names[j]) == 0;
    }
    decide(ind, rude == 0 && polite >= 3 && ack >= 2, rude <= 1 && (polite >= 1 || ack >= 1));
    if (rude > 0)
        miss(c, ind, rude_turn, rude_sent,
             "Dismissive or over-casual wording makes the patient feel less respected.");
    else if (ind->met != MET_FULL)
        miss(c, ind, anchor(c, next_candidate(c, first_candidate(c))), 0,
             polite < 3 ? "Few polite forms (please, thank you, would you mind…)."
                        : "Few acknowledgements of what the patient said (I see, thank you "
                          "for telling me…).");
    (void)names;
}

static void assess_a3(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_A3];
    size_t judge = 0, normal = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (has(se, CAT_JUDGEMENT)) {
                if (judge++ == 0)
                    miss(c, ind, i, s,
                         "This sounds like blame; it can make the patient defensive.");
            }
            if (has(se, CAT_NORMALISE)) {
                normal++;
                ev_add(ind, i, s);
            }
        }
    }
    decide(ind, judge == 0, judge == 1);
    (void)normal;
}

static int emotional_turn(const sc_ctx *c, size_t i)
{
    const sc_turn *t = &c->turns[i];
    if (t->candidate)
        return 0;
    if (t->cats & CATBIT(CAT_EMOTION))
        return 1;
    for (size_t k = 0; k < t->ncues; k++) {
        const char *line;
        const char *kind = cue_kind(c, t->cues[k], &line);
        if (strcmp(kind, "concern") == 0)
            return 1;
    }
    return 0;
}

static void assess_a4(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_A4];
    size_t empathy = 0, emotional = 0, responded = 0, first_emotional = c->nturns;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate) {
            if (emotional_turn(c, i)) {
                emotional++;
                if (first_emotional == c->nturns)
                    first_emotional = i;
            }
            continue;
        }
        int after_emotion = i > 0 && emotional_turn(c, i - 1);
        for (size_t s = 0; s < t->nsent; s++) {
            if (!has(&t->sent[s], CAT_EMPATHY))
                continue;
            empathy++;
            ev_add(ind, i, s);
            if (after_emotion)
                responded = 1;
        }
    }
    decide(ind, empathy >= 2 && (responded || emotional == 0), empathy >= 1);
    if (ind->met != MET_FULL) {
        size_t at = next_candidate(c, first_emotional < c->nturns ? first_emotional : 0);
        miss(c, ind, anchor(c, at), 0,
             first_emotional < c->nturns
                 ? fmt(c,
                       "The patient expressed feelings in turn %d; name them (\"I can see "
                       "this is worrying for you\") before moving on.",
                       c->turns[first_emotional].n)
                 : "No statement acknowledges the patient's feelings.");
    }
}

/* ---- B: the patient's perspective ---- */

static void assess_b1(sc_ctx *c)
{
    static const char *const ideas[] = {"knowledge", "understanding", "belief",
                                        "view",      "scan_purpose",  "thoughts"};
    static const char *const concerns[] = {"fear",      "worr",   "feeling", "mood",
                                           "embarrass", "coping", "concern"};
    static const char *const expectations[] = {
        "expect", "hoping", "goal", "scan_reason", "why_", "preference", "treatment_view"};
    sc_indicator *ind = &c->ind[IND_B1];
    int got[3] = {0, 0, 0};
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (t->candidate) {
            for (size_t s = 0; s < t->nsent; s++) {
                const sc_sentence *se = &t->sent[s];
                if (se->qtype == Q_NONE)
                    continue;
                int hit = 0;
                if (has(se, CAT_ICE_IDEAS) || has(se, CAT_KNOWLEDGE))
                    got[0] = hit = 1;
                if (has(se, CAT_ICE_CONCERNS))
                    got[1] = hit = 1;
                if (has(se, CAT_ICE_EXPECTATIONS))
                    got[2] = hit = 1;
                if (hit)
                    ev_add(ind, i, s);
            }
            continue;
        }
        /* the scripted patient answered a perspective topic: the question before asked for it */
        for (size_t k = 0; k < t->ntopics; k++) {
            const char *tp = t->topics[k];
            int which = topic_is(tp, ideas, ARRAY_LEN(ideas))                 ? 0
                        : topic_is(tp, concerns, ARRAY_LEN(concerns))         ? 1
                        : topic_is(tp, expectations, ARRAY_LEN(expectations)) ? 2
                                                                              : -1;
            if (which < 0 || i == 0 || !c->turns[i - 1].candidate)
                continue;
            if (!got[which]) {
                got[which] = 1;
                const sc_turn *q = &c->turns[i - 1];
                size_t s = q->nsent;
                while (s > 0 && q->sent[s - 1].qtype == Q_NONE)
                    s--;
                ev_add(ind, i - 1, s > 0 ? s - 1 : 0);
            }
        }
    }
    int n = got[0] + got[1] + got[2];
    decide(ind, n >= 2, n == 1);
    if (n < 2) {
        size_t at = next_candidate(c, first_candidate(c));
        miss(c, ind, anchor(c, at), 0,
             fmt(c, "Not asked: %s%s%s.", got[0] ? "" : "what the patient thinks is going on; ",
                 got[1] ? "" : "what worries them; ",
                 got[2] ? "" : "what they hope for from today"));
    }
}

static void assess_b2(sc_ctx *c, const cue_event *cues, size_t ncues)
{
    sc_indicator *ind = &c->ind[IND_B2];
    double sum = 0, wsum = 0;
    const cue_event *worst = NULL;
    for (size_t k = 0; k < ncues; k++) {
        const cue_event *ev = &cues[k];
        sum += ev->weight * ev->score;
        wsum += ev->weight;
        if (ev->score >= 1) {
            const sc_turn *r = &c->turns[ev->reply];
            ev_add(ind, ev->reply,
                   sent_with(r, CATBIT(CAT_EMPATHY) | CATBIT(CAT_CUE_RESPONSE) |
                                    CATBIT(CAT_NORMALISE) | CATBIT(CAT_REFER_BACK)));
        }
        if (ev->weight >= 1 && (!worst || ev->score < worst->score))
            worst = ev;
    }
    if (!worst) /* only feelings without card cues */
        for (size_t k = 0; k < ncues; k++)
            if (!worst || cues[k].score < worst->score)
                worst = &cues[k];
    double ratio = wsum > 0 ? sum / wsum : 1;
    decide(ind, ratio >= 0.75, ratio >= 0.45);
    if (worst && worst->score < 1) {
        const sc_turn *p = &c->turns[worst->turn];
        const sc_turn *r = &c->turns[worst->reply];
        ind->missed_quote = worst->line;
        miss(c, ind, worst->turn, SC_WHOLE,
             worst->score == 0
                 ? fmt(c,
                       "The patient raised this in turn %d; the next turn (%d) moved on "
                       "without acknowledging or exploring it.",
                       p->n, r->n)
                 : fmt(c,
                       "The patient raised this in turn %d; turn %d answered only in "
                       "passing, without acknowledging the feeling behind it.",
                       p->n, r->n));
    }
}

static void assess_b3(sc_ctx *c, const cue_event *cues, size_t ncues)
{
    sc_indicator *ind = &c->ind[IND_B3];
    size_t refs = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate || i < c->first_giving)
            continue;
        int counted = 0;
        for (size_t s = 0; s < t->nsent; s++)
            if (has(&t->sent[s], CAT_REFER_BACK) && t->sent[s].qtype == Q_NONE) {
                refs++;
                counted = 1;
                ev_add(ind, i, s);
                break;
            }
        if (counted || !t->giving)
            continue;
        /* an explanation that takes up a concern the patient raised earlier */
        for (size_t k = 0; k < ncues; k++) {
            if (cues[k].turn >= i || cues[k].weight < 1 || strcmp(cues[k].kind, "remark") == 0)
                continue;
            if (line_overlap(&cues[k], t) >= 2) {
                refs++;
                ev_add(ind, i, 0);
                break;
            }
        }
    }
    decide(ind, refs >= 2, refs == 1);
    if (refs < 2)
        miss(c, ind, anchor(c, c->first_giving < c->nturns ? c->first_giving : last_candidate(c)),
             0,
             "The explanation is not linked to what the patient said they think, fear or want "
             "(\"You mentioned you were worried about…, so…\").");
}

/* ---- C: structure ---- */

static void assess_c1(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_C1];
    double gsum = 0, gn = 0, vsum = 0, vn = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++)
            if (t->sent[s].qtype != Q_NONE && t->sent[s].gathering) {
                gsum += (double)i;
                gn++;
            }
        if (t->giving) {
            vsum += (double)i;
            vn++;
        }
    }
    int opening = c->ind[IND_A1].met != MET_NOT;
    int order = gn > 0 && vn > 0 && gsum / gn < vsum / vn;
    int closing = 0;
    size_t last = last_candidate(c), closing_turn = last;
    const uint64_t close_mask = CATBIT(CAT_CLOSING) | CATBIT(CAT_SUMMARY) |
                                CATBIT(CAT_FURTHER_INFO) | CATBIT(CAT_ANY_QUESTIONS);
    for (size_t i = last, seen = 0; i < c->nturns && seen < 2; i--) {
        if (c->turns[i].candidate) {
            seen++;
            if (c->turns[i].cats & close_mask) {
                closing = 1;
                closing_turn = i;
            }
        }
        if (i == 0)
            break;
    }
    if (opening && c->ind[IND_A1].nev > 0)
        ev_add(ind, c->ind[IND_A1].ev[0].turn, c->ind[IND_A1].ev[0].sent);
    if (order && c->first_giving < c->nturns)
        ev_add(ind, c->first_giving, 0);
    if (closing)
        ev_add(ind, closing_turn, sent_with(&c->turns[closing_turn], close_mask));
    int parts = opening + order + closing;
    decide(ind, parts == 3, parts == 2);
    if (parts < 3)
        miss(c, ind,
             anchor(c, !opening ? first_candidate(c)
                       : !order ? c->first_giving
                                : last),
             0,
             !opening ? "The interview starts without an opening that sets it up."
             : !order ? "Questions and explanations are mixed rather than gathering first, "
                        "then explaining."
                      : "The interview ends without a closing (next steps, a summary, any "
                        "questions).");
}

static void assess_c2(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_C2];
    size_t n = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent && s < 2; s++)
            if (has(&t->sent[s], CAT_SIGNPOST)) {
                n++;
                ev_add(ind, i, s);
                break;
            }
    }
    decide(ind, n >= 2, n == 1);
    if (n < 2)
        miss(c, ind, anchor(c, c->first_giving < c->nturns ? c->first_giving : last_candidate(c)),
             0, "The move to a new topic is not announced (\"Now I'd like to explain…\").");
}

static void assess_c3(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_C3];
    size_t n = 0, chunks = 0, long_chunks = 0;
    size_t longest = c->nturns, longest_words = 0;
    for (size_t i = c->first_giving; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        if (t->giving) {
            chunks++;
            long_chunks += t->statement_words > 80;
            if (t->statement_words > longest_words) {
                longest_words = t->statement_words;
                longest = i;
            }
        }
        for (size_t s = 0; s < t->nsent; s++)
            if ((has(&t->sent[s], CAT_ORGANISER) || has(&t->sent[s], CAT_SUMMARY)) &&
                t->sent[s].qtype == Q_NONE) {
                n++;
                ev_add(ind, i, s);
            }
    }
    if (chunks >= 3 && long_chunks == 0)
        n++; /* explained in digestible chunks */
    decide(ind, n >= 2, n == 1);
    if (n < 2)
        miss(c, ind, anchor(c, longest), 0,
             "The explanation has no visible organisation (\"There are two things…\", \"First…, "
             "then…\", a recap of the key points).");
}

/* ---- D: gathering ---- */

/* When the patient stopped speaking: the last word's end, or an estimate from the word count. */
static double patient_end_ms(const sc_turn *p, int *exact)
{
    *exact = p->nwords > 0;
    if (p->nwords > 0)
        return (double)p->t_ms + p->words[p->nwords - 1].end * 1000.0;
    return (double)p->t_ms + (double)p->content_words * EST_MS_PER_WORD;
}

static void assess_d1(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_D1];
    size_t interruptions = 0, facilitation = 0, open = 0;
    for (size_t i = 1; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        const sc_turn *p = &c->turns[i - 1];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (se->qtype == Q_OPEN && se->gathering)
                open++;
            if (has(se, CAT_FACILITATE) && (se->qtype != Q_NONE || se->t1 - se->t0 <= 8)) {
                facilitation++;
                ev_add(ind, i, s);
            }
        }
        if (p->candidate)
            continue;
        int cut = p->cut_off;
        if (!cut && c->voice) {
            int exact;
            double end = patient_end_ms(p, &exact);
            double start = (double)t->t_ms + (t->nwords > 0 ? t->words[0].start * 1000.0 : 0);
            cut = start - end < (exact ? INTERRUPT_GAP_MS : 0);
        }
        if (cut) {
            if (interruptions++ == 0)
                miss(c, ind, i, 0,
                     fmt(c, "This cut in before the patient had finished (turn %d).", p->n));
        }
    }
    decide(ind, interruptions == 0 && (facilitation >= 1 || open >= 3), interruptions <= 1);
    if (ind->met != MET_FULL && interruptions == 0)
        miss(c, ind, anchor(c, next_candidate(c, first_candidate(c))), 0,
             "Little encouragement for the patient to tell their story (open questions, \"go "
             "on\", \"tell me more\").");
}

static void assess_d2_d3(sc_ctx *c)
{
    sc_indicator *d2 = &c->ind[IND_D2], *d3 = &c->ind[IND_D3];
    size_t open = 0, closed = 0, idx = 0, first_open = SIZE_MAX, bad = 0;
    sc_ref first_closed = {c->nturns, 0}, first_bad = {c->nturns, 0};
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (se->qtype == Q_NONE)
                continue;
            if (se->leading || (se->compound && se->gathering)) {
                if (bad++ == 0)
                    first_bad = (sc_ref){i, s};
            }
            if (!se->gathering)
                continue;
            if (se->qtype == Q_OPEN) {
                open++;
                if (first_open == SIZE_MAX)
                    first_open = idx;
                ev_add(d2, i, s);
            } else {
                closed++;
                if (first_closed.turn == c->nturns)
                    first_closed = (sc_ref){i, s};
            }
            idx++;
        }
    }
    c->m.questions_open = open;
    c->m.questions_closed = closed;
    double share = open + closed > 0 ? (double)open / (double)(open + closed) : 0;
    decide(d2, open >= 2 && share >= 0.3 && first_open < 3, open >= 1);
    if (d2->met != MET_FULL) {
        sc_ref r = first_closed.turn < c->nturns ? first_closed
                                                 : (sc_ref){anchor(c, first_candidate(c)), 0};
        miss(c, d2, r.turn, r.sent,
             open == 0 ? "Only closed questions: the patient never gets the chance to tell it "
                         "in their own words."
                       : fmt(c,
                             "%zu open and %zu closed questions; start each topic with an "
                             "open question before narrowing down.",
                             open, closed));
    }
    size_t nq = open + closed;
    decide(d3, bad == 0 && nq >= 3, bad == 1 || (bad == 0 && nq < 3));
    if (bad > 0)
        miss(c, d3, first_bad.turn, first_bad.sent,
             "A compound or leading question: ask one thing at a time, without suggesting the "
             "answer.");
    else if (nq < 3)
        miss(c, d3, anchor(c, first_candidate(c)), 0, "Too few questions to show a clear style.");
    else
        for (size_t i = 0; i < c->nturns && d3->nev < 2; i++)
            if (c->turns[i].candidate)
                for (size_t s = 0; s < c->turns[i].nsent; s++)
                    if (c->turns[i].sent[s].gathering && c->turns[i].sent[s].qtype == Q_OPEN) {
                        ev_add(d3, i, s);
                        break;
                    }
}

static void assess_d4(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_D4];
    size_t vague = 0, clarified = 0, clarify_any = 0, first_vague = c->nturns;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (t->candidate) {
            for (size_t s = 0; s < t->nsent; s++)
                if (t->sent[s].qtype != Q_NONE && has(&t->sent[s], CAT_CLARIFY))
                    clarify_any++;
            continue;
        }
        if (!(t->cats & CATBIT(CAT_VAGUE)) || t->ntopics == 0)
            continue;
        vague++;
        size_t r = next_candidate(c, i);
        if (r >= c->nturns)
            continue;
        if (first_vague == c->nturns)
            first_vague = r;
        const sc_turn *q = &c->turns[r];
        for (size_t s = 0; s < q->nsent; s++) {
            const sc_sentence *se = &q->sent[s];
            if (se->qtype == Q_NONE)
                continue;
            if ((se->cats & (CATBIT(CAT_CLARIFY) | CATBIT(CAT_FACILITATE))) &&
                (overlap(q->tok, se->t0, se->t1, t->tok, 0, t->ntok) >= 1 ||
                 has(se, CAT_FACILITATE))) {
                clarified++;
                ev_add(ind, r, s);
                break;
            }
        }
    }
    decide(ind, clarified >= 1 || (vague == 0 && clarify_any >= 1), clarify_any >= 1 || vague == 0);
    if (ind->met != MET_FULL)
        miss(c, ind, anchor(c, first_vague), 0,
             "A vague answer (\"a bit\", \"sometimes\") was taken as it was; ask what the patient "
             "means (\"When you say sometimes, how often is that?\").");
}

static void assess_d5(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_D5];
    int full = 0, part = 0;
    size_t summaries = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        int summary = 0, invite = 0;
        size_t ss = 0;
        for (size_t s = 0; s < t->nsent; s++) {
            if (has(&t->sent[s], CAT_SUMMARY) && !summary) {
                summary = 1;
                ss = s;
            }
            if (has(&t->sent[s], CAT_CORRECTION_INVITE) && t->sent[s].qtype != Q_NONE)
                invite = 1;
        }
        if (!summary && !invite)
            continue;
        if (++summaries > D5_MAX_SUMMARIES)
            break;
        /* does it give back what the patient said? count recent patient turns it echoes */
        size_t echoed = 0;
        for (size_t j = i > D5_WINDOW ? i - D5_WINDOW : 0; j < i; j++) {
            const sc_turn *p = &c->turns[j];
            if (p->candidate || p->ntopics == 0)
                continue;
            if (overlap(p->tok, 0, p->ntok, t->tok, 0, t->ntok) >= 1)
                echoed++;
        }
        if (summary && echoed >= 2 && invite) {
            full = 1;
            ev_add(ind, i, ss);
        } else if ((summary && echoed >= 2) || (invite && echoed >= 1)) {
            part = 1;
            ev_add(ind, i, summary ? ss : 0);
        }
    }
    decide(ind, full, part);
    if (!full) {
        size_t at = c->first_giving < c->nturns ? c->first_giving : last_candidate(c);
        miss(c, ind, anchor(c, at), 0,
             part ? "The summary does not invite the patient to correct or add (\"Have I got "
                    "that right?\")."
                  : "No summary of what the patient told you before moving on to explain.");
    }
}

/* ---- E: giving ---- */

static void assess_e1(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_E1];
    static const char *const know[] = {"knowledge", "understanding"};
    int before = 0, after = 0, closed_only = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (t->candidate) {
            for (size_t s = 0; s < t->nsent; s++) {
                const sc_sentence *se = &t->sent[s];
                if (se->qtype == Q_NONE)
                    continue;
                if (has(se, CAT_KNOWLEDGE)) {
                    if (i <= c->first_giving)
                        before = 1;
                    else
                        after = 1;
                    ev_add(ind, i, s);
                } else if (has(se, CAT_KNOWLEDGE_CLOSED)) {
                    closed_only = 1;
                    ev_add(ind, i, s);
                }
            }
            continue;
        }
        for (size_t k = 0; k < t->ntopics; k++)
            if (topic_is(t->topics[k], know, ARRAY_LEN(know)) && i > 0 &&
                c->turns[i - 1].candidate) {
                if (i - 1 <= c->first_giving)
                    before = 1;
                else
                    after = 1;
                ev_add(ind, i - 1, 0);
            }
    }
    decide(ind, before, after || closed_only);
    if (!before)
        miss(c, ind, anchor(c, c->first_giving < c->nturns ? c->first_giving : last_candidate(c)),
             0,
             after ? "You asked what the patient knows only after explaining."
                   : "You explained without first finding out what the patient already knows "
                     "(\"What do you know about…?\").");
}

static void assess_e2(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_E2];
    size_t giving = 0, monologues = 0, lectures = 0, checks = 0;
    size_t worst = c->nturns, worst_words = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate || !t->giving)
            continue;
        giving++;
        double dur = c->voice ? voice_duration(t) : 0;
        if (t->statement_words >= MONOLOGUE_WORDS || dur >= MONOLOGUE_SECONDS)
            monologues++;
        if (t->statement_words >= MONOLOGUE_LONG_WORDS)
            lectures++;
        if (t->statement_words > worst_words) {
            worst_words = t->statement_words;
            worst = i;
        }
        /* the chunk hands back to the patient with a real question, not a bare "Understand?" */
        const sc_sentence *last = t->nsent > 0 ? &t->sent[t->nsent - 1] : NULL;
        if (last && last->qtype != Q_NONE && last->t1 - last->t0 >= 3 &&
            !(last->cats & CATBIT(CAT_CHECK_WEAK))) {
            checks++;
            ev_add(ind, i, t->nsent - 1);
        }
    }
    decide(ind, monologues == 0 && giving >= 2 && checks >= 1,
           giving >= 1 && monologues <= 1 && lectures == 0);
    if (ind->met != MET_FULL) {
        if (giving == 0)
            miss(c, ind, anchor(c, last_candidate(c)), 0,
                 "Little information was given, so there was nothing to pace.");
        else if (monologues > 0)
            miss(c, ind, worst, SC_WHOLE,
                 fmt(c,
                     "A long explanation (%zu words) without a pause for the patient to "
                     "respond.",
                     worst_words));
        else
            miss(c, ind, worst, SC_WHOLE,
                 "Explanations end without handing back to the patient; pause and ask for their "
                 "response before going on.");
    }
}

static void count_after_giving(sc_ctx *c, sc_indicator *ind, uint64_t mask, size_t *n)
{
    for (size_t i = c->first_giving; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++)
            if (t->sent[s].qtype != Q_NONE && (t->sent[s].cats & mask)) {
                (*n)++;
                ev_add(ind, i, s);
            }
    }
}

static void assess_e3(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_E3];
    size_t n = 0;
    count_after_giving(c, ind, CATBIT(CAT_REACTION) | CATBIT(CAT_ICE_CONCERNS), &n);
    decide(ind, n >= 2, n == 1);
    if (n < 2)
        miss(c, ind, anchor(c, c->first_giving < c->nturns ? c->first_giving : last_candidate(c)),
             SC_WHOLE,
             "After explaining, ask how the patient feels about it (\"How does that sound to "
             "you?\").");
}

static void assess_e4(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_E4];
    size_t checks = 0, teach = 0, weak = 0;
    for (size_t i = 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (se->qtype == Q_NONE)
                continue;
            if (has(se, CAT_TEACH_BACK) && i >= c->first_giving) {
                teach++;
                ev_add(ind, i, s);
            } else if (has(se, CAT_CHECK)) {
                checks++;
                ev_add(ind, i, s);
            } else if (has(se, CAT_CHECK_WEAK) ||
                       (se->t1 - se->t0 <= 2 && i >= c->first_giving && has(se, CAT_ACKNOWLEDGE))) {
                weak++;
                ev_add(ind, i, s);
            }
        }
    }
    decide(ind, teach >= 1 || checks >= 2, checks == 1 || weak >= 1);
    if (ind->met != MET_FULL) {
        size_t at = c->nturns;
        for (size_t i = c->nturns; i > 0; i--)
            if (c->turns[i - 1].candidate && c->turns[i - 1].giving) {
                at = i - 1;
                break;
            }
        miss(c, ind, anchor(c, at < c->nturns ? at : last_candidate(c)), SC_WHOLE,
             weak && !checks ? "\"Do you understand?\" invites a yes; ask the patient to put it "
                               "in their own words."
                             : "Understanding was not checked after explaining (\"Can you tell "
                               "me in your own words what you'll do?\").");
    }
}

static void assess_e5(sc_ctx *c)
{
    sc_indicator *ind = &c->ind[IND_E5];
    size_t further = 0, anyq = 0;
    for (size_t i = c->first_giving < c->nturns ? c->first_giving : 0; i < c->nturns; i++) {
        const sc_turn *t = &c->turns[i];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            const sc_sentence *se = &t->sent[s];
            if (se->qtype == Q_NONE && !has(se, CAT_FURTHER_INFO))
                continue;
            if (has(se, CAT_FURTHER_INFO)) {
                further++;
                ev_add(ind, i, s);
            } else if (has(se, CAT_ANY_QUESTIONS)) {
                anyq++;
                ev_add(ind, i, s);
            }
        }
    }
    decide(ind, further >= 1 || anyq >= 2, anyq == 1);
    if (ind->met != MET_FULL)
        miss(c, ind, anchor(c, last_candidate(c)), SC_WHOLE,
             anyq ? "A closing \"Any questions?\" is easy to say no to; ask what else the patient "
                    "would like to know."
                  : "You did not ask what else the patient would like to know.");
}

void scorer_clinical_assess(sc_ctx *c)
{
    static const char *const codes[IND__COUNT] = {"A1", "A2", "A3", "A4", "B1", "B2", "B3",
                                                  "C1", "C2", "C3", "D1", "D2", "D3", "D4",
                                                  "D5", "E1", "E2", "E3", "E4", "E5"};
    for (int i = 0; i < IND__COUNT; i++) {
        memset(&c->ind[i], 0, sizeof(c->ind[i]));
        c->ind[i].code = codes[i];
    }
    mark_giving(c);
    cue_event cues[64];
    size_t ncues = collect_cues(c, cues, ARRAY_LEN(cues));

    assess_a1(c);
    assess_a2(c);
    assess_a3(c);
    assess_a4(c);
    assess_b1(c);
    assess_b2(c, cues, ncues);
    assess_b3(c, cues, ncues);
    assess_c1(c);
    assess_c2(c);
    assess_c3(c);
    assess_d1(c);
    assess_d2_d3(c);
    assess_d4(c);
    assess_d5(c);
    assess_e1(c);
    assess_e2(c);
    assess_e3(c);
    assess_e4(c);
    assess_e5(c);

    static const int first[CRIT__COUNT + 1] = {IND_A1, IND_B1, IND_C1, IND_D1, IND_E1, IND__COUNT};
    for (int k = 0; k < CRIT__COUNT; k++) {
        double sum = 0;
        for (int i = first[k]; i < first[k + 1]; i++)
            sum += c->ind[i].met == MET_FULL ? 1.0 : c->ind[i].met == MET_PARTLY ? 0.5 : 0.0;
        c->clinical_ratio[k] = sum / (double)(first[k + 1] - first[k]);
        c->clinical[k] = scorer_band_clinical(c->clinical_ratio[k]);
    }
}
