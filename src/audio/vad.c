/* The server-side VAD. Every 10 ms it looks at the last 20 ms through a 512-point real FFT.
 * A frame is voice when its energy in the voice band (94 Hz-4 kHz, where a voice's
 * fundamental and first formants lie) stands threshold_db above a noise floor, and the
 * spectrum looks like a voice: most of the energy in that band (hiss and clicks spread theirs
 * evenly up to 8 kHz) and not flat within it (voiced speech is a comb of harmonics; noise is
 * flat). The floor follows the minimum of the last 2-2.5 s: it falls at once and rises slowly,
 * so a hum or fan that stays becomes background while pauses between words keep it down.
 * Known limit: rumble (brown noise: wind, traffic) is neither flat nor broadband enough to be
 * told apart from a voice by these features; only the floor absorbs it once it lasts. */
#include "audio/vad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000
#define FRAME 320   /* 20 ms analysed ... */
#define HOP 160     /* ... every 10 ms */
#define NFFT 512    /* real FFT size, the frame zero-padded: bins of 31.25 Hz */
#define NC 256      /* NFFT / 2: done as a complex FFT of half the size */
#define BAND_LO 3   /* 93.75 Hz */
#define BAND_HI 128 /* 4000 Hz */
#define TOTAL_LO 3  /* 93.75 Hz: DC offset and mains hum below do not count */

#define MIN_BAND_RATIO 0.6f  /* white noise and clicks: ~0.5; voiced speech: 0.8-1 */
#define MAX_FLATNESS 0.2f    /* white noise ~0.56, pink ~0.37; voiced speech mostly < 0.1 */
#define HYSTERESIS_DB 3.0    /* once in speech, frames may be this much quieter */
#define FLOOR_MIN_DB (-75.0) /* floor never goes below: digital silence is not a reference */
#define FLOOR_BLOCK 50       /* hops per block of the running minimum (0.5 s) */
#define FLOOR_BLOCKS 4       /* completed blocks remembered: the minimum spans 2-2.5 s */
#define FLOOR_RISE_DB 0.12   /* per hop (12 dB/s): how fast the floor follows a louder room */
#define START_GAP 3          /* unvoiced frames a starting run may contain without resetting */
/* In speech, frames this far below the utterance's level are its echo or breath, not speech:
 * the end does not wait for a room's tail. */
#define SPEECH_RANGE_DB 35.0
#define LEVEL_DECAY_DB 0.05 /* per hop (5 dB/s): one loud word does not mask later ones */

struct vad {
    vad_params p;
    uint64_t hang_short, hang_long; /* in samples */
    int min_frames;

    int16_t frame[FRAME];
    size_t fill;
    uint64_t fed;

    float win[FRAME];
    float tw_re[NC / 2], tw_im[NC / 2]; /* e^(-2 pi i j / NC) */
    float sp_re[NC], sp_im[NC];         /* e^(-2 pi i k / NFFT), to split the real FFT */
    unsigned char rev[NC];
    float re[NC], im[NC];
    float pw[NC + 1];

    int floor_ready;
    double floor_db;
    double block_min[FLOOR_BLOCKS];
    double cur_min;
    size_t block_pos, block_idx;

    int in_speech, complete;
    double level_db; /* loudest recent voiced frame of the current run or utterance */
    int run_voiced, run_gap;
    uint64_t run_start, speech_end;
};

static int clamp_int(int v, int lo, int hi);
static void fft_power(vad *v);
static void frame_features(vad *v, double *energy_db, float *ratio, float *flatness);
static void floor_update(vad *v, double e);
static void frame_step(vad *v, vad_event_fn fn, void *ud);

