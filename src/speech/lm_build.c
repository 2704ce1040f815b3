/* Counting and smoothing for the domain language models: weighted n-gram counts in two
 * open-addressing tables (words, n-grams), interpolated Witten-Bell, and the ARPA writer. */
#include "speech/lm_build.h"
#include "speech/lm_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOS 0u /* word ids of <s> and </s>, fixed at creation */
#define EOS 1u
#define NONE UINT32_MAX

typedef struct ngram {
    uint32_t w[LM_ORDER];
    uint8_t n;    /* order */
    uint32_t ctx; /* distinct words seen after this n-gram (its T as a context) */
    double c;     /* weighted count */
    double ctx_c; /* weighted count of this n-gram as a context (sum over its followers) */
    double p;     /* smoothed probability, filled by the writer */
} ngram;

struct lm_counts {
    char **words;
    size_t nwords, capwords;
    uint32_t *wtab; /* word id + 1, 0 = empty slot */
    size_t wtabcap;
    ngram *ng;
    size_t nng, capng;
    uint32_t *ntab; /* n-gram index + 1, 0 = empty slot */
    size_t ntabcap;
};

static uint64_t hash_str(const char *s);
static uint64_t hash_ngram(const uint32_t *w, uint8_t n);
static int grow_table(uint32_t **tab, size_t *cap, size_t used, int words_tab, const lm_counts *c);
static uint32_t word_find(const lm_counts *c, const char *w);
static uint32_t word_intern(lm_counts *c, const char *w);
static size_t ngram_find(const lm_counts *c, const uint32_t *w, uint8_t n);
static int ngram_add(lm_counts *c, const uint32_t *w, uint8_t n, double weight);

