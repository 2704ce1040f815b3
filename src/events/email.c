/* Outgoing email: queueing through the outbox, the EMAIL_TOPIC handler, and the two transports
 * (log, SMTP with libcurl). email_format builds the RFC 5322 message; everything that reaches a
 * header is checked first, so a CR or LF from a caller can never add a header or a recipient. */
#include "events/email.h"

#include "core/utf8.h"

#include "core/buf.h"
#include "core/errors.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define EMAIL_ADDR_MAX 254    /* RFC 5321 path limit */
#define EMAIL_SUBJECT_MAX 900 /* bytes; keeps even an unencoded Subject under 998 */
#define EMAIL_BODY_MAX (512 * 1024)
#define EMAIL_MESSAGE_MAX (4 * 1024 * 1024) /* the body at worst triples under QP */
#define EMAIL_LINE_MAX 998                  /* RFC 5322 2.1.1, without the CRLF */
#define EMAIL_QP_LINE 76
/* An encoded-word carries at most this many raw bytes: "=?UTF-8?B?" + 52 base64 + "?=" is 64
 * characters, so even the first line ("Subject: " + word) stays within RFC 2047's 76. */
#define EMAIL_WORD_BYTES 39
#define EMAIL_TIMEOUT_DEFAULT_MS 15000
#define EMAIL_CONNECT_TIMEOUT_MAX_MS 10000

struct upload {
    const char *ptr;
    size_t len;
    size_t off;
};

static int check_message(const char *to, const char *subject, const char *text_body, char *err,
                         size_t errlen);
static int address_ok(const char *s, size_t len);
static int has_crlf(const char *s);
static int parse_from(const char *from, char *display, size_t dlen, char *addr, size_t alen);
static int phrase_needs_quoting(const char *s);
static int needs_encoding(const char *s);
static int put_encoded_words(buf *b, const char *s, size_t *line_len);
static int put_from(buf *b, const char *display, const char *addr);
static int put_body(buf *b, const char *text, int *qp);
static int put_body_qp(buf *b, const char *text);
static void rfc5322_date(int64_t ms, char out[40]);
static int handle(const char *topic, const json_t *payload, void *ud, char *err, size_t errlen);
static int send_smtp(const email_transport *t, const char *to, const char *subject,
                     const char *text_body, char *err, size_t errlen);
static size_t read_message(char *dst, size_t size, size_t nmemb, void *ud);

int email_enqueue(db_conn *c, const char *to, const char *subject, const char *text_body)
{
    char err[160];
    if (check_message(to, subject, text_body, err, sizeof(err)) != 0) {
        /* Refused here rather than failing eight times in the outbox. No address in the log. */
        log_warn("email not queued: %s", err);
        return DB_ERROR;
    }
    json_t *payload = json_pack("{s:s, s:s, s:s}", "to", to, "subject", subject, "text", text_body);
    if (!payload)
        return DB_ERROR;
    int rc = outbox_enqueue(c, EMAIL_TOPIC, payload, NULL);
    json_decref(payload);
    return rc;
}

int email_register(outbox_dispatcher *o, const email_transport *t)
{
    if (!o || !t)
        return -1;
    /* The handler only reads the transport; the cast is for the generic user-data pointer. */
    return outbox_register(o, EMAIL_TOPIC, handle, (void *)(uintptr_t)t);
}

static int handle(const char *topic, const json_t *payload, void *ud, char *err, size_t errlen)
{
    (void)topic;
    const email_transport *t = ud;
    const char *to = json_get_str(payload, "to", NULL);
    const char *subject = json_get_str(payload, "subject", NULL);
    const char *text = json_get_str(payload, "text", NULL);
    if (!to || !subject || !text) {
        err_set(err, errlen, "email payload lacks to, subject or text");
        return -1;
    }
    return email_send(t, to, subject, text, err, errlen);
}

int email_send(const email_transport *t, const char *to, const char *subject, const char *text_body,
               char *err, size_t errlen)
{
    if (!t) {
        err_set(err, errlen, "no email transport");
        return -1;
    }
    if (check_message(to, subject, text_body, err, errlen) != 0)
        return -1;
    if (!t->smtp) {
        /* The development transport: its whole point is to show the links in the log. */
        json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "msg", "email", "to", to, "subject",
                                 subject, "text", text_body);
        if (!line) {
            err_set(err, errlen, "out of memory");
            return -1;
        }
        log_json(LOG_INFO, line);
        return 0;
    }
    return send_smtp(t, to, subject, text_body, err, errlen);
}

