/* Building and caching the domain language model of a scenario version: which card fields feed
 * it and how much, the hash that names the cache files, the ARPA -> binary conversion through
 * sphinxbase, and pronunciations for the words the recogniser's dictionary lacks. */
#include "speech/domain.h"

#include "core/buf.h"
#include "core/errors.h"
#include "speech/lm_build.h"
#include "speech/pron.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bump when the builder or the weights change: every cached model is rebuilt. */
#define BUILDER_VERSION "domain-lm-1"

/* How many times a sentence counts, by what it is. The candidate's own kind of speech (the
 * card's trigger questions and evidence phrases) counts most; patient lines and narrative
 * bring the scenario's vocabulary; the corpus brings the shape of consultation speech. */
#define W_CANDIDATE 3.0
#define W_NAME 2.0
#define W_NARRATIVE 1.0
#define W_CORPUS 1.0

#define CARD_TEXT_MAX ((size_t)1 << 22)
#define ARPA_MAX ((size_t)1 << 28)

struct stt_wordset {
    char **words; /* sorted */
    size_t n;
    char *mem; /* the file; words point into it */
};

static int card_sentences(const stt_domain_env *env, const json_t *card, buf *out);
static int known_word(void *ud, const char *word);

/* ---- the dictionary's words --------------------------------------------------------------- */

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    buf b;
    buf_init(&b, (size_t)1 << 28);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&b, chunk, n);
    if (ferror(f))
        rc = -1;
    fclose(f);
    if (rc) {
        buf_free(&b);
        return -1;
    }
    *out = buf_detach(&b, len);
    return *out ? 0 : -1;
}

stt_wordset *stt_wordset_load(const char *dict_path, char *err, size_t errlen)
{
    stt_wordset *ws = calloc(1, sizeof(*ws));
    size_t len = 0, cap = 0;
    if (!ws || read_file(dict_path, &ws->mem, &len) != 0) {
        err_set(err, errlen, "cannot read dictionary %s", dict_path);
        stt_wordset_free(ws);
        return NULL;
    }
    char *end = ws->mem + len;
    for (char *line = ws->mem; line && line < end && *line;) {
        /* memchr, not strchr: the remaining length is known, and a checked strchr would
         * measure the rest of the 3 MB dictionary for every one of its 135k lines. */
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl)
            *nl = '\0';
        size_t wl = strcspn(line, " \t(\r");
        if (wl > 0) {
            line[wl] = '\0';
            if (ws->n == cap) {
                cap = cap ? cap * 2 : 65536;
                char **nw = realloc(ws->words, cap * sizeof(*nw));
                if (!nw) {
                    err_set(err, errlen, "out of memory reading %s", dict_path);
                    stt_wordset_free(ws);
                    return NULL;
                }
                ws->words = nw;
            }
            ws->words[ws->n++] = line;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (ws->n == 0) {
        err_set(err, errlen, "dictionary %s has no words", dict_path);
        stt_wordset_free(ws);
        return NULL;
    }
    qsort(ws->words, ws->n, sizeof(*ws->words), cmp_cstr);
    /* Alternate pronunciations ("read(2)") left duplicates: keep one of each. */
    size_t k = 1;
    for (size_t i = 1; i < ws->n; i++)
        if (strcmp(ws->words[i], ws->words[k - 1]) != 0)
            ws->words[k++] = ws->words[i];
    ws->n = k;
    return ws;
}

int stt_wordset_has(const stt_wordset *ws, const char *word)
{
    return ws && bsearch(&word, ws->words, ws->n, sizeof(*ws->words), cmp_cstr) != NULL;
}

void stt_wordset_free(stt_wordset *ws)
{
    if (!ws)
        return;
    free(ws->words);
    free(ws->mem);
    free(ws);
}

static int known_word(void *ud, const char *word)
{
    return stt_wordset_has(ud, word);
}

/* ---- keys, hashes, file names ------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

void stt_domain_env_init(stt_domain_env *env, const char *cache_dir, const stt_wordset *dict,
                         const char *dict_path, const char *corpus, size_t corpus_len)
{
    struct stat st;
    uint64_t h = fnv(1469598103934665603ull, BUILDER_VERSION, sizeof(BUILDER_VERSION));
    h = fnv(h, corpus, corpus_len);
    if (dict_path) {
        h = fnv(h, dict_path, strlen(dict_path));
        if (stat(dict_path, &st) == 0) {
            long long size = (long long)st.st_size;
            h = fnv(h, &size, sizeof(size));
        }
    }
    env->cache_dir = cache_dir;
    env->dict = dict;
    env->corpus = corpus;
    env->corpus_len = corpus_len;
    env->base_hash = h;
}

int stt_domain_key_valid(const char *key)
{
    if (!key || !isalnum((unsigned char)key[0]))
        return 0;
    size_t n = 0;
    for (const char *p = key; *p; p++, n++) {
        if (n >= STT_DOMAIN_KEY_MAX)
            return 0;
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
        if (*p == '.' && p[1] == '.')
            return 0;
    }
    return 1;
}

int stt_domain_hash(const stt_domain_env *env, const json_t *card, uint64_t *out)
{
    buf text;
    buf_init(&text, CARD_TEXT_MAX);
    int rc = card_sentences(env, card, &text);
    if (rc == 0)
        *out = fnv(env->base_hash, text.ptr ? text.ptr : "", text.len);
    buf_free(&text);
    return rc ? -1 : 0;
}

static int cache_path(const stt_domain_env *env, const char *key, uint64_t hash, const char *suffix,
                      char **out)
{
    buf b;
    buf_init(&b, 4096);
    if (buf_printf(&b, "%s/%s-%016llx%s", env->cache_dir, key, (unsigned long long)hash, suffix) !=
        0) {
        buf_free(&b);
        return -1;
    }
    *out = buf_detach(&b, NULL);
    return *out ? 0 : -1;
}

/* For a cache file name of key ("<key>-<16 hex><suffix>"), its hash; -1 when it is not one. */
static int parse_cache_name(const char *name, const char *key, const char *suffix, uint64_t *hash)
{
    size_t kl = strlen(key), sl = strlen(suffix), nl = strlen(name);
    if (nl != kl + 1 + 16 + sl || strncmp(name, key, kl) != 0 || name[kl] != '-' ||
        strcmp(name + kl + 17, suffix) != 0)
        return -1;
    uint64_t h = 0;
    for (size_t i = kl + 1; i < kl + 17; i++) {
        int d = isdigit((unsigned char)name[i])      ? name[i] - '0'
                : (name[i] >= 'a' && name[i] <= 'f') ? name[i] - 'a' + 10
                                                     : -1;
        if (d < 0)
            return -1;
        h = h << 4 | (uint64_t)d;
    }
    *hash = h;
    return 0;
}

/* Removes the cache files of key that belong to another hash (an earlier card). */
static void remove_stale(const stt_domain_env *env, const char *key, uint64_t keep)
{
    static const char *const suffixes[] = {".lm.bin", ".dic"};
    DIR *d = opendir(env->cache_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
            uint64_t h;
            if (parse_cache_name(e->d_name, key, suffixes[i], &h) != 0 || h == keep)
                continue;
            char *path = NULL;
            if (cache_path(env, key, h, suffixes[i], &path) == 0)
                (void)unlink(path);
            free(path);
        }
    }
    closedir(d);
}

