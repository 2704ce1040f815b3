/* Outgoing email: the RFC 5322 message (headers, CRLF, encoded-word subjects, Message-ID, body
 * encodings), header injection refused, the log transport, the outbox round trip, and — when
 * PRAXIS_TEST_SMTP_URL and SMTP_SINK_DIR are set (scripts/smtp-sink.sh) — a real SMTP delivery
 * to Postfix's smtp-sink. */
#include "events/email.h"

#include "core/ids.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/migrate.h"

#include <curl/curl.h>
#include <dirent.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#define NOW_MS 1795618703123LL /* 2026-11-25T14:58:23.123Z, a Wednesday */

static const email_transport log_transport = {.smtp = 0};
static const email_transport formatter = {
    .smtp = 1, .smtp_url = "smtp://127.0.0.1:1", .from = "OET Praxis <no-reply@praxis.example>"};

static char *format_ok(const email_transport *t, const char *to, const char *subject,
                       const char *body)
{
    char *msg = NULL, err[256] = "";
    size_t len = 0;
    if (email_format(t, to, subject, body, NOW_MS, &msg, &len, err, sizeof(err)) != 0)
        fail_msg("email_format: %s", err);
    assert_int_equal(strlen(msg), len);
    return msg;
}

/* The header block (up to the blank line), unfolded continuation lines kept as they are. */
static char *header_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    size_t n = (size_t)(end - msg) + 2;
    char *h = malloc(n + 1);
    assert_non_null(h);
    memcpy(h, msg, n);
    h[n] = '\0';
    return h;
}

/* Every line ends in CRLF; no bare CR or LF anywhere; no line longer than max. */
static void assert_crlf_lines(const char *msg, size_t max)
{
    size_t col = 0;
    for (const char *p = msg; *p; p++) {
        if (*p == '\r') {
            assert_int_equal(p[1], '\n');
            p++;
            col = 0;
        } else {
            assert_int_not_equal(*p, '\n');
            col++;
            assert_true(col <= max);
        }
    }
    assert_int_equal(col, 0); /* ends with CRLF */
}

/* Decodes the "=?UTF-8?B?...?=" words of a header value (folding whitespace between them is
 * dropped, RFC 2047 6.2). */
