/* Content-addressed blob store on the local file system: <data_dir>/blobs/ab/cd/<sha256 hex>.
 * Writes are atomic (temp file in the target directory, fsync, rename, fsync of the directory),
 * so a reader sees a whole blob or none. Keys are checked before any path is built, so a key
 * from outside can never name a file elsewhere. */
#include "store/blob.h"
#include "core/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct blob_store {
    char *root; /* <data_dir>/blobs */
};

/* root + "/ab/cd/" + key + NUL, with room for the temp suffix. */
#define BLOB_PATH_EXTRA (1 + 2 + 1 + 2 + 1 + 64 + 16)

static int key_valid(const char *key);
static int fsync_dir(const char *path);
static int ensure_dir(const char *path);

static int key_valid(const char *key)
{
    if (!key)
        return 0;
    for (size_t i = 0; i < BLOB_KEY_LEN - 1; i++) {
        char ch = key[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return 0; /* also stops at a NUL before 64 characters */
    }
    return key[BLOB_KEY_LEN - 1] == '\0';
}

/* Makes the directory durable in its parent's listing too. */
static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    (void)close(fd);
    return rc;
}

/* mkdir that tolerates a concurrent creator; 1 if it created the directory, 0 if it existed. */
static int ensure_dir(const char *path)
{
    if (mkdir(path, 0750) == 0)
        return 1;
    if (errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    return 0;
}

blob_store *blob_store_open(const char *data_dir, char *err, size_t errlen)
{
    blob_store *s = NULL;
    size_t n;

    if (!data_dir || !*data_dir) {
        err_set(err, errlen, "blob store: no data directory");
        return NULL;
    }
    if (sodium_init() < 0) {
        err_set(err, errlen, "blob store: libsodium failed to initialise");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    n = strlen(data_dir) + sizeof("/blobs");
    if (!s || !(s->root = malloc(n))) {
        err_set(err, errlen, "blob store: out of memory");
        free(s);
        return NULL;
    }
    (void)snprintf(s->root, n, "%s/blobs", data_dir);
    int made = ensure_dir(s->root);
    if (made < 0) {
        err_set(err, errlen, "blob store: cannot create %s: %s", s->root, strerror(errno));
        blob_store_close(s);
        return NULL;
    }
    if (access(s->root, R_OK | W_OK | X_OK) != 0) {
        err_set(err, errlen, "blob store: %s is not writable: %s", s->root, strerror(errno));
        blob_store_close(s);
        return NULL;
    }
    if (made == 1)
        (void)fsync_dir(data_dir);
    return s;
}

void blob_store_close(blob_store *s)
{
    if (!s)
        return;
    free(s->root);
    free(s);
}

/* <root>/ab/cd (level 2), <root>/ab (level 1) or <root>/ab/cd/<key> (level 3). */
static char *key_path(const blob_store *s, const char *key, int level)
{
    size_t n = strlen(s->root) + BLOB_PATH_EXTRA;
    char *p = malloc(n);
    if (!p)
        return NULL;
    if (level == 1)
        (void)snprintf(p, n, "%s/%.2s", s->root, key);
    else if (level == 2)
        (void)snprintf(p, n, "%s/%.2s/%.2s", s->root, key, key + 2);
    else
        (void)snprintf(p, n, "%s/%.2s/%.2s/%s", s->root, key, key + 2, key);
    return p;
}

static void hash_hex(const void *data, size_t len, char key[BLOB_KEY_LEN])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    (void)crypto_hash_sha256(digest, data, len);
    (void)sodium_bin2hex(key, BLOB_KEY_LEN, digest, sizeof(digest));
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int blob_put(blob_store *s, const void *data, size_t len, char key[BLOB_KEY_LEN])
{
    char *dir1 = NULL, *dir2 = NULL, *final = NULL, *tmp = NULL;
    int fd = -1;
    int rc = -1;
    struct stat st;

    if (!s || (!data && len > 0))
        return -1;
    hash_hex(data ? data : "", len, key);
    dir1 = key_path(s, key, 1);
    dir2 = key_path(s, key, 2);
    final = key_path(s, key, 3);
    if (!dir1 || !dir2 || !final)
        goto out;
    /* Same content, same key: a blob already there is this blob. */
    if (stat(final, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len) {
        rc = 0;
        goto out;
    }
    int made1 = ensure_dir(dir1);
    if (made1 < 0)
        goto out;
    int made2 = ensure_dir(dir2);
    if (made2 < 0)
        goto out;
    if (made1 == 1)
        (void)fsync_dir(s->root);
    if (made2 == 1)
        (void)fsync_dir(dir1);

    size_t n = strlen(dir2) + sizeof("/.tmp-XXXXXX");
    tmp = malloc(n);
    if (!tmp)
        goto out;
    (void)snprintf(tmp, n, "%s/.tmp-XXXXXX", dir2);
    fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0)
        goto out;
    int cr = close(fd);
    fd = -1;
    if (cr != 0)
        goto out;
    /* rename is atomic: concurrent writers of the same content both end with one whole file. */
    if (rename(tmp, final) != 0)
        goto out;
    free(tmp);
    tmp = NULL;
    if (fsync_dir(dir2) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        (void)close(fd);
    if (tmp) {
        (void)unlink(tmp);
        free(tmp);
    }
    free(dir1);
    free(dir2);
    free(final);
    return rc;
}

int blob_get(blob_store *s, const char *key, void **data, size_t *len)
{
    unsigned char *buf = NULL;
    char *path = NULL;
    char check[BLOB_KEY_LEN];
    int fd = -1;
    int rc = -1;
    struct stat st;

    *data = NULL;
    *len = 0;
    if (!s || !key_valid(key))
        return -1;
    path = key_path(s, key, 3);
    if (!path)
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        goto out;
    size_t size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (!buf)
        goto out;
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    /* The name is the content's hash: a mismatch means the file was damaged on disk. */
    hash_hex(buf, size, check);
    if (sodium_memcmp(check, key, BLOB_KEY_LEN - 1) != 0)
        goto out;
    *data = buf;
    *len = size;
    buf = NULL;
    rc = 0;
out:
    if (fd >= 0)
        (void)close(fd);
    free(buf);
    free(path);
    return rc;
}

int blob_exists(blob_store *s, const char *key)
{
    struct stat st;
    if (!s || !key_valid(key))
        return 0;
    char *path = key_path(s, key, 3);
    if (!path)
        return 0;
    int found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return found;
}

int blob_delete(blob_store *s, const char *key)
{
    if (!s || !key_valid(key))
        return -1;
    char *path = key_path(s, key, 3);
    char *dir = key_path(s, key, 2);
    int rc = -1;
    if (!path || !dir)
        goto out;
    if (unlink(path) != 0) {
        rc = errno == ENOENT ? 0 : -1;
        goto out;
    }
    rc = fsync_dir(dir) == 0 ? 0 : -1;
out:
    free(path);
    free(dir);
    return rc;
}
