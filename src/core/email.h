/* Email addresses as the system stores them: trimmed, lower-cased, of the plain
 * local@domain.tld shape. Used by accounts and by the rate limiter's per-email keys. */
#ifndef PRAXIS_CORE_EMAIL_H
#define PRAXIS_CORE_EMAIL_H

#include "core/common.h"

#define EMAIL_MAX 254

/* Trims, lower-cases and checks the shape local@domain.tld. out gets the normalised address.
 * On failure *why is a client-safe reason ("must be a valid email address"). */
int email_normalize(const char *in, char *out, size_t outlen, const char **why) WUR;

#endif
