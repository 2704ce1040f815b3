/* The pocketsphinx engine: a pool of decoders, each with its own acoustic model, dictionary and
 * copy of the generic en-us trigram, and one search at a time built for the domain of the
 * utterance it decodes (the scenario's model interpolated with the generic one). Domain models
 * are built once per scenario version (domain.c) and remembered here in a small registry. */
#include "core/buf.h"
#include "core/errors.h"
#include "core/log.h"
#include "speech/domain.h"
#include "speech/stt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pocketsphinx.h>
#include <pthread.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define SEARCH "praxis"
#define MAX_DECODERS 64
#define REGISTRY_MAX 256
#define MAX_SAMPLES ((size_t)600 * STT_SAMPLE_RATE)
#define MIN_WORD_SAMPLES (STT_SAMPLE_RATE / 10)

/* Interpolation weights of the domain model and the generic one. sphinxbase mixes scores that
 * already carry the language weight, so these act on P^lw: a weight w costs its model only
 * w^(1/lw) in probability, and the mix behaves much like taking the better of the two. Measured
 * on the speech test (docs/internals/speech.md): 0.3 to 0.5 best, 0.2 to 0.999 within one word,
 * the domain model alone (1.0) more than twice the errors. */
#define WEIGHT_DOMAIN 0.5f
#define WEIGHT_GENERIC 0.5f

extern const unsigned char consultation_txt[];
extern const size_t consultation_txt_len;

typedef struct decoder {
    ps_decoder_t *ps;
    cmd_ln_t *config;
    /* This decoder's own generic model: sphinxbase's trie model caches the last history inside
     * the model while scoring, so two decoders must never score with the same one. */
    ngram_model_t *generic;
    /* The channel estimate (live cepstral mean) the model starts from. Every utterance starts
     * from it again, so a transcript never depends on whose audio the decoder heard before. */
    mfcc_t *cmn_start;
    int has_search;
    char key[STT_DOMAIN_KEY_MAX + 1]; /* the search's domain; "" = generic */
    uint64_t hash;
    int busy;
    uint64_t last_used;
} decoder;

typedef struct ps_engine {
    char *model_dir;
    char *cache_dir;
    int own_cache; /* a temporary cache directory to remove on close */
    stt_wordset *dict;
    stt_domain_env env;
    int timeout_ms;

    pthread_mutex_t reg_lock; /* the registry of prepared domains */
    stt_domain *reg;
    size_t nreg;

    pthread_mutex_t build_lock; /* one domain build at a time */

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free; /* signalled when a decoder is released */
    decoder *dec;
    int ndec;
    uint64_t tick;
} ps_engine;

typedef struct ps_stream {
    ps_engine *e;
    decoder *d;
    int in_utt; /* an utterance is open in the decoder (from the first audio to finish) */
    buf partial;
} ps_stream;

static void engine_close(void *eng);

/* ---- sphinxbase's log into ours ----------------------------------------------------------- */

static void sphinx_log(void *ud, err_lvl_t lvl, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void sphinx_log(void *ud, err_lvl_t lvl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    (void)ud;
    if (lvl < ERR_WARN || (lvl == ERR_WARN && !log_enabled(LOG_DEBUG)))
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    log_msg(lvl == ERR_WARN ? LOG_DEBUG : LOG_WARN, "pocketsphinx: %s", msg);
}

/* ---- paths -------------------------------------------------------------------------------- */

static char *join_path(const char *dir, const char *name)
{
    buf b;
    buf_init(&b, 8192);
    if (buf_printf(&b, "%s/%s", dir, name) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Removes our own temporary cache directory: only files (models, dictionaries) are in it. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
                continue;
            char *p = join_path(dir, e->d_name);
            if (p)
                (void)unlink(p);
            free(p);
        }
        closedir(d);
    }
    (void)rmdir(dir);
}

/* ---- decoders ----------------------------------------------------------------------------- */

static int decoder_init(ps_engine *e, decoder *d, char *err, size_t errlen)
{
    char *hmm = join_path(e->model_dir, "en-us");
    char *dict = join_path(e->model_dir, "cmudict-en-us.dict");
    char *lm = join_path(e->model_dir, "en-us.lm.bin");
    int rc = -1;
    if (!hmm || !dict || !lm) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    /* No silence removal: word times must stay on the audio's own clock. */
    d->config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-dict", dict, "-remove_silence",
                            "no", NULL);
    if (!d->config) {
        err_set(err, errlen, "pocketsphinx rejected its configuration");
        goto out;
    }
    d->ps = ps_init(d->config);
    if (!d->ps) {
        err_set(err, errlen, "cannot load the pocketsphinx model from %s", e->model_dir);
        goto out;
    }
    d->generic = ngram_model_read(d->config, lm, NGRAM_AUTO, ps_get_logmath(d->ps));
    if (!d->generic) {
        err_set(err, errlen, "cannot read the language model %s", lm);
        goto out;
    }
    cmn_t *cmn = ps_get_feat(d->ps)->cmn_struct;
    d->cmn_start = cmn ? calloc((size_t)cmn->veclen, sizeof(*d->cmn_start)) : NULL;
    if (!d->cmn_start) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    cmn_live_get(cmn, d->cmn_start);
    rc = 0;
