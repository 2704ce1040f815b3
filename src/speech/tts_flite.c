/* The flite engine: four compiled-in voices registered once per process, and a sentence's audio
 * streamed out of flite while it is being synthesised. No lock around synthesis: flite 2.2 links
 * (never copies) a voice's features into each utterance, so synthesising only reads the shared
 * voice; the investigation and the test that keeps it honest are in docs/internals/tts.md. */
#include "speech/tts_internal.h"

#include "core/errors.h"

#include <flite/flite.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The voice libraries declare no headers of their own. */
cst_voice *register_cmu_us_slt(const char *voxdir);
cst_voice *register_cmu_us_rms(const char *voxdir);
cst_voice *register_cmu_us_awb(const char *voxdir);
cst_voice *register_cmu_us_kal16(const char *voxdir);

typedef cst_voice *(*register_fn)(const char *voxdir);

/* flite's voices are process-global: this table is the documented singleton that names them.
 * Written once under pthread_once, read-only afterwards. */
static struct {
    const char *name;
    register_fn reg;
    cst_voice *voice;
} voices[] = {
    {"slt", register_cmu_us_slt, NULL},   /* female, US */
    {"rms", register_cmu_us_rms, NULL},   /* male, US */
    {"awb", register_cmu_us_awb, NULL},   /* male, Scottish */
    {"kal", register_cmu_us_kal16, NULL}, /* male, US, diphone; the 16 kHz build of kal */
};

static pthread_once_t registered = PTHREAD_ONCE_INIT;
static const char *register_error; /* NULL when every voice registered */

static void register_voices(void)
{
    flite_init();
    for (size_t i = 0; i < ARRAY_LEN(voices); i++) {
        voices[i].voice = voices[i].reg(NULL);
        if (!voices[i].voice) {
            register_error = voices[i].name;
            return;
        }
    }
}

int tts_flite_init(char *err, size_t errlen)
{
    pthread_once(&registered, register_voices);
    if (register_error) {
        err_set(err, errlen, "flite: voice %s could not be registered", register_error);
        return -1;
    }
    return 0;
}

static cst_voice *voice_named(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(voices); i++)
        if (strcmp(voices[i].name, name) == 0)
            return voices[i].voice;
    return NULL;
}

struct stream {
    tts_audio_fn fn;
    void *ud;
    int streamed; /* audio went out from inside flite */
    int stopped;  /* fn asked to stop */
};

/* Hands out [start, start+size) of the wave flite is filling, in chunks of at most
 * TTS_CHUNK_MAX: the first audio of a sentence leaves before the rest is synthesised. */
static int on_audio(const cst_wave *w, int start, int size, int last, cst_audio_streaming_info *asi)
{
    (void)last;
    struct stream *s = asi->userdata;
    if (s->stopped)
        return CST_AUDIO_STREAM_STOP;
    /* Another rate is resampled whole once synthesis is over. */
    if (w->sample_rate != TTS_RATE || w->num_channels != 1 || start < 0 || size <= 0)
        return CST_AUDIO_STREAM_CONT;
    s->streamed = 1;
    for (int off = 0; off < size; off += TTS_CHUNK_MAX) {
        int len = size - off < TTS_CHUNK_MAX ? size - off : TTS_CHUNK_MAX;
        if (s->fn(w->samples + start + off, (size_t)len, s->ud) != 0) {
            s->stopped = 1;
            return CST_AUDIO_STREAM_STOP;
        }
    }
    return CST_AUDIO_STREAM_CONT;
}

/* A voice of another rate (none of ours today): the whole sentence, resampled, in chunks. */
static int deliver_resampled(const cst_wave *w, struct stream *s, char *err, size_t errlen)
{
    if (!w || w->num_samples <= 0 || !w->samples)
        return 0;
    if (w->num_channels != 1) {
        err_set(err, errlen, "flite: a voice that is not mono");
        return -1;
    }
    int16_t *pcm = NULL;
    size_t n = 0;
    if (tts_resample(w->samples, (size_t)w->num_samples, w->sample_rate, &pcm, &n) != 0) {
        err_set(err, errlen, "flite: resampling from %d Hz failed", w->sample_rate);
        return -1;
    }
    for (size_t off = 0; off < n && !s->stopped; off += TTS_CHUNK_MAX)
        s->stopped = s->fn(pcm + off, n - off < TTS_CHUNK_MAX ? n - off : TTS_CHUNK_MAX, s->ud);
    free(pcm);
    return 0;
}

int tts_flite_speak(const char *voice, const char *text, tts_audio_fn fn, void *ud, char *err,
                    size_t errlen)
{
    if (tts_flite_init(err, errlen) != 0)
        return -1;
    cst_voice *v = voice_named(voice);
    if (!v) {
        err_set(err, errlen, "flite: no voice named %s", voice);
        return -1;
    }
    struct stream s = {.fn = fn, .ud = ud};
    cst_audio_streaming_info *asi = new_audio_streaming_info();
    cst_utterance *u = new_utterance();
    if (!asi || !u) {
        delete_audio_streaming_info(asi);
        delete_utterance(u);
        err_set(err, errlen, "flite: out of memory");
        return -1;
    }
    asi->min_buffsize = TTS_CHUNK_MAX;
    asi->asc = on_audio;
    asi->userdata = &s;
    /* What flite_text_to_wave does, with the streaming callback set on this utterance's own
     * features (never on the shared voice); the utterance owns asi from here on. */
    utt_set_input_text(u, text);
    utt_init(u, v);
    feat_set(u->features, "streaming_info", audio_streaming_info_val(asi));
    int rc = 0;
    if (!utt_synth(u)) {
        err_set(err, errlen, "flite: synthesis failed");
        rc = -1;
    } else if (!s.streamed && !s.stopped) {
        rc = deliver_resampled(utt_wave(u), &s, err, errlen);
    }
    delete_utterance(u);
    return rc == 0 && s.stopped ? 1 : rc;
}
