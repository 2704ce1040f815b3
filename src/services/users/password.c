/* Email normalisation, password policy and Argon2id hashing. */
#include "services/users/password.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const unsigned char common_passwords_txt[];
extern const size_t common_passwords_txt_len;

static char **common_sorted;
static size_t common_count;
static pthread_once_t common_once = PTHREAD_ONCE_INIT;
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits the embedded list once into a sorted array of lower-case entries (comments skipped). */
static void load_common(void)
{
    size_t lines = 1;
    for (size_t i = 0; i < common_passwords_txt_len; i++)
        if (common_passwords_txt[i] == '\n')
            lines++;
    common_sorted = calloc(lines, sizeof(*common_sorted));
    if (!common_sorted)
        return;
    const char *p = (const char *)common_passwords_txt;
    const char *end = p + common_passwords_txt_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[0] != '#') {
            char *w = strndup(p, n);
            if (!w)
                break;
            for (char *q = w; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            common_sorted[common_count++] = w;
        }
        p += n + 1;
    }
    qsort(common_sorted, common_count, sizeof(*common_sorted), cmp_str);
}

int password_is_common(const char *password)
{
    pthread_once(&common_once, load_common);
    if (!common_sorted || !password)
        return 0;
    char lower[PASSWORD_MAX * 4 + 1];
    size_t n = strnlen(password, sizeof(lower) - 1);
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)password[i]);
    lower[n] = '\0';
    const char *key = lower;
    return bsearch(&key, common_sorted, common_count, sizeof(*common_sorted), cmp_str) != NULL;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int password_check_policy(const char *password, const char *email, const char **why)
{
    size_t n = utf8_chars(password);
    if (n < PASSWORD_MIN) {
        *why = "must be at least 10 characters";
        return -1;
    }
    if (n > PASSWORD_MAX) {
        *why = "must be at most 128 characters";
        return -1;
    }
    if (email && strcasecmp(password, email) == 0) {
        *why = "must not be your email address";
        return -1;
    }
    if (password_is_common(password)) {
        *why = "is too common; choose one that is not on lists of leaked passwords";
        return -1;
    }
    *why = NULL;
    return 0;
}

int password_hash(const char *password, char out[crypto_pwhash_STRBYTES])
{
    if (sodium_init() < 0)
        return -1;
    return crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

int password_verify(const char *hash, const char *password)
{
    if (sodium_init() < 0)
        return -1;
    return crypto_pwhash_str_verify(hash, password, strlen(password));
}

int password_needs_rehash(const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
}

static void make_dummy(void)
{
    if (password_hash("praxis-timing-equaliser", dummy_hash) != 0)
        dummy_hash[0] = '\0';
}

void password_burn_time(const char *password)
{
    pthread_once(&dummy_once, make_dummy);
    if (dummy_hash[0])
        (void)!password_verify(dummy_hash, password);
}