void vad_params_default(vad_params *p)
{
    p->hangover_short_ms = 400;
    p->hangover_long_ms = 900;
    p->min_speech_ms = 100;
    p->threshold_db = 9.0;
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

vad *vad_new(const vad_params *p)
{
    vad *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    if (p)
        v->p = *p;
    else
        vad_params_default(&v->p);
    v->p.hangover_short_ms = clamp_int(v->p.hangover_short_ms, 10, 10000);
    v->p.hangover_long_ms = clamp_int(v->p.hangover_long_ms, 10, 10000);
    v->p.min_speech_ms = clamp_int(v->p.min_speech_ms, 10, 10000);
    if (!(v->p.threshold_db >= 1.0)) /* NaN too */
        v->p.threshold_db = 1.0;
    if (v->p.threshold_db > 40.0)
        v->p.threshold_db = 40.0;
    v->hang_short = (uint64_t)v->p.hangover_short_ms * (RATE / 1000);
    v->hang_long = (uint64_t)v->p.hangover_long_ms * (RATE / 1000);
    v->min_frames = (v->p.min_speech_ms * (RATE / 1000) + HOP - 1) / HOP;

    const double pi = 3.14159265358979323846;
    for (int n = 0; n < FRAME; n++)
        v->win[n] = (float)(0.5 - 0.5 * cos(2.0 * pi * n / FRAME));
    for (int j = 0; j < NC / 2; j++) {
        v->tw_re[j] = (float)cos(2.0 * pi * j / NC);
        v->tw_im[j] = (float)-sin(2.0 * pi * j / NC);
    }
    for (int k = 0; k < NC; k++) {
        v->sp_re[k] = (float)cos(2.0 * pi * k / NFFT);
        v->sp_im[k] = (float)-sin(2.0 * pi * k / NFFT);
    }
    for (unsigned i = 0; i < NC; i++) {
        unsigned r = 0;
        for (unsigned b = 1, x = i; b < NC; b <<= 1, x >>= 1)
            r = (r << 1) | (x & 1u);
        v->rev[i] = (unsigned char)r;
    }
    for (size_t i = 0; i < FLOOR_BLOCKS; i++)
        v->block_min[i] = HUGE_VAL;
    v->cur_min = HUGE_VAL;
    return v;
}

void vad_free(vad *v)
{
    free(v);
}

/* Power spectrum of the windowed frame into pw[0..NC]: the 512 real samples (320 + zeros) are
 * packed as 256 complex ones, transformed, and split into the real signal's spectrum. */
static void fft_power(vad *v)
{
    for (size_t n = 0; n < NC; n++) {
        size_t a = 2 * n, b = 2 * n + 1, r = v->rev[n];
        v->re[r] = a < FRAME ? v->win[a] * (float)v->frame[a] : 0.0f;
        v->im[r] = b < FRAME ? v->win[b] * (float)v->frame[b] : 0.0f;
    }
    for (size_t len = 2; len <= NC; len <<= 1) {
        size_t half = len / 2, step = NC / len;
        for (size_t i = 0; i < NC; i += len) {
            for (size_t j = 0; j < half; j++) {
                float wr = v->tw_re[j * step], wi = v->tw_im[j * step];
                size_t p = i + j, q = p + half;
                float tr = v->re[q] * wr - v->im[q] * wi;
                float ti = v->re[q] * wi + v->im[q] * wr;
                v->re[q] = v->re[p] - tr;
                v->im[q] = v->im[p] - ti;
                v->re[p] += tr;
                v->im[p] += ti;
            }
        }
    }
    for (size_t k = 1; k < NC; k++) {
        float zr = v->re[k], zi = v->im[k], cr = v->re[NC - k], ci = -v->im[NC - k];
        float er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);   /* even samples' spectrum */
        float or_ = 0.5f * (zi - ci), oi = -0.5f * (zr - cr); /* odd samples' spectrum */
        float xr = er + v->sp_re[k] * or_ - v->sp_im[k] * oi;
        float xi = ei + v->sp_re[k] * oi + v->sp_im[k] * or_;
        v->pw[k] = xr * xr + xi * xi;
    }
    float nyq = v->re[0] - v->im[0];
    v->pw[NC] = nyq * nyq;
    v->pw[0] = 0.0f; /* DC is never looked at */
}

/* The current frame's voice-band energy in dBFS, the share of the energy above 94 Hz that
 * lies in the voice band, and the spectral flatness within that band (0 = pure tones, ~0.56
 * for white noise). */
