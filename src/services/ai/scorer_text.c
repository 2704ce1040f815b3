/* The scorer's text layer: words and sentences of a turn (contractions expanded, commas and
 * cut-off words remembered), a light stemmer for fuzzy matching, function words, and quoting a
 * sentence back to the candidate. Everything lives in the scoring arena. */
#include "services/ai/scorer_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUOTE_MAX 200
#define PAUSE_SPLIT_S 0.5 /* unpunctuated voice text: a new sentence after a pause this long */

typedef struct {
    uint32_t off, len;
    uint8_t comma;     /* punctuation that separates clauses precedes the word */
    uint8_t truncated; /* ends in a hyphen or dash with nothing after: a cut-off word */
    char end;          /* sentence-ending punctuation right after the word: . ? ! or \n */
} rawword;

static size_t scan_words(const char *s, size_t n, rawword *out, size_t *hesitations);
static int is_abbreviation(const char *s, size_t n);
static size_t utf8_len(unsigned char c);
static int punct_at(const char *s, size_t n, size_t i, size_t *len);
static size_t expand(arena *a, const char *s, size_t n, const char *parts[2]);

/* ---- characters ---- */

static size_t utf8_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 1;
}

/* Classifies the character at s[i]: 0 = part of a word, 'a' = apostrophe (’ ‘ '), '-' = hyphen
 * or dash, '.' '?' '!' ',' = themselves (';' ':' '(' ')' '"' count as ','), 'e' = ellipsis "…",
 * 'n' = line break, ' ' = anything else (space, other punctuation). *len is its byte length. */
static int punct_at(const char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = (unsigned char)s[i];
    *len = 1;
    if (c >= 0x80) {
        size_t l = utf8_len(c);
        if (i + l > n)
            l = n - i;
        *len = l;
        if (l == 3 && c == 0xE2 && (unsigned char)s[i + 1] == 0x80) {
            unsigned char d = (unsigned char)s[i + 2];
            if (d == 0x98 || d == 0x99)
                return 'a';
            if (d == 0x93 || d == 0x94)
                return '-';
            if (d == 0xA6)
                return 'e';
            return ','; /* other general punctuation: quotes, bullets */
        }
        return 0;
    }
    if (isalnum(c))
        return 0;
    switch (c) {
    case '\'':
        return 'a';
    case '-':
        return '-';
    case '.':
    case '?':
    case '!':
        return c;
    case ',':
    case ';':
    case ':':
    case '(':
    case ')':
    case '"':
        return ',';
    case '\n':
        return 'n';
    default:
        return ' ';
    }
}

static int is_abbreviation(const char *s, size_t n)
{
    static const char *const abbr[] = {"mr",  "mrs", "ms", "dr",     "prof", "st", "etc",
                                       "e.g", "i.e", "vs", "approx", "eg",   "ie"};
    for (size_t i = 0; i < ARRAY_LEN(abbr); i++)
        if (strlen(abbr[i]) == n && strncasecmp(abbr[i], s, n) == 0)
            return 1;
    return 0;
}

/* Splits s into source words. A word is a run of letters and digits with inner apostrophes,
 * hyphens, slashes and dots ("don't", "x-ray", "24/7", "2.5", "e.g"). Returns the count; fills
 * out when it is not NULL. */
