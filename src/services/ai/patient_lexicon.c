/* The scripted patient's word lists, parsed once from the compiled-in data/lexicon/ (*.txt) into
 * sorted tables: contractions, lemmas, tiers by word and by stem, synonym classes by word and by
 * stem, and phrase members. Read-only after the first call, so any thread may use them. */
#include "services/ai/patient_lexicon.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { W_STOP = 1, W_FRAME = 2, W_KNOWN = 4 };

typedef struct lex_pair {
    char key[LEX_WORD_MAX];
    const char *val; /* points into the compiled-in line */
} lex_pair;

typedef struct lex_word {
    char key[LEX_WORD_MAX];
    uint8_t flags;
    lex_classes cls;
} lex_word;

typedef struct lex_phrase {
    uint8_t n;
    char stem[LEX_PHRASE_MAX][LEX_WORD_MAX];
    lex_classes cls;
} lex_phrase;

/* A growable array of fixed-size records, used only while loading. */
typedef struct vec {
    void *p;
    size_t n, cap, size;
} vec;

struct patient_lexicon {
    lex_pair *contractions;
    size_t ncontractions;
    lex_pair *lemmas;
    size_t nlemmas;
    lex_word *surface; /* by exact form: stopwords, frame words, "=word" members */
    size_t nsurface;
    lex_word *stems; /* by stem: frame words, class members */
    size_t nstems;
    lex_phrase *phrases; /* by first stem, longest first */
    size_t nphrases;
    char (*class_names)[LEX_WORD_MAX];
    size_t nclasses;
};

static patient_lexicon *lexicon;
static pthread_once_t lexicon_once = PTHREAD_ONCE_INIT;

static void *vec_push(vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void *p = realloc(v->p, cap * v->size);
        if (!p)
            return NULL;
        v->p = p;
        v->cap = cap;
    }
    void *slot = (char *)v->p + v->n * v->size;
    memset(slot, 0, v->size);
    v->n++;
    return slot;
}

static void copy_word(char *dst, const char *src, size_t n)
{
    if (n > LEX_WORD_MAX - 1)
        n = LEX_WORD_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const lex_pair *)a)->key, ((const lex_pair *)b)->key);
}

static int cmp_word(const void *a, const void *b)
{
    return strcmp(((const lex_word *)a)->key, ((const lex_word *)b)->key);
}

static int cmp_phrase(const void *a, const void *b)
{
    const lex_phrase *x = a, *y = b;
    int c = strcmp(x->stem[0], y->stem[0]);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    for (size_t i = 1; i < x->n; i++) {
        c = strcmp(x->stem[i], y->stem[i]);
        if (c)
            return c;
    }
    return 0;
}

static const lex_pair *find_pair(const lex_pair *t, size_t n, const char *key)
{
    lex_pair k = {.val = NULL};
    copy_word(k.key, key, strlen(key));
    return n ? bsearch(&k, t, n, sizeof(*t), cmp_pair) : NULL;
}

static const lex_word *find_word(const lex_word *t, size_t n, const char *key)
{
    lex_word k = {.flags = 0};
    copy_word(k.key, key, strlen(key));
    return n ? bsearch(&k, t, n, sizeof(*t), cmp_word) : NULL;
}

static const patient_lexicon_list *find_list(const char *name)
{
    for (size_t i = 0; i < patient_lexicon_nlists; i++)
        if (strcmp(patient_lexicon_lists[i].name, name) == 0)
            return &patient_lexicon_lists[i];
    return NULL;
}

static int ends(const char *w, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(w + n - k, suffix, k) == 0;
}

static int is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

