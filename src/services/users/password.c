/* Email normalisation, password policy and Argon2id hashing. */
#include "services/users/password.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int email_normalize(const char *in, char *out, size_t outlen, const char **why)
{
    *why = "must be a valid email address";
    if (!in)
        return -1;
    while (*in && isspace((unsigned char)*in))
        in++;
    size_t n = strlen(in);
    while (n && isspace((unsigned char)in[n - 1]))
        n--;
    if (n == 0 || n > EMAIL_MAX || n + 1 > outlen)
        return -1;
    const char *at = NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
            c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' || c == ']')
            return -1;
        if (c == '@') {
            if (at)
                return -1;
            at = in + i;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    if (!at)
        return -1;
    size_t local = (size_t)(at - in), domain = n - local - 1;
    if (local == 0 || local > 64 || domain < 3)
        return -1;
    const char *dom = out + local + 1;
    const char *dot = strrchr(dom, '.');
    if (!dot || dot == dom || dot[1] == '\0' || strstr(dom, "..") || dom[0] == '-' ||
        dom[0] == '.')
        return -1;
    *why = NULL;
    return 0;
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
