/* The linguistic criteria and the report's metrics. Fluency from word timings in voice (speech
 * rate, pauses, runs, fillers, repetitions, self-corrections) or from the typed text alone in
 * text mode; intelligibility from recogniser confidence (voice only, never invented);
 * appropriateness from register (unexplained jargon, dismissive or casual wording, politeness,
 * patient-centred phrasing); grammar and expression from error patterns, MTLD and sentence
 * length. Every score is 6 minus the penalties of scorer_bands.c, rounded. */
#include "services/ai/scorer_internal.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define PAUSE_S 0.4         /* a silent pause inside a turn */
#define LOW_CONF 0.6        /* a word the recogniser was unsure of */
#define JARGON_BEFORE 15    /* lay words this many tokens before a term explain it … */
#define JARGON_AFTER 20     /* … or this many after it */
#define FEW_WORDS 40        /* too little speech to show a range: scores capped at 3 */
#define MTLD_MAX_WORDS 5000 /* MTLD is quadratic in a segment: this many words are plenty */

static const char *fmt(sc_ctx *c, const char *f, ...) PRINTF_LIKE(2, 3);
static const char *fmt(sc_ctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    const char *s = arena_vprintf(c->a, f, ap);
    va_end(ap);
    return s ? s : "";
}

static void comment(sc_ling *l, const char *s)
{
    if (l->ncomments < SC_MAX_COMMENTS && s && *s)
        l->comments[l->ncomments++] = s;
}

static void evidence(sc_ling *l, size_t turn, size_t sent)
{
    if (l->nev >= SC_MAX_LING_EVIDENCE)
        return;
    for (size_t i = 0; i < l->nev; i++)
        if (l->ev[i].turn == turn && l->ev[i].sent == sent)
            return;
    l->ev[l->nev++] = (sc_ref){turn, sent};
}

/* 0 is "no response" in the OET band descriptors: any assessable speech scores at least 1. */
static int round_score(double x)
{
    double r = floor(x + 0.5);
    if (r < 1)
        r = 1;
    if (r > 6)
        r = 6;
    return (int)r;
}

static size_t sentence_of(const sc_turn *t, size_t tok)
{
    for (size_t s = 0; s < t->nsent; s++)
        if (tok >= t->sent[s].t0 && tok < t->sent[s].t1)
            return s;
    return 0;
}

/* ---- metrics ---- */

static void count_repetitions(sc_ctx *c, const sc_turn *t, size_t ti, sc_ling *flu)
{
    /* the turn's words without fillers */
    const sc_token *prev1 = NULL, *prev2 = NULL, *prev3 = NULL;
    for (size_t k = 0; k < t->ntok; k++) {
        const sc_token *tk = &t->tok[k];
        if (tk->filler)
            continue;
        int rep = 0;
        if (prev1 && strcmp(prev1->w, tk->w) == 0 && tk->raw != prev1->raw &&
            strcmp(tk->w, "very") != 0 && strcmp(tk->w, "bye") != 0 && strcmp(tk->w, "that") != 0 &&
            strcmp(tk->w, "had") != 0)
            rep = 1;
        if (prev1 && prev2 && prev3 && strcmp(prev3->w, prev1->w) == 0 &&
            strcmp(prev2->w, tk->w) == 0 && strcmp(prev3->w, prev2->w) != 0)
            rep = 1; /* "do you do you" */
        if (rep) {
            c->m.repetitions++;
            evidence(flu, ti, sentence_of(t, k));
        }
        if (tk->truncated) {
            c->m.self_corrections++;
            evidence(flu, ti, sentence_of(t, k));
        }
        prev3 = prev2;
        prev2 = prev1;
        prev1 = tk;
    }
    for (size_t s = 0; s < t->nsent; s++)
        if (t->sent[s].cats & CATBIT(CAT_SELF_CORRECTION)) {
            c->m.self_corrections++;
            evidence(flu, ti, s);
        }
}

