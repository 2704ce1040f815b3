/* Tests src/store/blob.c: round trips, de-duplication by content, key validation (no path ever
 * built from a bad key), atomic writes leaving no temp files, and damage detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/blob.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[600];
    blob_store *s;
} ctx;

/* sha256("") and sha256("abc"), from FIPS 180-2. */
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    ctx *t = calloc(1, sizeof(*t));
    char err[256];
    const char *base = getenv("PRAXIS_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0755);
    snprintf(t->dir, sizeof(t->dir), "%s/praxis-blobtest-XXXXXX", base);
    if (!mkdtemp(t->dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", t->dir, strerror(errno));
        free(t);
        return -1;
    }
    t->s = blob_store_open(t->dir, err, sizeof(err));
    if (!t->s) {
        fprintf(stderr, "blob_store_open: %s\n", err);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    ctx *t = *state;
    blob_store_close(t->s);
    nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

/* Counts regular files under dir, and those whose name starts with a dot (temp files). */
static void count_files(const char *dir, int *files, int *hidden)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    if (!dp)
        return;
    while ((e = readdir(dp)) != NULL) {
        char p[1200];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            count_files(p, files, hidden);
        } else {
            (*files)++;
            if (e->d_name[0] == '.')
                (*hidden)++;
        }
    }
    closedir(dp);
}

static void test_put_get_exists_delete(void **state)
{
    ctx *t = *state;
    char key[BLOB_KEY_LEN];
    assert_int_equal(blob_put(t->s, "abc", 3, key), 0);
    assert_string_equal(key, SHA_ABC);
    assert_int_equal(blob_exists(t->s, key), 1);

    /* Where it lives: <data_dir>/blobs/ab/cd/<key>. */
    char path[1200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/blobs/ba/78/%s", t->dir, SHA_ABC);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 3);

    void *data = NULL;
    size_t len = 0;
    assert_int_equal(blob_get(t->s, key, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "abc", 3);
    free(data);

    assert_int_equal(blob_delete(t->s, key), 0);
    assert_int_equal(blob_exists(t->s, key), 0);
    assert_int_equal(blob_get(t->s, key, &data, &len), -1);
    assert_null(data);
    assert_int_equal(blob_delete(t->s, key), 0); /* already gone is fine */
}

static void test_empty_and_binary(void **state)
{
    ctx *t = *state;
    char key[BLOB_KEY_LEN];
    assert_int_equal(blob_put(t->s, NULL, 0, key), 0);
    assert_string_equal(key, SHA_EMPTY);
    void *data = NULL;
    size_t len = 99;
    assert_int_equal(blob_get(t->s, key, &data, &len), 0);
    assert_int_equal(len, 0);
    free(data);

    size_t big = 3 * 1024 * 1024 + 17;
    unsigned char *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        buf[i] = (unsigned char)(i * 131 + (i >> 8));
    assert_int_equal(blob_put(t->s, buf, big, key), 0);
    assert_int_equal(blob_get(t->s, key, &data, &len), 0);
    assert_int_equal(len, big);
    assert_memory_equal(data, buf, big);
    free(data);
    free(buf);
}

static void test_same_content_stored_once(void **state)
{
    ctx *t = *state;
    char k1[BLOB_KEY_LEN], k2[BLOB_KEY_LEN], k3[BLOB_KEY_LEN];
    int before = 0, hidden = 0;
    count_files(t->dir, &before, &hidden);
    assert_int_equal(blob_put(t->s, "same bytes", 10, k1), 0);
    assert_int_equal(blob_put(t->s, "same bytes", 10, k2), 0);
    assert_string_equal(k1, k2);
    assert_int_equal(blob_put(t->s, "other bytes", 11, k3), 0);
    assert_string_not_equal(k1, k3);
    int after = 0;
    hidden = 0;
    count_files(t->dir, &after, &hidden);
    assert_int_equal(after - before, 2);
    assert_int_equal(hidden, 0);
}

static void test_malformed_keys(void **state)
{
    ctx *t = *state;
    const char *bad[] = {
        NULL,
        "",
        "abc",
        "../../../../etc/passwd",
        "../" SHA_ABC,
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",  /* uppercase */
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",   /* 63 chars */
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add", /* 65 chars */
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a/",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
        "..7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    };
    char key[BLOB_KEY_LEN];
    assert_int_equal(blob_put(t->s, "abc", 3, key), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        void *data = (void *)1;
        size_t len = 1;
        assert_int_equal(blob_exists(t->s, bad[i]), 0);
        assert_int_equal(blob_get(t->s, bad[i], &data, &len), -1);
        assert_null(data);
        assert_int_equal(len, 0);
        assert_int_equal(blob_delete(t->s, bad[i]), -1);
    }
    /* The real blob is untouched by all of that. */
    assert_int_equal(blob_exists(t->s, SHA_ABC), 1);
}

static void test_damaged_file_is_not_returned(void **state)
{
    ctx *t = *state;
    char key[BLOB_KEY_LEN];
    char path[1200];
    assert_int_equal(blob_put(t->s, "precious audio", 14, key), 0);
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%.2s/%s", t->dir, key, key + 2, key);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fputc('X', f);
    fclose(f);
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(blob_get(t->s, key, &data, &len), -1);
    assert_null(data);
}

struct putter {
    blob_store *s;
    int failures;
};

static void *putter_main(void *p)
{
    struct putter *a = p;
    char key[BLOB_KEY_LEN];
    char buf[64];
    for (int i = 0; i < 50; i++) {
        /* Everyone writes the same 10 blobs at the same time. */
        int n = snprintf(buf, sizeof(buf), "shared blob %d", i % 10);
        if (blob_put(a->s, buf, (size_t)n, key) != 0)
            a->failures++;
    }
    return NULL;
}

static void test_concurrent_puts_leave_no_temp_files(void **state)
{
    ctx *t = *state;
    enum { N = 6 };
    pthread_t th[N];
    struct putter p[N];
    int before = 0, hidden = 0;
    count_files(t->dir, &before, &hidden);
    for (int i = 0; i < N; i++) {
        p[i] = (struct putter){.s = t->s};
        assert_int_equal(pthread_create(&th[i], NULL, putter_main, &p[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].failures, 0);
    }
    int after = 0;
    hidden = 0;
    count_files(t->dir, &after, &hidden);
    assert_int_equal(after - before, 10);
    assert_int_equal(hidden, 0);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256];
    err[0] = '\0';
    assert_null(blob_store_open("/proc/praxis-no-such-dir/data", err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(blob_store_open("", err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_exists_delete),
        cmocka_unit_test(test_empty_and_binary),
        cmocka_unit_test(test_same_content_stored_once),
        cmocka_unit_test(test_malformed_keys),
        cmocka_unit_test(test_damaged_file_is_not_returned),
        cmocka_unit_test(test_concurrent_puts_leave_no_temp_files),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests_name("store/blob", tests, setup, teardown);
}
