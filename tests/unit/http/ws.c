/* Tests for src/http/ws.c: SHA-1 and the accept key, and whole sessions over a socketpair where
 * the test plays the client with hand-built masked frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/ws.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OP_CONT 0x0
#define OP_TEXT 0x1
#define OP_BIN 0x2
#define OP_CLOSE 0x8
#define OP_PING 0x9
#define OP_PONG 0xA

#define IO_TIMEOUT_MS 5000

/* ---- SHA-1 and accept key ---- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void assert_sha1(const void *data, size_t len, const char *want)
{
    uint8_t d[20];
    char h[41];
    ws_sha1(data, len, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, want);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    assert_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_sha1(NULL, 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    /* 56 bytes: the padding needs a second block. */
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_sha1(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* Exactly one block of input. */
    char block[64];
    memset(block, 'a', sizeof block);
    assert_sha1(block, sizeof block, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    size_t million = 1000000;
    char *a = malloc(million);
    assert_non_null(a);
    memset(a, 'a', million);
    assert_sha1(a, million, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(a);
}

static void test_accept_key_rfc_example(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_accept_key_rejects_bad_keys(void **state)
{
    (void)state;
    char out[29];
    const char *bad[] = {
        "",
        "abc",
        "dGhlIHNhbXBsZSBub25jZQ",       /* padding missing */
        "dGhlIHNhbXBsZSBub25jZQ=",      /* padding short */
        "dGhlIHNhbXBsZSBub25jZQ===",    /* too long */
        "dGhlIHNhbXBsZSBub25j",         /* 15 bytes */
        "dGhlIHNhbXBsZSBub25jZQ==AAAA", /* trailing data */
        "dGhlIHNhbXBsZSBub25jZR==",     /* non-zero trailing bits: not canonical */
        "dGhlIHNhbXBsZSBub25j!Q==",     /* outside the alphabet */
        " dGhlIHNhbXBsZSBub25jZQ=",     /* whitespace */
        "dGhlIHNhbXBsZSBub25jZS1h",     /* 18 bytes, no padding */
        "dGhlIHNhbXBsZSBub25jZQ-_",     /* URL-safe alphabet */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ws_accept_key(bad[i], out) != -1)
            fail_msg("key accepted: \"%s\"", bad[i]);
    }
    assert_int_equal(ws_accept_key(NULL, out), -1);
}

/* ---- client-side framing ---- */

static size_t build_frame(uint8_t *out, int fin, uint8_t opcode, const void *payload, size_t len,
                          int masked)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    uint8_t mbit = masked ? 0x80 : 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[h++] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        out[h++] = (uint8_t)(mbit | 126);
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = (uint8_t)(mbit | 127);
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (masked) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[h + i] = masked ? (uint8_t)(p[i] ^ key[i % 4]) : p[i];
    return h + len;
}

/* Returns -1 if the server stopped reading and went away mid-write. */
static int write_some(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    assert_int_equal(write_some(fd, p, n), 0);
}

static void send_frame_ex(int fd, int fin, uint8_t opcode, const void *payload, size_t len,
                          int masked)
{
    uint8_t *buf = malloc(len + 14);
    assert_non_null(buf);
    size_t n = build_frame(buf, fin, opcode, payload, len, masked);
    write_all(fd, buf, n);
    free(buf);
}

static void send_frame(int fd, uint8_t opcode, const void *payload, size_t len)
{
    send_frame_ex(fd, 1, opcode, payload, len, 1);
}

static void send_close(int fd, uint16_t code, const char *reason)
{
    uint8_t p[125];
    size_t rl = reason ? strlen(reason) : 0;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl)
        memcpy(p + 2, reason, rl);
    send_frame(fd, OP_CLOSE, p, rl + 2);
}

/* Reads exactly n bytes; returns -1 on EOF or timeout. */
static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, IO_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

typedef struct {
    int fin;
    uint8_t opcode;
    uint8_t *data; /* NUL-terminated for convenience */
    size_t len;
} frame;