void patient_lexicon_stem(const patient_lexicon *lx, const char *word, char *out)
{
    char w[LEX_WORD_MAX];
    copy_word(w, word, strlen(word));
    const lex_pair *lemma = lx ? find_pair(lx->lemmas, lx->nlemmas, w) : NULL;
    if (lemma)
        copy_word(w, lemma->val, strlen(lemma->val));
    size_t n = strlen(w);
    if (n > 3) {
        /* Plurals and the third person. */
        if (n > 4 && ends(w, n, "ies")) {
            w[n - 3] = 'y';
            n -= 2;
        } else if (ends(w, n, "s") && !ends(w, n, "ss") && !ends(w, n, "us") && !ends(w, n, "is")) {
            n -= 1;
        } else if (ends(w, n, "sses")) {
            n -= 2;
        }
        if (n > 6 && ends(w, n, "ness"))
            n -= 4;
        /* One derivational or tense ending. */
        if (n >= 5 && ends(w, n, "ing")) {
            n -= 3;
        } else if ((n > 4 && ends(w, n, "ied")) || (n >= 6 && ends(w, n, "ier"))) {
            w[n - 3] = 'y'; /* "worried", "heavier" */
            n -= 2;
        } else if (n >= 6 && ends(w, n, "iest")) {
            w[n - 4] = 'y';
            n -= 3;
        } else if ((n >= 4 && ends(w, n, "ed") && w[n - 3] != 'e') ||
                   (n >= 6 && ends(w, n, "ly") && !ends(w, n, "ily") && !ends(w, n, "ply"))) {
            n -= 2;
        }
        if (n > 3 && w[n - 1] == 'e')
            n--;
        if (n > 3 && w[n - 1] == w[n - 2] && !is_vowel(w[n - 1]))
            n--;
    }
    w[n] = '\0';
    memcpy(out, w, n + 1);
}

/* Splits "key rest" lists (contractions, lemmas) into pairs. */
static int load_pairs(const char *list, lex_pair **out, size_t *nout)
{
    const patient_lexicon_list *l = find_list(list);
    if (!l)
        return -1;
    vec v = {.size = sizeof(lex_pair)};
    for (size_t i = 0; i < l->n; i++) {
        const char *line = l->lines[i];
        const char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        lex_pair *p = vec_push(&v);
        if (!p) {
            free(v.p);
            return -1;
        }
        copy_word(p->key, line, (size_t)(sp - line));
        p->val = sp + 1;
    }
    if (v.n)
        qsort(v.p, v.n, sizeof(lex_pair), cmp_pair);
    *out = v.p;
    *nout = v.n;
    return 0;
}

static lex_word *push_word(vec *v, const char *key, uint8_t flags, int cls)
{
    lex_word *w = vec_push(v);
    if (!w)
        return NULL;
    copy_word(w->key, key, strlen(key));
    w->flags = flags;
    if (cls >= 0) {
        w->cls.id[0] = (uint16_t)cls;
        w->cls.n = 1;
    }
    return w;
}

/* Sorts and folds duplicate keys together (flags or'd, classes merged). */
static void fold_words(vec *v)
{
    if (!v->n)
        return;
    lex_word *w = v->p;
    qsort(w, v->n, sizeof(*w), cmp_word);
    size_t out = 0;
    for (size_t i = 1; i < v->n; i++) {
        if (strcmp(w[out].key, w[i].key) == 0) {
            w[out].flags |= w[i].flags;
            lex_classes_add(&w[out].cls, &w[i].cls);
        } else {
            w[++out] = w[i];
        }
    }
    v->n = out + 1;
}

static void fold_phrases(vec *v)
{
    if (!v->n)
        return;
    lex_phrase *p = v->p;
    qsort(p, v->n, sizeof(*p), cmp_phrase);
    size_t out = 0;
    for (size_t i = 1; i < v->n; i++) {
        if (cmp_phrase(&p[out], &p[i]) == 0)
            lex_classes_add(&p[out].cls, &p[i].cls);
        else
            p[++out] = p[i];
    }
    v->n = out + 1;
}

static int load_tier(patient_lexicon *lx, const char *list, uint8_t flag, vec *surface, vec *stems)
{
    const patient_lexicon_list *l = find_list(list);
    if (!l)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        if (!push_word(surface, l->lines[i], flag, -1))
            return -1;
        if (flag == W_FRAME || flag == W_KNOWN) {
            char stem[LEX_WORD_MAX];
            patient_lexicon_stem(lx, l->lines[i], stem);
            if (!push_word(stems, stem, flag, -1))
                return -1;
        }
    }
    return 0;
}

