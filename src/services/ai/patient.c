/* The scripted patient engine (the default behind patient.h): plays a patient card by matching
 * each candidate utterance to the card's facts (patient_match), recognising conversational
 * moves (patient_moves) and answering in the persona's words (patient_lines), raising the
 * card's cues on time or after their topic. Deterministic: every choice between equivalent
 * phrasings draws from a PRNG keyed by the session seed and a draw counter kept in the state.
 * See docs/internals/patient.md. */
#include "services/ai/patient.h"

#include "core/arena.h"
#include "core/buf.h"
#include "services/ai/patient_lexicon.h"
#include "services/ai/patient_lines.h"
#include "services/ai/patient_match.h"
#include "services/ai/patient_moves.h"
#include "services/ai/patient_text.h"
#include "services/ai/safety.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_VERSION 1
#define MAX_FACTS 64            /* the content validator allows 60 */
#define MAX_CUES 32             /* 30 */
#define MAX_CONCERNS 8          /* 8 */
#define HISTORY_MAX 6           /* line hashes kept: the last reply and its lines */
#define MAX_ANSWERS 4           /* facts in one reply */
#define EXPL_MAX 400            /* bytes of the last explanation kept for a teach-back */
#define REPLY_MAX 4096          /* bytes of one reply */
#define LINE_MAX 1024           /* bytes of one line (a card line is at most 400 characters) */
#define SILENCE_PROMPT_MS 20000 /* patient_idle asks "are you still there?" after this */

typedef struct pstate {
    unsigned char given[MAX_FACTS];
    unsigned char cue_raised[MAX_CUES];
    unsigned char concern_voiced[MAX_CONCERNS];
    uint32_t lines[HISTORY_MAX];
    size_t nlines;
    json_int_t turns;
    json_int_t draws;
    json_int_t t_last;
    uint32_t generic_used;
    int closed;
    char expl[EXPL_MAX + 1];
} pstate;

typedef struct card {
    const json_t *pc;
    const json_t *facts;
    const json_t *cues;
    size_t ncues;
    const json_t *concerns;
    size_t nconcerns;
    const char *name, *gender, *closing;
    json_int_t age;
    enum patient_mood mood;
    char *text; /* every line of the card, for telling names from common words */
} card;

typedef struct reply {
    buf text;
    const char *kind;
    json_t *topics, *cues, *concerns, *repeated, *moves;
    uint32_t seg[8];
    size_t nseg;
    int cue_added;      /* a cue or a concern is already in this reply */
    const char *safety; /* why the utterance was not answered ("abuse", "injection"), or NULL */
} reply;

typedef struct turn {
    const patient_context *ctx;
    card *c;
    pstate *st;
    reply *r;
    arena *a;
} turn;

/* ---- small helpers ------------------------------------------------------------------------ */

/* Copies src into dst (cap bytes), cut to fit and always terminated. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t n = strnlen(src, cap - 1);
    memmove(dst, src, n);
    dst[n] = '\0';
}

static uint64_t splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The next draw: a pure function of the seed and how many draws came before. */
static uint64_t draw(turn *t)
{
    uint64_t d = splitmix64(t->ctx->seed ^ splitmix64((uint64_t)t->st->draws));
    t->st->draws++;
    return d;
}

