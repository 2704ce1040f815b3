/* Detectable grammar errors (subject–verb agreement, articles, tense forms, plurals, a few word
 * forms typical of learners) in the candidate's sentences, each with the words that show it and
 * a corrected form when one is obvious; and MTLD, a length-robust lexical diversity measure. The
 * patterns are deliberately conservative: a missed error costs less than a false accusation. */
#include "services/ai/scorer_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 200

static int in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

#define IN(w, list) in_list((w), (list), ARRAY_LEN(list))

static const char *const third_singular[] = {"he", "she", "it"};
/* base forms that need -s after he/she/it */
static const char *const base_verbs[] = {
    "have",   "do",     "go",   "need",   "want",  "eat",   "drink", "brush", "take",   "make",
    "feel",   "get",    "know", "think",  "say",   "come",  "use",   "look",  "seem",   "sleep",
    "work",   "live",   "play", "wake",   "cry",   "hurt",  "mean",  "cause", "happen", "keep",
    "start",  "stop",   "try",  "become", "give",  "walk",  "stay",  "love",  "hate",   "show",
    "depend", "affect", "help", "like",   "wants", "cough", "sound", "cook"};
/* words after which "he/she/it + base form" is correct ("does he have", "let it heal") */
static const char *const licensors[] = {
    "do",     "does",  "did",  "can", "could",  "will",    "would",  "shall", "should",
    "may",    "might", "must", "to",  "let",    "lets",    "make",   "makes", "made",
    "help",   "helps", "see",  "saw", "watch",  "hear",    "heard",  "feel",  "felt",
    "notice", "not",   "have", "had", "having", "letting", "making", "seeing"};
static const char *const modals[] = {"can",    "could", "will",  "would", "shall",
                                     "should", "may",   "might", "must"};
static const char *const irregular_past[] = {
    "went",    "ate",  "took",  "drank", "saw",   "gave",  "came",  "felt",   "told",   "brought",
    "thought", "made", "began", "knew",  "wrote", "fell",  "slept", "woke",   "bought", "said",
    "found",   "kept", "lost",  "ran",   "spoke", "broke", "chose", "forgot", "got"};
static const char *const wrong_participle[] = {"went", "ate",   "took",  "saw",   "gave",
                                               "came", "began", "wrote", "broke", "spoke",
                                               "fell", "knew",  "chose", "drank", "forgot"};
static const char *const number_words[] = {
    "two",    "three",  "four",    "five", "six",  "seven",   "eight",  "nine",  "ten",
    "eleven", "twelve", "several", "many", "both", "fifteen", "twenty", "thirty"};
static const char *const unit_nouns[] = {
    "tooth",  "time",  "day", "week", "month",   "year",        "hour",     "minute",    "puff",
    "tablet", "glass", "cup", "kilo", "step",    "meal",        "night",    "cigarette", "pint",
    "child",  "eye",   "leg", "foot", "session", "appointment", "exercise", "drop"};
static const char *const countable[] = {
    "operation", "appointment", "prescription", "question",  "tablet",   "scan",      "referral",
    "test",      "inhaler",     "filling",      "leaflet",   "problem",  "infection", "injection",
    "plan",      "dressing",    "spacer",       "procedure", "cavity",   "check-up",  "cast",
    "splint",    "chance",      "idea",         "x-ray",     "review",   "disease",   "condition",
    "blood",     "stroke",      "attack",       "preventer", "reliever", "tooth",     "wound"};
static const char *const article_verbs[] = {
    "need",    "needs",  "have",    "has",     "take",   "takes",   "book",
    "make",    "give",   "get",     "arrange", "is",     "was",     "having",
    "getting", "taking", "booking", "cause",   "causes", "prevent", "had"};
static const char *const article_adjs[] = {"good",    "small",  "new",    "short",   "big",
                                           "quick",   "simple", "common", "serious", "minor",
                                           "special", "very",   "really", "little",  "routine",
                                           "deep",    "large",  "bad",    "heart"};
