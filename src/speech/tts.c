/* Text-to-speech front end: text normalisation, the sentence splitter, voice choice for a
 * patient card, and the streaming loop that hands each sentence's audio out in 100 ms chunks
 * while the engines (tts_flite.c, tts_remote.c) make one sentence at a time. */
#include "speech/tts_internal.h"

#include "audio/audio.h"

#include "core/errors.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/utf8.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORD_MAX 40           /* longer "words" are cut: flite spells them letter by letter */
#define PUNCT_RUN_MAX 3       /* "!!!!!!" → "!!!" */
#define COMMA_SPLIT_FIRST 24  /* a comma ends the first piece after this many characters… */
#define COMMA_SPLIT 60        /* …and later pieces after this many… */
#define COMMA_REST_MIN 16     /* …when at least this much text follows */
#define SENTENCE_HARD_MAX 250 /* no punctuation for this long: split at the next space */
#define SYNTH_MAX_SAMPLES (64u << 20) /* tts_synth: ~70 minutes, far above TTS_TEXT_MAX */

struct tts {
    tts_config cfg; /* strings owned */
};

static const char *const voice_names[] = {"slt", "rms", "awb", "kal"};

static const double first_audio_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1};
static const char *const engine_label[] = {"engine", NULL};
#define FIRST_AUDIO_HELP "Seconds from a reply's text to its first audio chunk"

/* ---- life cycle ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

tts *tts_open(const tts_config *cfg, char *err, size_t errlen)
{
    if (!cfg) {
        err_set(err, errlen, "tts: no configuration");
        return NULL;
    }
    if (cfg->remote && (!cfg->url || !*cfg->url)) {
        err_set(err, errlen, "TTS_URL: is required when TTS_ENGINE is remote");
        return NULL;
    }
    if (!cfg->remote && tts_flite_init(err, errlen) != 0)
        return NULL;
    tts *t = calloc(1, sizeof(*t));
    if (!t) {
        err_set(err, errlen, "tts: out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->cfg.url = dup_or_null(cfg->url);
    t->cfg.api_key = dup_or_null(cfg->api_key);
    t->cfg.model = dup_or_null(cfg->model);
    if ((cfg->url && !t->cfg.url) || (cfg->api_key && !t->cfg.api_key) ||
        (cfg->model && !t->cfg.model)) {
        tts_close(t);
        err_set(err, errlen, "tts: out of memory");
        return NULL;
    }
    /* Registered up front so /metrics shows the family before the first reply. */
    (void)metrics_histogram("praxis_tts_first_audio_seconds", FIRST_AUDIO_HELP, engine_label,
                            first_audio_buckets, ARRAY_LEN(first_audio_buckets));
    return t;
}

void tts_close(tts *t)
{
    if (!t)
        return;
    free((char *)t->cfg.url);
    free((char *)t->cfg.api_key);
    free((char *)t->cfg.model);
    free(t);
}

/* ---- voices ------------------------------------------------------------------------------ */

int tts_voice_known(const char *voice)
{
    for (size_t i = 0; voice && i < ARRAY_LEN(voice_names); i++)
        if (strcmp(voice, voice_names[i]) == 0)
            return 1;
    return 0;
}