static uint32_t line_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static int in_history(const pstate *st, uint32_t h)
{
    for (size_t i = 0; i < st->nlines; i++)
        if (st->lines[i] == h)
            return 1;
    return 0;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Fills {name}, {first}, {age}, {p} and {P} in a stock phrasing. */
static void fill(char *out, size_t cap, const char *tmpl, const char *name, const char *first,
                 const char *age, const char *p)
{
    size_t n = 0;
    if (!cap)
        return;
    for (const char *s = tmpl; *s && n + 1 < cap;) {
        const char *val = NULL;
        size_t skip = 0;
        int upper = 0;
        if (!strncmp(s, "{name}", 6))
            val = name, skip = 6;
        else if (!strncmp(s, "{first}", 7))
            val = first, skip = 7;
        else if (!strncmp(s, "{age}", 5))
            val = age, skip = 5;
        else if (!strncmp(s, "{p}", 3))
            val = p, skip = 3;
        else if (!strncmp(s, "{P}", 3))
            val = p, skip = 3, upper = 1;
        if (!skip) {
            out[n++] = *s++;
            continue;
        }
        size_t start = n;
        for (const char *v = val ? val : ""; *v && n + 1 < cap; v++)
            out[n++] = *v;
        if (upper && n > start)
            out[start] = (char)toupper((unsigned char)out[start]);
        s += skip;
    }
    out[n] = '\0';
}

/* ---- the card ----------------------------------------------------------------------------- */

static int card_load(const patient_context *ctx, arena *a, card *c)
{
    memset(c, 0, sizeof(*c));
    c->pc = ctx->patient_card;
    if (!json_is_object(c->pc))
        return -1;
    c->facts = json_object_get(c->pc, "facts");
    c->cues = json_object_get(c->pc, "cues");
    c->ncues = json_is_array(c->cues) ? json_array_size(c->cues) : 0;
    if (c->ncues > MAX_CUES)
        c->ncues = MAX_CUES;
    c->concerns = json_object_get(c->pc, "concerns");
    c->nconcerns = json_is_array(c->concerns) ? json_array_size(c->concerns) : 0;
    if (c->nconcerns > MAX_CONCERNS)
        c->nconcerns = MAX_CONCERNS;
    c->name = jstr(c->pc, "name");
    c->gender = jstr(c->pc, "gender");
    c->closing = jstr(c->pc, "closing_line");
    c->age = json_integer_value(json_object_get(c->pc, "age"));
    c->mood = patient_lines_mood(jstr(c->pc, "persona"));
    /* The card's own sentences, to tell a name ("Maureen") from a common word ("About"). */
    buf b;
    buf_init(&b, (size_t)64 * 1024);
    const char *keys[] = {"background", "closing_line", "name"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const char *s = jstr(c->pc, keys[i]);
        if (s && (buf_puts(&b, s) || buf_puts(&b, " ")))
            break;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(c->facts, i, v)
    {
        const char *s = jstr(v, "answer");
        if (s && (buf_puts(&b, s) || buf_puts(&b, " ")))
            break;
    }
    json_array_foreach(c->cues, i, v)
    {
        const char *s = jstr(v, "line");
        if (s && (buf_puts(&b, s) || buf_puts(&b, " ")))
            break;
    }
    c->text = arena_strdup(a, b.ptr ? b.ptr : "");
    buf_free(&b);
    return c->text ? 0 : -1;
}

static int fact_index(const card *c, const char *topic)
{
    size_t n = json_is_array(c->facts) ? json_array_size(c->facts) : 0;
    for (size_t i = 0; i < n && i < MAX_FACTS; i++) {
        const char *t = jstr(json_array_get(c->facts, i), "topic");
        if (t && topic && !strcmp(t, topic))
            return (int)i;
    }
    return -1;
}

static const json_t *cue_when(const card *c, size_t i)
{
    return json_object_get(json_array_get(c->cues, i), "when");
}

static const char *cue_line(const card *c, size_t i)
{
    return jstr(json_array_get(c->cues, i), "line");
}

/* ---- the state ---------------------------------------------------------------------------- */

static void mark_indexes(const json_t *arr, unsigned char *flags, size_t max)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        json_int_t k = json_integer_value(v);
        if (json_is_integer(v) && k >= 0 && (size_t)k < max)
            flags[k] = 1;
    }
}

static int state_load(const json_t *state, const card *c, pstate *st)
{
    memset(st, 0, sizeof(*st));
    if (!json_is_object(state))
        return -1;
    const json_t *v = json_object_get(state, "v");
    if (v && json_integer_value(v) != STATE_VERSION)
        return -1;
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(state, "given"), i, x)
    {
        int f = fact_index(c, json_string_value(x));
        if (f >= 0)
            st->given[f] = 1;
    }
    mark_indexes(json_object_get(state, "cues_raised"), st->cue_raised, MAX_CUES);
    mark_indexes(json_object_get(state, "concerns_voiced"), st->concern_voiced, MAX_CONCERNS);
    json_array_foreach(json_object_get(state, "last_lines"), i, x)
    {
        if (st->nlines < HISTORY_MAX && json_is_integer(x))
            st->lines[st->nlines++] = (uint32_t)json_integer_value(x);
    }
    st->turns = json_integer_value(json_object_get(state, "turns"));
    st->draws = json_integer_value(json_object_get(state, "rng"));
    st->t_last = json_integer_value(json_object_get(state, "t"));
    st->generic_used = (uint32_t)json_integer_value(json_object_get(state, "gq"));
    st->closed = json_is_true(json_object_get(state, "closed"));
    const char *e = json_string_value(json_object_get(state, "expl"));
    copy_str(st->expl, sizeof(st->expl), e ? e : "");
    return 0;
}

static json_t *flag_array(const unsigned char *flags, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (flags[i] && json_array_append_new(a, json_integer((json_int_t)i)))
            break;
    return a;
}

