/* Pronunciations for words the recogniser's dictionary lacks (drug and product names, patients'
 * names, British spellings): flite's CMU lexicon, then its letter-to-sound rules, mapped to the
 * phone set of the pocketsphinx en-us acoustic model. flite's lexicon is a process-wide
 * singleton that is not thread-safe, so calls are serialised inside. */
#ifndef PRAXIS_SPEECH_PRON_H
#define PRAXIS_SPEECH_PRON_H

#include "core/common.h"

#define PRON_MAX 256 /* bytes of a pronunciation string including the NUL */

/* Writes the phones of word (lower case letters, apostrophes ignored) into out, separated by
 * spaces, e.g. "colin" -> "K OW L IH N". Returns 0, or -1 when the word has no letters, flite
 * gives nothing usable, or the result does not fit outlen. */
int stt_pron_guess(const char *word, char *out, size_t outlen) WUR;

/* Maps one flite phone ("ax0", "ey1", "hh") to the CMU/sphinx phone without stress ("AH",
 * "EY", "HH"). NULL for a pause or a phone the acoustic model does not have. */
const char *stt_pron_phone(const char *flite_phone);

#endif