static int word_in(const char *s, const char *const *words)
{
    for (size_t i = 0; s && words[i]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    return 0;
}

const char *tts_voice_for(const json_t *patient_card)
{
    const char *v = json_string_value(json_object_get(patient_card, "voice"));
    for (size_t i = 0; v && i < ARRAY_LEN(voice_names); i++)
        if (strcmp(v, voice_names[i]) == 0)
            return voice_names[i];
    static const char *const male[] = {"male", "m", "man", "boy", NULL};
    const char *gender = json_string_value(json_object_get(patient_card, "gender"));
    if (!word_in(gender, male))
        return "slt"; /* female, unknown or unstated: slt is our one female voice */
    json_t *age = json_object_get(patient_card, "age");
    /* The Scottish awb sounds older than the US rms: the cards give awb to men of 60 and over. */
    return json_is_number(age) && json_number_value(age) >= 60 ? "awb" : "rms";
}

/* ---- normalisation ------------------------------------------------------------------------ */

struct norm {
    char out[TTS_TEXT_MAX + 1];
    size_t len;
    size_t word; /* length of the current word */
    char last;   /* last byte written ('\0' at the start) */
    int run;     /* how many times last repeats at the end */
    int full;
};

static void put(struct norm *s, char c)
{
    if (s->full)
        return;
    if (c == ' ') {
        if (s->len == 0 || s->last == ' ')
            return;
        s->word = 0;
    } else {
        /* "well , then" → "well, then": no space before punctuation. */
        if (strchr(",.;:?!", c) && s->last == ' ') {
            s->len--;
            s->last = s->len ? s->out[s->len - 1] : '\0';
        }
        if (s->word == WORD_MAX)
            put(s, ' ');
        s->word++;
        if (c == s->last && !isalnum((unsigned char)c) && ++s->run >= PUNCT_RUN_MAX)
            return;
    }
    if (c != s->last)
        s->run = 0;
    if (s->len == TTS_TEXT_MAX) {
        s->full = 1;
        return;
    }
    s->out[s->len++] = c;
    s->last = c;
}

static void puts_norm(struct norm *s, const char *str)
{
    while (*str)
        put(s, *str++);
}

/* Latin-1 letters with their accents taken off (U+00C0..U+00FF); "" = not a letter. */
static const char *const latin1[64] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I",  "I",
    "D", "N", "O", "O", "O", "O", "O",  "",  "O", "U", "U", "U", "U", "Y", "TH", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y",
};

/* What a code point outside ASCII becomes; NULL = a word break. */
static const char *fold(uint32_t cp)
{
    if (cp >= 0xC0 && cp <= 0xFF)
        return latin1[cp - 0xC0][0] ? latin1[cp - 0xC0] : NULL;
    switch (cp) {
    case 0x2018:
    case 0x2019:
    case 0x201A:
    case 0x201B:
    case 0x2032:
        return "'";
    case 0x201C:
    case 0x201D:
    case 0x201E:
    case 0x2033:
    case 0x00AB:
    case 0x00BB:
        return "\"";
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2212:
        return "-";
    case 0x2014:
    case 0x2015:
        return ", ";
    case 0x2026:
        return "...";
    case 0x00B0:
        return " degrees ";
    case 0x00B5:
    case 0x03BC:
        return "micro";
    default:
        return NULL; /* spaces, symbols, emoji, other scripts */
    }
}

static uint32_t decode_cp(const unsigned char *p, size_t len)
{
    if (len == 2)
        return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    if (len == 3)
        return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
           ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

/* ASCII flite reads well is kept; '&' is said; markup and symbols it would spell out
 * ("asterisk", "hash", "underscore") become word breaks. */
static void put_ascii(struct norm *s, const unsigned char *p, size_t i, size_t n)
{
    unsigned char c = p[i];
    if (isalnum(c) || strchr(".,;:?!'\"-()%$+", c)) {
        put(s, (char)c);
    } else if (c == '&') {
        puts_norm(s, " and ");
    } else if (c == '/' && i > 0 && i + 1 < n && isdigit(p[i - 1]) && isdigit(p[i + 1])) {
        put(s, '/'); /* dates and fractions; "and/or" becomes "and or" */
    } else {
        put(s, ' ');
    }
}

char *tts_normalise(const char *text)
{
    struct norm *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    size_t n = strlen((const char *)p);
    for (size_t i = 0; i < n && !s->full;) {
        if (p[i] < 0x80) {
            put_ascii(s, p, i, n);
            i++;
            continue;
        }
        size_t l = utf8_seq_len(p + i, n - i);
        if (l == 0) { /* invalid byte: dropped */
            put(s, ' ');
            i++;
            continue;
        }
        const char *f = fold(decode_cp(p + i, l));
        if (f)
            puts_norm(s, f);
        else
            put(s, ' ');
        i += l;
    }
    /* Cut mid-word by the cap: end at the last whole word. */
    if (s->full) {
        char *sp = memrchr(s->out, ' ', s->len);
        if (sp)
            s->len = (size_t)(sp - s->out);
    }
    while (s->len > 0 && s->out[s->len - 1] == ' ')
        s->len--;
    char *out = malloc(s->len + 1);
    if (out) {
        memcpy(out, s->out, s->len);
        out[s->len] = '\0';
    }
    free(s);
    return out;
}

int tts_has_speech(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; p && *p; p++)
        if (isalnum(*p))
            return 1;
    return 0;
}