static int state_save(json_t *state, const card *c, const pstate *st)
{
    json_t *given = json_array();
    json_t *lines = json_array();
    if (!given || !lines) {
        json_decref(given);
        json_decref(lines);
        return -1;
    }
    size_t nf = json_is_array(c->facts) ? json_array_size(c->facts) : 0;
    for (size_t i = 0; i < nf && i < MAX_FACTS; i++)
        if (st->given[i])
            json_array_append_new(given, json_string(jstr(json_array_get(c->facts, i), "topic")));
    for (size_t i = 0; i < st->nlines; i++)
        json_array_append_new(lines, json_integer(st->lines[i]));
    int rc = 0;
    rc |= json_object_set_new(state, "v", json_integer(STATE_VERSION));
    rc |= json_object_set_new(state, "given", given);
    rc |= json_object_set_new(state, "cues_raised", flag_array(st->cue_raised, MAX_CUES));
    rc |=
        json_object_set_new(state, "concerns_voiced", flag_array(st->concern_voiced, MAX_CONCERNS));
    rc |= json_object_set_new(state, "last_lines", lines);
    rc |= json_object_set_new(state, "turns", json_integer(st->turns));
    rc |= json_object_set_new(state, "rng", json_integer(st->draws));
    rc |= json_object_set_new(state, "t", json_integer(st->t_last));
    rc |= json_object_set_new(state, "gq", json_integer(st->generic_used));
    rc |= json_object_set_new(state, "expl", json_string(st->expl));
    rc |= json_object_set_new(state, "closed", json_boolean(st->closed));
    return rc ? -1 : 0;
}

/* ---- building a reply --------------------------------------------------------------------- */

static int reply_init(reply *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->text, REPLY_MAX);
    r->kind = "none";
    r->topics = json_array();
    r->cues = json_array();
    r->concerns = json_array();
    r->repeated = json_array();
    r->moves = json_array();
    return r->topics && r->cues && r->concerns && r->repeated && r->moves ? 0 : -1;
}

static void reply_cleanup(reply *r)
{
    buf_free(&r->text);
    json_decref(r->topics);
    json_decref(r->cues);
    json_decref(r->concerns);
    json_decref(r->repeated);
    json_decref(r->moves);
}

/* Appends one line (a sentence or a few) to the reply, with a space between lines. */
static void say(reply *r, const char *line)
{
    if (!line || !*line)
        return;
    if (r->text.len && buf_puts(&r->text, " "))
        return;
    if (buf_puts(&r->text, line))
        return;
    if (r->nseg < ARRAY_LEN(r->seg))
        r->seg[r->nseg++] = line_hash(line);
}

static int used_in_reply(const reply *r, uint32_t h)
{
    for (size_t i = 0; i < r->nseg; i++)
        if (r->seg[i] == h)
            return 1;
    return 0;
}

typedef struct fills {
    char name[128], first[64], age[24];
} fills;

static void card_fills(const card *c, fills *f)
{
    memset(f, 0, sizeof(*f));
    if (c->name) {
        copy_str(f->name, sizeof(f->name), c->name);
        snprintf(f->first, sizeof(f->first), "%.*s", (int)strcspn(c->name, " "), c->name);
    }
    if (c->age > 0)
        snprintf(f->age, sizeof(f->age), "%lld", (long long)c->age);
}

/* Picks one phrasing of a bank, not said in the last reply nor earlier in this one: a seeded
 * start, then the first fresh one. body (may be NULL) fills {p}, or follows the phrasing in the
 * same line ("Like I said, " + the answer). */
static void pick_with(turn *t, enum patient_bank bank, const fills *f, const char *body, char *out,
                      size_t cap)
{
    const char *const *v = patient_lines_bank(bank, t->c->mood);
    size_t n = 0;
    while (v[n])
        n++;
    if (!n) { /* every bank has phrasings; this keeps a broken table from dividing by zero */
        copy_str(out, cap, body ? body : "");
        return;
    }
    size_t start = (size_t)(draw(t) % n);
    char line[LINE_MAX];
    for (size_t k = 0; k < n; k++) {
        const char *tmpl = v[(start + k) % n];
        fill(line, sizeof(line), tmpl, f->name, f->first, f->age, body);
        if (body && !strstr(tmpl, "{p}") && !strstr(tmpl, "{P}")) {
            size_t len = strlen(line);
            copy_str(line + len, sizeof(line) - len, body);
        }
        uint32_t h = line_hash(line);
        if (!in_history(t->st, h) && !used_in_reply(t->r, h))
            break;
    }
    copy_str(out, cap, line);
}

static void pick(turn *t, enum patient_bank bank, const char *body, char *out, size_t cap)
{
    fills f;
    card_fills(t->c, &f);
    pick_with(t, bank, &f, body, out, cap);
}

static void say_pick(turn *t, enum patient_bank bank, const char *body)
{
    char line[LINE_MAX];
    pick(t, bank, body, line, sizeof(line));
    say(t->r, line);
}

/* s after a lead-in: its first letter lowered unless it is "I" or a name. */
static void after_lead(const card *c, const char *s, char *out, size_t cap)
{
    copy_str(out, cap, s);
    if (out[0] && patient_lines_lowerable(out, c->text))
        out[0] = (char)tolower((unsigned char)out[0]);
}