/* ---- counting ---------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t hash_ngram(const uint32_t *w, uint8_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (uint8_t i = 0; i < n; i++)
        h = (h ^ w[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t item_hash(const lm_counts *c, int words_tab, uint32_t idx)
{
    return words_tab ? hash_str(c->words[idx]) : hash_ngram(c->ng[idx].w, c->ng[idx].n);
}

/* Doubles an open-addressing table when it is more than half full, rehashing every item. */
static int grow_table(uint32_t **tab, size_t *cap, size_t used, int words_tab, const lm_counts *c)
{
    if (*cap && used * 2 < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 1024;
    uint32_t *nt = calloc(ncap, sizeof(*nt));
    if (!nt)
        return -1;
    for (size_t i = 0; i < *cap; i++) {
        if (!(*tab)[i])
            continue;
        uint32_t idx = (*tab)[i] - 1;
        size_t slot = (size_t)item_hash(c, words_tab, idx) & (ncap - 1);
        while (nt[slot])
            slot = (slot + 1) & (ncap - 1);
        nt[slot] = idx + 1;
    }
    free(*tab);
    *tab = nt;
    *cap = ncap;
    return 0;
}

static uint32_t word_find(const lm_counts *c, const char *w)
{
    if (!c->wtabcap)
        return NONE;
    size_t slot = (size_t)hash_str(w) & (c->wtabcap - 1);
    while (c->wtab[slot]) {
        uint32_t idx = c->wtab[slot] - 1;
        if (strcmp(c->words[idx], w) == 0)
            return idx;
        slot = (slot + 1) & (c->wtabcap - 1);
    }
    return NONE;
}

static uint32_t word_intern(lm_counts *c, const char *w)
{
    uint32_t id = word_find(c, w);
    if (id != NONE)
        return id;
    if (c->nwords >= UINT32_MAX - 1 || grow_table(&c->wtab, &c->wtabcap, c->nwords, 1, c) != 0)
        return NONE;
    if (c->nwords == c->capwords) {
        size_t ncap = c->capwords ? c->capwords * 2 : 256;
        char **nw = realloc(c->words, ncap * sizeof(*nw));
        if (!nw)
            return NONE;
        c->words = nw;
        c->capwords = ncap;
    }
    char *copy = strdup(w);
    if (!copy)
        return NONE;
    id = (uint32_t)c->nwords;
    c->words[c->nwords++] = copy;
    size_t slot = (size_t)hash_str(w) & (c->wtabcap - 1);
    while (c->wtab[slot])
        slot = (slot + 1) & (c->wtabcap - 1);
    c->wtab[slot] = id + 1;
    return id;
}

static size_t ngram_find(const lm_counts *c, const uint32_t *w, uint8_t n)
{
    if (!c->ntabcap)
        return SIZE_MAX;
    size_t slot = (size_t)hash_ngram(w, n) & (c->ntabcap - 1);
    while (c->ntab[slot]) {
        uint32_t idx = c->ntab[slot] - 1;
        const ngram *g = &c->ng[idx];
        if (g->n == n && memcmp(g->w, w, n * sizeof(*w)) == 0)
            return idx;
        slot = (slot + 1) & (c->ntabcap - 1);
    }
    return SIZE_MAX;
}

static int ngram_add(lm_counts *c, const uint32_t *w, uint8_t n, double weight)
{
    size_t idx = ngram_find(c, w, n);
    if (idx != SIZE_MAX) {
        c->ng[idx].c += weight;
        return 0;
    }
    if (c->nng >= UINT32_MAX - 1 || grow_table(&c->ntab, &c->ntabcap, c->nng, 0, c) != 0)
        return -1;
    if (c->nng == c->capng) {
        size_t ncap = c->capng ? c->capng * 2 : 1024;
        ngram *ng = realloc(c->ng, ncap * sizeof(*ng));
        if (!ng)
            return -1;
        c->ng = ng;
        c->capng = ncap;
    }
    ngram *g = &c->ng[c->nng];
    memset(g, 0, sizeof(*g));
    memcpy(g->w, w, n * sizeof(*w));
    for (uint8_t i = n; i < LM_ORDER; i++)
        g->w[i] = NONE;
    g->n = n;
    g->c = weight;
    size_t slot = (size_t)hash_ngram(w, n) & (c->ntabcap - 1);
    while (c->ntab[slot])
        slot = (slot + 1) & (c->ntabcap - 1);
    c->ntab[slot] = (uint32_t)c->nng + 1;
    c->nng++;
    return 0;
}

lm_counts *lm_counts_new(void)
{
    lm_counts *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (word_intern(c, "<s>") != BOS || word_intern(c, "</s>") != EOS) {
        lm_counts_free(c);
        return NULL;
    }
    /* <s> is a unigram of the model (a context) even though it is never predicted. */
    uint32_t bos = BOS;
    if (ngram_add(c, &bos, 1, 0) != 0) {
        lm_counts_free(c);
        return NULL;
    }
    return c;
}

void lm_counts_free(lm_counts *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nwords; i++)
        free(c->words[i]);
    free(c->words);
    free(c->wtab);
    free(c->ng);
    free(c->ntab);
    free(c);
}

int lm_counts_add_sentence(lm_counts *c, const char *sentence, double weight)
{
    if (!(weight > 0))
        return -1;
    uint32_t hist[LM_ORDER] = {BOS, NONE, NONE}; /* hist[0] newest */
    size_t nhist = 1;
    const char *p = sentence;
    int any = 0;
    for (;;) {
        while (*p == ' ')
            p++;
        uint32_t id;
        if (*p == '\0' || *p == '\n') {
            if (!any)
                return 0;
            id = EOS;
        } else {
            char w[LM_WORD_MAX];
            size_t len = strcspn(p, " \n");
            const char *t = p;
            p += len;
            if (len >= sizeof(w))
                continue;
            memcpy(w, t, len);
            w[len] = '\0';
            id = word_intern(c, w);
            if (id == NONE)
                return -1;
            if (id == BOS || id == EOS)
                continue; /* literal "<s>" in text is not a sentence boundary */
            any = 1;
        }
        /* Every n-gram ending in id: (id), (h0 id), (h1 h0 id). */
        uint32_t g[LM_ORDER];
        for (size_t n = 1; n <= LM_ORDER && n <= nhist + 1; n++) {
            for (size_t k = 0; k + 1 < n; k++)
                g[k] = hist[n - 2 - k];
            g[n - 1] = id;
            if (ngram_add(c, g, (uint8_t)n, weight) != 0)
                return -1;
        }
        if (id == EOS)
            return 0;
        hist[2] = hist[1];
        hist[1] = hist[0];
        hist[0] = id;
        if (nhist < LM_ORDER)
            nhist++;
    }
}

