/* Content-addressed blob store for audio: files under <data_dir>/blobs/ab/cd/<sha256>, written
 * atomically (temp file + fsync + rename + directory fsync). Identical content is stored once. */
#ifndef PRAXIS_STORE_BLOB_H
#define PRAXIS_STORE_BLOB_H

#include "core/common.h"

#define BLOB_KEY_LEN 65 /* sha256 hex + NUL */

typedef struct blob_store blob_store;

/* Creates <data_dir>/blobs if needed. NULL with err on failure. */
blob_store *blob_store_open(const char *data_dir, char *err, size_t errlen);
void blob_store_close(blob_store *s);

int blob_put(blob_store *s, const void *data, size_t len, char key[BLOB_KEY_LEN]) WUR;
/* Reads a blob into a malloc'd buffer (caller frees). -1 if missing or key malformed. */
int blob_get(blob_store *s, const char *key, void **data, size_t *len) WUR;
int blob_exists(blob_store *s, const char *key);
/* 0 when removed or already absent. */
int blob_delete(blob_store *s, const char *key) WUR;

#endif