static void frame_features(vad *v, double *energy_db, float *ratio, float *flatness)
{
    fft_power(v);
    float band = 0.0f, total = 0.0f, logs = 0.0f;
    for (size_t k = TOTAL_LO; k <= NC; k++)
        total += v->pw[k];
    for (size_t k = BAND_LO; k <= BAND_HI; k++) {
        band += v->pw[k];
        logs += logf(v->pw[k] + 1.0f);
    }
    /* Parseval: mean square of the band-limited signal relative to full scale; the window's
     * power (3/8 of FRAME for Hann) and the one-sided spectrum are accounted for. */
    double ms = 2.0 * band / (NFFT * (FRAME * 0.375) * 32768.0 * 32768.0);
    *energy_db = ms > 1e-12 ? 10.0 * log10(ms) : -120.0;
    const float nbins = (float)(BAND_HI - BAND_LO + 1);
    *ratio = total > 0.0f ? band / total : 0.0f;
    *flatness = band > 0.0f ? expf(logs / nbins) / (band / nbins) : 1.0f;
}

/* Minimum statistics: the floor is the lowest energy of the last 2-2.5 s, reached at once when
 * lower and approached at FLOOR_RISE_DB per hop when higher. */
static void floor_update(vad *v, double e)
{
    if (e < v->cur_min)
        v->cur_min = e;
    double lowest = v->cur_min;
    for (size_t i = 0; i < FLOOR_BLOCKS; i++)
        if (v->block_min[i] < lowest)
            lowest = v->block_min[i];
    if (++v->block_pos == FLOOR_BLOCK) {
        v->block_min[v->block_idx] = v->cur_min;
        v->block_idx = (v->block_idx + 1) % FLOOR_BLOCKS;
        v->block_pos = 0;
        v->cur_min = HUGE_VAL;
    }
    if (lowest < FLOOR_MIN_DB)
        lowest = FLOOR_MIN_DB;
    if (lowest <= v->floor_db)
        v->floor_db = lowest;
    else
        v->floor_db = fmin(lowest, v->floor_db + FLOOR_RISE_DB);
}

/* One analysis step over frame[0..FRAME), which ends at sample fed. A voiced frame stands for
 * its central hop, [t + HOP/2, t + FRAME - HOP/2), so consecutive frames tile the timeline. */
static void frame_step(vad *v, vad_event_fn fn, void *ud)
{
    double e;
    float ratio, flatness;
    frame_features(v, &e, &ratio, &flatness);
    if (!v->floor_ready) {
        v->floor_db = e < FLOOR_MIN_DB ? FLOOR_MIN_DB : e;
        v->floor_ready = 1;
    }
    double thr = v->p.threshold_db - (v->in_speech ? HYSTERESIS_DB : 0.0);
    int voiced = e >= v->floor_db + thr && ratio >= MIN_BAND_RATIO && flatness <= MAX_FLATNESS;
    if (v->in_speech) {
        v->level_db -= LEVEL_DECAY_DB;
        if (e < v->level_db - SPEECH_RANGE_DB)
            voiced = 0;
    }
    if (voiced && (e > v->level_db || (!v->in_speech && v->run_voiced == 0)))
        v->level_db = e;
    floor_update(v, e);
    uint64_t t = v->fed - FRAME;
    uint64_t hop_start = t + HOP / 2, hop_end = t + FRAME - HOP / 2;

    if (!v->in_speech) {
        if (voiced) {
            if (v->run_voiced == 0)
                v->run_start = hop_start;
            v->run_gap = 0;
            if (++v->run_voiced >= v->min_frames) {
                v->in_speech = 1;
                v->complete = 0;
                v->run_voiced = 0;
                v->speech_end = hop_end;
                if (fn)
                    fn(VAD_SPEECH_START, v->run_start, ud);
            }
        } else if (v->run_voiced > 0 && ++v->run_gap > START_GAP) {
            v->run_voiced = 0;
            v->run_gap = 0;
        }
        return;
    }
    if (voiced) {
        v->speech_end = hop_end;
        return;
    }
    if (hop_end - v->speech_end >= (v->complete ? v->hang_short : v->hang_long)) {
        v->in_speech = 0;
        if (fn)
            fn(VAD_SPEECH_END, v->speech_end, ud);
    }
}