void scorer_metrics_compute(sc_ctx *c)
{
    sc_metrics *m = &c->m;
    sc_ling *flu = &c->ling[LING_FLUENCY];
    double speak = 0, pause_time = 0, cand_audio = 0, pat_audio = 0;
    size_t runs = 0, run_words = 0, run_len = 0, max_run = 0, timed_words = 0;
    size_t patient_words = 0;
    double conf_sum = 0;

    for (size_t ti = 0; ti < c->nturns; ti++) {
        sc_turn *t = &c->turns[ti];
        if (!t->candidate) {
            patient_words += t->content_words;
            if (t->nwords > 0)
                pat_audio += t->words[t->nwords - 1].end - t->words[0].start;
            else
                pat_audio += (double)t->content_words * 0.33;
            continue;
        }
        m->candidate_words += t->content_words;
        m->hesitations += t->hesitations;
        for (size_t k = 0; k < t->ntok; k++)
            if (t->tok[k].filler) {
                m->fillers++;
                evidence(flu, ti, sentence_of(t, k));
            }
        count_repetitions(c, t, ti, flu);
        if (t->nwords == 0)
            continue;
        m->has_timing = 1;
        double tstart = t->words[0].start, tend = t->words[t->nwords - 1].end;
        speak += tend - tstart;
        cand_audio += tend - tstart;
        run_len = 0;
        for (size_t k = 0; k < t->nwords; k++) {
            const sc_word *w = &t->words[k];
            int filler = scorer_lexicon_is_filler(&c->lex, w->w);
            m->conf_words++;
            conf_sum += w->conf;
            if (w->conf < LOW_CONF)
                m->low_conf_words++;
            if (k > 0) {
                double gap = w->start - t->words[k - 1].end;
                if (gap >= PAUSE_S) {
                    m->pauses++;
                    pause_time += gap;
                    if (run_len > 0) {
                        runs++;
                        run_words += run_len;
                        if (run_len > max_run)
                            max_run = run_len;
                    }
                    run_len = 0;
                }
            }
            if (filler) {
                if (run_len > 0) {
                    runs++;
                    run_words += run_len;
                    if (run_len > max_run)
                        max_run = run_len;
                }
                run_len = 0;
            } else {
                run_len++;
                timed_words++;
            }
        }
        if (run_len > 0) {
            runs++;
            run_words += run_len;
            if (run_len > max_run)
                max_run = run_len;
        }
    }
    double words = (double)m->candidate_words;
    m->filler_rate = words > 0 ? 100.0 * (double)m->fillers / words : 0;
    m->repetition_rate =
        words > 0 ? 100.0 * (double)(m->repetitions + m->self_corrections) / words : 0;
    if (m->has_timing && speak > 0) {
        m->speech_rate_wpm = (double)timed_words / speak * 60.0;
        double art = speak - pause_time;
        m->articulation_rate_wpm = art > 0 ? (double)timed_words / art * 60.0 : 0;
        m->pauses_per_min = (double)m->pauses / (speak / 60.0);
        m->mean_length_of_run = runs > 0 ? (double)run_words / (double)runs : 0;
        m->max_length_of_run = (double)max_run;
        m->talk_time_ratio = cand_audio + pat_audio > 0 ? cand_audio / (cand_audio + pat_audio) : 0;
    } else {
        m->talk_time_ratio =
            words + (double)patient_words > 0 ? words / (words + (double)patient_words) : 0;
    }
    if (m->conf_words > 0) {
        m->mean_conf = conf_sum / (double)m->conf_words;
        m->low_conf_share = (double)m->low_conf_words / (double)m->conf_words;
    }

    /* MTLD over the candidate's words */
    const char **all = arena_alloc(c->a, (m->candidate_words + 1) * sizeof(*all));
    size_t n = 0;
    if (all) {
        for (size_t ti = 0; ti < c->nturns; ti++) {
            const sc_turn *t = &c->turns[ti];
            if (!t->candidate)
                continue;
            for (size_t k = 0; k < t->ntok && n < m->candidate_words; k++)
                if (!t->tok[k].filler)
                    all[n++] = t->tok[k].w;
        }
        /* MTLD is quadratic in a segment's length: the first MTLD_MAX_WORDS words are plenty */
        m->lexical_diversity = scorer_mtld(all, n < MTLD_MAX_WORDS ? n : MTLD_MAX_WORDS);
    }
}

/* ---- jargon ---- */

static int patient_said_term(const sc_ctx *c, size_t before, const sc_term *term)
{
    for (size_t ti = 0; ti < before; ti++) {
        const sc_turn *t = &c->turns[ti];
        if (t->candidate)
            continue;
        for (size_t k = 0; k + term->ntok <= t->ntok; k++) {
            size_t j = 0;
            while (j < term->ntok && strcmp(term->tok[j], t->tok[k + j].w) == 0)
                j++;
            if (j == term->ntok)
                return 1;
        }
    }
    return 0;
}