/* ---- what a card contributes -------------------------------------------------------------- */

/* Appends the sentences of text as "<weight>\t<words>\n" lines. */
static int add_text(const stt_domain_env *env, const char *text, double weight, buf *out)
{
    if (!text || !*text)
        return 0;
    buf norm;
    buf_init(&norm, CARD_TEXT_MAX);
    int rc = lm_normalise(text, known_word, (void *)env->dict, &norm);
    for (const char *line = norm.ptr; rc == 0 && line && *line;) {
        size_t len = strcspn(line, "\n");
        rc = buf_printf(out, "%g\t%.*s\n", weight, (int)len, line);
        line += len + (line[len] == '\n');
    }
    buf_free(&norm);
    return rc;
}

static int add_string(const stt_domain_env *env, const json_t *obj, const char *field,
                      double weight, buf *out)
{
    return add_text(env, json_string_value(json_object_get(obj, field)), weight, out);
}

/* Every string of an array field (or of a field of each object in it). */
static int add_array(const stt_domain_env *env, const json_t *arr, const char *field, double weight,
                     buf *out)
{
    size_t i;
    const json_t *v;
    int rc = 0;
    json_array_foreach(arr, i, v)
    {
        const json_t *s = field ? json_object_get(v, field) : v;
        if (rc == 0)
            rc = add_text(env, json_string_value(s), weight, out);
    }
    return rc;
}

