/* Normalising text into recogniser words: what the domain language model is counted from.
 * Card fields and corpus lines go through the same function, so the model's words are the
 * words pocketsphinx writes. */
#ifndef PRAXIS_SPEECH_LM_TEXT_H
#define PRAXIS_SPEECH_LM_TEXT_H

#include "core/buf.h"
#include "core/common.h"

#define LM_WORD_MAX 48 /* bytes of a word including the NUL; longer words are dropped */

/* Tells the normaliser whether word (lower case) is in the recogniser's dictionary, so an
 * all-capitals abbreviation it does not know ("ECG", "COPD") is spelt out as letters. */
typedef int (*lm_known_fn)(void *ud, const char *word);

/* Normalises free text into sentences of words, appended to out: one sentence a line, words
 * separated by one space, lower case a-z and apostrophes only. Numbers become words ("61" ->
 * "sixty one", "3rd" -> "third", "1.5" -> "one point five", "10:30" -> "ten thirty"), units
 * after a number are spelt ("5mg" -> "five milligrams"), hyphens and slashes split words,
 * "e.g."/"i.e." are dropped, sentences end at . ? ! ; : brackets, quotes and line breaks.
 * known may be NULL (no abbreviation is spelt out). Returns 0, or a BUF_* error. */
int lm_normalise(const char *text, lm_known_fn known, void *ud, buf *out) WUR;

#endif