static void add_cue(turn *t, size_t i)
{
    t->st->cue_raised[i] = 1;
    say(t->r, cue_line(t->c, i));
    json_array_append_new(t->r->cues, json_integer((json_int_t)i));
    t->r->cue_added = 1;
}

/* The on_start cues not raised yet. */
static int raise_on_start(turn *t)
{
    int n = 0;
    for (size_t i = 0; i < t->c->ncues; i++) {
        if (!t->st->cue_raised[i] && json_is_true(json_object_get(cue_when(t->c, i), "on_start"))) {
            add_cue(t, i);
            n++;
        }
    }
    return n;
}

/* The earliest after_seconds cue that is due and not raised yet, or -1. */
static int due_cue(const turn *t, int64_t elapsed_ms)
{
    int best = -1;
    json_int_t best_s = 0;
    for (size_t i = 0; i < t->c->ncues; i++) {
        const json_t *s = json_object_get(cue_when(t->c, i), "after_seconds");
        if (t->st->cue_raised[i] || !json_is_integer(s))
            continue;
        json_int_t secs = json_integer_value(s);
        if (secs * 1000 <= elapsed_ms && (best < 0 || secs < best_s)) {
            best = (int)i;
            best_s = secs;
        }
    }
    return best;
}

/* A question cue the patient may ask early, when it has something to ask: not tied to a topic,
 * not raised yet; the one due soonest. */
static int question_cue(const turn *t)
{
    int best = -1;
    json_int_t best_s = 0;
    for (size_t i = 0; i < t->c->ncues; i++) {
        const json_t *cue = json_array_get(t->c->cues, i);
        const json_t *s = json_object_get(cue_when(t->c, i), "after_seconds");
        const char *kind = jstr(cue, "kind");
        if (t->st->cue_raised[i] || !json_is_integer(s) || !kind || strcmp(kind, "question") != 0)
            continue;
        if (best < 0 || json_integer_value(s) < best_s) {
            best = (int)i;
            best_s = json_integer_value(s);
        }
    }
    return best;
}

/* Voices the next concern not voiced yet after a lead-in bank; 0 when none is left. */
static int voice_concern(turn *t, enum patient_bank lead)
{
    for (size_t i = 0; i < t->c->nconcerns; i++) {
        if (t->st->concern_voiced[i])
            continue;
        const char *raw = json_string_value(json_array_get(t->c->concerns, i));
        if (!raw)
            continue;
        char first[LINE_MAX], body[LINE_MAX];
        patient_lines_first_person(raw, t->c->gender, first, sizeof(first));
        if (!first[0])
            continue;
        after_lead(t->c, first, body, sizeof(body));
        say_pick(t, lead, body);
        t->st->concern_voiced[i] = 1;
        json_array_append_new(t->r->concerns, json_integer((json_int_t)i));
        t->r->cue_added = 1;
        return 1;
    }
    return 0;
}

/* Something the patient asks next: a question cue, else a concern, else a generic question
 * fitting the last explanation. 0 when the patient has nothing left to raise. */
static int follow_up(turn *t, enum patient_bank concern_lead)
{
    int q = question_cue(t);
    if (q >= 0) {
        add_cue(t, (size_t)q);
        return 1;
    }
    if (voice_concern(t, concern_lead))
        return 1;
    const char *line;
    int g = patient_lines_generic_question(t->st->expl, t->st->generic_used, &line);
    if (g >= 0) {
        t->st->generic_used |= 1u << g;
        say(t->r, line);
        return 1;
    }
    return 0;
}

static int has_follow_up(const turn *t)
{
    if (question_cue(t) >= 0)
        return 1;
    for (size_t i = 0; i < t->c->nconcerns; i++)
        if (!t->st->concern_voiced[i])
            return 1;
    const char *line;
    return patient_lines_generic_question(t->st->expl, t->st->generic_used, &line) >= 0;
}

/* ---- answering ---------------------------------------------------------------------------- */

/* "Dr Patel" from "Hello, I'm Dr Patel" (any case), or "". */
static void doctor_name(const char *u, char *out, size_t cap)
{
    static const char *const not_names[] = {"here",  "and", "the", "i",  "one",   "from",   "at",
                                            "in",    "on",  "who", "is", "am",    "a",      "an",
                                            "today", "so",  "to",  "of", "will",  "said",   "says",
                                            "told",  "has", "was", "or", "nurse", "doctor", NULL};
    out[0] = '\0';
    char prev[48] = "";
    for (const char *p = u; *p;) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        char w[48];
        size_t n = 0;
        while (*p && (isalpha((unsigned char)*p) || *p == '-')) {
            if (n < sizeof(w) - 1)
                w[n++] = *p;
            p++;
        }
        w[n] = '\0';
        if (!n)
            break;
        char lw[48];
        for (size_t i = 0; i <= n; i++)
            lw[i] = (char)tolower((unsigned char)w[i]);
        if ((!strcmp(prev, "dr") || !strcmp(prev, "doctor")) && n >= 2 &&
            !patient_text_in(lw, not_names)) {
            w[0] = (char)toupper((unsigned char)w[0]);
            snprintf(out, cap, "Dr %s", w);
            return;
        }
        copy_str(prev, sizeof(prev), lw);
    }
}