/* How the candidate will address the patient: "mr fraser", "colin", "hello mr fraser". */
static int add_names(const stt_domain_env *env, const json_t *pcard, buf *out)
{
    const char *name = json_string_value(json_object_get(pcard, "name"));
    const char *gender = json_string_value(json_object_get(pcard, "gender"));
    if (!name || !*name)
        return 0;
    const char *last = strrchr(name, ' ');
    size_t first_len = strcspn(name, " ");
    last = last ? last + 1 : name;
    const char *titles = gender && strcmp(gender, "male") == 0     ? "mr"
                         : gender && strcmp(gender, "female") == 0 ? "mrs|ms|miss"
                                                                   : "mr|mrs|ms";
    buf b;
    buf_init(&b, 4096);
    int rc = buf_printf(&b, "%s.\nhello %.*s.\n", name, (int)first_len, name);
    for (const char *t = titles; rc == 0 && *t;) {
        size_t tl = strcspn(t, "|");
        rc = buf_printf(&b, "%.*s %s.\nhello %.*s %s.\nthank you %.*s %s.\n", (int)tl, t, last,
                        (int)tl, t, last, (int)tl, t, last);
        t += tl + (t[tl] == '|');
    }
    if (rc == 0)
        rc = add_text(env, b.ptr, W_NAME, out);
    buf_free(&b);
    return rc;
}

static int card_sentences(const stt_domain_env *env, const json_t *card, buf *out)
{
    const json_t *cc = json_object_get(card, "candidate_card");
    const json_t *pc = json_object_get(card, "patient_card");
    int rc = 0;
    if (!json_is_object(card))
        return -1;
    if (!pc && json_object_get(card, "facts"))
        pc = card; /* a patient card on its own */
    if (rc == 0)
        rc = add_string(env, card, "title", W_NARRATIVE, out);
    if (rc == 0)
        rc = add_string(env, card, "setting", W_NARRATIVE, out);
    if (cc) {
        static const char *const fields[] = {"role", "setting", "patient", "background"};
        for (size_t i = 0; i < ARRAY_LEN(fields) && rc == 0; i++)
            rc = add_string(env, cc, fields[i], W_NARRATIVE, out);
        if (rc == 0)
            rc = add_array(env, json_object_get(cc, "tasks"), NULL, W_NARRATIVE, out);
    }
    if (pc) {
        const json_t *facts = json_object_get(pc, "facts");
        if (rc == 0)
            rc = add_names(env, pc, out);
        if (rc == 0)
            rc = add_string(env, pc, "background", W_NARRATIVE, out);
        size_t i;
        const json_t *f;
        json_array_foreach(facts, i, f)
        {
            if (rc == 0)
                rc = add_array(env, json_object_get(f, "triggers"), NULL, W_CANDIDATE, out);
            if (rc == 0)
                rc = add_string(env, f, "answer", W_NARRATIVE, out);
        }
        if (rc == 0)
            rc = add_array(env, json_object_get(pc, "cues"), "line", W_NARRATIVE, out);
        if (rc == 0)
            rc = add_array(env, json_object_get(pc, "concerns"), NULL, W_NARRATIVE, out);
        if (rc == 0)
            rc = add_string(env, pc, "closing_line", W_NARRATIVE, out);
        const json_t *t;
        json_array_foreach(json_object_get(pc, "expected_tasks"), i, t)
        {
            if (rc == 0)
                rc = add_string(env, t, "description", W_NARRATIVE, out);
            if (rc == 0)
                rc = add_array(env, json_object_get(t, "evidence_phrases"), NULL, W_CANDIDATE, out);
        }
    }
    return rc;
}

/* ---- building ----------------------------------------------------------------------------- */