/* What every transport requires of a message. The messages never quote the address: they end
 * up in last_error and the log. */
static int check_message(const char *to, const char *subject, const char *text_body, char *err,
                         size_t errlen)
{
    if (!to || !subject || !text_body) {
        err_set(err, errlen, "email needs a recipient, a subject and a body");
        return -1;
    }
    if (has_crlf(to) || has_crlf(subject)) {
        err_set(err, errlen, "line break in the recipient or subject refused (header injection)");
        return -1;
    }
    if (!address_ok(to, strlen(to))) {
        err_set(err, errlen, "recipient is not a valid email address");
        return -1;
    }
    if (strlen(subject) > EMAIL_SUBJECT_MAX || !utf8_valid(subject, strlen(subject))) {
        err_set(err, errlen, "subject is too long or not valid UTF-8");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            err_set(err, errlen, "control character in the subject refused");
            return -1;
        }
    }
    if (strlen(text_body) > EMAIL_BODY_MAX || !utf8_valid(text_body, strlen(text_body))) {
        err_set(err, errlen, "body is too long or not valid UTF-8");
        return -1;
    }
    return 0;
}

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Deliberately minimal: one '@' with something on both sides, and nothing that could change
 * the meaning of an SMTP command or a header (spaces, controls, brackets, separators). */
static int address_ok(const char *s, size_t len)
{
    if (len < 3 || len > EMAIL_ADDR_MAX)
        return 0;
    const char *at = memchr(s, '@', len);
    if (!at || at == s || at == s + len - 1 || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("<>()[],;:\\\"", c))
            return 0;
    }
    return 1;
}


/* "Display Name <addr@host>", "\"Name\" <addr@host>" or a bare "addr@host". 0 if usable. */
static int parse_from(const char *from, char *display, size_t dlen, char *addr, size_t alen)
{
    if (!from || has_crlf(from) || !utf8_valid(from, strlen(from)))
        return -1;
    const char *lt = strrchr(from, '<');
    const char *a = from, *a_end;
    display[0] = '\0';
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt || gt[1 + strspn(gt + 1, " \t")] != '\0')
            return -1;
        a = lt + 1;
        a_end = gt;
        const char *d = from + strspn(from, " \t");
        const char *d_end = lt;
        while (d_end > d && (d_end[-1] == ' ' || d_end[-1] == '\t'))
            d_end--;
        if (d_end - d >= 2 && d[0] == '"' && d_end[-1] == '"') {
            d++;
            d_end--;
        }
        if ((size_t)(d_end - d) >= dlen || memchr(d, '"', (size_t)(d_end - d)) ||
            memchr(d, '\\', (size_t)(d_end - d)))
            return -1;
        memcpy(display, d, (size_t)(d_end - d));
        display[d_end - d] = '\0';
    } else {
        a += strspn(a, " \t");
        a_end = a + strcspn(a, " \t");
        if (a_end[strspn(a_end, " \t")] != '\0')
            return -1;
    }
    size_t n = (size_t)(a_end - a);
    if (n >= alen || !address_ok(a, n))
        return -1;
    memcpy(addr, a, n);
    addr[n] = '\0';
    return 0;
}

/* RFC 5322 specials (and '.') in a display name need a quoted-string. */
static int phrase_needs_quoting(const char *s)
{
    return strpbrk(s, "()<>[]:;@\\,.\"") != NULL;
}

/* Non-ASCII or control characters, or something that would itself read as an encoded-word. */
static int needs_encoding(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x7f || (*p < 0x20 && *p != '\t'))
            return 1;
    return strstr(s, "=?") != NULL;
}