out:
    free(hmm);
    free(dict);
    free(lm);
    return rc;
}

static void decoder_free(decoder *d)
{
    if (d->ps)
        ps_free(d->ps);
    if (d->generic)
        ngram_model_free(d->generic);
    if (d->config)
        cmd_ln_free_r(d->config);
    free(d->cmn_start);
    memset(d, 0, sizeof(*d));
}

/* Adds the domain's own words to the decoder's dictionary. Only safe while the decoder has no
 * n-gram search: pocketsphinx would also push each word into the searches' language models. */
static void add_domain_words(decoder *d, const stt_domain *dom)
{
    for (size_t i = 0; i < dom->nwords; i++) {
        char *have = ps_lookup_word(d->ps, dom->words[i]);
        if (have) {
            ckd_free(have);
            continue;
        }
        if (ps_add_word(d->ps, dom->words[i], dom->phones[i], FALSE) < 0)
            log_debug("stt: pocketsphinx refused the word %s (%s)", dom->words[i], dom->phones[i]);
    }
}

/* Builds the decoder's search for dom (NULL = the generic model alone). */
static int decoder_load(decoder *d, const stt_domain *dom)
{
    if (d->has_search) {
        (void)ps_unset_search(d->ps, SEARCH);
        d->has_search = 0;
    }
    ngram_model_t *lm;
    if (dom) {
        add_domain_words(d, dom);
        ngram_model_t *domain =
            ngram_model_read(d->config, dom->lm_path, NGRAM_BIN, ps_get_logmath(d->ps));
        if (!domain) {
            log_warn("stt: cannot read the domain model %s", dom->lm_path);
            return -1;
        }
        ngram_model_t *models[] = {domain, d->generic};
        char *names[] = {"domain", "generic"};
        const float32 weights[] = {WEIGHT_DOMAIN, WEIGHT_GENERIC};
        /* The set keeps its own references to both models. */
        lm = ngram_model_set_init(d->config, models, names, weights, 2);
        ngram_model_free(domain);
        if (!lm) {
            log_warn("stt: cannot interpolate the domain model %s", dom->lm_path);
            return -1;
        }
    } else {
        lm = ngram_model_retain(d->generic);
    }
    /* The search keeps its own reference to lm. */
    int rc = ps_set_lm(d->ps, SEARCH, lm);
    ngram_model_free(lm);
    if (rc < 0 || ps_set_search(d->ps, SEARCH) < 0) {
        log_warn("stt: pocketsphinx cannot build a search for %s",
                 dom ? dom->key : "the generic model");
        return -1;
    }
    d->has_search = 1;
    snprintf(d->key, sizeof(d->key), "%s", dom ? dom->key : "");
    d->hash = dom ? dom->hash : 0;
    return 0;
}

static int decoder_has(const decoder *d, const stt_domain *dom)
{
    if (!d->has_search)
        return 0;
    if (!dom)
        return d->key[0] == '\0';
    return strcmp(d->key, dom->key) == 0 && d->hash == dom->hash;
}

/* Takes a free decoder, preferring one whose search is already built for dom; waits up to the
 * timeout. NULL when all stay busy. */
static decoder *acquire(ps_engine *e, const stt_domain *dom)
{
    struct timespec deadline;
    (void)clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += e->timeout_ms / 1000;
    deadline.tv_nsec += (long)(e->timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_lock(&e->pool_lock) != 0)
        return NULL;
    decoder *got = NULL;
    for (;;) {
        decoder *lru = NULL;
        for (int i = 0; i < e->ndec; i++) {
            decoder *d = &e->dec[i];
            if (d->busy)
                continue;
            if (decoder_has(d, dom)) {
                got = d;
                break;
            }
            if (!lru || d->last_used < lru->last_used)
                lru = d;
        }
        if (!got)
            got = lru;
        if (got)
            break;
        int rc = pthread_cond_timedwait(&e->pool_free, &e->pool_lock, &deadline);
        if (rc == ETIMEDOUT || (rc != 0 && rc != EINTR))
            break;
    }
    if (got)
        got->busy = 1;
    (void)pthread_mutex_unlock(&e->pool_lock);
    return got;
}