static const char *const determiners[] = {
    "a",   "an",   "the", "your", "my", "his", "her",   "their", "our",     "this",  "that",
    "one", "two",  "any", "some", "no", "its", "every", "each",  "another", "these", "those",
    "not", "very", "to",  "for",  "of", "in",  "on",    "at",    "with",    "and",   "or",
    "it",  "you",  "him", "them", "me", "us",  "what",  "which", "how",     "so"};
static const char *const clause_links[] = {"no",    "yes", "yeah", "okay",    "ok",
                                           "so",    "and", "but",  "because", "also",
                                           "maybe", "now", "then", "well",    "if"};
static const char *const subjects[] = {"i",          "you",     "he",        "she",  "it",   "we",
                                       "they",       "there",   "this",      "that", "what", "who",
                                       "everything", "nothing", "something", "which"};
static const char *const bad_forms[] = {"informations", "advices",    "equipments", "childrens",
                                        "peoples",      "teeths",     "foots",      "furnitures",
                                        "evidences",    "knowledges", "homeworks",  "feets"};

typedef struct {
    sc_ctx *c;
    size_t turn, sent;
    const sc_token **w; /* the sentence's words without fillers */
    size_t n;
    int question;  /* the sentence is a question */
    size_t qstart; /* where its first word (after discourse words) is in w */
} scan;

static int add(scan *s, const char *kind, size_t from, size_t count, const char *fix)
{
    sc_ctx *c = s->c;
    if (c->nerrors >= MAX_ERRORS)
        return 0; /* enough evidence; bounds the work on pathological input */
    /* one error per sentence per kind is enough evidence and keeps rates honest */
    for (size_t i = 0; i < c->nerrors; i++)
        if (c->errors[i].turn == s->turn && c->errors[i].sent == s->sent &&
            strcmp(c->errors[i].kind, kind) == 0)
            return 0;
    size_t len = 0;
    for (size_t i = from; i < from + count && i < s->n; i++)
        len += strlen(s->w[i]->w) + 1;
    char *ex = arena_alloc(c->a, len + 1);
    if (!ex)
        return -1;
    size_t at = 0;
    for (size_t i = from; i < from + count && i < s->n; i++) {
        size_t wl = strlen(s->w[i]->w);
        if (i > from)
            ex[at++] = ' ';
        memcpy(ex + at, s->w[i]->w, wl);
        at += wl;
    }
    ex[at] = '\0';
    if (fix) {
        char *both = arena_printf(c->a, "\"%s\" → \"%s\"", ex, fix);
        if (!both)
            return -1;
        ex = both;
    } else {
        char *q = arena_printf(c->a, "\"%s\"", ex);
        if (!q)
            return -1;
        ex = q;
    }
    sc_grammar_error *grown = arena_alloc(c->a, (c->nerrors + 1) * sizeof(*c->errors));
    if (!grown)
        return -1;
    if (c->nerrors)
        memcpy(grown, c->errors, c->nerrors * sizeof(*c->errors));
    grown[c->nerrors] = (sc_grammar_error){s->turn, s->sent, kind, ex};
    c->errors = grown;
    c->nerrors++;
    return 0;
}

static const char *third_form(sc_ctx *c, const char *v)
{
    if (strcmp(v, "have") == 0)
        return "has";
    if (strcmp(v, "do") == 0)
        return "does";
    if (strcmp(v, "go") == 0)
        return "goes";
    size_t n = strlen(v);
    if (n == 0)
        return v;
    if (n > 1 && v[n - 1] == 'y' && !strchr("aeiou", v[n - 2]))
        return arena_printf(c->a, "%.*sies", (int)(n - 1), v);
    if ((n > 1 && (strcmp(v + n - 2, "sh") == 0 || strcmp(v + n - 2, "ch") == 0)) ||
        v[n - 1] == 's' || v[n - 1] == 'x')
        return arena_printf(c->a, "%ses", v);
    return arena_printf(c->a, "%ss", v);
}