static int explained_here(const sc_ctx *c, const sc_turn *t, size_t i, size_t len,
                          const sc_term *term)
{
    size_t s = sentence_of(t, i);
    if (t->sent[s].cats & CATBIT(CAT_EXPLAIN_MARKER))
        return 1;
    if (s + 1 < t->nsent && (t->sent[s + 1].cats & CATBIT(CAT_EXPLAIN_MARKER)))
        return 1;
    /* "hypertension (high blood pressure)" or "…, or high blood pressure" */
    size_t lo = i > JARGON_BEFORE ? i - JARGON_BEFORE : 0;
    size_t hi = i + len + JARGON_AFTER < t->ntok ? i + len + JARGON_AFTER : t->ntok;
    size_t hits = 0;
    for (size_t k = lo; k < hi; k++) {
        if (k >= i && k < i + len)
            continue;
        for (size_t j = 0; j < term->nlay; j++)
            if (strcmp(t->tok[k].stem, term->lay_stems[j]) == 0) {
                hits++;
                break;
            }
    }
    (void)c;
    /* generic lay words ("tooth", "heart") nearby are not an explanation on their own */
    return hits >= (term->nlay >= 2 ? 2 : 1);
}

static int find_jargon(sc_ctx *c, size_t *explained_count)
{
    size_t cap = 64;
    c->jargon = arena_alloc(c->a, cap * sizeof(*c->jargon));
    unsigned char *done = arena_calloc(c->a, c->lex.nterms + 1);
    if (!c->jargon || !done)
        return -1;
    *explained_count = 0;
    for (size_t ti = 0; ti < c->nturns; ti++) {
        const sc_turn *t = &c->turns[ti];
        if (!t->candidate)
            continue;
        for (size_t k = 0; k < t->ntok; k++) {
            size_t len;
            long idx = scorer_lexicon_term_at(&c->lex, t->tok, k, t->ntok, &len);
            if (idx < 0)
                continue;
            const sc_term *term = &c->lex.terms[idx];
            if (!done[idx]) {
                done[idx] = 1;
                if (patient_said_term(c, ti, term) || explained_here(c, t, k, len, term)) {
                    (*explained_count)++;
                } else if (c->njargon < cap) {
                    c->jargon[c->njargon++] = (sc_jargon){ti, sentence_of(t, k), (size_t)idx};
                }
            }
            k += len - 1;
        }
    }
    return 0;
}

/* ---- the four criteria ---- */

static void assess_fluency(sc_ctx *c)
{
    sc_ling *l = &c->ling[LING_FLUENCY];
    const sc_metrics *m = &c->m;
    double words = (double)m->candidate_words;
    if (m->candidate_words == 0) {
        l->score = 0;
        comment(l, "No candidate speech to assess.");
        return;
    }
    double pen = 0;
    double fill_rate = 100.0 * (double)(m->fillers + m->hesitations) / words;
    pen += scorer_band_penalty(scorer_bands_fillers, scorer_bands_fillers_n, fill_rate);
    pen += scorer_band_penalty(scorer_bands_repetitions, scorer_bands_repetitions_n,
                               m->repetition_rate);
    if (m->has_timing) {
        pen += scorer_band_penalty(scorer_bands_speech_rate_low, scorer_bands_speech_rate_low_n,
                                   m->speech_rate_wpm);
        pen += scorer_band_penalty(scorer_bands_speech_rate_high, scorer_bands_speech_rate_high_n,
                                   m->speech_rate_wpm);
        pen += scorer_band_penalty(scorer_bands_pauses, scorer_bands_pauses_n, m->pauses_per_min);
        pen += scorer_band_penalty(scorer_bands_mlr, scorer_bands_mlr_n, m->mean_length_of_run);
        comment(l, fmt(c,
                       "Speech rate %.0f words a minute (about 100-165 is a normal range), "
                       "articulation rate %.0f.",
                       m->speech_rate_wpm, m->articulation_rate_wpm));
        comment(l, fmt(c,
                       "%.1f pauses of 400 ms or more a minute; runs of %.1f words on average "
                       "(longest %.0f).",
                       m->pauses_per_min, m->mean_length_of_run, m->max_length_of_run));
    } else {
        comment(l, "Estimated from the typed text: only fillers, hesitations and repetitions "
                   "can be seen; speed and pauses need voice mode.");
    }
    comment(l, fmt(c, "%zu filled pauses%s and %zu repetitions or self-corrections in %zu words.",
                   m->fillers,
                   m->hesitations ? fmt(c, " (plus %zu typed hesitations)", m->hesitations) : "",
                   m->repetitions + m->self_corrections, m->candidate_words));
    int score = round_score(6.0 - pen);
    if (m->candidate_words < FEW_WORDS && score > 3) {
        score = 3;
        comment(l, "Too little speech to show sustained fluency.");
    }
    l->score = score;
}