/* ---- sentences ----------------------------------------------------------------------------- */

/* Abbreviations that never end a sentence, and ones that end it only before a capital. */
static const char *const never_final[] = {"dr",     "mr",   "mrs",  "ms",  "mx",  "prof", "st",
                                          "mt",     "jr",   "sr",   "vs",  "e.g", "i.e",  "cf",
                                          "approx", "incl", "dept", "fig", NULL};
static const char *const maybe_final[] = {"etc", "a.m", "p.m", NULL};

struct splitter {
    char **items;
    size_t n, cap;
    int failed;
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void emit(struct splitter *sp, const char *from, const char *to)
{
    while (from < to && is_space(*from))
        from++;
    while (to > from && is_space(to[-1]))
        to--;
    int speech = 0;
    for (const char *q = from; q < to && !speech; q++)
        speech = isalnum((unsigned char)*q);
    if (!speech || sp->failed)
        return;
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 8;
        char **items = realloc(sp->items, cap * sizeof(*items));
        if (!items) {
            sp->failed = 1;
            return;
        }
        sp->items = items;
        sp->cap = cap;
    }
    char *s = strndup(from, (size_t)(to - from));
    if (!s) {
        sp->failed = 1;
        return;
    }
    sp->items[sp->n++] = s;
}

/* The word ending just before the '.' at dot ("Dr", "e.g"), lowercased into out. */
static void word_before(const char *start, const char *dot, char *out, size_t outlen)
{
    const char *w = dot;
    while (w > start && (isalpha((unsigned char)w[-1]) || w[-1] == '.'))
        w--;
    size_t n = (size_t)(dot - w);
    if (n >= outlen)
        n = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)w[i]);
    out[n] = '\0';
}

/* The first non-space character at or after p. */
static char next_visible(const char *p)
{
    while (*p && is_space(*p))
        p++;
    return *p;
}

/* Whether the terminator run [t, end) followed by `after` ends the sentence. */
static int ends_sentence(const char *text, const char *t, const char *end, const char *after)
{
    if (*after && !is_space(*after))
        return 0; /* "2.5", "e.g.,", "www.x.org" */
    int dots_only = 1;
    for (const char *q = t; q < end; q++)
        if (*q != '.' && *q != '"' && *q != '\'' && *q != ')' && *q != ']')
            dots_only = 0;
    if (!dots_only)
        return 1; /* ? ! ; end a sentence whatever follows */
    char next = next_visible(after);
    if (!next)
        return 1;
    if (islower((unsigned char)next))
        return 0; /* "approx. three", "hmm... maybe": the sentence goes on */
    if (t[0] == '.' && (end - t == 1 || t[1] != '.')) {
        char w[16];
        word_before(text, t, w, sizeof(w));
        if (word_in(w, never_final))
            return 0;
        if (word_in(w, maybe_final))
            return isupper((unsigned char)next) ? 1 : 0;
    }
    return 1;
}

size_t tts_split_sentences(const char *text, char ***out)
{
    *out = NULL;
    if (!text)
        return 0;
    struct splitter sp = {0};
    size_t len = strlen(text);
    const char *seg = text;
    const char *p = text;
    while (*p) {
        char c = *p;
        if (c == '.' || c == '?' || c == '!' || c == ';') {
            const char *end = p;
            while (*end == '.' || *end == '?' || *end == '!' || *end == ';')
                end++;
            while (*end == '"' || *end == '\'' || *end == ')' || *end == ']')
                end++;
            if (ends_sentence(text, p, end, end)) {
                emit(&sp, seg, end);
                seg = end;
            }
            p = end;
            continue;
        }
        size_t seglen = (size_t)(p - seg);
        if ((c == ',' || c == ':') && is_space(p[1])) {
            /* A long clause is a sentence of its own for latency's sake; the first one sooner,
             * so the patient starts speaking at once. */
            size_t min = sp.n == 0 ? COMMA_SPLIT_FIRST : COMMA_SPLIT;
            if (seglen + 1 >= min && len - (size_t)(p + 1 - text) >= COMMA_REST_MIN) {
                emit(&sp, seg, p + 1);
                seg = p + 1;
            }
        } else if (is_space(c) && seglen >= SENTENCE_HARD_MAX) {
            emit(&sp, seg, p);
            seg = p;
        }
        p++;
    }
    emit(&sp, seg, p);
    if (sp.failed) {
        for (size_t i = 0; i < sp.n; i++)
            free(sp.items[i]);
        free(sp.items);
        return 0;
    }
    *out = sp.items;
    return sp.n;
}