/* RFC 2047 B encoding, split at character boundaries, one encoded-word per folded line. */
static int put_encoded_words(buf *b, const char *s, size_t *line_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    int first = 1;
    while (i < n || first) {
        size_t take = 0;
        while (i + take < n) {
            size_t len = utf8_seq_len(p + i + take, n - i - take);
            if (len == 0)
                len = 1; /* validated by the caller; never split a byte sequence anyway */
            if (take + len > EMAIL_WORD_BYTES)
                break;
            take += len;
        }
        char b64[sodium_base64_ENCODED_LEN(EMAIL_WORD_BYTES, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof(b64), p + i, take, sodium_base64_VARIANT_ORIGINAL);
        if (!first) {
            if (buf_puts(b, "\r\n ") != 0)
                return -1;
            *line_len = 1;
        }
        if (buf_printf(b, "=?UTF-8?B?%s?=", b64) != 0)
            return -1;
        *line_len += 12 + strlen(b64);
        i += take;
        first = 0;
    }
    return 0;
}

static int put_from(buf *b, const char *display, const char *addr)
{
    if (!display[0])
        return buf_printf(b, "From: %s\r\n", addr);
    size_t line_len = 6;
    if (buf_puts(b, "From: ") != 0)
        return -1;
    int rc;
    if (needs_encoding(display)) {
        rc = put_encoded_words(b, display, &line_len);
    } else if (phrase_needs_quoting(display)) {
        rc = buf_printf(b, "\"%s\"", display); /* parse_from refused '"' and '\' */
        line_len += strlen(display) + 2;
    } else {
        rc = buf_puts(b, display);
        line_len += strlen(display);
    }
    if (rc != 0)
        return -1;
    /* Fold before the address rather than let a line with encoded-words pass 76. */
    const char *sep = line_len + strlen(addr) + 3 > EMAIL_QP_LINE ? "\r\n " : " ";
    return buf_printf(b, "%s<%s>\r\n", sep, addr);
}

/* The body with every line ending made CRLF; 8bit unless a line is longer than SMTP allows,
 * then quoted-printable (*qp = 1). */
static int put_body(buf *b, const char *text, int *qp)
{
    size_t line = 0;
    *qp = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            if (*p == '\r' && p[1] == '\n')
                p++;
            line = 0;
        } else if (++line > EMAIL_LINE_MAX) {
            *qp = 1;
            return put_body_qp(b, text);
        }
    }
    for (const char *p = text; *p;) {
        size_t run = strcspn(p, "\r\n");
        if (buf_append(b, p, run) != 0)
            return -1;
        p += run;
        if (!*p)
            break;
        if (buf_puts(b, "\r\n") != 0)
            return -1;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
    /* The message ends with a line ending (curl adds the terminating "." line after it). */
    if (b->len < 2 || memcmp(b->ptr + b->len - 2, "\r\n", 2) != 0)
        return buf_puts(b, "\r\n");
    return 0;
}

/* RFC 2045 6.7: soft line breaks keep lines at 76; trailing white space is encoded. */
static int put_body_qp(buf *b, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)text;
    size_t col = 0;
    while (*p) {
        if (*p == '\r' || *p == '\n') {
            p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
            if (buf_puts(b, "\r\n") != 0)
                return -1;
            col = 0;
            continue;
        }
        unsigned char c = *p++;
        int at_eol = *p == '\0' || *p == '\r' || *p == '\n';
        char out[3];
        size_t n;
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol)) {
            out[0] = (char)c;
            n = 1;
        } else {
            out[0] = '=';
            out[1] = hex[c >> 4];
            out[2] = hex[c & 15];
            n = 3;
        }
        /* Leave room for the '=' of a soft break unless this is the line's last character. */
        if (col + n > (at_eol ? EMAIL_QP_LINE : EMAIL_QP_LINE - 1)) {
            if (buf_puts(b, "=\r\n") != 0)
                return -1;
            col = 0;
        }
        if (buf_append(b, out, n) != 0)
            return -1;
        col += n;
    }
    if (b->len < 2 || memcmp(b->ptr + b->len - 2, "\r\n", 2) != 0)
        return buf_puts(b, "\r\n");
    return 0;
}