int lm_counts_add_text(lm_counts *c, const char *text, lm_known_fn known, void *ud, double weight)
{
    buf b;
    buf_init(&b, (size_t)1 << 26);
    int rc = lm_normalise(text, known, ud, &b) ? -1 : 0;
    const char *end = b.ptr ? b.ptr + b.len : NULL;
    for (const char *line = b.ptr; rc == 0 && line && line < end && *line;) {
        rc = lm_counts_add_sentence(c, line, weight);
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        line = nl ? nl + 1 : NULL;
    }
    buf_free(&b);
    return rc;
}

double lm_counts_get(const lm_counts *c, const char *ngram_text)
{
    uint32_t w[LM_ORDER];
    uint8_t n = 0;
    const char *p = ngram_text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ");
        char word[LM_WORD_MAX];
        if (n == LM_ORDER || len >= sizeof(word))
            return 0;
        memcpy(word, p, len);
        word[len] = '\0';
        w[n] = word_find(c, word);
        if (w[n] == NONE)
            return 0;
        n++;
        p += len;
    }
    size_t idx = n ? ngram_find(c, w, n) : SIZE_MAX;
    return idx == SIZE_MAX ? 0 : c->ng[idx].c;
}

lm_stats lm_counts_stats(const lm_counts *c)
{
    lm_stats st = {{0}};
    for (size_t i = 0; i < c->nng; i++)
        st.n[c->ng[i].n - 1]++;
    /* </s> is a unigram as soon as one sentence was counted. */
    return st;
}

typedef struct ranked_word {
    const char *w;
    uint32_t id;
} ranked_word;

static int cmp_ranked_word(const void *a, const void *b)
{
    return strcmp(((const ranked_word *)a)->w, ((const ranked_word *)b)->w);
}

/* rank[id] = position of the word in sorted order, so output is sorted and deterministic. */
static uint32_t *word_ranks(const lm_counts *c)
{
    ranked_word *rw = malloc(c->nwords * sizeof(*rw));
    uint32_t *rank = malloc(c->nwords * sizeof(*rank));
    if (!rw || !rank) {
        free(rw);
        free(rank);
        return NULL;
    }
    for (size_t i = 0; i < c->nwords; i++)
        rw[i] = (ranked_word){c->words[i], (uint32_t)i};
    qsort(rw, c->nwords, sizeof(*rw), cmp_ranked_word);
    for (size_t i = 0; i < c->nwords; i++)
        rank[rw[i].id] = (uint32_t)i;
    free(rw);
    return rank;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t lm_counts_vocab(const lm_counts *c, const char ***out)
{
    size_t n = c->nwords - 2;
    const char **v = malloc((n ? n : 1) * sizeof(*v));
    if (!v)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++)
        v[i] = c->words[i + 2];
    qsort(v, n, sizeof(*v), cmp_cstr);
    *out = v;
    return n;
}

/* ---- smoothing and the ARPA file ----------------------------------------------------------- */

typedef struct sorted_ngram {
    uint32_t r[LM_ORDER];
    uint32_t idx;
} sorted_ngram;

