/* Utterance and trigger normalisation for the scripted patient (see patient_text.h). */
#include "services/ai/patient_text.h"

#include <string.h>

/* Unknown words this long are looked up by near spelling among the listed words ("medicaton");
 * shorter ones too easily land on a different real word ("france" / "fiance"). */
#define FUZZY_CLASS_MIN 7

typedef struct sentence {
    size_t w0, w1;
    int qmark;
} sentence;

typedef struct lexer {
    const patient_lexicon *lx;
    pt_text *t;
    sentence sent[PT_MAX_CLAUSES];
    size_t nsent;
    size_t sent_start;
    unsigned char soft[PT_MAX_WORDS]; /* a comma or colon came just before word i */
    int pending_soft;
} lexer;

static const char *const ones[] = {"zero",    "one",     "two",       "three",    "four",
                                   "five",    "six",     "seven",     "eight",    "nine",
                                   "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                   "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens[] = {"",      "",      "twenty",  "thirty", "forty",
                                   "fifty", "sixty", "seventy", "eighty", "ninety"};
static const char *const ordinals[] = {"",      "first",    "second",  "third",  "fourth",
                                       "fifth", "sixth",    "seventh", "eighth", "ninth",
                                       "tenth", "eleventh", "twelfth"};
static const char *const titles[] = {"dr", "mr", "mrs", "ms", "st", "prof", "eg", "ie", "vs", NULL};

static const char *const wh_words[] = {"what", "when", "where", "why", "how", "who", "which", NULL};
static const char *const aux_words[] = {"do",  "does", "did", "have",  "has",   "had",  "are", "is",
                                        "was", "were", "can", "could", "would", "will", NULL};
static const char *const subject_words[] = {
    "you",  "your",   "he",       "she", "it",     "they",    "there", "we",  "i",  "the",
    "this", "anyone", "anything", "any", "things", "someone", "his",   "her", "my", NULL};
static const char *const embed_words[] = {
    "me",     "us",       "him",       "her",   "them",    "tell",     "ask",     "asked",
    "know",   "wonder",   "wondering", "about", "explain", "describe", "show",    "understand",
    "see",    "remember", "sure",      "idea",  "out",     "of",       "on",      "in",
    "to",     "is",       "was",       "that",  "if",      "whether",  "at",      "for",
    "matter", "decide",   "find",      "say",   "think",   "mean",     "exactly", NULL};

/* After a question word, these make it a question ("how long", "what about") rather than a
 * subordinate clause ("take it when you wake up"). */
static const char *const wh_next[] = {
    "long",    "much",     "many", "often", "about",   "kind",     "sort",
    "type",    "time",     "else", "bad",   "far",     "old",      "brings",
    "brought", "happened", "made", "makes", "worries", "concerns", "exactly",
    "is",      "are",      "was",  "were",  "should",  "shall",    NULL};

/* Before an auxiliary, these make it part of the same clause ("whether there is any damage"). */
static const char *const clause_words[] = {
    "not", "whether", "if",   "that",  "there", "which",   "who",     "what", "where", "when",
    "how", "why",     "so",   "as",    "than",  "because", "you",     "i",    "we",    "they",
    "he",  "she",     "ever", "never", "also",  "still",   "already", "just", NULL};

int patient_text_in(const char *word, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(word, *list) == 0)
            return 1;
    return 0;
}

static void add_word(lexer *L, const char *w, size_t n)
{
    pt_text *t = L->t;
    if (t->nwords >= PT_MAX_WORDS || n == 0)
        return;
    if (n > LEX_WORD_MAX - 1)
        n = LEX_WORD_MAX - 1;
    memcpy(t->word[t->nwords], w, n);
    t->word[t->nwords][n] = '\0';
    L->soft[t->nwords] = (unsigned char)L->pending_soft;
    L->pending_soft = 0;
    t->nwords++;
}

static void add_words(lexer *L, const char *s)
{
    while (*s) {
        const char *sp = strchr(s, ' ');
        size_t n = sp ? (size_t)(sp - s) : strlen(s);
        add_word(L, s, n);
        s += n;
        while (*s == ' ')
            s++;
    }
}

static int all_digits(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i] < '0' || w[i] > '9')
            return 0;
    return n > 0;
}

/* Numbers become words ("10" -> "ten", "24" -> "twenty four", "3rd" -> "third") so they meet
 * the cards' spelled-out numbers; bigger ones stay as digits. */
static int add_number(lexer *L, const char *w, size_t n)
{
    size_t d = 0;
    while (d < n && w[d] >= '0' && w[d] <= '9')
        d++;
    if (d == 0 || d > 2)
        return 0;
    int v = w[0] - '0';
    if (d == 2)
        v = v * 10 + (w[1] - '0');
    if (d == n) {
        if (v < 20) {
            add_words(L, ones[v]);
        } else {
            add_words(L, tens[v / 10]);
            if (v % 10)
                add_words(L, ones[v % 10]);
        }
        return 1;
    }
    const char *suf = w + d;
    size_t sn = n - d;
    if (sn == 2 && v >= 1 && v <= 12 &&
        (memcmp(suf, "st", 2) == 0 || memcmp(suf, "nd", 2) == 0 || memcmp(suf, "rd", 2) == 0 ||
         memcmp(suf, "th", 2) == 0)) {
        add_words(L, ordinals[v]);
        return 1;
    }
    return 0;
}