/* ---- audio --------------------------------------------------------------------------------- */

int tts_resample(const int16_t *in, size_t n, int rate, int16_t **out, size_t *outn)
{
    *out = NULL;
    *outn = 0;
    if (n == 0)
        return 0;
    pcm p = {0};
    if (audio_to_16k_mono(in, n, rate, 1, &p) != 0)
        return -1;
    *out = p.s;
    *outn = p.n;
    return 0;
}

/* Wraps the caller's fn: times the first chunk of a reply. */
struct speak {
    const tts *t;
    tts_audio_fn fn;
    void *ud;
    int64_t t0;
    int started;
};

static int speak_chunk(const int16_t *samples, size_t n, void *ud)
{
    struct speak *s = ud;
    if (!s->started) {
        s->started = 1;
        const char *engine[] = {s->t->cfg.remote ? "remote" : "flite"};
        metrics_observe(metrics_histogram("praxis_tts_first_audio_seconds", FIRST_AUDIO_HELP,
                                          engine_label, first_audio_buckets,
                                          ARRAY_LEN(first_audio_buckets)),
                        engine, (double)(time_mono_ns() - s->t0) / 1e9);
    }
    return s->fn(samples, n, s->ud);
}

/* One sentence through the remote engine: fetched whole, then chunked. */
static int remote_speak(const tts *t, const char *voice, const char *sentence, struct speak *sp,
                        char *err, size_t errlen)
{
    int16_t *samples = NULL;
    size_t n = 0;
    if (tts_remote_sentence(&t->cfg, voice, sentence, &samples, &n, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += TTS_CHUNK_MAX)
        rc = speak_chunk(samples + off, n - off < TTS_CHUNK_MAX ? n - off : TTS_CHUNK_MAX, sp) != 0;
    free(samples);
    return rc;
}

int tts_speak(tts *t, const char *voice, const char *text, tts_audio_fn fn, void *ud)
{
    struct speak sp = {.t = t, .fn = fn, .ud = ud, .t0 = time_mono_ns()};
    if (!t || !fn)
        return -1;
    if (!tts_voice_known(voice)) {
        log_warn("tts: unknown voice \"%.16s\"", voice ? voice : "(null)");
        return -1;
    }
    char *clean = tts_normalise(text);
    char **sentences = NULL;
    size_t count = clean ? tts_split_sentences(clean, &sentences) : 0;
    int rc = clean ? 0 : -1;
    for (size_t i = 0; i < count && rc == 0; i++) {
        char err[320] = "";
        rc = t->cfg.remote
                 ? remote_speak(t, voice, sentences[i], &sp, err, sizeof(err))
                 : tts_flite_speak(voice, sentences[i], speak_chunk, &sp, err, sizeof(err));
        if (rc < 0)
            log_warn("tts: %s (sentence %zu of %zu, voice %s)", err, i + 1, count, voice);
    }
    for (size_t i = 0; i < count; i++)
        free(sentences[i]);
    free(sentences);
    free(clean);
    return rc;
}

struct collect {
    int16_t *samples;
    size_t n, cap;
};

static int collect_chunk(const int16_t *samples, size_t n, void *ud)
{
    struct collect *c = ud;
    if (c->n + n > c->cap) {
        size_t cap = c->cap ? c->cap : 16000;
        while (cap < c->n + n)
            cap *= 2;
        if (cap > SYNTH_MAX_SAMPLES)
            return -1;
        int16_t *p = realloc(c->samples, cap * sizeof(*p));
        if (!p)
            return -1;
        c->samples = p;
        c->cap = cap;
    }
    memcpy(c->samples + c->n, samples, n * sizeof(*samples));
    c->n += n;
    return 0;
}

int tts_synth(tts *t, const char *voice, const char *text, int16_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct collect c = {0};
    int rc = tts_speak(t, voice, text, collect_chunk, &c);
    if (rc != 0) {
        if (rc == 1)
            log_warn("tts: utterance longer than %u samples", SYNTH_MAX_SAMPLES);
        free(c.samples);
        return -1;
    }
    *out = c.samples;
    *n = c.n;
    return 0;
}