static void answer_identity(turn *t, const pt_text *x, const pt_clause *cl)
{
    int call = 0, age = 0;
    for (size_t i = cl->w0; i < cl->w1; i++) {
        call |= !strcmp(x->word[i], "call") || !strcmp(x->word[i], "called");
        age |= !strcmp(x->word[i], "old") || !strcmp(x->word[i], "age") ||
               !strcmp(x->word[i], "birth");
    }
    int name = !call && !age;
    for (size_t i = cl->w0; i < cl->w1; i++)
        name |= !strcmp(x->word[i], "name") || !strcmp(x->word[i], "speaking") ||
                !strcmp(x->word[i], "talking") || !strcmp(x->word[i], "mr") ||
                !strcmp(x->word[i], "mrs") || !strcmp(x->word[i], "ms");
    if (call && t->c->name)
        say_pick(t, BANK_CALL_ME, NULL);
    else if (name && t->c->name)
        say_pick(t, BANK_IDENTITY, NULL);
    if (age && t->c->age > 0)
        say_pick(t, BANK_IDENTITY_AGE, NULL);
}

/* Keeps the words of the candidate's explanation for a later teach-back. */
static void remember_explanation(pstate *st, const pt_text *x, const unsigned *moves)
{
    char buf_[EXPL_MAX * 2 + 2] = "";
    size_t n = 0;
    for (size_t c = 0; c < x->nclauses; c++) {
        if (!(moves[c] & MV_EXPLANATION))
            continue;
        const pt_clause *cl = &x->clause[c];
        if (n && n + 3 < sizeof(buf_)) {
            memcpy(buf_ + n, " | ", 3);
            n += 3;
        }
        for (size_t i = cl->w0; i < cl->w1; i++) {
            size_t k = strlen(x->word[i]);
            if (n + k + 2 >= sizeof(buf_))
                break;
            if (i > cl->w0)
                buf_[n++] = ' ';
            memcpy(buf_ + n, x->word[i], k);
            n += k;
        }
    }
    buf_[n] = '\0';
    if (!n)
        return;
    /* Keep the end: the most recent words are what a teach-back asks about. */
    const char *keep = n > EXPL_MAX ? buf_ + n - EXPL_MAX : buf_;
    while (keep > buf_ && *keep != ' ')
        keep++;
    copy_str(st->expl, sizeof(st->expl), keep[0] == ' ' ? keep + 1 : keep);
}

static void answer_facts(turn *t, const pm_index *ix, const pm_hit *hits, size_t nhits)
{
    int joined = 0;
    for (size_t h = 0; h < nhits; h++) {
        size_t f = hits[h].fact;
        const char *topic = ix->fact[f].topic;
        const char *answer = ix->fact[f].answer;
        int fi = fact_index(t->c, topic);
        char line[LINE_MAX], body[LINE_MAX];
        if (fi >= 0 && t->st->given[fi]) {
            after_lead(t->c, answer, body, sizeof(body));
            pick(t, BANK_RESTATE, body, line, sizeof(line));
            json_array_append_new(t->r->repeated, json_string(topic));
        } else if (joined && patient_lines_lowerable(answer, t->c->text)) {
            after_lead(t->c, answer, body, sizeof(body));
            pick(t, BANK_JOIN, body, line, sizeof(line));
        } else {
            copy_str(line, sizeof(line), answer);
        }
        say(t->r, line);
        joined = 1;
        json_array_append_new(t->r->topics, json_string(topic));
        if (fi < 0 || t->st->given[fi])
            continue;
        t->st->given[fi] = 1;
        /* Its after_topic cues come right after the answer. */
        for (size_t i = 0; i < t->c->ncues; i++) {
            const char *after = jstr(cue_when(t->c, i), "after_topic");
            if (!t->st->cue_raised[i] && after && !strcmp(after, topic))
                add_cue(t, i);
        }
    }
}

static void answer_teachback(turn *t, const pt_text *x, const pt_clause *cl)
{
    char focus[512] = "", p[LINE_MAX];
    size_t n = 0;
    for (size_t i = cl->w0; i < cl->w1 && n + LEX_WORD_MAX + 1 < sizeof(focus); i++)
        n += (size_t)snprintf(focus + n, sizeof(focus) - n, "%s ", x->word[i]);
    if (patient_lines_paraphrase(t->st->expl, focus, p, sizeof(p)))
        say_pick(t, BANK_TEACHBACK, p);
    else
        say_pick(t, BANK_TEACHBACK_NONE, NULL);
}