/* Reads one server frame, checking it is unmasked as RFC 6455 requires. */
static int read_frame(int fd, frame *f)
{
    uint8_t h[2];
    memset(f, 0, sizeof *f);
    if (read_exact(fd, h, 2) != 0)
        return -1;
    f->fin = (h[0] & 0x80) != 0;
    f->opcode = h[0] & 0x0F;
    assert_int_equal(h[0] & 0x70, 0);
    assert_int_equal(h[1] & 0x80, 0);
    uint64_t len = h[1] & 0x7F;
    if (len == 126) {
        uint8_t e[2];
        if (read_exact(fd, e, 2) != 0)
            return -1;
        len = (uint64_t)e[0] << 8 | e[1];
    } else if (len == 127) {
        uint8_t e[8];
        if (read_exact(fd, e, 8) != 0)
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | e[i];
    }
    assert_true(len < ((uint64_t)64 << 20));
    f->len = (size_t)len;
    f->data = malloc(f->len + 1);
    assert_non_null(f->data);
    if (f->len && read_exact(fd, f->data, f->len) != 0) {
        free(f->data);
        f->data = NULL;
        return -1;
    }
    f->data[f->len] = 0;
    return 0;
}

static void expect_frame(int fd, uint8_t opcode, const void *data, size_t len)
{
    frame f;
    assert_int_equal(read_frame(fd, &f), 0);
    assert_int_equal(f.fin, 1);
    assert_int_equal(f.opcode, opcode);
    assert_int_equal(f.len, len);
    if (len)
        assert_memory_equal(f.data, data, len);
    free(f.data);
}

static void expect_text(int fd, const char *s) { expect_frame(fd, OP_TEXT, s, strlen(s)); }

#define ANY_OR_EMPTY 0xFFFF

/* Expects a close frame with code (0: no payload; ANY_OR_EMPTY: 1002 or no payload). */
static void expect_close(int fd, uint16_t code)
{
    frame f;
    assert_int_equal(read_frame(fd, &f), 0);
    assert_int_equal(f.opcode, OP_CLOSE);
    if (code == ANY_OR_EMPTY) {
        if (f.len != 0) {
            assert_true(f.len >= 2);
            assert_int_equal(f.data[0] << 8 | f.data[1], 1002);
        }
    } else if (code == 0) {
        assert_int_equal(f.len, 0);
    } else {
        assert_true(f.len >= 2);
        assert_int_equal(f.data[0] << 8 | f.data[1], code);
    }
    free(f.data);
}

static void expect_eof(int fd)
{
    uint8_t b;
    assert_int_equal(read_exact(fd, &b, 1), -1);
}

/* ---- a session under test: echo handler on a thread ---- */

typedef struct {
    int sv[2]; /* sv[0] client (test), sv[1] server (session) */
    pthread_t thread;
    ws_handler h;
    const uint8_t *pending;
    size_t npending;
    int open_result;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int opened;
    int closed;
    int messages;
    int send_failures;
    uint16_t close_code;
    int close_conn_matches;
    ws_conn *conn; /* referenced from on_open until fixture_end */
} fixture;

static int echo_open(ws_conn *c, void *ud)
{
    fixture *f = ud;
    ws_conn_ref(c);
    pthread_mutex_lock(&f->mu);
    f->opened++;
    f->conn = c;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return f->open_result;
}

/* Echoes; "close:NNNN" asks the server to start the closing handshake itself. */
static void echo_message(ws_conn *c, int type, const uint8_t *data, size_t len, void *ud)
{
    fixture *f = ud;
    int rc;
    unsigned code;
    char cmd[32];
    if (type == WS_TEXT && len < sizeof cmd) {
        memcpy(cmd, data, len);
        cmd[len] = 0;
        if (sscanf(cmd, "close:%u", &code) == 1) {
            ws_close(c, (uint16_t)code, "asked to");
            return;
        }
    }
    if (type == WS_TEXT)
        rc = ws_send_text(c, (const char *)data, len);
    else
        rc = ws_send_binary(c, data, len);
    pthread_mutex_lock(&f->mu);
    f->messages++;
    if (rc != 0)
        f->send_failures++;
    pthread_mutex_unlock(&f->mu);
}

