/* Fact matching for the scripted patient (see patient_match.h). Scores are small sums: a topic
 * word matched exactly counts 1, by a synonym 0.9, by a near spelling 0.8; a frame word a third
 * of that; a trigger found as a phrase gets a bonus. Among the facts that fire in a clause, the
 * strongest claims its words first; a fact whose topic words were all claimed by a stronger one
 * is dropped ("how long did it last" is not also "how long"). */
#include "services/ai/patient_match.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_WEIGHT 0.35
#define PHRASE_BONUS 0.5
#define PHRASE_GAP 2 /* words the candidate may slip into a phrase ("what do you already know") */
#define FUZZY_MIN 5  /* near spellings count only for stems this long, first letters equal */

int patient_match_index(const patient_lexicon *lx, arena *a, const json_t *facts, pm_index *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = json_is_array(facts) ? json_array_size(facts) : 0;
    out->fact = arena_calloc(a, (n + 1) * sizeof(*out->fact));
    if (!out->fact)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(facts, i);
        const char *topic = json_string_value(json_object_get(f, "topic"));
        const char *answer = json_string_value(json_object_get(f, "answer"));
        const json_t *trig = json_object_get(f, "triggers");
        if (!topic || !answer)
            continue;
        pm_fact *pf = &out->fact[out->nfact++];
        pf->topic = topic;
        pf->answer = answer;
        size_t nt = json_is_array(trig) ? json_array_size(trig) : 0;
        pf->trig = arena_calloc(a, (nt + 1) * sizeof(*pf->trig));
        if (!pf->trig)
            return -1;
        for (size_t k = 0; k < nt; k++) {
            const char *s = json_string_value(json_array_get(trig, k));
            pt_text t;
            if (!s)
                continue;
            if (patient_text_parse(lx, a, s, 0, &t))
                return -1;
            if (!t.ntok)
                continue;
            pm_trigger *tr = &pf->trig[pf->ntrig++];
            tr->tok = t.tok;
            tr->n = t.ntok;
            tr->weak = 1;
            for (size_t j = 0; j < t.ntok; j++)
                if (t.tok[j].tier == LEX_CONTENT)
                    tr->weak = 0;
        }
    }
    return 0;
}

/* How well utterance token u stands for trigger token k: 1 same stem, 0.9 synonym (0.8 when the
 * synonym was itself found by spelling), 0.8 one letter off; stopwords only match themselves. The
 * same stem in another form ("worn" for "wearing") scores a hair under the same word. */
static double degree(const pt_token *k, const pt_token *u)
{
    if (strcmp(k->stem, u->stem) == 0) {
        if (strcmp(k->word, u->word) == 0)
            return 1.0;
        /* "wearing" beats "worn"; but the frame word "feel" does not ask about "feelings". */
        return k->tier == LEX_CONTENT && u->tier != LEX_CONTENT ? 0.0 : 0.98;
    }
    if (k->tier == LEX_STOP || u->tier == LEX_STOP)
        return 0.0;
    /* A topic word is not stood for by a frame word's synonym ("opinion" is not "think"). */
    if (k->tier == LEX_CONTENT && u->tier != LEX_CONTENT)
        return 0.0;
    if (lex_classes_share(&k->cls, &u->cls)) {
        if (u->fuzzy)
            return 0.8;
        /* A synonym of the same family ("medicines" for "medication") edges out another. */
        return strncmp(k->stem, u->stem, 4) == 0 ? 0.92 : 0.9;
    }
    if (k->tier == LEX_CONTENT && u->tier == LEX_CONTENT && !u->known && k->nwords == 1 &&
        u->nwords == 1 && strlen(k->stem) >= FUZZY_MIN && strlen(u->stem) >= FUZZY_MIN &&
        k->stem[0] == u->stem[0]) {
        int near = patient_lexicon_near(k->stem, u->stem);
        if (near && (near != NEAR_SUBSTITUTION || strlen(u->stem) >= NEAR_SUBSTITUTION_MIN))
            return 0.8;
    }
    return 0.0;
}

/* The trigger's tokens in order inside the clause, with at most PHRASE_GAP extra words. */
static int phrase_at(const pm_trigger *tr, const pt_token *u, size_t m, pm_hit *h)
{
    for (size_t p = 0; p < m; p++) {
        if (degree(&tr->tok[0], &u[p]) <= 0.0)
            continue;
        size_t pos = p, gaps = 0, k = 1;
        size_t at[PM_MAX_POS] = {p};
        while (k < tr->n) {
            size_t q = pos + 1;
            while (q < m && q <= pos + 1 + (PHRASE_GAP - gaps) && degree(&tr->tok[k], &u[q]) <= 0.0)
                q++;
            if (q >= m || q > pos + 1 + (PHRASE_GAP - gaps))
                break;
            gaps += q - pos - 1;
            if (k < PM_MAX_POS)
                at[k] = q;
            pos = q;
            k++;
        }
        if (k == tr->n) {
            if (h) {
                h->npos = tr->n < PM_MAX_POS ? tr->n : PM_MAX_POS;
                memcpy(h->pos, at, h->npos * sizeof(at[0]));
                memset(h->topic, 1, h->npos); /* a weak trigger claims all its words */
            }
            return 1;
        }
    }
    return 0;
}