/* A turn without a fact to give: the move that matters most decides the reply. */
static void answer_move(turn *t, unsigned moves, int greeted, int64_t elapsed_ms)
{
    reply *r = t->r;
    if (moves & MV_CHECK) {
        r->kind = "check";
        if (has_follow_up(t)) {
            say_pick(t, BANK_CHECK_LEAD, NULL);
            (void)follow_up(t, BANK_FOLLOWUP_LEAD);
        } else {
            say_pick(t, BANK_CHECK_YES, NULL);
        }
    } else if (moves & MV_CONCERNS) {
        r->kind = "concerns";
        if (!voice_concern(t, BANK_CONCERN_LEAD)) {
            /* Nothing new to confide: a question or a due cue rather than "that's all" and
             * then a cue that contradicts it. */
            int q = question_cue(t);
            if (q < 0)
                q = due_cue(t, elapsed_ms);
            if (q >= 0)
                add_cue(t, (size_t)q);
            else
                say_pick(t, BANK_NO_CONCERNS, NULL);
        }
    } else if (moves & MV_PERMISSION) {
        r->kind = "permission";
        say_pick(t, BANK_PERMISSION, NULL);
    } else if (moves & MV_EMPATHY) {
        r->kind = "empathy";
        say_pick(t, BANK_EMPATHY, NULL);
        voice_concern(t, BANK_CONCERN_LEAD);
    } else if (moves & MV_FAREWELL) {
        r->kind = "farewell";
        say_pick(t, BANK_FAREWELL, NULL);
    } else if (moves & MV_EXPLANATION) {
        r->kind = "explanation";
        say_pick(t, BANK_EXPLAIN_ACK, NULL);
        follow_up(t, BANK_FOLLOWUP_LEAD);
    } else if (greeted) {
        return; /* "Hello, I'm Dr Patel." needs nothing more than a greeting back */
    } else if (moves & MV_PURPOSE) {
        r->kind = "purpose";
        say_pick(t, BANK_PURPOSE, NULL);
    } else if (moves & MV_THANKS) {
        r->kind = "thanks";
        say_pick(t, BANK_THANKS, NULL);
    } else if (moves & MV_ACK) {
        r->kind = "ack";
        say_pick(t, BANK_ACK, NULL);
    } else {
        r->kind = "clarify";
        say_pick(t, BANK_CLARIFY, NULL);
    }
}