static void echo_close(ws_conn *c, uint16_t code, void *ud)
{
    fixture *f = ud;
    pthread_mutex_lock(&f->mu);
    f->closed++;
    f->close_code = code;
    f->close_conn_matches = c == f->conn && ws_conn_user(c) == ud;
    /* Sending after the end must fail, even from inside on_close. */
    if (ws_send_text(c, "late", 4) != -1)
        f->send_failures++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void *session_thread(void *arg)
{
    fixture *f = arg;
    ws_session_run(f->sv[1], f->pending, f->npending, &f->h, f);
    close(f->sv[1]);
    return NULL;
}

static void fixture_start(fixture *f, size_t max_message)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    assert_int_equal(pthread_mutex_init(&f->mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&f->cv, NULL), 0);
    f->h.on_open = echo_open;
    f->h.on_message = echo_message;
    f->h.on_close = echo_close;
    f->h.max_message = max_message;
}

static void fixture_run(fixture *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, session_thread, f), 0);
}

static void deadline_in(struct timespec *ts, int ms)
{
    assert_int_equal(clock_gettime(CLOCK_REALTIME, ts), 0);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void wait_opened(fixture *f)
{
    struct timespec ts;
    deadline_in(&ts, IO_TIMEOUT_MS);
    pthread_mutex_lock(&f->mu);
    while (!f->opened) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0)
            break;
    }
    int opened = f->opened;
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(opened, 1);
}

/* Joins the session thread (the client side must have ended the session) and checks on_close
 * ran once with code. */