static void decode_words(const char *value, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = value;
    while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
        p += 10;
        const char *end = strstr(p, "?=");
        assert_non_null(end);
        size_t got = 0;
        assert_int_equal(sodium_base642bin((unsigned char *)out + o, outlen - o - 1, p,
                                           (size_t)(end - p), NULL, &got, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        o += got;
        p = end + 2;
    }
    out[o] = '\0';
}

static void test_headers_and_crlf(void **state)
{
    (void)state;
    char *msg = format_ok(&formatter, "ana@example.org", "Verify your email",
                          "Hello,\nopen https://praxis.example/verify?token=abc\n\nThanks\n");
    char *h = header_of(msg);
    /* Order and exact values. */
    const char *expect[] = {"Date: Wed, 25 Nov 2026 14:58:23 +0000\r\n",
                            "From: OET Praxis <no-reply@praxis.example>\r\n",
                            "To: ana@example.org\r\n",
                            "Subject: Verify your email\r\n",
                            "Message-ID: <",
                            "MIME-Version: 1.0\r\n",
                            "Content-Type: text/plain; charset=utf-8\r\n",
                            "Content-Transfer-Encoding: 8bit\r\n"};
    const char *at = h;
    for (size_t i = 0; i < ARRAY_LEN(expect); i++) {
        const char *found = strstr(at, expect[i]);
        if (!found)
            fail_msg("missing or out of order: %s", expect[i]);
        at = found + strlen(expect[i]);
    }
    assert_ptr_equal(strstr(h, "Date: "), h);
    /* <uuid@domain of the sender> */
    const char *mid = strstr(h, "Message-ID: <") + strlen("Message-ID: <");
    assert_true(id_is_uuid(mid, 36));
    assert_int_equal(strncmp(mid + 36, "@praxis.example>\r\n", 18), 0);
    /* The body, line endings made CRLF, blank lines kept. */
    assert_string_equal(strstr(msg, "\r\n\r\n") + 4,
                        "Hello,\r\nopen https://praxis.example/verify?token=abc\r\n\r\nThanks\r\n");
    assert_crlf_lines(msg, 998);
    free(h);

    /* Another message, another Message-ID. */
    char *again = format_ok(&formatter, "ana@example.org", "Verify your email", "x");
    assert_string_not_equal(strstr(again, "Message-ID:"), strstr(msg, "Message-ID:"));
    free(again);
    free(msg);
}

static void test_body_line_endings_and_dots(void **state)
{
    (void)state;
    char *msg = format_ok(&formatter, "a@b.example", "s", "one\rtwo\r\nthree\n.four\n..five");
    /* Leading dots stay as written: curl dot-stuffs on the wire. No final newline: one added. */
    assert_string_equal(strstr(msg, "\r\n\r\n") + 4, "one\r\ntwo\r\nthree\r\n.four\r\n..five\r\n");
    free(msg);
    msg = format_ok(&formatter, "a@b.example", "s", "");
    assert_string_equal(strstr(msg, "\r\n\r\n") + 4, "\r\n");
    free(msg);
}

static void test_long_line_goes_quoted_printable(void **state)
{
    (void)state;
    char body[3000];
    memset(body, 'a', 1500);
    memcpy(body + 1500, "=é \nnext", sizeof("=é \nnext"));
    char *msg = format_ok(&formatter, "a@b.example", "s", body);
    assert_non_null(strstr(msg, "Content-Transfer-Encoding: quoted-printable\r\n"));
    assert_crlf_lines(msg, 998);
    /* Decode: soft breaks removed, =XX unescaped, gives the body back. */
    const char *p = strstr(msg, "\r\n\r\n") + 4;
    char decoded[3000];
    size_t o = 0;
    while (*p) {
        size_t line = strcspn(p, "\r");
        assert_true(line <= 76);
        const char *end = p + line;
        int soft = line > 0 && end[-1] == '=';
        for (const char *q = p; q < end - (soft ? 1 : 0); q++) {
            if (*q == '=') {
                unsigned int v;
                assert_int_equal(sscanf(q + 1, "%2X", &v), 1);
                decoded[o++] = (char)v;
                q += 2;
            } else {
                decoded[o++] = *q;
            }
        }
        if (!soft)
            decoded[o++] = '\n';
        p = end + 2;
    }
    decoded[o] = '\0';
    /* The body as sent, line endings LF here, with the final line ending added. */
    char expect[3100];
    snprintf(expect, sizeof(expect), "%s\n", body);
    assert_string_equal(decoded, expect);
    free(msg);
}

static void test_encoded_word_subject_and_from(void **state)
{
    (void)state;
    const char *subject = "Vérifiez votre adresse — Praxis 🩺 pour la pratique de l'OET, "
                          "infirmières et médecins";
    email_transport t = formatter;
    t.from = "Práxis Équipe <no-reply@praxis.example>";
    char *msg = format_ok(&t, "a@b.example", subject, "x");
    char *h = header_of(msg);
    assert_crlf_lines(h, 76); /* RFC 2047: lines with encoded-words stay within 76 */
    for (const unsigned char *p = (const unsigned char *)h; *p; p++)
        assert_true(*p < 0x80); /* headers are pure ASCII */

    const char *s = strstr(h, "\r\nSubject: ");
    assert_non_null(s);
    s += 11;
    /* The value runs until a line that does not start with white space. */
    const char *end = s;
    while ((end = strstr(end, "\r\n")) && (end[2] == ' ' || end[2] == '\t'))
        end += 2;
    char value[1024], decoded[1024];
    snprintf(value, sizeof(value), "%.*s", (int)(end - s), s);
    assert_non_null(strstr(value, "\r\n =?UTF-8?B?")); /* long: folded into several words */
    decode_words(value, decoded, sizeof(decoded));
    assert_string_equal(decoded, subject);

    const char *from = strstr(h, "From: ");
    assert_non_null(from);
    char fromv[512];
    snprintf(fromv, sizeof(fromv), "%.*s", (int)(strstr(from, "<no-reply") - from), from);
    decode_words(fromv, decoded, sizeof(decoded));
    assert_string_equal(decoded, "Práxis Équipe");
    assert_non_null(strstr(h, "<no-reply@praxis.example>\r\n"));
    free(h);
    free(msg);

    /* Plain ASCII stays readable; "=?" would be misread, so it is encoded. */
    msg = format_ok(&formatter, "a@b.example", "Reset your password", "x");
    assert_non_null(strstr(msg, "\r\nSubject: Reset your password\r\n"));
    free(msg);
    msg = format_ok(&formatter, "a@b.example", "a =?x?= b", "x");
    assert_non_null(strstr(msg, "\r\nSubject: =?UTF-8?B?"));
    free(msg);
}

static void test_from_forms(void **state)
{
    (void)state;
    email_transport t = formatter;
    t.from = "no-reply@praxis.example";
    char *msg = format_ok(&t, "a@b.example", "s", "x");
    assert_non_null(strstr(msg, "\r\nFrom: no-reply@praxis.example\r\n"));
    assert_non_null(strstr(msg, "@praxis.example>\r\nMIME-Version"));
    free(msg);
    t.from = "Praxis, Inc. <no-reply@praxis.example>";
    msg = format_ok(&t, "a@b.example", "s", "x");
    assert_non_null(strstr(msg, "\r\nFrom: \"Praxis, Inc.\" <no-reply@praxis.example>\r\n"));
    free(msg);
    t.from = "\"OET Praxis\" <no-reply@praxis.example>";
    msg = format_ok(&t, "a@b.example", "s", "x");
    assert_non_null(strstr(msg, "\r\nFrom: OET Praxis <no-reply@praxis.example>\r\n"));
    free(msg);

    const char *bad[] = {"",
                         "Praxis",
                         "Praxis <no-reply>",
                         "Praxis <a@b.example",
                         "Praxis\r\nBcc: x@y.example <a@b.example>",
                         "a@b.example c@d.example"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        t.from = bad[i];
        char *m = NULL, err[256] = "";
        assert_int_equal(
            email_format(&t, "a@b.example", "s", "x", NOW_MS, &m, NULL, err, sizeof(err)), -1);
        assert_null(m);
        assert_non_null(strstr(err, "SMTP_FROM"));
    }
}

static void test_header_injection_refused(void **state)
{
    (void)state;
    /* Pointed at a port nothing listens on: a refusal must come before any connection. */
    char err[256];
    const char *tos[] = {"victim@example.org\r\nBcc: all@example.org", "victim@example.org\n",
                         "victim@example.org\rx"};
    for (size_t i = 0; i < ARRAY_LEN(tos); i++) {
        err[0] = '\0';
        assert_int_equal(email_send(&formatter, tos[i], "s", "x", err, sizeof(err)), -1);
        assert_non_null(strstr(err, "header injection"));
        assert_int_equal(email_send(&log_transport, tos[i], "s", "x", err, sizeof(err)), -1);
    }
    const char *subjects[] = {"Hi\r\nBcc: all@example.org", "Hi\nX-Evil: 1", "Hi\r"};
    for (size_t i = 0; i < ARRAY_LEN(subjects); i++) {
        err[0] = '\0';
        assert_int_equal(email_send(&formatter, "a@b.example", subjects[i], "x", err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "header injection"));
        char *m = NULL;
        assert_int_equal(email_format(&formatter, "a@b.example", subjects[i], "x", NOW_MS, &m, NULL,
                                      err, sizeof(err)),
                         -1);
        assert_null(m);
    }
    /* Recipients: one '@' with both sides, nothing that changes an SMTP command. */
    const char *bad_to[] = {"",
                            "no-at.example",
                            "a@b@c.example",
                            "@b.example",
                            "a@",
                            "a b@c.example",
                            "<a@b.example>",
                            "a@b.example,c@d.example",
                            "a@b.example\t"};
    for (size_t i = 0; i < ARRAY_LEN(bad_to); i++) {
        err[0] = '\0';
        assert_int_equal(email_send(&log_transport, bad_to[i], "s", "x", err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, bad_to[i][0] ? bad_to[i] : "@@")); /* never quoted */
    }
    assert_int_equal(email_send(&log_transport, "a@b.example", "s", "\xff", err, sizeof(err)), -1);
    assert_int_equal(email_send(NULL, "a@b.example", "s", "x", err, sizeof(err)), -1);
}

static void test_log_transport(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_INFO, f);
    char err[256] = "";
    const char *body = "Open https://praxis.example/verify?token=t0k3n to verify.\nBye";
    assert_int_equal(
        email_send(&log_transport, "ana@example.org", "Verify", body, err, sizeof(err)), 0);
    log_init(LOG_ERROR, NULL);
    rewind(f);
    char line[4096];
    assert_non_null(fgets(line, sizeof(line), f));
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "email");
    assert_string_equal(json_string_value(json_object_get(j, "to")), "ana@example.org");
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "Verify");
    assert_string_equal(json_string_value(json_object_get(j, "text")), body);
    json_decref(j);
    assert_int_equal(fclose(f), 0);
}

