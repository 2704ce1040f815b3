/* Email address normalisation (see email.h). */
#include "core/email.h"

#include <ctype.h>
#include <string.h>

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
        /* Non-ASCII addresses need SMTPUTF8, which we do not send: refused up front. */
        if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
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