static void fixture_end(fixture *f, uint16_t code)
{
    assert_int_equal(pthread_join(f->thread, NULL), 0);
    if (f->sv[0] >= 0)
        close(f->sv[0]);
    assert_int_equal(f->closed, 1);
    assert_int_equal(f->close_code, code);
    assert_int_equal(f->send_failures, 0);
    if (f->conn) {
        assert_true(f->close_conn_matches);
        /* We still hold a reference: the conn is valid but finished. */
        assert_int_equal(ws_send_text(f->conn, "x", 1), -1);
        assert_int_equal(ws_send_binary(f->conn, "x", 1), -1);
        ws_close(f->conn, 1000, NULL);
        ws_conn_unref(f->conn);
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
}

/* The client finishes a close the server started: answer with the same code, then EOF. */
static void client_answer_close(fixture *f, uint16_t code)
{
    expect_close(f->sv[0], code);
    send_close(f->sv[0], code, NULL);
    expect_eof(f->sv[0]);
}

/* The client starts a normal close and checks the echo and EOF. */
static void client_close(fixture *f, uint16_t code)
{
    send_close(f->sv[0], code, "bye");
    expect_close(f->sv[0], code);
    expect_eof(f->sv[0]);
}

/* ---- session tests ---- */

static void test_text_echo(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    send_frame(f.sv[0], OP_TEXT, "hello", 5);
    expect_text(f.sv[0], "hello");
    send_frame(f.sv[0], OP_TEXT, "", 0);
    expect_text(f.sv[0], "");
    const char *utf = "caf\xc3\xa9 \xf0\x9f\x98\x80"; /* é and an astral emoji */
    send_frame(f.sv[0], OP_TEXT, utf, strlen(utf));
    expect_text(f.sv[0], utf);
    client_close(&f, 1000);
    fixture_end(&f, 1000);
    assert_int_equal(f.messages, 3);
}

static void test_binary_echo(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    uint8_t small[3] = {0x00, 0xff, 0x80};
    send_frame(f.sv[0], OP_BIN, small, sizeof small);
    expect_frame(f.sv[0], OP_BIN, small, sizeof small);
    /* 16-bit and 64-bit extended lengths, both ways. */
    size_t sizes[] = {300, 70000};
    for (size_t s = 0; s < 2; s++) {
        uint8_t *big = malloc(sizes[s]);
        assert_non_null(big);
        for (size_t i = 0; i < sizes[s]; i++)
            big[i] = (uint8_t)(i * 7 + s);
        send_frame(f.sv[0], OP_BIN, big, sizes[s]);
        expect_frame(f.sv[0], OP_BIN, big, sizes[s]);
        free(big);
    }
    client_close(&f, 1000);
    fixture_end(&f, 1000);
}

static void test_fragmented_message_reassembled(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    /* A ping between fragments is answered at once; the message arrives whole. */
    send_frame_ex(f.sv[0], 0, OP_TEXT, "Hel", 3, 1);
    send_frame_ex(f.sv[0], 1, OP_PING, "mid", 3, 1);
    send_frame_ex(f.sv[0], 0, OP_CONT, "lo, ", 4, 1);
    send_frame_ex(f.sv[0], 1, OP_CONT, "world", 5, 1);
    expect_frame(f.sv[0], OP_PONG, "mid", 3);
    expect_text(f.sv[0], "Hello, world");
    /* A character split across two fragments is valid UTF-8 as a message. */
    send_frame_ex(f.sv[0], 0, OP_TEXT, "\xc3", 1, 1);
    send_frame_ex(f.sv[0], 1, OP_CONT, "\xa9", 1, 1);
    expect_text(f.sv[0], "\xc3\xa9");
    uint8_t bin[4] = {1, 2, 3, 4};
    send_frame_ex(f.sv[0], 0, OP_BIN, bin, 2, 1);
    send_frame_ex(f.sv[0], 1, OP_CONT, bin + 2, 2, 1);
    expect_frame(f.sv[0], OP_BIN, bin, 4);
    client_close(&f, 1000);
    fixture_end(&f, 1000);
    assert_int_equal(f.messages, 3);
}

static void test_ping_pong(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    send_frame(f.sv[0], OP_PING, "are you there", 13);
    expect_frame(f.sv[0], OP_PONG, "are you there", 13);
    send_frame(f.sv[0], OP_PING, "", 0);
    expect_frame(f.sv[0], OP_PONG, "", 0);
    /* An unsolicited pong is ignored, not echoed. */
    send_frame(f.sv[0], OP_PONG, "x", 1);
    send_frame(f.sv[0], OP_TEXT, "after", 5);
    expect_text(f.sv[0], "after");
    client_close(&f, 1000);
    fixture_end(&f, 1000);
    assert_int_equal(f.messages, 1);
}

static void test_close_handshake_echoes_code(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    client_close(&f, 4321);
    fixture_end(&f, 4321);
}

static void test_close_without_code(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    send_frame(f.sv[0], OP_CLOSE, "", 0);
    expect_close(f.sv[0], 0);
    expect_eof(f.sv[0]);
    fixture_end(&f, 1005);
}

static void test_server_initiated_close(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    /* Data queued before the close still goes out before it. */
    send_frame(f.sv[0], OP_TEXT, "one", 3);
    send_frame(f.sv[0], OP_TEXT, "close:4001", 10);
    expect_text(f.sv[0], "one");
    frame fr;
    assert_int_equal(read_frame(f.sv[0], &fr), 0);
    assert_int_equal(fr.opcode, OP_CLOSE);
    assert_int_equal(fr.len, 2 + strlen("asked to"));
    assert_int_equal(fr.data[0] << 8 | fr.data[1], 4001);
    assert_memory_equal(fr.data + 2, "asked to", 8);
    free(fr.data);
    send_close(f.sv[0], 4001, NULL);
    expect_eof(f.sv[0]);
    fixture_end(&f, 4001);
}

static void test_oversized_message_closes_1009(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 16);
    fixture_run(&f);
    wait_opened(&f);
    send_frame(f.sv[0], OP_TEXT, "exactly 16 bytes", 16);
    expect_text(f.sv[0], "exactly 16 bytes");
    /* Also across fragments: 10 + 10 > 16. */
    send_frame_ex(f.sv[0], 0, OP_BIN, "0123456789", 10, 1);
    send_frame_ex(f.sv[0], 1, OP_CONT, "0123456789", 10, 1);
    expect_close(f.sv[0], 1009);
    expect_eof(f.sv[0]);
    fixture_end(&f, 1009);
    assert_int_equal(f.messages, 1);
}

static void test_default_limit_is_1mib(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    /* The server refuses on the header and stops reading, so the write may fail half-way. */
    size_t n = ((size_t)1 << 20) + 1;
    uint8_t *big = calloc(1, n + 14);
    uint8_t *frame_buf = calloc(1, n + 14);
    assert_non_null(big);
    assert_non_null(frame_buf);
    size_t fn = build_frame(frame_buf, 1, OP_BIN, big, n, 1);
    (void)write_some(f.sv[0], frame_buf, fn);
    free(frame_buf);
    free(big);
    expect_close(f.sv[0], 1009);
    expect_eof(f.sv[0]);
    fixture_end(&f, 1009);
    assert_int_equal(f.messages, 0);
}