static int regular_past(const char *w)
{
    size_t n = strlen(w);
    if (n <= 4 || strcmp(w + n - 2, "ed") != 0)
        return 0;
    static const char *const not_past[] = {
        "need",      "feed",   "bleed",    "speed",    "seed",      "bed",
        "red",       "shed",   "hundred",  "breed",    "proceed",   "succeed",
        "exceed",    "indeed", "tired",    "worried",  "scared",    "interested",
        "concerned", "used",   "supposed", "prepared", "qualified", "married"};
    return !IN(w, not_past);
}

static int vowel_initial(const char *w)
{
    if (strncmp(w, "one", 3) == 0 || strncmp(w, "once", 4) == 0 || strncmp(w, "eu", 2) == 0)
        return 0;
    return strchr("aeio", w[0]) != NULL && w[0] != '\0';
}

static int scan_sentence(scan *s)
{
    const sc_token **w = s->w;
    size_t n = s->n;
    sc_ctx *c = s->c;
    for (size_t i = 0; i < n; i++) {
        const char *a = w[i]->w;
        const char *b = i + 1 < n ? w[i + 1]->w : "";
        const char *d = i + 2 < n ? w[i + 2]->w : "";
        const char *prev = i > 0 ? w[i - 1]->w : "";

        /* agreement: "he have", "she don't" (→ "she do not"), "it need" */
        if (IN(a, third_singular) && IN(b, base_verbs) && !IN(prev, licensors) &&
            !(strcmp(a, "it") == 0 && (strcmp(b, "like") == 0 || strcmp(b, "work") == 0))) {
            if (add(s, "agreement", i, 2, arena_printf(c->a, "%s %s", a, third_form(c, b))))
                return -1;
        }
        /* agreement: "they has", "you is", "we was", inverted "do he", "does they" */
        if ((strcmp(a, "i") == 0 || strcmp(a, "you") == 0 || strcmp(a, "we") == 0 ||
             strcmp(a, "they") == 0) &&
            (strcmp(b, "has") == 0 || strcmp(b, "does") == 0 || strcmp(b, "is") == 0 ||
             (strcmp(b, "was") == 0 && strcmp(a, "i") != 0))) {
            if (add(s, "agreement", i, 2, NULL))
                return -1;
        }
        /* "people is", "children was", "who cook?" */
        if ((strcmp(a, "people") == 0 || strcmp(a, "children") == 0) &&
            (strcmp(b, "is") == 0 || strcmp(b, "was") == 0 || strcmp(b, "has") == 0)) {
            if (add(s, "agreement", i, 2, NULL))
                return -1;
        }
        if (strcmp(a, "who") == 0 && IN(b, base_verbs) && strcmp(b, "do") != 0 &&
            strcmp(b, "have") != 0 && !IN(prev, licensors) && i == s->qstart && s->question) {
            if (add(s, "agreement", i, 2, arena_printf(c->a, "who %s", third_form(c, b))))
                return -1;
        }
        if (IN(a, third_singular) && strcmp(b, "are") == 0 && strcmp(a, "it") != 0) {
            if (add(s, "agreement", i, 2, arena_printf(c->a, "%s is", a)))
                return -1;
        }
        if ((strcmp(a, "do") == 0 && (strcmp(b, "he") == 0 || strcmp(b, "she") == 0)) ||
            (strcmp(a, "does") == 0 && (strcmp(b, "you") == 0 || strcmp(b, "they") == 0 ||
                                        strcmp(b, "we") == 0 || strcmp(b, "i") == 0)) ||
            (strcmp(a, "have") == 0 && (strcmp(b, "he") == 0 || strcmp(b, "she") == 0) &&
             !IN(prev, modals))) {
            if (add(s, "agreement", i, 2, NULL))
                return -1;
        }
        /* be + base verb: "he is have", "I am agree" */
        if ((strcmp(a, "is") == 0 || strcmp(a, "am") == 0 || strcmp(a, "are") == 0) &&
            (strcmp(b, "agree") == 0 || strcmp(b, "understand") == 0 || strcmp(b, "depend") == 0 ||
             strcmp(b, "have") == 0 || strcmp(b, "need") == 0)) {
            if (add(s, "verb form", i, 2, NULL))
                return -1;
        }

        /* a dropped subject: "Is normal.", "because is not needed" */
        if (strcmp(b, "is") == 0 && (i == 0 || IN(prev, clause_links)) && IN(a, clause_links) &&
            !IN(d, subjects) &&
            !(strcmp(d, "not") == 0 && i + 3 < n && IN(w[i + 3]->w, subjects)) && !s->question) {
            if (add(s, "sentence structure", i + 1, 2, arena_printf(c->a, "it is %s", d)))
                return -1;
        }
        if (i == 0 && strcmp(a, "is") == 0 && !IN(b, subjects) &&
            !(strcmp(b, "not") == 0 && IN(d, subjects)) && !s->question) {
            if (add(s, "sentence structure", i, 2, arena_printf(c->a, "it is %s", b)))
                return -1;
        }
        /* question word order: "Why you are resting?", "What toothpaste you are using?" */
        if (i == s->qstart && s->question &&
            (strcmp(a, "why") == 0 || strcmp(a, "what") == 0 || strcmp(a, "where") == 0 ||
             strcmp(a, "how") == 0 || strcmp(a, "when") == 0)) {
            size_t j = i + 1;
            if (j + 1 < n && (strcmp(w[j]->w, "many") == 0 || strcmp(w[j]->w, "much") == 0))
                j += 2; /* "how many times" */
            else if (j < n && (strcmp(a, "what") == 0 || strcmp(a, "how") == 0) &&
                     !IN(w[j]->w, subjects) && !IN(w[j]->w, modals) && strcmp(w[j]->w, "do") != 0 &&
                     strcmp(w[j]->w, "does") != 0 && strcmp(w[j]->w, "did") != 0 &&
                     strcmp(w[j]->w, "is") != 0 && strcmp(w[j]->w, "are") != 0)
                j++; /* "what toothpaste", "how often" */
            if (j + 1 < n &&
                (strcmp(w[j]->w, "you") == 0 || strcmp(w[j]->w, "he") == 0 ||
                 strcmp(w[j]->w, "she") == 0 || strcmp(w[j]->w, "they") == 0) &&
                !IN(w[j + 1]->w, modals) && strcmp(w[j + 1]->w, "think") != 0) {
                if (add(s, "word order", i, j - i + 2, NULL))
                    return -1;
            }
        }

        /* articles: "a infection", "an tablet", "a hour" */
        if (strcmp(a, "a") == 0 && b[0] &&
            (vowel_initial(b) || strcmp(b, "hour") == 0 || strcmp(b, "honest") == 0)) {
            if (add(s, "article", i, 2, arena_printf(c->a, "an %s", b)))
                return -1;
        }
        if (strcmp(a, "an") == 0 && b[0] && !strchr("aeiou", b[0]) && strlen(b) > 3 &&
            strncmp(b, "hour", 4) != 0 && strncmp(b, "hon", 3) != 0 && strncmp(b, "x-", 2) != 0 &&
            strncmp(b, "heir", 4) != 0 && !w[i + 1]->cap) {
            if (add(s, "article", i, 2, arena_printf(c->a, "a %s", b)))
                return -1;
        }
        /* a missing article: "you need operation", "this is good question" */
        if (IN(a, article_verbs)) {
            size_t j = i + 1;
            if (j < n &&
                (strcmp(w[j]->w, "you") == 0 || strcmp(w[j]->w, "him") == 0 ||
                 strcmp(w[j]->w, "her") == 0) &&
                (strcmp(a, "give") == 0 || strcmp(a, "book") == 0 || strcmp(a, "get") == 0))
                j++;
            while (j < n && IN(w[j]->w, article_adjs))
                j++;
            /* one noun modifier: "is muscle problem" (but not "is a muscle problem") */
            if (j + 1 < n && !IN(w[j]->w, countable) && !IN(w[j]->w, determiners) &&
                IN(w[j + 1]->w, countable) && strcmp(w[j + 1]->w, "blood") != 0)
                j++;
            if (j < n && IN(w[j]->w, countable) &&
                !(j + 1 < n &&
                  (strcmp(w[j + 1]->w, "test") == 0 || strcmp(w[j + 1]->w, "of") == 0 ||
                   strcmp(w[j + 1]->w, "pressure") == 0 || strcmp(w[j + 1]->w, "sugar") == 0)) &&
                strcmp(w[j]->w, "blood") != 0 && strcmp(w[j]->w, "disease") != 0 &&
                strcmp(w[j]->w, "review") != 0) {
                if (add(s, "article", i, j - i + 1, NULL))
                    return -1;
            }
        }

        /* tense: "did you went", "didn't took", "have went", "will started", "must to" */
        if (strcmp(a, "did") == 0) {
            size_t j = i + 1;
            if (j < n && strcmp(w[j]->w, "not") == 0)
                j++;
            if (j < n && (IN(w[j]->w, third_singular) || strcmp(w[j]->w, "you") == 0 ||
                          strcmp(w[j]->w, "they") == 0 || strcmp(w[j]->w, "i") == 0 ||
                          strcmp(w[j]->w, "we") == 0 || w[j]->cap))
                j++;
            if (j < n && (IN(w[j]->w, irregular_past) || regular_past(w[j]->w)) &&
                strcmp(w[j]->w, "got") != 0) {
                if (add(s, "tense", i, j - i + 1,
                        arena_printf(c->a, "did … %s", scorer_stem(c->a, w[j]->w))))
                    return -1;
            }
        }
        if ((strcmp(a, "have") == 0 || strcmp(a, "has") == 0 || strcmp(a, "had") == 0) &&
            IN(b, wrong_participle)) {
            if (add(s, "tense", i, 2, NULL))
                return -1;
        }
        if (IN(a, modals)) {
            const char *v = strcmp(b, "not") == 0 ? d : b;
            if (strcmp(v, "to") == 0 && strcmp(a, "ought") != 0) {
                if (add(s, "verb form", i, 2, arena_printf(c->a, "%s", a)))
                    return -1;
            } else if ((IN(v, irregular_past) && strcmp(v, "got") != 0) || regular_past(v) ||
                       IN(v, modals)) {
                if (add(s, "tense", i, strcmp(b, "not") == 0 ? 3 : 2, NULL))
                    return -1;
            }
        }
        /* "since two weeks" → "for two weeks" */
        if (strcmp(a, "since") == 0 && (IN(b, number_words) || strcmp(b, "a") == 0) &&
            (strncmp(d, "day", 3) == 0 || strncmp(d, "week", 4) == 0 ||
             strncmp(d, "month", 5) == 0 || strncmp(d, "year", 4) == 0)) {
            if (add(s, "tense", i, 3, arena_printf(c->a, "for %s %s", b, d)))
                return -1;
        }

        /* plurals: "two tooth", "three time a day", "a teeth" */
        if (IN(a, number_words) && IN(b, unit_nouns) && !(w[i + 1]->comma)) {
            const char *pl = strcmp(b, "tooth") == 0   ? "teeth"
                             : strcmp(b, "foot") == 0  ? "feet"
                             : strcmp(b, "child") == 0 ? "children"
                                                       : arena_printf(c->a, "%ss", b);
            if (add(s, "plural", i, 2, arena_printf(c->a, "%s %s", a, pl)))
                return -1;
        }
        if ((strcmp(a, "a") == 0 || strcmp(a, "one") == 0) &&
            (strcmp(b, "teeth") == 0 || strcmp(b, "children") == 0 || strcmp(b, "feet") == 0)) {
            if (add(s, "plural", i, 2, NULL))
                return -1;
        }
        if (IN(a, bad_forms)) {
            if (add(s, "word form", i, 1, NULL))
                return -1;
        }
        /* comparatives and prepositions learners add */
        if (strcmp(a, "more") == 0 &&
            (strcmp(b, "better") == 0 || strcmp(b, "worse") == 0 || strcmp(b, "easier") == 0 ||
             strcmp(b, "bigger") == 0 || strcmp(b, "healthier") == 0)) {
            if (add(s, "word form", i, 2, b))
                return -1;
        }
        if ((strcmp(a, "discuss") == 0 && strcmp(b, "about") == 0) ||
            (strcmp(a, "explain") == 0 && (strcmp(b, "me") == 0 || strcmp(b, "you") == 0) &&
             strcmp(d, "how") != 0 && strcmp(d, "what") != 0 && strcmp(d, "why") != 0) ||
            (strcmp(a, "much") == 0 &&
             (strcmp(b, "people") == 0 || strcmp(b, "times") == 0 || strcmp(b, "days") == 0)) ||
            (strcmp(a, "how") == 0 && strcmp(b, "much") == 0 && strcmp(d, "times") == 0)) {
            if (add(s, "word form", i, strcmp(a, "how") == 0 ? 3 : 2, NULL))
                return -1;
        }
    }
    return 0;
}