static int write_all(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int rc = (w == len) ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* A fresh temporary name in the cache directory (the file exists, empty). */
static char *temp_path(const stt_domain_env *env, const char *key)
{
    buf b;
    buf_init(&b, 4096);
    if (buf_printf(&b, "%s/.tmp-%s-XXXXXX", env->cache_dir, key) != 0) {
        buf_free(&b);
        return NULL;
    }
    char *p = buf_detach(&b, NULL);
    int fd = p ? mkstemp(p) : -1;
    if (fd < 0) {
        free(p);
        return NULL;
    }
    close(fd);
    return p;
}

/* Counts the card's weighted lines and the corpus into an ARPA model. */
static int build_arpa(const stt_domain_env *env, const char *card_text, buf *arpa)
{
    lm_counts *c = lm_counts_new();
    int rc = c ? 0 : -1;
    for (const char *line = card_text; rc == 0 && line && *line;) {
        char *end;
        double w = strtod(line, &end);
        const char *sentence = (*end == '\t') ? end + 1 : line;
        size_t len = strcspn(sentence, "\n");
        char *copy = strndup(sentence, len);
        rc = copy ? lm_counts_add_sentence(c, copy, w > 0 ? w : W_NARRATIVE) : -1;
        free(copy);
        line = sentence + len + (sentence[len] == '\n');
    }
    for (const char *line = env->corpus; rc == 0 && line && line < env->corpus + env->corpus_len;) {
        size_t len = strcspn(line, "\n");
        if (line[0] != '#' && len > 0) {
            char *copy = strndup(line, len);
            rc = copy ? lm_counts_add_text(c, copy, known_word, (void *)env->dict, W_CORPUS) : -1;
            free(copy);
        }
        line += len + 1;
    }
    if (rc == 0)
        rc = lm_write_arpa(c, arpa);
    /* The dictionary lines of the words the recogniser lacks go after the model, separated. */
    const char **vocab = NULL;
    size_t nv = rc == 0 ? lm_counts_vocab(c, &vocab) : 0;
    if (nv == (size_t)-1)
        rc = -1;
    if (rc == 0)
        rc = buf_puts(arpa, "\f");
    for (size_t i = 0; rc == 0 && i < nv; i++) {
        char phones[PRON_MAX];
        if (stt_wordset_has(env->dict, vocab[i]))
            continue;
        if (stt_pron_guess(vocab[i], phones, sizeof(phones)) == 0)
            rc = buf_printf(arpa, "%s %s\n", vocab[i], phones);
    }
    free(vocab);
    lm_counts_free(c);
    return rc;
}

/* Converts the ARPA text into sphinxbase's binary format at bin_path (loads faster). */
static int arpa_to_bin(const char *arpa_path, const char *bin_path)
{
    logmath_t *lmath = logmath_init(1.0001, 0, 0);
    if (!lmath)
        return -1;
    ngram_model_t *m = ngram_model_read(NULL, arpa_path, NGRAM_ARPA, lmath);
    int rc = m ? ngram_model_write(m, bin_path, NGRAM_BIN) : -1;
    if (m)
        ngram_model_free(m);
    logmath_free(lmath);
    return rc < 0 ? -1 : 0;
}

/* Parses "word PHONES" lines into d. */
static int parse_dic(const char *text, stt_domain *d)
{
    size_t cap = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        size_t wl = strcspn(line, " ");
        if (wl > 0 && wl < len) {
            if (d->nwords == cap) {
                cap = cap ? cap * 2 : 16;
                char **nw = realloc(d->words, cap * sizeof(*nw));
                if (!nw)
                    return -1;
                d->words = nw;
                char **np = realloc(d->phones, cap * sizeof(*np));
                if (!np)
                    return -1;
                d->phones = np;
            }
            d->words[d->nwords] = strndup(line, wl);
            d->phones[d->nwords] = strndup(line + wl + 1, len - wl - 1);
            if (!d->words[d->nwords] || !d->phones[d->nwords]) {
                free(d->words[d->nwords]);
                free(d->phones[d->nwords]);
                return -1;
            }
            d->nwords++;
        }
        line += len + (line[len] == '\n');
    }
    return 0;
}

/* Fills out from the cache files of key and hash; -1 when they are not both there. */
static int load_cached(const stt_domain_env *env, const char *key, uint64_t hash, stt_domain *out)
{
    char *bin = NULL, *dic = NULL, *text = NULL;
    size_t len;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (cache_path(env, key, hash, ".lm.bin", &bin) == 0 &&
        cache_path(env, key, hash, ".dic", &dic) == 0 && access(bin, R_OK) == 0 &&
        read_file(dic, &text, &len) == 0) {
        snprintf(out->key, sizeof(out->key), "%s", key);
        out->hash = hash;
        out->lm_path = bin;
        bin = NULL;
        rc = parse_dic(text, out);
    }
    free(bin);
    free(dic);
    free(text);
    if (rc)
        stt_domain_clear(out);
    return rc;
}

/* Removes a temporary file if it is still there (renamed files are gone) and frees its name. */
static void unlink_free(char *path)
{
    if (path)
        (void)unlink(path);
    free(path);
}