static void release(ps_engine *e, decoder *d)
{
    if (pthread_mutex_lock(&e->pool_lock) != 0)
        return;
    d->busy = 0;
    d->last_used = ++e->tick;
    (void)pthread_cond_signal(&e->pool_free);
    (void)pthread_mutex_unlock(&e->pool_lock);
}

/* ---- the registry of prepared domains ----------------------------------------------------- */

/* A copy of the registered domain of key (with hash when want_hash), or -1. */
static int registry_get(ps_engine *e, const char *key, const uint64_t *want_hash, stt_domain *out)
{
    int rc = -1;
    if (pthread_mutex_lock(&e->reg_lock) != 0)
        return -1;
    for (size_t i = 0; i < e->nreg; i++) {
        if (strcmp(e->reg[i].key, key) != 0 || (want_hash && e->reg[i].hash != *want_hash))
            continue;
        rc = stt_domain_copy(out, &e->reg[i]);
        break;
    }
    (void)pthread_mutex_unlock(&e->reg_lock);
    return rc;
}

/* Registers dom (taking its memory), replacing an entry of the same key; the registry keeps
 * the REGISTRY_MAX most recently registered domains. */
static void registry_put(ps_engine *e, stt_domain *dom)
{
    if (pthread_mutex_lock(&e->reg_lock) != 0) {
        stt_domain_clear(dom);
        return;
    }
    size_t slot = e->nreg;
    for (size_t i = 0; i < e->nreg; i++)
        if (strcmp(e->reg[i].key, dom->key) == 0)
            slot = i;
    if (slot == e->nreg && e->nreg == REGISTRY_MAX) {
        /* Full: the oldest entry goes (its files stay in the cache). */
        stt_domain_clear(&e->reg[0]);
        memmove(&e->reg[0], &e->reg[1], (REGISTRY_MAX - 1) * sizeof(*e->reg));
        slot = --e->nreg;
    }
    if (slot < e->nreg)
        stt_domain_clear(&e->reg[slot]);
    else
        e->nreg++;
    e->reg[slot] = *dom;
    memset(dom, 0, sizeof(*dom));
    (void)pthread_mutex_unlock(&e->reg_lock);
}

/* Makes sure the domain of key and card is registered; *hash_out is its hash. */
static int prepare(ps_engine *e, const char *key, const json_t *card, uint64_t *hash_out)
{
    uint64_t hash;
    stt_domain dom;
    if (stt_domain_hash(&e->env, card, &hash) != 0) {
        log_warn("stt: the card of %s is not a scenario or patient card", key);
        return -1;
    }
    *hash_out = hash;
    if (registry_get(e, key, &hash, &dom) == 0) {
        stt_domain_clear(&dom);
        return 0;
    }
    if (pthread_mutex_lock(&e->build_lock) != 0)
        return -1;
    int rc = 0;
    if (registry_get(e, key, &hash, &dom) == 0) { /* built while we waited */
        stt_domain_clear(&dom);
    } else {
        char err[256] = "";
        int built = 0;
        struct timespec t0, t1;
        (void)clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = stt_domain_prepare(&e->env, key, card, &dom, &built, err, sizeof(err));
        (void)clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (rc != 0) {
            log_warn("stt: domain model %s: %s", key, err);
        } else {
            log_info("stt: domain model %s %s in %.0f ms (%zu words added to the dictionary)", key,
                     built ? "built" : "loaded from the cache", ms, dom.nwords);
            registry_put(e, &dom);
        }
    }
    (void)pthread_mutex_unlock(&e->build_lock);
    return rc;
}

static int engine_prepare(void *eng, const char *key, const json_t *card)
{
    uint64_t hash;
    return prepare(eng, key, card, &hash);
}

/* The domain an utterance decodes with: the card's model (prepared now if need be), else one
 * prepared earlier for key, else a cached one from disk. 0 = generic (nothing filled in). */
static int domain_for(ps_engine *e, const char *key, const json_t *card, stt_domain *out)
{
    if (!key)
        return 0;
    if (card) {
        uint64_t hash;
        if (prepare(e, key, card, &hash) != 0) {
            log_warn("stt: decoding %s with the generic model", key);
            return 0;
        }
        return registry_get(e, key, &hash, out) == 0;
    }
    if (registry_get(e, key, NULL, out) == 0)
        return 1;
    stt_domain cached;
    if (pthread_mutex_lock(&e->build_lock) != 0)
        return 0;
    int found = stt_domain_find_cached(&e->env, key, &cached) == 0;
    if (found)
        registry_put(e, &cached);
    (void)pthread_mutex_unlock(&e->build_lock);
    return found && registry_get(e, key, NULL, out) == 0;
}