static const char *trim(const char *s, const char *end, size_t *len)
{
    while (s < end && *s == ' ')
        s++;
    while (end > s && end[-1] == ' ')
        end--;
    *len = (size_t)(end - s);
    return s;
}

/* One member of a class: "=word", "word" or "several words". */
static int load_member(patient_lexicon *lx, const char *m, size_t len, int cls, vec *surface,
                       vec *stems, vec *phrases)
{
    char buf[LEX_WORD_MAX * LEX_PHRASE_MAX];
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, m, len);
    buf[len] = '\0';
    if (buf[0] == '=')
        return push_word(surface, buf + 1, 0, cls) ? 0 : -1;
    if (!strchr(buf, ' ')) {
        char stem[LEX_WORD_MAX];
        patient_lexicon_stem(lx, buf, stem);
        return push_word(stems, stem, 0, cls) ? 0 : -1;
    }
    lex_phrase *p = vec_push(phrases);
    if (!p)
        return -1;
    char *save = NULL;
    for (char *w = strtok_r(buf, " ", &save); w && p->n < LEX_PHRASE_MAX;
         w = strtok_r(NULL, " ", &save))
        patient_lexicon_stem(lx, w, p->stem[p->n++]);
    p->cls.id[0] = (uint16_t)cls;
    p->cls.n = 1;
    return 0;
}

static int load_synonyms(patient_lexicon *lx, vec *surface, vec *stems, vec *phrases)
{
    const patient_lexicon_list *l = find_list("synonyms.txt");
    if (!l)
        return -1;
    lx->class_names = calloc(l->n ? l->n : 1, sizeof(*lx->class_names));
    if (!lx->class_names)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        const char *line = l->lines[i];
        const char *colon = strchr(line, ':');
        if (!colon || lx->nclasses >= UINT16_MAX)
            continue;
        int cls = (int)lx->nclasses++;
        size_t nlen;
        const char *name = trim(line, colon, &nlen);
        copy_word(lx->class_names[cls], name, nlen);
        const char *p = colon + 1;
        while (*p) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            size_t mlen;
            const char *m = trim(p, end, &mlen);
            if (load_member(lx, m, mlen, cls, surface, stems, phrases))
                return -1;
            p = comma ? comma + 1 : end;
        }
    }
    return 0;
}

static void lexicon_free(patient_lexicon *lx)
{
    if (!lx)
        return;
    free(lx->contractions);
    free(lx->lemmas);
    free(lx->surface);
    free(lx->stems);
    free(lx->phrases);
    free(lx->class_names);
    free(lx);
}

static void load_lexicon(void)
{
    patient_lexicon *lx = calloc(1, sizeof(*lx));
    vec surface = {.size = sizeof(lex_word)};
    vec stems = {.size = sizeof(lex_word)};
    vec phrases = {.size = sizeof(lex_phrase)};
    if (!lx)
        return;
    /* Lemmas first: every other list is stemmed through them. */
    if (load_pairs("contractions.txt", &lx->contractions, &lx->ncontractions) ||
        load_pairs("lemmas.txt", &lx->lemmas, &lx->nlemmas) ||
        load_tier(lx, "stopwords.txt", W_STOP, &surface, &stems) ||
        load_tier(lx, "frame-words.txt", W_FRAME, &surface, &stems) ||
        load_tier(lx, "common-words.txt", W_KNOWN, &surface, &stems) ||
        load_synonyms(lx, &surface, &stems, &phrases)) {
        free(surface.p);
        free(stems.p);
        free(phrases.p);
        lexicon_free(lx);
        return;
    }
    fold_words(&surface);
    fold_words(&stems);
    fold_phrases(&phrases);
    lx->surface = surface.p;
    lx->nsurface = surface.n;
    lx->stems = stems.p;
    lx->nstems = stems.n;
    lx->phrases = phrases.p;
    lx->nphrases = phrases.n;
    lexicon = lx;
}

const patient_lexicon *patient_lexicon_get(void)
{
    pthread_once(&lexicon_once, load_lexicon);
    return lexicon;
}

const char *patient_lexicon_contraction(const patient_lexicon *lx, const char *word)
{
    const lex_pair *p = find_pair(lx->contractions, lx->ncontractions, word);
    return p ? p->val : NULL;
}