/* One raw word (lower case, may hold apostrophes): contractions expanded, possessives dropped. */
static void add_raw(lexer *L, char *w, size_t n)
{
    while (n && w[0] == '\'') {
        w++;
        n--;
    }
    while (n && w[n - 1] == '\'')
        n--;
    if (!n)
        return;
    w[n] = '\0';
    if (add_number(L, w, n))
        return;
    const char *exp = patient_lexicon_contraction(L->lx, w);
    if (exp) {
        add_words(L, exp);
        return;
    }
    static const struct {
        const char *suffix, *expansion;
    } rules[] = {{"n't", "not"},  {"'ll", "will"}, {"'ve", "have"}, {"'re", "are"},
                 {"'d", "would"}, {"'m", "am"},    {"'s", NULL}};
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        size_t k = strlen(rules[i].suffix);
        if (n > k && memcmp(w + n - k, rules[i].suffix, k) == 0) {
            add_raw(L, w, n - k);
            if (rules[i].expansion)
                add_words(L, rules[i].expansion);
            return;
        }
    }
    /* Anything else with an apostrophe inside ("o'clock"): drop it. */
    char buf[LEX_WORD_MAX];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof(buf) - 1; i++)
        if (w[i] != '\'')
            buf[m++] = w[i];
    add_word(L, buf, m);
}

static void end_sentence(lexer *L, int qmark)
{
    pt_text *t = L->t;
    if (t->nwords > L->sent_start && L->nsent < PT_MAX_CLAUSES) {
        L->sent[L->nsent++] = (sentence){L->sent_start, t->nwords, qmark};
    } else if (qmark && L->nsent && L->sent[L->nsent - 1].w1 == t->nwords) {
        L->sent[L->nsent - 1].qmark = 1; /* "?!" or " ?" */
    }
    L->sent_start = t->nwords;
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '\'' || c >= 0x80;
}

/* Splits s into raw words and sentences. Curly quotes become straight ones; hyphens separate
 * words ("night-time" = "night time", the way speech recognisers write it). */
static void lex_words(lexer *L, const char *s)
{
    char w[LEX_WORD_MAX * 2];
    size_t n = 0;
    size_t len = strnlen(s, PT_MAX_INPUT);
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)s[i] : '\0';
        /* U+2018/U+2019 are apostrophes; U+201C/U+201D quotes; U+2026 an ellipsis. */
        if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80) {
            unsigned char c3 = (unsigned char)s[i + 2];
            if (c3 == 0x98 || c3 == 0x99) {
                if (n < sizeof(w) - 1)
                    w[n++] = '\'';
                i += 2;
                continue;
            }
            if (c3 == 0x9C || c3 == 0x9D || c3 == 0xA6 || c3 == 0x93 || c3 == 0x94) {
                i += 2;
                c = c3 == 0xA6 ? '.' : ' ';
            }
        }
        if (c && is_word_byte(c)) {
            if (n < sizeof(w) - 1)
                w[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            continue;
        }
        /* A dot inside a number ("2.5") stays in the word. */
        if (c == '.' && n && all_digits(w + n - 1, 1) && i + 1 < len && s[i + 1] >= '0' &&
            s[i + 1] <= '9') {
            if (n < sizeof(w) - 1)
                w[n++] = '.';
            continue;
        }
        int title = 0;
        if (n) {
            w[n] = '\0';
            title = c == '.' && patient_text_in(w, titles);
            add_raw(L, w, n);
            n = 0;
        }
        if (c == '?')
            end_sentence(L, 1);
        else if ((c == '.' && !title) || c == '!' || c == ';' || c == '\n' || c == '\0')
            end_sentence(L, 0);
        else if (c == ',' || c == ':' || c == '(' || c == ')')
            L->pending_soft = 1;
    }
}

static int wh_within(const pt_text *t, size_t from, size_t i, size_t span)
{
    for (size_t k = i > span ? i - span : 0; k < i; k++)
        if (k >= from && patient_text_in(t->word[k], wh_words))
            return 1;
    return 0;
}

/* Where a new question starts inside a sentence: "… and do you smoke", "… hard, how long". ASR
 * text has no punctuation, so this is what separates two questions said in one breath. */