static int build(const stt_domain_env *env, const char *key, uint64_t hash, const char *card_text,
                 char *err, size_t errlen)
{
    buf arpa;
    buf_init(&arpa, ARPA_MAX);
    char *tmp_arpa = NULL, *tmp_bin = NULL, *tmp_dic = NULL, *bin = NULL, *dic = NULL;
    int rc = build_arpa(env, card_text, &arpa);
    if (rc) {
        err_set(err, errlen, "cannot count the domain model of %s", key);
        goto out;
    }
    const char *sep = memchr(arpa.ptr, '\f', arpa.len);
    if (!sep) {
        err_set(err, errlen, "the domain model of %s has no words", key);
        rc = -1;
        goto out;
    }
    size_t arpa_len = (size_t)(sep - arpa.ptr);
    tmp_arpa = temp_path(env, key);
    tmp_bin = temp_path(env, key);
    tmp_dic = temp_path(env, key);
    if (!tmp_arpa || !tmp_bin || !tmp_dic || cache_path(env, key, hash, ".lm.bin", &bin) != 0 ||
        cache_path(env, key, hash, ".dic", &dic) != 0) {
        err_set(err, errlen, "cannot create files in %s: %s", env->cache_dir, strerror(errno));
        rc = -1;
        goto out;
    }
    if (write_all(tmp_arpa, arpa.ptr, arpa_len) != 0 || arpa_to_bin(tmp_arpa, tmp_bin) != 0 ||
        write_all(tmp_dic, sep + 1, arpa.len - arpa_len - 1) != 0) {
        err_set(err, errlen, "cannot write the domain model of %s in %s", key, env->cache_dir);
        rc = -1;
        goto out;
    }
    /* The model file is renamed last: its presence means the pair is complete. */
    if (rename(tmp_dic, dic) != 0 || rename(tmp_bin, bin) != 0) {
        err_set(err, errlen, "cannot store the domain model of %s: %s", key, strerror(errno));
        rc = -1;
        goto out;
    }
    remove_stale(env, key, hash);
out:
    unlink_free(tmp_arpa);
    unlink_free(tmp_bin);
    unlink_free(tmp_dic);
    free(bin);
    free(dic);
    buf_free(&arpa);
    return rc;
}

int stt_domain_prepare(const stt_domain_env *env, const char *key, const json_t *card,
                       stt_domain *out, int *built, char *err, size_t errlen)
{
    *built = 0;
    memset(out, 0, sizeof(*out));
    if (!stt_domain_key_valid(key)) {
        err_set(err, errlen, "invalid domain key");
        return -1;
    }
    buf text;
    buf_init(&text, CARD_TEXT_MAX);
    if (card_sentences(env, card, &text) != 0) {
        buf_free(&text);
        err_set(err, errlen, "the card of %s is not a scenario or patient card", key);
        return -1;
    }
    uint64_t hash = fnv(env->base_hash, text.ptr ? text.ptr : "", text.len);
    int rc = 0;
    if (load_cached(env, key, hash, out) != 0) {
        rc = build(env, key, hash, text.ptr ? text.ptr : "", err, errlen);
        if (rc == 0 && load_cached(env, key, hash, out) != 0) {
            err_set(err, errlen, "cannot read back the domain model of %s", key);
            rc = -1;
        }
        *built = rc == 0;
    }
    buf_free(&text);
    return rc;
}

int stt_domain_find_cached(const stt_domain_env *env, const char *key, stt_domain *out)
{
    memset(out, 0, sizeof(*out));
    if (!stt_domain_key_valid(key))
        return -1;
    DIR *d = opendir(env->cache_dir);
    if (!d)
        return -1;
    struct dirent *e;
    uint64_t best = 0;
    time_t best_time = 0;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        uint64_t h;
        char *path = NULL;
        struct stat st;
        if (parse_cache_name(e->d_name, key, ".lm.bin", &h) != 0 ||
            cache_path(env, key, h, ".lm.bin", &path) != 0)
            continue;
        if (stat(path, &st) == 0 && (!found || st.st_mtime > best_time)) {
            best = h;
            best_time = st.st_mtime;
            found = 1;
        }
        free(path);
    }
    closedir(d);
    return found ? load_cached(env, key, best, out) : -1;
}

int stt_domain_copy(stt_domain *dst, const stt_domain *src)
{
    memset(dst, 0, sizeof(*dst));
    memcpy(dst->key, src->key, sizeof(dst->key));
    dst->hash = src->hash;
    dst->lm_path = strdup(src->lm_path);
    if (src->nwords) {
        dst->words = calloc(src->nwords, sizeof(*dst->words));
        dst->phones = calloc(src->nwords, sizeof(*dst->phones));
    }
    int rc = dst->lm_path && (!src->nwords || (dst->words && dst->phones)) ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < src->nwords; i++) {
        dst->words[i] = strdup(src->words[i]);
        dst->phones[i] = strdup(src->phones[i]);
        dst->nwords = i + 1;
        if (!dst->words[i] || !dst->phones[i])
            rc = -1;
    }
    if (rc)
        stt_domain_clear(dst);
    return rc;
}

void stt_domain_clear(stt_domain *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nwords; i++) {
        free(d->words[i]);
        free(d->phones[i]);
    }
    free(d->words);
    free(d->phones);
    free(d->lm_path);
    memset(d, 0, sizeof(*d));
}