enum lex_tier patient_lexicon_tier(const patient_lexicon *lx, const char *word, const char *stem)
{
    const lex_word *w = find_word(lx->surface, lx->nsurface, word);
    if (w && (w->flags & W_STOP))
        return LEX_STOP;
    if (w && (w->flags & W_FRAME))
        return LEX_FRAME;
    w = find_word(lx->stems, lx->nstems, stem);
    if (w && (w->flags & W_FRAME))
        return LEX_FRAME;
    return LEX_CONTENT;
}

int patient_lexicon_known(const patient_lexicon *lx, const char *word, const char *stem)
{
    const lex_word *w = find_word(lx->surface, lx->nsurface, word);
    if (w)
        return 1;
    w = find_word(lx->stems, lx->nstems, stem);
    return w != NULL;
}

void patient_lexicon_classes(const patient_lexicon *lx, const char *word, const char *stem,
                             lex_classes *out)
{
    memset(out, 0, sizeof(*out));
    const lex_word *w = find_word(lx->surface, lx->nsurface, word);
    if (w)
        lex_classes_add(out, &w->cls);
    w = find_word(lx->stems, lx->nstems, stem);
    if (w)
        lex_classes_add(out, &w->cls);
}

int patient_lexicon_fuzzy_classes(const patient_lexicon *lx, const char *stem, lex_classes *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < lx->nstems; i++) {
        const lex_word *w = &lx->stems[i];
        int near = w->cls.n && strlen(w->key) >= 5 && w->key[0] == stem[0]
                       ? patient_lexicon_near(stem, w->key)
                       : 0;
        if (near && (near != NEAR_SUBSTITUTION || strlen(stem) >= NEAR_SUBSTITUTION_MIN)) {
            lex_classes_add(out, &w->cls);
            return 1;
        }
    }
    return 0;
}

size_t patient_lexicon_phrase(const patient_lexicon *lx, const char *const *stems, size_t n,
                              lex_classes *out)
{
    memset(out, 0, sizeof(*out));
    if (n < 2 || !lx->nphrases)
        return 0;
    /* Lower bound on the first stem, then try each phrase sharing it (longest sort first). */
    size_t lo = 0, hi = lx->nphrases;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(lx->phrases[mid].stem[0], stems[0]) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < lx->nphrases && strcmp(lx->phrases[i].stem[0], stems[0]) == 0; i++) {
        const lex_phrase *p = &lx->phrases[i];
        if (p->n > n)
            continue;
        size_t k = 1;
        while (k < p->n && strcmp(p->stem[k], stems[k]) == 0)
            k++;
        if (k == p->n) {
            *out = p->cls;
            return p->n;
        }
    }
    return 0;
}

int patient_lexicon_near(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na < nb) {
        const char *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    if (na - nb > 1)
        return 0;
    size_t i = 0;
    while (i < nb && a[i] == b[i])
        i++;
    if (i == nb)
        return 2; /* equal, or a has one extra letter at the end */
    if (na == nb) {
        if (i + 1 < na && a[i] == b[i + 1] && a[i + 1] == b[i] && strcmp(a + i + 2, b + i + 2) == 0)
            return 2; /* neighbours swapped */
        return strcmp(a + i + 1, b + i + 1) == 0 ? NEAR_SUBSTITUTION : 0;
    }
    return strcmp(a + i + 1, b + i) == 0 ? 2 : 0; /* one letter dropped from a */
}

int lex_classes_share(const lex_classes *a, const lex_classes *b)
{
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++)
            if (a->id[i] == b->id[j])
                return 1;
    return 0;
}

void lex_classes_add(lex_classes *to, const lex_classes *from)
{
    for (size_t i = 0; i < from->n; i++) {
        int seen = 0;
        for (size_t j = 0; j < to->n; j++)
            seen |= to->id[j] == from->id[i];
        if (!seen && to->n < LEX_MAX_CLASSES)
            to->id[to->n++] = from->id[i];
    }
}

const char *patient_lexicon_class_name(const patient_lexicon *lx, uint16_t id)
{
    return id < lx->nclasses ? lx->class_names[id] : "?";
}