static void assess_intelligibility(sc_ctx *c)
{
    sc_ling *l = &c->ling[LING_INTELLIGIBILITY];
    if (!c->voice) {
        l->score = -1;
        comment(l, "Not assessed in text mode: intelligibility is judged from speech.");
        return;
    }
    if (c->m.conf_words == 0) {
        l->score = -1;
        comment(l, "Not assessed: the recording has no word confidences.");
        return;
    }
    l->score = scorer_band_intelligibility(c->m.mean_conf, c->m.low_conf_share);
    comment(l, fmt(c,
                   "Mean recogniser confidence %.2f; %.0f%% of words recognised with low "
                   "confidence (below %.1f).",
                   c->m.mean_conf, 100.0 * c->m.low_conf_share, LOW_CONF));
    comment(l, "Estimated from how surely the recogniser understood you: a proxy for the strain "
               "on a listener, not a judgement of accent.");
    /* the turns with the most unsure words */
    for (int pass = 0; pass < 2 && l->nev < 3; pass++)
        for (size_t ti = 0; ti < c->nturns && l->nev < 3; ti++) {
            const sc_turn *t = &c->turns[ti];
            if (!t->candidate || t->nwords == 0)
                continue;
            size_t low = 0;
            for (size_t k = 0; k < t->nwords; k++)
                low += t->words[k].conf < LOW_CONF;
            if ((pass == 0 && low * 4 >= t->nwords && low > 0) || (pass == 1 && low >= 2))
                evidence(l, ti, SC_WHOLE);
        }
}

static void assess_appropriateness(sc_ctx *c)
{
    sc_ling *l = &c->ling[LING_APPROPRIATENESS];
    size_t explained = 0;
    if (find_jargon(c, &explained)) {
        l->score = 0;
        return;
    }
    size_t lapses = 0, soft = 0, polite = 0, centred = 0, confusion = 0;
    sc_ref first_lapse = {c->nturns, 0};
    for (size_t ti = 0; ti < c->nturns; ti++) {
        const sc_turn *t = &c->turns[ti];
        if (!t->candidate) {
            if ((t->cats & CATBIT(CAT_CONFUSION)) || (t->kind && strcmp(t->kind, "clarify") == 0))
                if (ti > 0 && c->turns[ti - 1].candidate)
                    confusion++;
            continue;
        }
        for (size_t s = 0; s < t->nsent; s++) {
            uint64_t k = t->sent[s].cats;
            if (k & (CATBIT(CAT_DISMISSIVE) | CATBIT(CAT_INFORMAL) | CATBIT(CAT_JUDGEMENT) |
                     CATBIT(CAT_COMMAND))) {
                if (lapses++ == 0)
                    first_lapse = (sc_ref){ti, s};
            }
            soft += (k & CATBIT(CAT_COMMAND_SOFT)) != 0;
            polite += (k & CATBIT(CAT_POLITENESS)) != 0;
            centred += (k & (CATBIT(CAT_PATIENT_CENTRED) | CATBIT(CAT_HEDGE))) != 0;
        }
    }
    if (soft >= 5)
        lapses += soft / 5; /* a string of "you need to…, you should…" sounds like orders */
    double pen =
        scorer_band_penalty(scorer_bands_jargon, scorer_bands_jargon_n, (double)c->njargon);
    pen += scorer_band_penalty(scorer_bands_register, scorer_bands_register_n, (double)lapses);
    pen += polite >= 2 ? 0 : polite == 1 ? 0.5 : 1;
    pen += centred >= 3 ? 0 : 0.5;
    pen += confusion >= 2 ? 1 : confusion == 1 ? 0.5 : 0;
    int score = round_score(6.0 - pen);
    if (c->m.candidate_words < FEW_WORDS && score > 3)
        score = 3;
    l->score = c->m.candidate_words == 0 ? 0 : score;

    for (size_t i = 0; i < c->njargon && l->nev < SC_MAX_LING_EVIDENCE; i++)
        evidence(l, c->jargon[i].turn, c->jargon[i].sent);
    if (first_lapse.turn < c->nturns)
        evidence(l, first_lapse.turn, first_lapse.sent);
    if (c->njargon > 0) {
        const char *list = "";
        for (size_t i = 0; i < c->njargon && i < 4; i++) {
            const sc_term *t = &c->lex.terms[c->jargon[i].term];
            list = fmt(c, "%s%s\"%s\" (say: %s)", list, i ? ", " : "", t->term, t->lay);
        }
        comment(l, fmt(c, "%zu clinical term%s used without a lay explanation: %s.", c->njargon,
                       c->njargon == 1 ? "" : "s", list));
    } else {
        comment(l, explained > 0
                       ? fmt(c, "Clinical terms were explained in lay words (%zu).", explained)
                       : "Lay language throughout; no unexplained clinical terms.");
    }
    if (lapses > 0)
        comment(l, fmt(c,
                       "%zu sentence%s sounded dismissive, over-casual, blaming or like an "
                       "order.",
                       lapses, lapses == 1 ? "" : "s"));
    comment(l, fmt(c,
                   "Politeness markers in %zu sentences; patient-centred or tentative phrasing "
                   "in %zu.",
                   polite, centred));
    if (confusion > 0)
        comment(l, fmt(c, "The patient had to ask what you meant %zu time%s.", confusion,
                       confusion == 1 ? "" : "s"));
}