void vad_feed(vad *v, const int16_t *s, size_t n, vad_event_fn fn, void *ud)
{
    if (!s)
        return;
    while (n > 0) {
        size_t take = FRAME - v->fill < n ? FRAME - v->fill : n;
        memcpy(v->frame + v->fill, s, take * sizeof(*s));
        v->fill += take;
        v->fed += take;
        s += take;
        n -= take;
        if (v->fill == FRAME) {
            frame_step(v, fn, ud);
            memmove(v->frame, v->frame + HOP, (FRAME - HOP) * sizeof(v->frame[0]));
            v->fill = FRAME - HOP;
        }
    }
}

void vad_set_complete(vad *v, int complete)
{
    v->complete = complete != 0;
}

int vad_in_speech(const vad *v)
{
    return v->in_speech;
}

uint64_t vad_samples_fed(const vad *v)
{
    return v->fed;
}

void vad_flush(vad *v, vad_event_fn fn, void *ud)
{
    v->run_voiced = 0;
    v->run_gap = 0;
    if (!v->in_speech)
        return;
    v->in_speech = 0;
    if (fn)
        fn(VAD_SPEECH_END, v->speech_end, ud);
}

/* ---- Does the transcript so far look finished? ---- */

#define WORD_MAX 16 /* longer words are kept cut, and match no list */

typedef struct {
    char w[WORD_MAX];
} word;

static int in_list(const word *w, const char *const *list);
static int is_pair(const word *a, const word *b, const char *const *pairs);

/* Said before the actual question ("so, um, how are you"). */
static const char *const LEAD_FILLERS[] = {"so",   "um", "uh",   "er",    "erm",     "ah",    "oh",
                                           "okay", "ok", "well", "and",   "alright", "right", "now",
                                           "hmm",  "mm", "hi",   "hello", "then",    NULL};
/* Hesitations that do not count as words of a closing remark. */
static const char *const HESITATIONS[] = {"um", "uh", "er", "erm", "ah", "hmm", "mm", "uhm", NULL};
/* Words a statement needs before its end can be taken as the end of the turn. */
#define STATEMENT_MIN_WORDS 5

static const char *const OPENERS[] = {
    "what",  "whats",   "when",  "whens",  "where",  "wheres",  "which", "who",    "whos",
    "whom",  "whose",   "why",   "how",    "hows",   "is",      "isnt",  "are",    "arent",
    "am",    "was",     "wasnt", "were",   "werent", "do",      "dont",  "does",   "doesnt",
    "did",   "didnt",   "have",  "havent", "has",    "hasnt",   "had",   "can",    "cant",
    "could", "couldnt", "will",  "wont",   "would",  "wouldnt", "shall", "should", "shouldnt",
    "may",   "might",   "must",  NULL};
/* A sentence does not end on these: it is still going. */
static const char *const OPEN_ENDS[] = {
    /* conjunctions */
    "and", "or", "but", "so", "because", "cause", "cos", "if", "then", "than", "though", "although",
    "while", "whether", "nor", "as", "since", "unless", "until", "till",
    /* question words */
    "what", "when", "where", "which", "who", "whom", "whose", "why", "how",
    /* prepositions */
    "to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "into", "onto", "over",
    "under", "after", "before", "between", "through", "during", "without", "around", "like", "per",
    "against", "towards",
    /* articles, determiners, possessives */
    "a", "an", "the", "my", "your", "his", "her", "their", "our", "its", "some", "any", "every",
    "each", "these", "those", "no", "another", "other", "much", "many", "more", "most", "few",
    /* auxiliaries and bare subjects */
    "is", "are", "was", "were", "am", "be", "been", "being", "do", "does", "did", "have", "has",
    "had", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "i", "im",
    "ive", "ill", "id", "youre", "youve", "theyre", "were", "weve", "theres", "thats", "lets",
    "let", "get", "got",
    /* fillers and intensifiers */
    "um", "uh", "er", "erm", "ah", "hmm", "mm", "uhm", "well", "just", "very", "really", "quite",
    "also", "actually", "basically", "maybe", "kind", "sort", "mean", NULL};