static void test_invalid_utf8_closes_1007(void **state)
{
    (void)state;
    const char *bad[] = {"\xc3\x28", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xc3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture f;
        fixture_start(&f, 0);
        fixture_run(&f);
        wait_opened(&f);
        send_frame(f.sv[0], OP_TEXT, bad[i], strlen(bad[i]));
        expect_close(f.sv[0], 1007);
        expect_eof(f.sv[0]);
        fixture_end(&f, 1007);
        assert_int_equal(f.messages, 0);
    }
}

static void test_unmasked_frame_closes_1002(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    send_frame_ex(f.sv[0], 1, OP_TEXT, "naked", 5, 0);
    expect_close(f.sv[0], 1002);
    expect_eof(f.sv[0]);
    fixture_end(&f, 1002);
    assert_int_equal(f.messages, 0);
}

static void test_protocol_errors_close_1002(void **state)
{
    (void)state;
    /* A continuation with nothing to continue; a reserved opcode; a close with a code that may
     * not be sent; a text frame interrupting a fragmented one; then framing errors wslay finds
     * below its event layer (it answers those with an empty close): a 126-byte ping, a
     * fragmented ping. on_close reports 1002 for all. */
    uint8_t long_ping[126] = {0};
    uint8_t bad_code[2] = {0x03, 0xED}; /* 1005 */
    for (int i = 0; i < 6; i++) {
        fixture f;
        fixture_start(&f, 0);
        fixture_run(&f);
        wait_opened(&f);
        if (i == 0)
            send_frame(f.sv[0], OP_CONT, "x", 1);
        else if (i == 1)
            send_frame(f.sv[0], 0x3, "x", 1);
        else if (i == 2)
            send_frame(f.sv[0], OP_CLOSE, bad_code, 2);
        else if (i == 3) {
            send_frame_ex(f.sv[0], 0, OP_TEXT, "a", 1, 1);
            send_frame_ex(f.sv[0], 1, OP_TEXT, "b", 1, 1);
        } else if (i == 4)
            send_frame(f.sv[0], OP_PING, long_ping, sizeof long_ping);
        else
            send_frame_ex(f.sv[0], 0, OP_PING, "x", 1, 1);
        expect_close(f.sv[0], i < 4 ? 1002 : ANY_OR_EMPTY);
        expect_eof(f.sv[0]);
        fixture_end(&f, 1002);
    }
}

static void test_pending_bytes_come_first(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    /* The HTTP layer read one frame and half of the next past the handshake; the rest and a
     * third frame are already waiting in the socket. */
    uint8_t a[64], b[64], c[64];
    size_t na = build_frame(a, 1, OP_TEXT, "first", 5, 1);
    size_t nb = build_frame(b, 1, OP_TEXT, "second", 6, 1);
    size_t nc = build_frame(c, 1, OP_TEXT, "third", 5, 1);
    uint8_t pending[128];
    memcpy(pending, a, na);
    memcpy(pending + na, b, 4);
    f.pending = pending;
    f.npending = na + 4;
    write_all(f.sv[0], b + 4, nb - 4);
    write_all(f.sv[0], c, nc);
    fixture_run(&f);
    expect_text(f.sv[0], "first");
    expect_text(f.sv[0], "second");
    expect_text(f.sv[0], "third");
    client_close(&f, 1000);
    fixture_end(&f, 1000);
    assert_int_equal(f.messages, 3);
}

static void test_pending_close_only(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    /* The whole session arrived with the handshake: a close and nothing else. */
    uint8_t pending[32];
    uint8_t payload[2] = {0x03, 0xE8};
    f.npending = build_frame(pending, 1, OP_CLOSE, payload, 2, 1);
    f.pending = pending;
    fixture_run(&f);
    expect_close(f.sv[0], 1000);
    expect_eof(f.sv[0]);
    fixture_end(&f, 1000);
}

typedef struct {
    ws_conn *conn;
    int count;
    int failures;
} sender_args;

static void *sender_thread(void *arg)
{
    sender_args *s = arg;
    char msg[32];
    for (int i = 0; i < s->count; i++) {
        int n = snprintf(msg, sizeof msg, "msg-%d", i);
        if (ws_send_text(s->conn, msg, (size_t)n) != 0)
            s->failures++;
    }
    return NULL;
}