static void assess_grammar(sc_ctx *c)
{
    sc_ling *l = &c->ling[LING_GRAMMAR];
    const sc_metrics *m = &c->m;
    if (m->candidate_words == 0) {
        l->score = 0;
        comment(l, "No candidate speech to assess.");
        return;
    }
    size_t sentences = 0, sent_words = 0, subordinate = 0;
    static const char *const subordinators[] = {
        "because", "which", "although", "while", "unless", "until", "whether", "though", "if",
        "when",    "since", "that",     "who",   "where",  "after", "before",  "as"};
    for (size_t ti = 0; ti < c->nturns; ti++) {
        const sc_turn *t = &c->turns[ti];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            size_t n = 0;
            int sub = 0;
            for (size_t k = t->sent[s].t0; k < t->sent[s].t1; k++) {
                if (t->tok[k].filler)
                    continue;
                n++;
                if (k > t->sent[s].t0)
                    for (size_t j = 0; j < ARRAY_LEN(subordinators) && !sub; j++)
                        sub = strcmp(t->tok[k].w, subordinators[j]) == 0;
            }
            if (n == 0)
                continue;
            sentences++;
            sent_words += n;
            subordinate += sub ? 1u : 0u;
        }
    }
    double words = (double)m->candidate_words;
    double rate = 100.0 * (double)c->nerrors / words;
    double mean_len = sentences ? (double)sent_words / (double)sentences : 0;
    double pen = scorer_band_penalty(scorer_bands_errors, scorer_bands_errors_n, rate);
    pen += scorer_band_penalty(scorer_bands_mtld, scorer_bands_mtld_n, m->lexical_diversity);
    pen +=
        scorer_band_penalty(scorer_bands_sentence_length, scorer_bands_sentence_length_n, mean_len);
    double complex_share = sentences ? (double)subordinate / (double)sentences : 0;
    pen += scorer_band_penalty(scorer_bands_subordination, scorer_bands_subordination_n,
                               complex_share);
    int score = round_score(6.0 - pen);
    if (m->candidate_words < FEW_WORDS && score > 3)
        score = 3;
    l->score = score;
    comment(l, fmt(c,
                   "Lexical diversity (MTLD) %.0f; mean sentence length %.1f words; %.0f%% of "
                   "sentences with a subordinate clause.",
                   m->lexical_diversity, mean_len, 100.0 * complex_share));
    if (c->nerrors == 0) {
        comment(l, "No errors found by the detectable patterns (agreement, articles, tense, "
                   "plurals).");
        return;
    }
    const char *list = "";
    for (size_t i = 0; i < c->nerrors && i < 4; i++) {
        list = fmt(c, "%s%s%s %s", list, i ? "; " : "", c->errors[i].kind, c->errors[i].example);
        evidence(l, c->errors[i].turn, c->errors[i].sent);
    }
    comment(l, fmt(c, "%zu error%s (%.1f per 100 words): %s.", c->nerrors,
                   c->nerrors == 1 ? "" : "s", rate, list));
}

void scorer_linguistic_assess(sc_ctx *c)
{
    for (int i = 0; i < LING__COUNT; i++)
        c->ling[i].score = 0;
    assess_intelligibility(c);
    assess_fluency(c);
    assess_appropriateness(c);
    assess_grammar(c);
}