static void answer_turn(turn *t, const char *utterance, int64_t elapsed_ms)
{
    reply *r = t->r;
    pt_text x;
    if (patient_text_parse(patient_lexicon_get(), t->a, utterance, PT_SPLIT | PT_FUZZY, &x))
        return;
    if (!x.nwords) {
        /* Nothing said: a due cue if there is one, else "are you still there?" */
        if (!raise_on_start(t)) {
            int d = due_cue(t, elapsed_ms);
            if (d >= 0)
                add_cue(t, (size_t)d);
        }
        if (r->text.len) {
            r->kind = "cue";
        } else {
            r->kind = "silence";
            say_pick(t, BANK_SILENCE, NULL);
        }
        return;
    }
    pm_index ix;
    if (patient_match_index(patient_lexicon_get(), t->a, t->c->facts, &ix))
        return;
    unsigned moves[PT_MAX_CLAUSES] = {0}, all = 0;
    pm_hit hits[MAX_ANSWERS];
    size_t nhits = 0;
    for (size_t c = 0; c < x.nclauses; c++) {
        moves[c] = patient_moves_clause(&x, &x.clause[c]);
        all |= moves[c];
    }
    for (unsigned b = 0; b < MV_COUNT; b++)
        if (all & (1u << b))
            json_array_append_new(r->moves, json_string(patient_move_name(1u << b)));
    /* Facts: from the clauses that ask, except pleasantries, introductions, summaries and
     * teach-backs, which name topics without asking about them. */
    unsigned no_facts =
        MV_HOWAREYOU | MV_INTRO | MV_PURPOSE | MV_SUMMARY | MV_TEACHBACK | MV_IDENTITY;
    if (!(all & MV_TEACHBACK)) {
        for (size_t c = 0; c < x.nclauses && nhits < MAX_ANSWERS; c++) {
            if (!(moves[c] & MV_ASKING) || (moves[c] & no_facts))
                continue;
            if (moves[c] & MV_PERMISSION) {
                int questions = 0;
                for (size_t i = x.clause[c].w0; i < x.clause[c].w1; i++)
                    questions |= !strcmp(x.word[i], "questions");
                if (questions)
                    continue;
            }
            pm_hit h[MAX_ANSWERS];
            size_t k = patient_match_clause(&ix, &x, &x.clause[c], h, MAX_ANSWERS);
            for (size_t i = 0; i < k && nhits < MAX_ANSWERS; i++) {
                int dup = 0;
                for (size_t j = 0; j < nhits; j++)
                    dup |= hits[j].fact == h[i].fact;
                if (!dup)
                    hits[nhits++] = h[i];
            }
        }
    }
    remember_explanation(t->st, &x, moves);

    int greeted = 0;
    if (all & (MV_GREETING | MV_INTRO)) {
        char name[80];
        doctor_name(utterance, name, sizeof(name));
        if (name[0]) {
            fills f;
            card_fills(t->c, &f);
            copy_str(f.name, sizeof(f.name), name);
            char line[LINE_MAX];
            pick_with(t, BANK_HELLO_NAME, &f, NULL, line, sizeof(line));
            say(r, line);
        } else {
            say_pick(t, BANK_HELLO, NULL);
        }
        greeted = 1;
        r->kind = "greeting";
    }
    if (all & MV_HOWAREYOU) {
        say_pick(t, BANK_HOWAREYOU, NULL);
        greeted = 1;
        r->kind = "greeting";
    }
    if (all & MV_IDENTITY) {
        for (size_t c = 0; c < x.nclauses; c++)
            if (moves[c] & MV_IDENTITY)
                answer_identity(t, &x, &x.clause[c]);
        r->kind = "identity";
        greeted = 1;
    }
    if (all & MV_TEACHBACK) {
        r->kind = "teach_back";
        for (size_t c = 0; c < x.nclauses; c++)
            if (moves[c] & MV_TEACHBACK) {
                answer_teachback(t, &x, &x.clause[c]);
                break;
            }
    } else if (all & MV_SUMMARY) {
        say_pick(t, BANK_SUMMARY, NULL);
        r->kind = "summary";
        if (nhits) {
            answer_facts(t, &ix, hits, nhits);
            r->kind = "answer";
        }
    } else if (nhits) {
        if (all & MV_PERMISSION)
            say_pick(t, BANK_PERMISSION, NULL);
        answer_facts(t, &ix, hits, nhits);
        r->kind = "answer";
    } else {
        answer_move(t, all, greeted, elapsed_ms);
    }
    (void)raise_on_start(t);
    if (!r->cue_added) {
        int d = due_cue(t, elapsed_ms);
        if (d >= 0)
            add_cue(t, (size_t)d);
    }
}

/* ---- the interface ------------------------------------------------------------------------ */

enum op { OP_OPEN, OP_RESPOND, OP_IDLE, OP_CLOSE, OP_DEFLECT_ABUSE, OP_DEFLECT_CONFUSED };

void patient_reply_free(patient_reply *r)
{
    if (!r)
        return;
    free(r->text);
    json_decref(r->meta);
    r->text = NULL;
    r->meta = NULL;
    r->closing = 0;
}

json_t *patient_state_new(const patient_context *ctx)
{
    (void)ctx; /* nothing in a fresh state depends on the card */
    return json_pack("{s:i, s:[], s:[], s:[], s:[], s:i, s:i, s:i, s:i, s:s, s:b}", "v",
                     STATE_VERSION, "given", "cues_raised", "concerns_voiced", "last_lines",
                     "turns", 0, "rng", 0, "t", 0, "gq", 0, "expl", "", "closed", 0);
}

static void do_idle(turn *t, int64_t elapsed_ms)
{
    if (raise_on_start(t)) {
        t->r->kind = "cue";
        return;
    }
    int d = due_cue(t, elapsed_ms);
    if (d >= 0) {
        add_cue(t, (size_t)d);
        t->r->kind = "cue";
        return;
    }
    /* A silence prompt after a long pause, but not two in a row. */
    if (elapsed_ms - t->st->t_last < SILENCE_PROMPT_MS)
        return;
    const char *const *v = patient_lines_bank(BANK_SILENCE, t->c->mood);
    for (size_t i = 0; v[i]; i++)
        if (t->st->nlines && t->st->lines[0] == line_hash(v[i]))
            return;
    t->r->kind = "silence";
    say_pick(t, BANK_SILENCE, NULL);
}

/* A turn answered without reading it: no fact, no cue, just the persona's reaction. */
static void deflect(turn *t, enum op op)
{
    int abuse = op == OP_DEFLECT_ABUSE;
    t->r->kind = abuse ? "abuse" : "confused";
    t->r->safety = abuse ? "abuse" : "injection";
    say_pick(t, abuse ? BANK_RESPECT : BANK_CONFUSED, NULL);
}