static void test_send_from_other_thread(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);

    sender_args s = {.conn = f.conn, .count = 200};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sender_thread, &s), 0);
    char want[32];
    for (int i = 0; i < s.count; i++) {
        snprintf(want, sizeof want, "msg-%d", i);
        expect_text(f.sv[0], want);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(s.failures, 0);

    /* Invalid text is refused at the API, not sent. */
    assert_int_equal(ws_send_text(f.conn, "\xff", 1), -1);

    /* Close from this (non-session) thread; later sends fail. */
    ws_close(f.conn, 1000, "done");
    assert_int_equal(ws_send_text(f.conn, "too late", 8), -1);
    expect_close(f.sv[0], 1000);
    send_close(f.sv[0], 1000, NULL);
    expect_eof(f.sv[0]);
    fixture_end(&f, 1000);
}

static void test_outgoing_queue_is_capped(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    /* The client reads nothing: 1 MiB messages pile up until the 8 MiB cap refuses one. */
    size_t n = (size_t)1 << 20;
    uint8_t *big = calloc(1, n);
    assert_non_null(big);
    int refused_at = -1;
    for (int i = 0; i < 20 && refused_at < 0; i++) {
        if (ws_send_binary(f.conn, big, n) != 0)
            refused_at = i;
    }
    free(big);
    assert_true(refused_at >= 7 && refused_at <= 9);
    /* The peer vanishes without a close. */
    close(f.sv[0]);
    f.sv[0] = -1;
    fixture_end(&f, 1006);
}

static void test_abrupt_close_is_1006(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    fixture_run(&f);
    wait_opened(&f);
    send_frame(f.sv[0], OP_TEXT, "hi", 2);
    expect_text(f.sv[0], "hi");
    /* Half a frame, then gone. */
    uint8_t part[2] = {0x81, 0x85};
    write_all(f.sv[0], part, 2);
    close(f.sv[0]);
    f.sv[0] = -1;
    fixture_end(&f, 1006);
}

static void test_on_open_failure_closes_1011(void **state)
{
    (void)state;
    fixture f;
    fixture_start(&f, 0);
    f.open_result = -1;
    fixture_run(&f);
    client_answer_close(&f, 1011);
    fixture_end(&f, 1011);
}

static int count_is(int want)
{
    for (int i = 0; i < 500; i++) {
        if (ws_active_count() == want)
            return 1;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_active_count_and_shutdown_all(void **state)
{
    (void)state;
    assert_int_equal(ws_active_count(), 0);
    fixture a, b, c;
    fixture_start(&a, 0);
    fixture_start(&b, 0);
    fixture_start(&c, 0);
    fixture_run(&a);
    wait_opened(&a);
    assert_int_equal(ws_active_count(), 1);
    fixture_run(&b);
    fixture_run(&c);
    wait_opened(&b);
    wait_opened(&c);
    assert_int_equal(ws_active_count(), 3);

    client_close(&a, 1000);
    fixture_end(&a, 1000);
    assert_true(count_is(2));

    /* Shutdown: every running session is asked to go away with 1001. */
    ws_shutdown_all();
    client_answer_close(&b, 1001);
    client_answer_close(&c, 1001);
    fixture_end(&b, 1001);
    fixture_end(&c, 1001);
    assert_int_equal(ws_active_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_accept_key_rejects_bad_keys),
        cmocka_unit_test(test_text_echo),
        cmocka_unit_test(test_binary_echo),
        cmocka_unit_test(test_fragmented_message_reassembled),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_close_handshake_echoes_code),
        cmocka_unit_test(test_close_without_code),
        cmocka_unit_test(test_server_initiated_close),
        cmocka_unit_test(test_oversized_message_closes_1009),
        cmocka_unit_test(test_default_limit_is_1mib),
        cmocka_unit_test(test_invalid_utf8_closes_1007),
        cmocka_unit_test(test_unmasked_frame_closes_1002),
        cmocka_unit_test(test_protocol_errors_close_1002),
        cmocka_unit_test(test_pending_bytes_come_first),
        cmocka_unit_test(test_pending_close_only),
        cmocka_unit_test(test_send_from_other_thread),
        cmocka_unit_test(test_outgoing_queue_is_capped),
        cmocka_unit_test(test_abrupt_close_is_1006),
        cmocka_unit_test(test_on_open_failure_closes_1011),
        cmocka_unit_test(test_active_count_and_shutdown_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