/* email_enqueue in a transaction, the dispatcher's handler sends it with the log transport. */
static void test_outbox_round_trip(void **state)
{
    (void)state;
    db *d = NULL;
    char err[256];
    db_options o = {.url = "sqlite::memory:", .pool_size = 1};
    assert_int_equal(db_open(&o, &d, err, sizeof(err)), 0);
    assert_int_equal(migrate_run(d, NULL, err, sizeof(err)), 0);
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(email_enqueue(c, "ana@example.org", "Reset", "https://x.example/r?t=1"),
                     DB_OK);
    /* Refused at the door, and the transaction is still usable. */
    assert_int_not_equal(email_enqueue(c, "ana@example.org\r\nBcc: b@c.example", "R", "x"), DB_OK);
    assert_int_not_equal(email_enqueue(c, "ana@example.org", "R\nX: y", "x"), DB_OK);
    assert_int_equal(db_commit(c), DB_OK);
    db_rows *r = NULL;
    assert_int_equal(db_query(c, "SELECT topic, payload FROM outbox", NULL, 0, &r), DB_OK);
    assert_int_equal(db_rows_next(r), 1);
    assert_string_equal(db_col_text(r, 0), EMAIL_TOPIC);
    json_t *p = json_loads(db_col_text(r, 1), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(p, "to")), "ana@example.org");
    assert_string_equal(json_string_value(json_object_get(p, "subject")), "Reset");
    assert_string_equal(json_string_value(json_object_get(p, "text")), "https://x.example/r?t=1");
    json_decref(p);
    assert_int_equal(db_rows_next(r), 0);
    db_rows_free(r);
    db_release(c);

    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(LOG_INFO, f);
    outbox_dispatcher *disp = outbox_dispatcher_new(d, NULL);
    assert_non_null(disp);
    assert_int_equal(email_register(disp, &log_transport), 0);
    assert_int_equal(outbox_run_due(disp), 1);
    assert_int_equal(outbox_run_due(disp), 0);
    outbox_dispatcher_free(disp);
    log_init(LOG_ERROR, NULL);
    rewind(f);
    char line[4096];
    int seen = 0;
    while (fgets(line, sizeof(line), f))
        seen += strstr(line, "\"msg\":\"email\"") && strstr(line, "https://x.example/r?t=1");
    assert_int_equal(seen, 1);
    assert_int_equal(fclose(f), 0);
    db_close(d);
}

