/* The domain language model of one scenario version, built from its card and the shipped
 * consultation corpus and cached on disk: "<key>-<hash>.lm.bin" (sphinxbase binary trigram) and
 * "<key>-<hash>.dic" (pronunciations of its words the recogniser's dictionary lacks). The hash
 * covers every input, so a changed card, corpus or dictionary builds a new model and the old
 * files of that key are removed. */
#ifndef PRAXIS_SPEECH_DOMAIN_H
#define PRAXIS_SPEECH_DOMAIN_H

#include "core/common.h"
#include <jansson.h>
#include <stdint.h>

#define STT_DOMAIN_KEY_MAX 100 /* bytes of a domain key, without the NUL */

/* The words of a pronunciation dictionary (pocketsphinx format: "word[(n)] PHONES" a line),
 * without alternate-pronunciation markers. Read-only once loaded, so threads may share it. */
typedef struct stt_wordset stt_wordset;

/* Loads the words of dict_path; NULL + err when the file cannot be read or has no words. */
stt_wordset *stt_wordset_load(const char *dict_path, char *err, size_t errlen);
/* 1 when word is in the set. */
int stt_wordset_has(const stt_wordset *ws, const char *word);
void stt_wordset_free(stt_wordset *ws);

/* What every domain model is built from besides its card. */
typedef struct stt_domain_env {
    const char *cache_dir;   /* must exist */
    const stt_wordset *dict; /* the recogniser's dictionary */
    const char *corpus;      /* consultation sentences, one a line, '#' comments */
    size_t corpus_len;
    uint64_t base_hash; /* set by stt_domain_env_init */
} stt_domain_env;

/* Fills env and its base hash (corpus, dictionary file identity, builder version). */
void stt_domain_env_init(stt_domain_env *env, const char *cache_dir, const stt_wordset *dict,
                         const char *dict_path, const char *corpus, size_t corpus_len);

/* A prepared domain model, ready for a decoder to load. */
typedef struct stt_domain {
    char key[STT_DOMAIN_KEY_MAX + 1];
    uint64_t hash;
    char *lm_path; /* the trigram in sphinxbase binary format */
    char **words;  /* words missing from the dictionary ... */
    char **phones; /* ... and their phones ("K OW L IH N") */
    size_t nwords;
} stt_domain;

/* 1 when key is usable as a domain key and a file name: 1 to STT_DOMAIN_KEY_MAX characters of
 * [A-Za-z0-9._-], starting with a letter or digit, without "..". */
int stt_domain_key_valid(const char *key);

/* The hash a card gives under env (what names its cache files). card is a scenario document
 * with candidate_card and patient_card, or a patient card alone. -1 when out of memory. */
int stt_domain_hash(const stt_domain_env *env, const json_t *card, uint64_t *out) WUR;

/* Loads the model of key and card from the cache, or builds and caches it. *built is 1 when it
 * was built now, 0 on a cache hit. On success out owns its memory (stt_domain_clear). Not
 * thread-safe for the same key: callers serialise builds. -1 + err on failure. */
int stt_domain_prepare(const stt_domain_env *env, const char *key, const json_t *card,
                       stt_domain *out, int *built, char *err, size_t errlen) WUR;

/* Loads the newest cached model of key whatever its hash (a caller without the card). -1 when
 * there is none or it cannot be read. */
int stt_domain_find_cached(const stt_domain_env *env, const char *key, stt_domain *out) WUR;

/* Copies src into dst (dst owns its memory). -1 when out of memory. */
int stt_domain_copy(stt_domain *dst, const stt_domain *src) WUR;

void stt_domain_clear(stt_domain *d);

#endif