int scorer_grammar_scan(sc_ctx *c)
{
    for (size_t ti = 0; ti < c->nturns; ti++) {
        sc_turn *t = &c->turns[ti];
        if (!t->candidate)
            continue;
        /* an array of pointers to the sentence's tokens */
        const sc_token **w =
            arena_alloc(c->a, (t->ntok + 1) * sizeof(*w)); /* NOLINT(bugprone-sizeof-expression) */
        if (!w)
            return -1;
        for (size_t si = 0; si < t->nsent; si++) {
            const sc_sentence *se = &t->sent[si];
            scan s = {c, ti, si, w, 0, se->qmark && se->qtype != Q_NONE, 0};
            size_t s0 = scorer_effective_start(c, t, se);
            for (size_t k = se->t0; k < se->t1; k++) {
                if (k == s0)
                    s.qstart = s.n;
                if (!t->tok[k].filler && !t->tok[k].truncated)
                    w[s.n++] = &t->tok[k];
            }
            if (scan_sentence(&s))
                return -1;
        }
    }
    return 0;
}

/* ---- MTLD ---- */

#define MTLD_TTR 0.72

static double mtld_pass(const char *const *w, size_t n, int backward)
{
    double factors = 0;
    size_t start = 0;
    size_t types = 0, tokens = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = backward ? n - 1 - k : k;
        int seen = 0;
        for (size_t j = start; j < k && !seen; j++) {
            size_t p = backward ? n - 1 - j : j;
            seen = strcmp(w[p], w[i]) == 0;
        }
        tokens++;
        types += !seen;
        double ttr = (double)types / (double)tokens;
        if (ttr <= MTLD_TTR) {
            factors += 1;
            start = k + 1;
            types = tokens = 0;
        }
    }
    if (tokens > 0) {
        double ttr = (double)types / (double)tokens;
        factors += (1.0 - ttr) / (1.0 - MTLD_TTR);
    }
    if (factors < 1e-9)
        return (double)n;
    return (double)n / factors;
}

double scorer_mtld(const char *const *words, size_t n)
{
    if (n == 0)
        return 0;
    return (mtld_pass(words, n, 0) + mtld_pass(words, n, 1)) / 2.0;
}
