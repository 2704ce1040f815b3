/* Task coverage: each of the card's expected tasks is covered when at least two of its evidence
 * phrases (one for a task with fewer than three) turn up in what the candidate said. Phrases
 * match on stems of their content words inside one sentence, so "what does he usually drink"
 * also finds "What does Zayn usually like to drink?" (a phrase of four or more content words may
 * miss one, never its first). Coverage is reported, never scored: OET
 * does not penalise unfinished tasks in themselves. */
#include "services/ai/scorer_internal.h"

#include <string.h>

#define MAX_TASK_EVIDENCE 3

typedef struct {
    const char **stems;
    size_t n;
    size_t need;
} phrase_pattern;

static int pattern_build(sc_ctx *c, const char *phrase, phrase_pattern *p)
{
    const char **w;
    size_t n = scorer_tokenize_words(c->a, phrase, &w);
    p->stems = arena_alloc(c->a, (n + 1) * sizeof(*p->stems));
    p->n = 0;
    if (!p->stems)
        return -1;
    size_t content = 0;
    for (size_t i = 0; i < n; i++)
        content += !scorer_is_stopword(w[i]);
    for (size_t i = 0; i < n; i++) {
        if (content > 0 && scorer_is_stopword(w[i]))
            continue;
        const char *st = scorer_stem(c->a, w[i]);
        if (!st)
            return -1;
        p->stems[p->n++] = st;
    }
    /* all the words of a short phrase; one may be missing from a long one, but never the first
     * ("what do you know about high blood pressure" needs "know") */
    p->need = p->n <= 3 ? p->n : p->n - 1;
    return 0;
}

/* The first candidate sentence holding enough of the pattern's stems, or 0. */
static int pattern_find(const sc_ctx *c, const phrase_pattern *p, sc_ref *at)
{
    if (p->n == 0)
        return 0;
    for (size_t ti = 0; ti < c->nturns; ti++) {
        const sc_turn *t = &c->turns[ti];
        if (!t->candidate)
            continue;
        for (size_t s = 0; s < t->nsent; s++) {
            size_t hits = 0;
            int head = 0;
            for (size_t j = 0; j < p->n; j++)
                for (size_t k = t->sent[s].t0; k < t->sent[s].t1; k++)
                    if (strcmp(t->tok[k].stem, p->stems[j]) == 0) {
                        hits++;
                        head |= j == 0;
                        break;
                    }
            if (hits >= p->need && head) {
                *at = (sc_ref){ti, s};
                return 1;
            }
        }
    }
    return 0;
}

json_t *scorer_tasks_report(sc_ctx *c)
{
    json_t *out = json_array();
    if (!out)
        return NULL;
    const json_t *tasks = json_object_get(c->pcard, "expected_tasks");
    size_t i;
    const json_t *task;
    json_array_foreach(tasks, i, task)
    {
        const char *desc = json_string_value(json_object_get(task, "description"));
        const json_t *phrases = json_object_get(task, "evidence_phrases");
        if (!desc)
            continue;
        size_t np = json_array_size(phrases), matched = 0;
        json_t *ev = json_array();
        if (!ev)
            goto oom;
        for (size_t k = 0; k < np; k++) {
            const char *ph = json_string_value(json_array_get(phrases, k));
            if (!ph)
                continue;
            phrase_pattern p;
            sc_ref at;
            if (pattern_build(c, ph, &p)) {
                json_decref(ev);
                goto oom;
            }
            if (!pattern_find(c, &p, &at))
                continue;
            matched++;
            int dup = 0;
            size_t e;
            json_t *item;
            json_array_foreach(ev, e, item)
            {
                if (json_integer_value(json_object_get(item, "turn")) == c->turns[at.turn].n &&
                    strcmp(json_string_value(json_object_get(item, "quote")),
                           scorer_quote(c, at)) == 0)
                    dup = 1;
            }
            if (!dup && json_array_size(ev) < MAX_TASK_EVIDENCE)
                json_array_append_new(ev, json_pack("{s:i, s:s}", "turn", c->turns[at.turn].n,
                                                    "quote", scorer_quote(c, at)));
        }
        int covered = matched >= 2 || (np < 3 && matched >= 1);
        json_t *row =
            json_pack("{s:s, s:b, s:o}", "task", desc, "covered", covered, "evidence", ev);
        if (!row || json_array_append_new(out, row))
            goto oom;
    }
    return out;
oom:
    json_decref(out);
    return NULL;
}
