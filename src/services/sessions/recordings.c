/* Candidates' recordings at rest: a 16 kHz WAV sealed with DATA_KEY and the owner's id as
 * additional data (a blob moved to another account does not open), in the blob store. */
#include "services/sessions/internal.h"

#include "audio/audio.h"
#include "core/seal.h"
#include "services/app.h"

#include <stdlib.h>
#include <string.h>

int session_recording_store(const struct app *a, const char *user_id, const int16_t *samples,
                            size_t n, char key[BLOB_KEY_LEN])
{
    buf wav, sealed;
    buf_init(&wav, n * 2 + 64);
    buf_init(&sealed, n * 2 + 4096);
    int rc = audio_wav_encode(samples, n, AUDIO_RATE, &wav);
    if (rc == 0)
        rc = seal_encrypt(a->cfg->data_key, user_id, strlen(user_id), wav.ptr, wav.len,
                          &sealed);
    if (rc == 0)
        rc = blob_put(a->blobs, sealed.ptr, sealed.len, key);
    buf_free(&wav);
    buf_free(&sealed);
    return rc;
}

int session_recording_load(const struct app *a, const char *user_id, const char *key,
                           buf *wav)
{
    void *blob = NULL;
    size_t len = 0;
    int rc = blob_get(a->blobs, key, &blob, &len);
    if (rc == 0)
        rc = seal_decrypt(a->cfg->data_key, user_id, strlen(user_id), blob, len, wav);
    free(blob);
    return rc;
}