static int cmp_sorted_ngram(const void *a, const void *b)
{
    const sorted_ngram *x = a, *y = b;
    for (int i = 0; i < LM_ORDER; i++)
        if (x->r[i] != y->r[i])
            return x->r[i] < y->r[i] ? -1 : 1;
    return 0;
}

/* Fills ctx_c and ctx (T) of every n-gram that is a context, then p of every n-gram. */
static void smooth(lm_counts *c)
{
    double total = 0;
    for (size_t i = 0; i < c->nng; i++) {
        ngram *g = &c->ng[i];
        if (g->n == 1)
            total += g->c;
        if (g->n < 2)
            continue;
        size_t h = ngram_find(c, g->w, (uint8_t)(g->n - 1));
        if (h != SIZE_MAX) {
            c->ng[h].ctx_c += g->c;
            c->ng[h].ctx++;
        }
    }
    /* Orders in turn: a trigram needs the probability of its bigram suffix. */
    for (uint8_t n = 1; n <= LM_ORDER; n++) {
        for (size_t i = 0; i < c->nng; i++) {
            ngram *g = &c->ng[i];
            if (g->n != n)
                continue;
            if (n == 1) {
                g->p = total > 0 ? g->c / total : 0;
                continue;
            }
            const ngram *h = &c->ng[ngram_find(c, g->w, (uint8_t)(n - 1))];
            const ngram *lower = &c->ng[ngram_find(c, g->w + 1, (uint8_t)(n - 1))];
            double lambda = (double)h->ctx / (h->ctx_c + (double)h->ctx);
            g->p = (1 - lambda) * g->c / h->ctx_c + lambda * lower->p;
        }
    }
}

static int write_order(const lm_counts *c, const uint32_t *rank, uint8_t n, buf *out)
{
    size_t count = 0;
    for (size_t i = 0; i < c->nng; i++)
        count += c->ng[i].n == n;
    sorted_ngram *s = malloc((count ? count : 1) * sizeof(*s));
    if (!s)
        return BUF_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->nng; i++) {
        const ngram *g = &c->ng[i];
        if (g->n != n)
            continue;
        for (int j = 0; j < LM_ORDER; j++)
            s[k].r[j] = j < n ? rank[g->w[j]] : 0;
        s[k++].idx = (uint32_t)i;
    }
    qsort(s, count, sizeof(*s), cmp_sorted_ngram);
    int rc = buf_printf(out, "\\%u-grams:\n", (unsigned)n);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const ngram *g = &c->ng[s[i].idx];
        double lp = g->p > 0 ? log10(g->p) : -99.0;
        rc = buf_printf(out, "%.6f\t", lp);
        for (uint8_t j = 0; j < n && rc == 0; j++)
            rc = buf_printf(out, j ? " %s" : "%s", c->words[g->w[j]]);
        if (rc == 0 && n < LM_ORDER && g->ctx > 0)
            rc = buf_printf(out, "\t%.6f", log10((double)g->ctx / (g->ctx_c + (double)g->ctx)));
        if (rc == 0)
            rc = buf_puts(out, "\n");
    }
    if (rc == 0)
        rc = buf_puts(out, "\n");
    free(s);
    return rc;
}

int lm_write_arpa(lm_counts *c, buf *out)
{
    lm_stats st = lm_counts_stats(c);
    if (st.n[1] == 0)
        return -1; /* no sentence was counted */
    smooth(c);
    uint32_t *rank = word_ranks(c);
    if (!rank)
        return BUF_NOMEM;
    int rc = buf_printf(out, "\\data\\\nngram 1=%zu\nngram 2=%zu\nngram 3=%zu\n\n", st.n[0],
                        st.n[1], st.n[2]);
    for (uint8_t n = 1; n <= LM_ORDER && rc == 0; n++)
        rc = write_order(c, rank, n, out);
    if (rc == 0)
        rc = buf_puts(out, "\\end\\\n");
    free(rank);
    return rc;
}