/* "Wed, 25 Nov 2026 14:58:23 +0000": English names whatever the locale. */
static void rfc5322_date(int64_t ms, char out[40])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int email_format(const email_transport *t, const char *to, const char *subject,
                 const char *text_body, int64_t now_ms, char **out, size_t *out_len, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (check_message(to, subject, text_body, err, errlen) != 0)
        return -1;
    char display[256], addr[EMAIL_ADDR_MAX + 1];
    if (!t || parse_from(t->from, display, sizeof(display), addr, sizeof(addr)) != 0) {
        err_set(err, errlen, "SMTP_FROM is not an address or \"Name <address>\"");
        return -1;
    }
    if (sodium_init() < 0) {
        err_set(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    char date[40], uuid[UUID_STR_LEN];
    rfc5322_date(now_ms, date);
    id_uuid7(uuid);
    buf b;
    buf_init(&b, EMAIL_MESSAGE_MAX);
    int qp = 0;
    int rc = buf_printf(&b, "Date: %s\r\n", date);
    if (!rc)
        rc = put_from(&b, display, addr);
    if (!rc)
        rc = buf_printf(&b, "To: %s\r\nSubject: ", to);
    if (!rc) {
        size_t line_len = 9;
        rc = needs_encoding(subject) ? put_encoded_words(&b, subject, &line_len)
                                     : buf_puts(&b, subject);
    }
    buf body;
    buf_init(&body, EMAIL_MESSAGE_MAX);
    if (!rc)
        rc = put_body(&body, text_body, &qp);
    if (!rc)
        rc = buf_printf(&b,
                        "\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: %s\r\n\r\n",
                        uuid, strchr(addr, '@') + 1, qp ? "quoted-printable" : "8bit");
    if (!rc)
        rc = buf_append(&b, body.ptr ? body.ptr : "", body.len);
    buf_free(&body);
    if (rc) {
        buf_free(&b);
        err_set(err, errlen, "message too large or out of memory");
        return -1;
    }
    *out = buf_detach(&b, out_len);
    return 0;
}

static size_t read_message(char *dst, size_t size, size_t nmemb, void *ud)
{
    struct upload *u = ud;
    size_t room = size * nmemb;
    size_t n = u->len - u->off;
    if (n > room)
        n = room;
    memcpy(dst, u->ptr + u->off, n);
    u->off += n;
    return n;
}

static int send_smtp(const email_transport *t, const char *to, const char *subject,
                     const char *text_body, char *err, size_t errlen)
{
    const char *url = t->smtp_url;
    if (!url || has_crlf(url) || strpbrk(url, " \t") ||
        (strncasecmp(url, "smtp://", 7) != 0 && strncasecmp(url, "smtps://", 8) != 0)) {
        err_set(err, errlen, "SMTP_URL must be smtp://host[:port] or smtps://host[:port]");
        return -1;
    }
    char display[256], from_addr[EMAIL_ADDR_MAX + 1];
    if (parse_from(t->from, display, sizeof(display), from_addr, sizeof(from_addr)) != 0) {
        err_set(err, errlen, "SMTP_FROM is not an address or \"Name <address>\"");
        return -1;
    }
    char *msg = NULL;
    size_t msg_len = 0;
    if (email_format(t, to, subject, text_body, time_now_ms(), &msg, &msg_len, err, errlen) != 0)
        return -1;

    long timeout = t->timeout_ms > 0 ? t->timeout_ms : EMAIL_TIMEOUT_DEFAULT_MS;
    long connect_timeout =
        timeout < EMAIL_CONNECT_TIMEOUT_MAX_MS ? timeout : EMAIL_CONNECT_TIMEOUT_MAX_MS;
    struct upload up = {.ptr = msg, .len = msg_len};
    char cerr[CURL_ERROR_SIZE];
    cerr[0] = '\0';
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    CURL *h = curl_easy_init();
    CURLcode rc = (h && rcpt) ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_MAIL_FROM, from_addr);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    /* STARTTLS when the server offers it; smtps:// is TLS from the first byte. */
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_READFUNCTION, read_message);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_READDATA, &up);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg_len);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
    /* The dispatcher thread must not get SIGALRM from the resolver. */
    if (!rc)
        rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (!rc)
        rc = curl_easy_perform(h);
    if (rc) {
        /* curl's messages name hosts and SMTP reply codes, never the recipient or the URL's
         * credentials. */
        err_set(err, errlen, "SMTP send failed: %s%s%s", curl_easy_strerror(rc),
                cerr[0] ? ": " : "", cerr);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    free(msg);
    return rc ? -1 : 0;
}