static size_t scan_words(const char *s, size_t n, rawword *out, size_t *hesitations)
{
    size_t count = 0, i = 0;
    int comma = 0;
    while (i < n) {
        size_t l;
        int p = punct_at(s, n, i, &l);
        if (p == 0) {
            size_t start = i;
            i += l;
            for (;;) {
                if (i >= n)
                    break;
                int q = punct_at(s, n, i, &l);
                if (q == 0) {
                    i += l;
                    continue;
                }
                /* inner joiners: followed by a word character */
                if (q == 'a' || q == '-' || (q == '.' && i + l < n) || s[i] == '/') {
                    size_t l2;
                    if (i + l < n && punct_at(s, n, i + l, &l2) == 0 &&
                        (q != '.' || isalnum((unsigned char)s[i + l]))) {
                        i += l;
                        continue;
                    }
                }
                break;
            }
            if (out) {
                rawword *w = &out[count];
                w->off = (uint32_t)start;
                w->len = (uint32_t)(i - start);
                w->comma = (uint8_t)comma;
                w->truncated = 0;
                w->end = 0;
                /* a trailing hyphen or dash straight after the word: cut off ("he- she") */
                if (i < n && punct_at(s, n, i, &l) == '-') {
                    size_t j = i + l, l3;
                    if (j >= n || punct_at(s, n, j, &l3) != 0)
                        w->truncated = 1;
                }
            }
            count++;
            comma = 0;
            continue;
        }
        if (p == '.' && i + 1 < n && s[i + 1] == '.') {
            /* "..." typed hesitation */
            while (i < n && s[i] == '.')
                i++;
            if (hesitations)
                (*hesitations)++;
            comma = 1;
            continue;
        }
        if (p == 'e') {
            if (hesitations)
                (*hesitations)++;
            comma = 1;
            i += l;
            continue;
        }
        if (p == '.' || p == '?' || p == '!' || p == 'n') {
            if (out && count > 0) {
                rawword *w = &out[count - 1];
                int abbr = p == '.' && is_abbreviation(s + w->off, w->len);
                if (!abbr && (w->end == 0 || p == '?'))
                    w->end = p == 'n' ? '\n' : (char)p;
            }
            comma = 0;
        } else if (p == ',' || p == '-') {
            comma = 1;
        }
        i += l;
    }
    return count;
}

/* ---- normalisation ---- */

static char *lower_copy(arena *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0x98 || (unsigned char)s[i + 2] == 0x99)) {
            o[j++] = '\'';
            i += 3;
            continue;
        }
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0x93 || (unsigned char)s[i + 2] == 0x94)) {
            o[j++] = '-';
            i += 3;
            continue;
        }
        o[j++] = (char)tolower(c);
        i++;
    }
    o[j] = '\0';
    return o;
}

/* One source word → one or two normalised tokens ("don't" → "do" "not", "he's" → "he" "is",
 * "Zayn's" → "zayn"). Returns the number of parts (0 on OOM). */
static size_t expand(arena *a, const char *s, size_t n, const char *parts[2])
{
    static const char *const is_bases[] = {
        "it",    "that", "what", "there", "here", "he",         "she",     "who",
        "where", "how",  "when", "why",   "this", "everything", "nothing", "something"};
    char *w = lower_copy(a, s, n);
    if (!w)
        return 0;
    size_t len = strlen(w);
    /* strip leading and trailing apostrophes and hyphens */
    while (len > 0 && (w[len - 1] == '\'' || w[len - 1] == '-'))
        w[--len] = '\0';
    while (w[0] == '\'' || w[0] == '-') {
        memmove(w, w + 1, len);
        len--;
    }
    if (len == 0) {
        parts[0] = w;
        return 1;
    }
    if (strcmp(w, "cannot") == 0) {
        parts[0] = "can";
        parts[1] = "not";
        return 2;
    }
    char *ap = strrchr(w, '\'');
    if (!ap) {
        parts[0] = w;
        return 1;
    }
    *ap = '\0';
    const char *suffix = ap + 1;
    size_t blen = strlen(w);
    if (strcmp(suffix, "t") == 0 && blen > 0 && w[blen - 1] == 'n') {
        w[blen - 1] = '\0';
        if (strcmp(w, "ca") == 0)
            parts[0] = "can";
        else if (strcmp(w, "wo") == 0)
            parts[0] = "will";
        else if (strcmp(w, "sha") == 0)
            parts[0] = "shall";
        else if (strcmp(w, "ai") == 0)
            parts[0] = "is";
        else
            parts[0] = w;
        parts[1] = "not";
        return 2;
    }
    parts[0] = w;
    if (strcmp(suffix, "m") == 0)
        parts[1] = "am";
    else if (strcmp(suffix, "re") == 0)
        parts[1] = "are";
    else if (strcmp(suffix, "ve") == 0)
        parts[1] = "have";
    else if (strcmp(suffix, "ll") == 0)
        parts[1] = "will";
    else if (strcmp(suffix, "d") == 0)
        parts[1] = "would";
    else if (strcmp(suffix, "s") == 0) {
        if (strcmp(w, "let") == 0) {
            parts[1] = "us";
            return 2;
        }
        for (size_t i = 0; i < ARRAY_LEN(is_bases); i++)
            if (strcmp(w, is_bases[i]) == 0) {
                parts[1] = "is";
                return 2;
            }
        return 1; /* possessive */
    } else {
        /* "o'clock" and the like: keep the word without the apostrophe */
        *ap = '\0';
        char *joined = arena_printf(a, "%s%s", w, suffix);
        if (!joined)
            return 0;
        parts[0] = joined;
        return 1;
    }
    return 2;
}