/* Scores one trigger against the clause; 0 when it does not fire. */
static double score_trigger(const pm_trigger *tr, const pt_token *u, size_t m, pm_hit *h)
{
    if (tr->weak) {
        if (!phrase_at(tr, u, m, h))
            return 0.0;
        double frames = 0.0;
        for (size_t k = 0; k < tr->n; k++)
            frames += tr->tok[k].tier == LEX_FRAME;
        return 0.3 + FRAME_WEIGHT * frames + 0.01 * (double)tr->n;
    }
    double content = 0.0, frames = 0.0;
    size_t nframe = 0, frames_hit = 0, npos = 0;
    size_t pos[PM_MAX_POS] = {0};
    unsigned char topic[PM_MAX_POS] = {0};
    for (size_t k = 0; k < tr->n; k++) {
        const pt_token *tk = &tr->tok[k];
        if (tk->tier == LEX_STOP)
            continue;
        double best = 0.0;
        size_t at = 0;
        for (size_t j = 0; j < m; j++) {
            double d = degree(tk, &u[j]);
            if (d > best) {
                best = d;
                at = j;
            }
        }
        if (tk->tier == LEX_CONTENT) {
            if (best <= 0.0)
                return 0.0;
            content += best;
        } else {
            nframe++;
            frames += best;
            frames_hit += best > 0.0;
        }
        if (best > 0.0 && npos < PM_MAX_POS) {
            topic[npos] = tk->tier == LEX_CONTENT;
            pos[npos++] = at;
        }
    }
    if (nframe && frames_hit * 2 < nframe)
        return 0.0;
    double score = content + FRAME_WEIGHT * frames + 0.01 * (double)tr->n;
    if (phrase_at(tr, u, m, NULL))
        score += PHRASE_BONUS;
    h->npos = npos;
    memcpy(h->pos, pos, npos * sizeof(pos[0]));
    memcpy(h->topic, topic, npos);
    return score;
}

static int cmp_hit(const void *a, const void *b)
{
    const pm_hit *x = a, *y = b;
    if (x->weak != y->weak)
        return x->weak - y->weak;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->fact < y->fact ? -1 : x->fact > y->fact;
}

static int cmp_first(const void *a, const void *b)
{
    const pm_hit *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->fact < y->fact ? -1 : x->fact > y->fact;
}

size_t patient_match_clause(const pm_index *ix, const pt_text *t, const pt_clause *cl, pm_hit *hits,
                            size_t max)
{
    const pt_token *u = t->tok + cl->t0;
    size_t m = cl->t1 - cl->t0;
    if (!m || !max || !ix->nfact)
        return 0;
    pm_hit *cand = calloc(ix->nfact, sizeof(*cand));
    unsigned char *claimed = calloc(m, 1);
    size_t ncand = 0, nhits = 0;
    if (!cand || !claimed)
        goto out;
    for (size_t f = 0; f < ix->nfact; f++) {
        pm_hit best = {0};
        for (size_t k = 0; k < ix->fact[f].ntrig; k++) {
            pm_hit h = {0};
            double s = score_trigger(&ix->fact[f].trig[k], u, m, &h);
            if (s > best.score) {
                best = h;
                best.score = s;
                best.trigger = k;
                best.weak = ix->fact[f].trig[k].weak;
            }
        }
        if (best.score > 0.0) {
            best.fact = f;
            best.first = m;
            for (size_t p = 0; p < best.npos; p++)
                if (best.pos[p] < best.first)
                    best.first = best.pos[p];
            cand[ncand++] = best;
        }
    }
    qsort(cand, ncand, sizeof(*cand), cmp_hit);
    int strong = 0, weak = 0;
    for (size_t i = 0; i < ncand && nhits < max; i++) {
        pm_hit *h = &cand[i];
        /* Frame-only phrases ("tell me about", "what do you think") say how the candidate asks
         * more than what about: one at most, and none when a topic word fired a fact. */
        if (h->weak && (strong || weak))
            continue;
        /* It must bring at least one topic word (any word, for a weak one) not yet claimed. */
        int fresh = 0;
        for (size_t p = 0; p < h->npos; p++)
            fresh |= h->topic[p] && !claimed[h->pos[p]];
        if (!fresh)
            continue;
        for (size_t p = 0; p < h->npos; p++)
            if (h->topic[p])
                claimed[h->pos[p]] = 1;
        strong |= !h->weak;
        weak |= h->weak;
        hits[nhits++] = *h;
    }
    qsort(hits, nhits, sizeof(*hits), cmp_first);
out:
    free(cand);
    free(claimed);
    return nhits;
}