static const char *const SUBJECTS[] = {"i", "you", "we", "they", "he", "she", "it", NULL};
/* Words after which a subject pronoun is still waiting for its verb. */
static const char *const NEEDS_VERB[] = {
    "and",     "or",    "but",     "so",     "because", "if",     "when",  "where",   "while",
    "whether", "that",  "since",   "unless", "until",   "before", "after", "do",      "does",
    "did",     "dont",  "doesnt",  "didnt",  "can",     "cant",   "could", "couldnt", "will",
    "wont",    "would", "wouldnt", "should", "shall",   "may",    "might", "must",    "have",
    "has",     "had",   "havent",  "hasnt",  NULL};
static const char *const CLOSERS[] = {"right", "okay", "ok", "please", "thanks", NULL};
static const char *const CLOSER_PAIRS[] = {
    "thank you", "isnt it",    "arent you", "dont you", "doesnt it",  "didnt you", "wasnt it",
    "isnt that", "arent they", "dont they", "didnt it", "havent you", NULL};

static int in_list(const word *w, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(w->w, *list) == 0)
            return 1;
    return 0;
}

static int is_pair(const word *a, const word *b, const char *const *pairs)
{
    size_t la = strlen(a->w);
    for (; *pairs; pairs++)
        if (strncmp(*pairs, a->w, la) == 0 && (*pairs)[la] == ' ' &&
            strcmp(*pairs + la + 1, b->w) == 0)
            return 1;
    return 0;
}

int vad_looks_complete(const char *text)
{
    if (!text)
        return 0;
    word first = {{0}}, last[2] = {{{0}}, {{0}}}; /* last[1] is the last word */
    size_t counted = 0, spoken = 0; /* words after the lead fillers; words not hesitations */
    int leading = 1;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        word cur = {{0}};
        size_t n = 0;
        for (; *p; p++) {
            unsigned char c = *p;
            if (c == '\'')
                continue; /* "isn't" and "isnt" are the same word */
            if (c == 0xE2 && p[1] == 0x80 && p[2] == 0x99) { /* ’ */
                p += 2;
                continue;
            }
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c >= 0x80))
                break;
            if (n < WORD_MAX - 1)
                cur.w[n] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            n++;
        }
        if (n >= WORD_MAX)
            cur.w[0] = '#'; /* too long to be any listed word */
        if (*p)
            p++;
        if (n == 0)
            continue;
        if (!in_list(&cur, HESITATIONS))
            spoken++;
        if (leading && in_list(&cur, LEAD_FILLERS))
            continue;
        if (leading)
            first = cur;
        leading = 0;
        counted++;
        last[0] = last[1];
        last[1] = cur;
    }
    if (counted == 0)
        return 0; /* only fillers: "um", "okay so" */
    const word *prev = counted >= 2 ? &last[0] : NULL, *end = &last[1];
    /* "could you please" is still a request waiting for its verb. */
    if (strcmp(end->w, "please") == 0 && prev && in_list(prev, SUBJECTS))
        return 0;
    /* Closing remarks end any sentence: "it hurts here, right", "okay thanks". */
    if (spoken >= 2 && ((prev && is_pair(prev, end, CLOSER_PAIRS)) || in_list(end, CLOSERS)))
        return 1;
    if (counted < 3 || in_list(end, OPEN_ENDS))
        return 0;
    if (in_list(end, SUBJECTS) && in_list(prev, NEEDS_VERB))
        return 0; /* "how do you", "is it worse when you" */
    /* A question opened by a wh-word or an auxiliary, long enough, not left hanging. */
    if (in_list(&first, OPENERS))
        return 1;
    /* A statement of five words or more that does not hang ("the pain started two days ago",
     * "I'm one of the doctors here"): most of a clinician's turns are statements, and waiting
     * the long hangover after each costs half a second of conversation. */
    return counted >= STATEMENT_MIN_WORDS;
}