size_t scorer_tokenize_words(arena *a, const char *text, const char ***out)
{
    size_t n = strlen(text);
    size_t nraw = scan_words(text, n, NULL, NULL);
    rawword *raw = arena_alloc(a, (nraw + 1) * sizeof(*raw));
    const char **tok = arena_alloc(a, (2 * nraw + 1) * sizeof(*tok));
    if (!raw || !tok)
        return 0;
    scan_words(text, n, raw, NULL);
    size_t k = 0;
    for (size_t i = 0; i < nraw; i++) {
        const char *parts[2];
        size_t np = expand(a, text + raw[i].off, raw[i].len, parts);
        if (np == 0)
            return 0;
        for (size_t j = 0; j < np; j++)
            tok[k++] = parts[j];
    }
    *out = tok;
    return k;
}

/* ---- function words and stems ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int scorer_is_stopword(const char *w)
{
    /* sorted for bsearch */
    static const char *const stop[] = {
        "a",     "about", "after", "again", "all",    "also",   "am",    "an",    "and",   "any",
        "are",   "as",    "at",    "be",    "been",   "before", "being", "but",   "by",    "can",
        "could", "did",   "do",    "does",  "for",    "from",   "get",   "got",   "had",   "has",
        "have",  "he",    "her",   "here",  "him",    "his",    "how",   "i",     "if",    "in",
        "into",  "is",    "it",    "its",   "just",   "let",    "like",  "me",    "might", "more",
        "mrs",   "ms",    "mr",    "much",  "must",   "my",     "no",    "not",   "now",   "of",
        "off",   "ok",    "okay",  "on",    "one",    "or",     "our",   "out",   "quite", "really",
        "right", "says",  "shall", "she",   "should", "so",     "some",  "than",  "that",  "the",
        "their", "them",  "then",  "there", "these",  "they",   "this",  "those", "to",    "too",
        "up",    "us",    "very",  "was",   "we",     "well",   "were",  "what",  "when",  "where",
        "which", "who",   "why",   "will",  "with",   "would",  "yes",   "you",   "your",  "yours"};
    return bsearch(&w, stop, ARRAY_LEN(stop), sizeof(stop[0]), cmp_str) != NULL;
}

typedef struct {
    const char *form, *lemma;
} irregular;