static int starts_question(const lexer *L, size_t start, size_t end, size_t i)
{
    const pt_text *t = L->t;
    int soft = L->soft[i];
    if (i + 1 >= end || (i < start + 2 && !soft))
        return 0;
    const char *w = t->word[i], *next = t->word[i + 1], *prev = t->word[i - 1];
    if (patient_text_in(w, aux_words) && patient_text_in(next, subject_words))
        return !wh_within(t, start, i, 3) && !patient_text_in(prev, wh_words) &&
               !patient_text_in(prev, aux_words) && !patient_text_in(prev, clause_words);
    if (patient_text_in(w, wh_words) && (soft || i >= start + 3) &&
        (patient_text_in(next, aux_words) || patient_text_in(next, wh_next)))
        return !wh_within(t, start, i, 3) && (soft || !patient_text_in(prev, embed_words));
    return 0;
}

static void make_clauses(lexer *L, unsigned flags)
{
    pt_text *t = L->t;
    for (size_t s = 0; s < L->nsent; s++) {
        size_t start = L->sent[s].w0, end = L->sent[s].w1;
        size_t c0 = start;
        if (flags & PT_SPLIT) {
            for (size_t i = start + 1; i < end; i++) {
                if (t->nclauses + 1 >= PT_MAX_CLAUSES)
                    break;
                if (starts_question(L, c0, end, i)) {
                    t->clause[t->nclauses++] = (pt_clause){c0, i, 0, 0, 0};
                    c0 = i;
                }
            }
        }
        if (t->nclauses < PT_MAX_CLAUSES)
            t->clause[t->nclauses++] = (pt_clause){c0, end, 0, 0, L->sent[s].qmark};
    }
}

/* Appends sep and b to dst (LEX_WORD_MAX bytes), cutting what does not fit. */
static void join(char *dst, const char *b, char sep)
{
    size_t n = strlen(dst);
    if (n + 1 >= LEX_WORD_MAX)
        return;
    dst[n++] = sep;
    size_t m = strlen(b);
    if (m > LEX_WORD_MAX - 1 - n)
        m = LEX_WORD_MAX - 1 - n;
    memcpy(dst + n, b, m);
    dst[n + m] = '\0';
}

static void make_tokens(lexer *L, unsigned flags, char (*stems)[LEX_WORD_MAX])
{
    pt_text *t = L->t;
    for (size_t c = 0; c < t->nclauses; c++) {
        pt_clause *cl = &t->clause[c];
        cl->t0 = t->ntok;
        size_t j = cl->w0;
        while (j < cl->w1) {
            const char *seq[LEX_PHRASE_MAX];
            size_t n = 0;
            for (; n < LEX_PHRASE_MAX && j + n < cl->w1; n++)
                seq[n] = stems[j + n];
            pt_token *k = &t->tok[t->ntok++];
            memset(k, 0, sizeof(*k));
            k->word0 = (uint16_t)j;
            size_t len = patient_lexicon_phrase(L->lx, seq, n, &k->cls);
            if (len >= 2) {
                memcpy(k->word, t->word[j], LEX_WORD_MAX);
                memcpy(k->stem, stems[j], LEX_WORD_MAX);
                for (size_t m = 1; m < len; m++) {
                    join(k->word, t->word[j + m], ' ');
                    join(k->stem, stems[j + m], '_');
                }
                k->tier = LEX_CONTENT;
                k->nwords = (uint8_t)len;
                j += len;
                continue;
            }
            memcpy(k->word, t->word[j], LEX_WORD_MAX);
            memcpy(k->stem, stems[j], LEX_WORD_MAX);
            k->nwords = 1;
            k->tier = (uint8_t)patient_lexicon_tier(L->lx, k->word, k->stem);
            patient_lexicon_classes(L->lx, k->word, k->stem, &k->cls);
            k->known = (uint8_t)patient_lexicon_known(L->lx, k->word, k->stem);
            if ((flags & PT_FUZZY) && k->tier == LEX_CONTENT && !k->cls.n && !k->known &&
                strlen(k->word) >= FUZZY_CLASS_MIN && !all_digits(k->word, 1))
                k->fuzzy = (uint8_t)patient_lexicon_fuzzy_classes(L->lx, k->stem, &k->cls);
            j++;
        }
        cl->t1 = t->ntok;
    }
}

int patient_text_parse(const patient_lexicon *lx, arena *a, const char *s, unsigned flags,
                       pt_text *out)
{
    memset(out, 0, sizeof(*out));
    out->word = arena_alloc(a, PT_MAX_WORDS * sizeof(*out->word));
    lexer *L = arena_calloc(a, sizeof(*L));
    if (!out->word || !L)
        return -1;
    L->lx = lx;
    L->t = out;
    lex_words(L, s ? s : "");
    make_clauses(L, flags);
    char(*stems)[LEX_WORD_MAX] = arena_alloc(a, (out->nwords + 1) * sizeof(*stems));
    out->tok = arena_alloc(a, (out->nwords + 1) * sizeof(*out->tok));
    if (!stems || !out->tok)
        return -1;
    for (size_t i = 0; i < out->nwords; i++)
        patient_lexicon_stem(lx, out->word[i], stems[i]);
    make_tokens(L, flags, stems);
    return 0;
}
