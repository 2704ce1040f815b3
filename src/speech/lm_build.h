/* Domain language models, the counting half: weighted n-gram counts of normalised sentences and
 * an ARPA trigram with interpolated Witten-Bell smoothing. Nothing here knows about a decoder:
 * the output is ARPA text for sphinxbase to read. */
#ifndef PRAXIS_SPEECH_LM_BUILD_H
#define PRAXIS_SPEECH_LM_BUILD_H

#include "core/buf.h"
#include "core/common.h"
#include "speech/lm_text.h"

#define LM_ORDER 3

typedef struct lm_counts lm_counts;

/* An empty count table; NULL when out of memory. */
lm_counts *lm_counts_new(void);
void lm_counts_free(lm_counts *c);

/* Counts one sentence (already normalised words separated by spaces) weight times, between
 * <s> and </s>. A sentence with no words counts nothing. weight > 0. Returns 0, -1 when out of
 * memory or weight is not positive. */
int lm_counts_add_sentence(lm_counts *c, const char *sentence, double weight) WUR;

/* Normalises text (lm_normalise) and counts each of its sentences weight times. */
int lm_counts_add_text(lm_counts *c, const char *text, lm_known_fn known, void *ud,
                       double weight) WUR;

/* The weighted count of an n-gram given as space-separated words ("<s> hello", "how are you");
 * 0 when unseen or malformed. */
double lm_counts_get(const lm_counts *c, const char *ngram);

/* Distinct n-grams per order as the ARPA header will state them: n[0] unigrams (with <s> and
 * </s>), n[1] bigrams, n[2] trigrams. */
typedef struct lm_stats {
    size_t n[LM_ORDER];
} lm_stats;
lm_stats lm_counts_stats(const lm_counts *c);

/* The vocabulary without <s> and </s>, sorted; *out is a malloc'ed array of pointers into c
 * (free the array, not the words). Returns the number of words, or (size_t)-1 when out of
 * memory. */
size_t lm_counts_vocab(const lm_counts *c, const char ***out);

/* Writes an ARPA trigram (interpolated Witten-Bell: for a context h seen c(h) times followed by
 * T(h) distinct words, P(w|h) = (c(h,w) + T(h) P(w|h')) / (c(h) + T(h)), which makes the
 * backoff weight of h exactly T(h) / (c(h) + T(h))). Unigrams are maximum likelihood; <s> gets
 * log10 probability -99. Fills the probabilities in c. Returns 0, -1 when there is nothing to
 * write, or a BUF_* error. */
int lm_write_arpa(lm_counts *c, buf *out) WUR;

#endif