const char *scorer_stem(arena *a, const char *w)
{
    static const irregular irr[] = {
        {"ate", "eat"},     {"began", "begin"},  {"bought", "buy"},     {"brought", "bring"},
        {"came", "come"},   {"caught", "catch"}, {"children", "child"}, {"did", "do"},
        {"does", "do"},     {"drank", "drink"},  {"drunk", "drink"},    {"eaten", "eat"},
        {"fallen", "fall"}, {"feet", "foot"},    {"fell", "fall"},      {"felt", "feel"},
        {"gave", "give"},   {"given", "give"},   {"gone", "go"},        {"got", "get"},
        {"had", "have"},    {"has", "have"},     {"kept", "keep"},      {"knew", "know"},
        {"known", "know"},  {"lost", "lose"},    {"made", "make"},      {"men", "man"},
        {"mice", "mouse"},  {"said", "say"},     {"saw", "see"},        {"seen", "see"},
        {"slept", "sleep"}, {"taken", "take"},   {"teeth", "tooth"},    {"thought", "think"},
        {"told", "tell"},   {"took", "take"},    {"went", "go"},        {"women", "woman"},
        {"woke", "wake"},   {"wrote", "write"},
    };
    for (size_t i = 0; i < ARRAY_LEN(irr); i++)
        if (strcmp(irr[i].form, w) == 0)
            return irr[i].lemma;
    size_t n = strlen(w);
    if (n <= 3)
        return w;
    char *s = arena_strdup(a, w);
    if (!s)
        return NULL;
    if (n > 4 && strcmp(s + n - 3, "ies") == 0) {
        s[n - 3] = 'y';
        s[n - 2] = '\0';
        return s;
    }
    if (n >= 4 && strcmp(s + n - 4, "sses") == 0) {
        s[n - 2] = '\0';
        return s;
    }
    if (s[n - 1] == 's' && s[n - 2] != 's' && s[n - 2] != 'u' && s[n - 2] != 'i') {
        s[--n] = '\0';
    } else if (n > 5 && strcmp(s + n - 3, "ing") == 0) {
        n -= 3;
        s[n] = '\0';
    } else if ((n > 4 && strcmp(s + n - 2, "ed") == 0 && s[n - 3] != 'e') ||
               (n > 5 && strcmp(s + n - 2, "ly") == 0)) {
        n -= 2;
        s[n] = '\0';
    }
    if (n > 4 && s[n - 1] == 'e')
        s[--n] = '\0';
    if (n > 3 && s[n - 1] == s[n - 2] && strchr("lsz", s[n - 1]) == NULL &&
        !strchr("aeiou", s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* ---- a turn ---- */

static int text_has_sentence_punct(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == '?' || s[i] == '!')
            return 1;
    return 0;
}

/* A patient turn that stops mid-sentence: it ends in a dash or an ellipsis, or (typed text,
 * which the patient engine always punctuates) with no closing punctuation at all. */
static int ends_cut_off(const char *s, size_t n, int voice)
{
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    unsigned char c = (unsigned char)s[n - 1];
    if (c == '-')
        return 1;
    if (n >= 3 && (unsigned char)s[n - 3] == 0xE2 && (unsigned char)s[n - 2] == 0x80) {
        unsigned char d = (unsigned char)s[n - 1];
        if (d == 0x93 || d == 0x94 || d == 0xA6)
            return 1;
    }
    if (n >= 2 && s[n - 1] == '.' && s[n - 2] == '.')
        return 1;
    if (!voice && (isalnum(c) || c == ','))
        return 1;
    return 0;
}

int scorer_turn_analyse(sc_ctx *c, sc_turn *t)
{
    const char *s = t->text;
    size_t n = t->text_len;
    size_t hes = 0;
    size_t nraw = scan_words(s, n, NULL, NULL);
    rawword *raw = arena_alloc(c->a, (nraw + 1) * sizeof(*raw));
    if (!raw)
        return -1;
    scan_words(s, n, raw, &hes);
    t->hesitations = hes;
    t->cut_off = !t->candidate && ends_cut_off(s, n, c->voice);

    /* Unpunctuated recogniser output: sentence boundaries at pauses, when the recogniser's words
     * line up one to one with the text's words. */
    if (nraw > 0 && t->nwords == nraw && !text_has_sentence_punct(s, n)) {
        for (size_t i = 1; i < nraw; i++)
            if (t->words[i].start - t->words[i - 1].end >= PAUSE_SPLIT_S && raw[i - 1].end == 0)
                raw[i - 1].end = 'p'; /* a pause: a boundary, but not punctuation */
    }
    if (nraw > 0 && raw[nraw - 1].end == 0)
        raw[nraw - 1].end = 'x'; /* the turn ends the last sentence, unterminated */

    t->tok = arena_alloc(c->a, (2 * nraw + 1) * sizeof(*t->tok));
    t->sent = arena_alloc(c->a, (nraw + 1) * sizeof(*t->sent));
    if (!t->tok || !t->sent)
        return -1;
    size_t k = 0, ns = 0, sent_start = 0;
    for (size_t i = 0; i < nraw; i++) {
        const char *parts[2];
        size_t np = expand(c->a, s + raw[i].off, raw[i].len, parts);
        if (np == 0)
            return -1;
        for (size_t j = 0; j < np; j++) {
            sc_token *tk = &t->tok[k++];
            memset(tk, 0, sizeof(*tk));
            tk->w = parts[j];
            tk->stem = scorer_stem(c->a, parts[j]);
            if (!tk->stem)
                return -1;
            tk->off = raw[i].off;
            tk->len = raw[i].len;
            tk->raw = (uint32_t)i;
            tk->cap = j == 0 && isupper((unsigned char)s[raw[i].off]);
            tk->comma = j == 0 && raw[i].comma;
            tk->truncated = raw[i].truncated;
            tk->filler = (uint8_t)scorer_lexicon_is_filler(&c->lex, parts[j]);
            tk->stop = (uint8_t)scorer_is_stopword(parts[j]);
            if (!tk->filler)
                t->content_words++;
        }
        if (raw[i].end) {
            sc_sentence *se = &t->sent[ns++];
            memset(se, 0, sizeof(*se));
            se->t0 = (uint32_t)sent_start;
            se->t1 = (uint32_t)k;
            se->off = t->tok[sent_start].off;
            size_t e = raw[i].off + raw[i].len;
            while (e < n && strchr(".?!\"')", s[e]))
                e++;
            se->end = (uint32_t)e;
            se->qmark = raw[i].end == '?';
            se->terminated = raw[i].end != 'x' && raw[i].end != 'p';
            sent_start = k;
        }
    }
    t->ntok = k;
    t->nsent = ns;
    for (size_t i = 0; i < ns; i++) {
        sc_sentence *se = &t->sent[i];
        size_t s0 = scorer_effective_start(c, t, se);
        se->cats = scorer_lexicon_match(&c->lex, t->tok, se->t0, se->t1, s0);
        t->cats |= se->cats;
    }
    return 0;
}

const char *scorer_quote(sc_ctx *c, sc_ref r)
{
    if (r.turn >= c->nturns)
        return "";
    const sc_turn *t = &c->turns[r.turn];
    size_t off = 0, end = t->text_len;
    if (r.sent != SC_WHOLE && r.sent < t->nsent) {
        off = t->sent[r.sent].off;
        end = t->sent[r.sent].end;
        /* "Okay." alone says nothing: take the next sentence along */
        if (t->sent[r.sent].t1 - t->sent[r.sent].t0 < 4 && r.sent + 1 < t->nsent)
            end = t->sent[r.sent + 1].end;
    }
    while (off < end && isspace((unsigned char)t->text[off]))
        off++;
    while (end > off && isspace((unsigned char)t->text[end - 1]))
        end--;
    if (end - off <= QUOTE_MAX) {
        const char *q = arena_strndup(c->a, t->text + off, end - off);
        return q ? q : "";
    }
    /* cut at a space so a multi-byte character is never split */
    size_t cut = off + QUOTE_MAX;
    while (cut > off && t->text[cut] != ' ')
        cut--;
    if (cut == off)
        cut = off + QUOTE_MAX;
    while (cut > off && ((unsigned char)t->text[cut] & 0xC0) == 0x80)
        cut--;
    const char *q = arena_printf(c->a, "%.*s\xE2\x80\xA6", (int)(cut - off), t->text + off);
    return q ? q : "";
}