/* ---- streams ------------------------------------------------------------------------------ */

static void *engine_begin(void *eng, const char *key, const json_t *card)
{
    ps_engine *e = eng;
    stt_domain dom;
    int have = domain_for(e, key, card, &dom);
    decoder *d = acquire(e, have ? &dom : NULL);
    if (!d) {
        log_warn("stt: all %d decoders busy for %d ms", e->ndec, e->timeout_ms);
        if (have)
            stt_domain_clear(&dom);
        return NULL;
    }
    int rc = 0;
    if (!decoder_has(d, have ? &dom : NULL)) {
        rc = decoder_load(d, have ? &dom : NULL);
        if (rc != 0 && have)
            rc = decoder_load(d, NULL); /* the generic model rather than nothing */
    }
    if (have)
        stt_domain_clear(&dom);
    ps_stream *st = rc == 0 ? calloc(1, sizeof(*st)) : NULL;
    if (!st) {
        log_warn("stt: cannot prepare a decoder for %s", key ? key : "the generic model");
        release(e, d);
        return NULL;
    }
    st->e = e;
    st->d = d;
    buf_init(&st->partial, 1 << 20);
    return st;
}

/* The utterance starts with its first audio, so a stream that never gets any leaves the
 * decoder untouched. */
static int start_utterance(ps_stream *st)
{
    decoder *d = st->d;
    cmn_live_set(ps_get_feat(d->ps)->cmn_struct, d->cmn_start);
    if (ps_start_stream(d->ps) < 0 || ps_start_utt(d->ps) < 0)
        return -1;
    st->in_utt = 1;
    return 0;
}

static int engine_feed(void *es, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
    ps_stream *st = es;
    if (!st->in_utt && start_utterance(st) != 0) {
        err_set(err, errlen, "pocketsphinx cannot start an utterance");
        return -1;
    }
    if (ps_process_raw(st->d->ps, pcm, n, FALSE, FALSE) < 0) {
        err_set(err, errlen, "pocketsphinx failed to process the audio");
        return -1;
    }
    return 0;
}

static const char *engine_partial(void *es)
{
    ps_stream *st = es;
    const char *hyp = st->in_utt ? ps_get_hyp(st->d->ps, NULL) : NULL;
    buf_reset(&st->partial);
    if (!hyp || buf_puts(&st->partial, hyp) != 0)
        return "";
    return st->partial.ptr;
}

/* A dictionary word written as the recogniser's output: alternate pronunciations lose their
 * "(2)"; silence, sentence marks and noise tokens ("<sil>", "[NOISE]", "+BREATH+") are not
 * words. Returns 0 when word is not a word. */
static int output_word(const char *word, char *out, size_t outlen)
{
    if (!word || !*word || word[0] == '<' || word[0] == '[' || word[0] == '+')
        return 0;
    size_t n = strcspn(word, "(");
    if (n == 0 || n >= outlen)
        return 0;
    memcpy(out, word, n);
    out[n] = '\0';
    return 1;
}

static int engine_finish(void *es, size_t nsamples, stt_result *out, char *err, size_t errlen)
{
    ps_stream *st = es;
    ps_decoder_t *ps = st->d->ps;
    if (!st->in_utt)
        return 0; /* no audio: no words */
    st->in_utt = 0;
    if (ps_end_utt(ps) < 0) {
        err_set(err, errlen, "pocketsphinx failed to end the utterance");
        return -1;
    }
    if (nsamples < MIN_WORD_SAMPLES)
        return 0; /* no word fits (and the lattice of a few frames only yields errors) */
    int frate = (int)cmd_ln_int32_r(st->d->config, "-frate");
    int ms_per_frame = frate > 0 ? 1000 / frate : 10;
    int duration_ms = (int)(nsamples * 1000 / STT_SAMPLE_RATE);
    logmath_t *lmath = ps_get_logmath(ps);
    int rc = 0;
    for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
        char w[128];
        if (rc != 0 || !output_word(ps_seg_word(seg), w, sizeof(w)))
            continue;
        int sf = 0, ef = 0;
        int32 ascr, lscr, lback;
        ps_seg_frames(seg, &sf, &ef);
        double conf = logmath_exp(lmath, ps_seg_prob(seg, &ascr, &lscr, &lback));
        int start = sf * ms_per_frame, end = (ef + 1) * ms_per_frame;
        if (end > duration_ms)
            end = duration_ms;
        if (start > end)
            start = end;
        rc = stt_result_add_word(out, w, start, end, isfinite(conf) ? conf : 0);
    }
    if (rc != 0)
        err_set(err, errlen, "out of memory");
    return rc;
}