/* The previous reply's hash first, then its lines, then what is left of the older history. */
static void remember_lines(pstate *st, const reply *r)
{
    uint32_t next[HISTORY_MAX];
    size_t n = 0;
    next[n++] = line_hash(r->text.ptr);
    for (size_t i = 0; i < r->nseg && n < HISTORY_MAX; i++)
        if (r->seg[i] != next[0])
            next[n++] = r->seg[i];
    for (size_t i = 0; i < st->nlines && n < HISTORY_MAX; i++)
        next[n++] = st->lines[i];
    memcpy(st->lines, next, n * sizeof(next[0]));
    st->nlines = n;
}

static int run(const patient_context *ctx, json_t *state, enum op op, const char *utterance,
               int64_t elapsed_ms, patient_reply *out)
{
    if (!out)
        return -1;
    memset(out, 0, sizeof(*out));
    if (!ctx || !state || !patient_lexicon_get())
        return -1;
    if (elapsed_ms < 0)
        elapsed_ms = 0;
    int rc = -1;
    card c;
    pstate st;
    reply r;
    arena *a = arena_new();
    if (reply_init(&r) || !a || card_load(ctx, a, &c) || state_load(state, &c, &st))
        goto out;
    turn t = {ctx, &c, &st, &r, a};
    switch (op) {
    case OP_OPEN:
        if (!st.closed && raise_on_start(&t))
            r.kind = "cue";
        break;
    case OP_RESPOND:
    case OP_DEFLECT_ABUSE:
    case OP_DEFLECT_CONFUSED:
        st.turns++;
        if (st.closed) {
            r.kind = "closing";
            say_pick(&t, BANK_CLOSED, NULL);
        } else if (op != OP_RESPOND) {
            deflect(&t, op);
        } else if (safety_check_candidate(utterance) == SAFETY_ABUSE) {
            /* A person would react to being insulted, not answer the question in it. */
            deflect(&t, OP_DEFLECT_ABUSE);
        } else {
            answer_turn(&t, utterance ? utterance : "", elapsed_ms);
        }
        break;
    case OP_IDLE:
        if (!st.closed)
            do_idle(&t, elapsed_ms);
        break;
    case OP_CLOSE:
        st.closed = 1;
        r.kind = "closing";
        say(&r, c.closing && *c.closing ? c.closing : "Thank you.");
        break;
    }
    if (!r.text.ptr && buf_puts(&r.text, ""))
        goto out;
    if (r.text.len) {
        /* Never the same reply twice in a row; the pickers avoid it, this is the backstop. */
        if (op != OP_CLOSE && st.nlines && line_hash(r.text.ptr) == st.lines[0]) {
            char *old = strdup(r.text.ptr);
            if (!old)
                goto out;
            buf_reset(&r.text);
            int bad = buf_puts(&r.text, "Mm. ") || buf_puts(&r.text, old);
            free(old);
            if (bad)
                goto out;
        }
        remember_lines(&st, &r);
        if (op != OP_OPEN && op != OP_CLOSE)
            st.t_last = elapsed_ms;
    } else if (op == OP_RESPOND) {
        st.t_last = elapsed_ms;
    }
    if (state_save(state, &c, &st))
        goto out;
    out->closing = st.closed;
    out->meta = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "kind",
                          st.closed && op != OP_OPEN && op != OP_IDLE ? "closing" : r.kind,
                          "topics", r.topics, "cues", r.cues, "concerns", r.concerns, "repeated",
                          r.repeated, "moves", r.moves);
    if (out->meta && r.safety &&
        json_object_set_new(out->meta, "safety", json_string(r.safety)) != 0)
        goto out;
    out->text = buf_detach(&r.text, NULL);
    if (!out->meta || !out->text)
        goto out;
    rc = 0;
out:
    reply_cleanup(&r);
    arena_free(a);
    if (rc)
        patient_reply_free(out);
    return rc;
}

int patient_open(const patient_context *ctx, json_t *state, patient_reply *out)
{
    return run(ctx, state, OP_OPEN, NULL, 0, out);
}

int patient_respond(const patient_context *ctx, json_t *state, const char *utterance,
                    int64_t elapsed_ms, patient_reply *out)
{
    return run(ctx, state, OP_RESPOND, utterance, elapsed_ms, out);
}

int patient_deflect(const patient_context *ctx, json_t *state, enum patient_deflect why,
                    int64_t elapsed_ms, patient_reply *out)
{
    return run(ctx, state, why == PATIENT_DEFLECT_ABUSE ? OP_DEFLECT_ABUSE : OP_DEFLECT_CONFUSED,
               NULL, elapsed_ms, out);
}

int patient_idle(const patient_context *ctx, json_t *state, int64_t elapsed_ms, patient_reply *out)
{
    return run(ctx, state, OP_IDLE, NULL, elapsed_ms, out);
}

int patient_close(const patient_context *ctx, json_t *state, patient_reply *out)
{
    return run(ctx, state, OP_CLOSE, NULL, 0, out);
}