static void test_smtp_unreachable_fails_cleanly(void **state)
{
    (void)state;
    email_transport t = formatter;
    t.timeout_ms = 3000;
    char err[512] = "";
    assert_int_equal(email_send(&t, "ana@example.org", "s", "x", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SMTP send failed"));
    assert_null(strstr(err, "ana@example.org"));
    t.smtp_url = "http://127.0.0.1:1";
    assert_int_equal(email_send(&t, "ana@example.org", "s", "x", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SMTP_URL"));
}

/* The dump file smtp-sink wrote that contains needle, read whole; NULL until it appears. */
static char *find_dump(const char *dir, const char *needle)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/mail", dir);
    DIR *dh = opendir(path);
    if (!dh)
        return NULL;
    char *found = NULL;
    struct dirent *e;
    while (!found && (e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[1400];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        FILE *f = fopen(file, "r");
        if (!f)
            continue;
        char *text = calloc(1, 1 << 20);
        size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        (void)fclose(f);
        if (text && n > 0 && strstr(text, needle))
            found = text;
        else
            free(text);
    }
    (void)closedir(dh);
    return found;
}

static char *wait_dump(const char *dir, const char *needle)
{
    for (int i = 0; i < 200; i++) {
        char *t = find_dump(dir, needle);
        if (t)
            return t;
        usleep(25000);
    }
    fail_msg("no message containing %s arrived in %s/mail", needle, dir);
    return NULL;
}

static int smtp_env(email_transport *t, const char **dir)
{
    const char *url = getenv("PRAXIS_TEST_SMTP_URL");
    *dir = getenv("SMTP_SINK_DIR");
    if (!url || !*url || !*dir || !**dir) {
        printf("    PRAXIS_TEST_SMTP_URL/SMTP_SINK_DIR not set (scripts/smtp-sink.sh): "
               "SMTP delivery test skipped\n");
        return -1;
    }
    *t = (email_transport){.smtp = 1,
                           .smtp_url = url,
                           .from = "OET Praxis <no-reply@praxis.example>",
                           .timeout_ms = 10000};
    return 0;
}

static void test_smtp_delivery(void **state)
{
    (void)state;
    email_transport t;
    const char *dir;
    if (smtp_env(&t, &dir) != 0)
        skip();
    char token[UUID_STR_LEN], body[512], err[512] = "";
    id_uuid7(token);
    snprintf(body, sizeof(body),
             "Welcome to OET Praxis.\n\nVerify: https://praxis.example/verify-email?token=%s\n"
             ".a line starting with a dot\nÜbung macht den Meister.\n",
             token);
    assert_int_equal(
        email_send(&t, "ana@example.org", "Vérifiez votre adresse", body, err, sizeof(err)), 0);
    char *text = wait_dump(dir, token);
    /* Envelope (smtp-sink's own X- records), then our headers and body (it writes LF). */
    assert_non_null(strstr(text, "X-Mail-Args: <no-reply@praxis.example>"));
    assert_non_null(strstr(text, "X-Rcpt-Args: <ana@example.org>"));
    assert_non_null(strstr(text, "\nTo: ana@example.org\n"));
    assert_non_null(strstr(text, "\nFrom: OET Praxis <no-reply@praxis.example>\n"));
    const char *subject = strstr(text, "\nSubject: ");
    assert_non_null(subject);
    char value[256], decoded[256];
    snprintf(value, sizeof(value), "%.*s", (int)strcspn(subject + 10, "\n"), subject + 10);
    decode_words(value, decoded, sizeof(decoded));
    assert_string_equal(decoded, "Vérifiez votre adresse");
    assert_non_null(strstr(text, "\nMessage-ID: <"));
    char expect[512];
    snprintf(expect, sizeof(expect),
             "\n\nWelcome to OET Praxis.\n\nVerify: https://praxis.example/verify-email?token=%s\n"
             ".a line starting with a dot\nÜbung macht den Meister.\n",
             token);
    assert_non_null(strstr(text, expect)); /* the dot came through un-stuffed */
    free(text);
}

/* The whole path: queued in a transaction, sent by the dispatcher over SMTP. */
static void test_smtp_through_outbox(void **state)
{
    (void)state;
    email_transport t;
    const char *dir;
    if (smtp_env(&t, &dir) != 0)
        skip();
    db *d = NULL;
    char err[256], token[UUID_STR_LEN], body[256];
    id_uuid7(token);
    snprintf(body, sizeof(body), "Reset: https://praxis.example/reset?token=%s\n", token);
    db_options o = {.url = "sqlite::memory:", .pool_size = 1};
    assert_int_equal(db_open(&o, &d, err, sizeof(err)), 0);
    assert_int_equal(migrate_run(d, NULL, err, sizeof(err)), 0);
    db_conn *c = db_acquire(d);
    assert_non_null(c);
    assert_int_equal(db_begin(c), DB_OK);
    assert_int_equal(email_enqueue(c, "bo@example.org", "Reset your password", body), DB_OK);
    assert_int_equal(db_commit(c), DB_OK);
    db_release(c);
    outbox_dispatcher *disp = outbox_dispatcher_new(d, NULL);
    assert_non_null(disp);
    assert_int_equal(email_register(disp, &t), 0);
    assert_int_equal(outbox_run_due(disp), 1);
    outbox_dispatcher_free(disp);
    char *text = wait_dump(dir, token);
    assert_non_null(strstr(text, "X-Rcpt-Args: <bo@example.org>"));
    assert_non_null(strstr(text, "\nSubject: Reset your password\n"));
    free(text);
    db_close(d);
}

int main(void)
{
    log_init(LOG_ERROR, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_and_crlf),
        cmocka_unit_test(test_body_line_endings_and_dots),
        cmocka_unit_test(test_long_line_goes_quoted_printable),
        cmocka_unit_test(test_encoded_word_subject_and_from),
        cmocka_unit_test(test_from_forms),
        cmocka_unit_test(test_header_injection_refused),
        cmocka_unit_test(test_log_transport),
        cmocka_unit_test(test_outbox_round_trip),
        cmocka_unit_test(test_smtp_unreachable_fails_cleanly),
        cmocka_unit_test(test_smtp_delivery),
        cmocka_unit_test(test_smtp_through_outbox),
    };
    int failed = cmocka_run_group_tests_name("email", tests, NULL, NULL);
    metrics_reset();
    curl_global_cleanup();
    return failed;
}