static void engine_stream_free(void *es)
{
    ps_stream *st = es;
    if (st->in_utt)
        (void)ps_end_utt(st->d->ps);
    release(st->e, st->d);
    buf_free(&st->partial);
    free(st);
}

/* ---- the engine --------------------------------------------------------------------------- */

void *stt_pocketsphinx_open(const stt_config *cfg, char *err, size_t errlen)
{
    ps_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    /* Default attributes: on Linux these cannot fail, so nothing is unwound if one does. */
    if (pthread_mutex_init(&e->reg_lock, NULL) != 0 ||
        pthread_mutex_init(&e->build_lock, NULL) != 0 ||
        pthread_mutex_init(&e->pool_lock, NULL) != 0 ||
        pthread_cond_init(&e->pool_free, NULL) != 0) {
        err_set(err, errlen, "cannot create the decoder pool's locks");
        free(e);
        return NULL;
    }
    /* sphinxbase logs through one process-wide hook: its warnings and errors go to our log,
     * and nothing (not even its configuration table) straight to stderr. */
    err_set_logfp(NULL);
    err_set_callback(sphinx_log, NULL);
    e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 15000;
    e->ndec = cfg->decoders > 0 ? cfg->decoders : 4;
    if (e->ndec > MAX_DECODERS)
        e->ndec = MAX_DECODERS;
    e->model_dir = strdup(cfg->model_dir ? cfg->model_dir : DEFAULT_MODEL_DIR);
    if (cfg->cache_dir) {
        e->cache_dir = strdup(cfg->cache_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        e->cache_dir = join_path(tmp && *tmp ? tmp : "/tmp", "praxis-lm-XXXXXX");
        if (e->cache_dir && !mkdtemp(e->cache_dir)) {
            free(e->cache_dir);
            e->cache_dir = NULL;
        }
        e->own_cache = e->cache_dir != NULL;
    }
    e->reg = calloc(REGISTRY_MAX, sizeof(*e->reg));
    e->dec = calloc((size_t)e->ndec, sizeof(*e->dec));
    if (!e->model_dir || !e->cache_dir || !e->reg || !e->dec) {
        err_set(err, errlen, "out of memory or no temporary directory");
        engine_close(e);
        return NULL;
    }
    if (make_dirs(e->cache_dir) != 0) {
        err_set(err, errlen, "cannot create the model cache %s: %s", e->cache_dir, strerror(errno));
        engine_close(e);
        return NULL;
    }
    char *dict_path = join_path(e->model_dir, "cmudict-en-us.dict");
    e->dict = dict_path ? stt_wordset_load(dict_path, err, errlen) : NULL;
    if (!e->dict) {
        free(dict_path);
        engine_close(e);
        return NULL;
    }
    stt_domain_env_init(&e->env, e->cache_dir, e->dict, dict_path, (const char *)consultation_txt,
                        consultation_txt_len);
    free(dict_path);
    for (int i = 0; i < e->ndec; i++) {
        if (decoder_init(e, &e->dec[i], err, errlen) != 0 || decoder_load(&e->dec[i], NULL)) {
            if (!err || !*err)
                err_set(err, errlen, "cannot build the generic search");
            engine_close(e);
            return NULL;
        }
    }
    return e;
}

static void engine_close(void *eng)
{
    ps_engine *e = eng;
    if (!e)
        return;
    for (int i = 0; e->dec && i < e->ndec; i++)
        decoder_free(&e->dec[i]);
    (void)pthread_mutex_destroy(&e->reg_lock);
    (void)pthread_mutex_destroy(&e->build_lock);
    (void)pthread_mutex_destroy(&e->pool_lock);
    (void)pthread_cond_destroy(&e->pool_free);
    for (size_t i = 0; i < e->nreg; i++)
        stt_domain_clear(&e->reg[i]);
    if (e->own_cache)
        remove_dir(e->cache_dir);
    stt_wordset_free(e->dict);
    free(e->reg);
    free(e->dec);
    free(e->model_dir);
    free(e->cache_dir);
    free(e);
}

const stt_engine_ops stt_pocketsphinx_ops = {
    .name = "pocketsphinx",
    .rtf_from_wall = 0,
    .max_samples = MAX_SAMPLES,
    .close = engine_close,
    .prepare = engine_prepare,
    .begin = engine_begin,
    .feed = engine_feed,
    .partial = engine_partial,
    .finish = engine_finish,
    .free = engine_stream_free,
};
