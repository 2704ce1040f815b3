/* Outgoing email: the "email.send" outbox topic and its transports. EMAIL_TRANSPORT=log keeps
 * the message in the outbox row and logs it (links included) — the development default;
 * EMAIL_TRANSPORT=smtp sends through SMTP_URL with libcurl (STARTTLS when the server offers
 * it), from SMTP_FROM. */
#ifndef PRAXIS_EVENTS_EMAIL_H
#define PRAXIS_EVENTS_EMAIL_H

#include "events/outbox.h"

#include <stdint.h>

#define EMAIL_TOPIC "email.send"

typedef struct email_transport {
    int smtp;             /* 0 = log */
    const char *smtp_url; /* smtp://host:port or smtps://… ; user:pass@ allowed */
    const char *from;     /* "OET Praxis <no-reply@example.com>" or a bare address */
    int timeout_ms;
} email_transport;

/* Queues an email in the caller's transaction. */
int email_enqueue(db_conn *c, const char *to, const char *subject, const char *text_body) WUR;

/* Registers the EMAIL_TOPIC handler; t must outlive the dispatcher. */
int email_register(outbox_dispatcher *o, const email_transport *t) WUR;

/* Sends one message now (used by the handler; exposed for tests). 0 on success. */
int email_send(const email_transport *t, const char *to, const char *subject, const char *text_body,
               char *err, size_t errlen) WUR;

/* Builds the RFC 5322 message the SMTP transport sends (exposed for tests): Date (now_ms),
 * From, To, Subject (RFC 2047 encoded-words when not plain ASCII), Message-ID on the sender's
 * domain, MIME headers, CRLF line endings; the body is 8bit, or quoted-printable when a line
 * is longer than SMTP allows. On success *out (NUL-terminated, caller frees) and *out_len. */
int email_format(const email_transport *t, const char *to, const char *subject,
                 const char *text_body, int64_t now_ms, char **out, size_t *out_len, char *err,
                 size_t errlen) WUR;

#endif
