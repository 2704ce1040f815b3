/* WebSockets (RFC 6455): the handshake's accept key (with our own SHA-1), and sessions that run
 * wslay's event API on a socket handed over by an HTTP upgrade, one thread each, plus the
 * process-wide registry of running sessions used to close them all on shutdown. */
#include "http/ws.h"

#include "core/utf8.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_B64_LEN 24 /* base64 of the 16-byte nonce, with "==" */
#define WS_KEY_RAW_LEN 16

#define WS_DEFAULT_MAX_MESSAGE ((size_t)1 << 20)
/* A peer that stops reading must not make us buffer without bound. */
#define WS_MAX_QUEUED ((size_t)8 << 20)
/* Idle keepalive: proxies and NATs drop silent connections, and a peer that vanished without
 * a FIN is only noticed by writing to it. */
#define WS_PING_INTERVAL_MS 30000
#define WS_IDLE_TIMEOUT_MS 90000
/* How long we wait for a close handshake (ours or the peer's) to complete. */
#define WS_CLOSE_TIMEOUT_MS 5000
#define WS_MAX_REASON 123

/* A message waiting for the session thread to hand it to wslay. */
typedef struct ws_out {
    struct ws_out *next;
    uint8_t opcode;
    size_t len;
    uint8_t data[];
} ws_out;

/* Only the session thread touches the wslay context, so callbacks can send without any lock
 * being held around them; other threads only touch the outbox and flags under mu. */
struct ws_conn {
    pthread_mutex_t mu;
    unsigned refs;       /* under mu */
    int finished;        /* under mu: the session has ended, sends fail */
    int closing;         /* under mu: no new message can go out any more */
    int wake_fd;         /* under mu: eventfd that wakes the loop; -1 once finished */
    ws_out *out_head;    /* under mu */
    ws_out *out_tail;    /* under mu */
    size_t out_bytes;    /* under mu: outbox + wslay's unsent bytes, against WS_MAX_QUEUED */
    uint16_t close_code; /* under mu: close asked for by ws_close (0 = none) */
    size_t close_reason_len;
    uint8_t close_reason[WS_MAX_REASON];
    void *ud;

    /* Session thread only. */
    int fd;
    const uint8_t *pending;
    size_t npending;
    const ws_handler *h;
    size_t max_message;
    wslay_event_context_ptr ev;
    int io_failed;      /* EOF, reset or socket error: nothing more can be read or written */
    int close_queued;   /* the close from ws_close has been handed to wslay */
    uint16_t fail_code; /* set when wslay could only queue an empty close for our failure */
    int64_t last_rx_ms; /* last byte from the peer, for keepalive */

    /* Registry links, under ws_registry_mu. */
    struct ws_conn *reg_prev;
    struct ws_conn *reg_next;
};

/* The registry of running sessions: a documented singleton, needed so shutdown can reach
 * sessions that live on threads nobody else tracks. Lock order: registry, then a conn's mu. */
static pthread_mutex_t ws_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static ws_conn *ws_registry;
static int ws_registry_count;

static void sha1_block(uint32_t h[5], const uint8_t *p);
static int close_code_sendable(uint16_t code);
static int64_t now_ms(void);
static void wake_loop(ws_conn *c);
static int conn_enqueue(ws_conn *c, uint8_t opcode, const void *data, size_t len);
static void conn_free(ws_conn *c);
static void outbox_clear(ws_conn *c);
static void registry_add(ws_conn *c);
static void registry_remove(ws_conn *c);
static ssize_t on_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *user);
static ssize_t on_send(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags,
                       void *user);
static void on_msg_recv(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *arg,
                        void *user);
static void fail_connection(ws_conn *c, uint16_t code);
static void session_sync(ws_conn *c);
static void session_account(ws_conn *c);
static int session_recv(ws_conn *c);
static void session_loop(ws_conn *c);
static uint16_t session_end_code(ws_conn *c);

/* ---- SHA-1 and the accept key ---- */

static uint32_t rotl32(uint32_t x, unsigned n) { return (x << n) | (x >> (32u - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t t = rotl32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rotl32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void ws_sha1(const void *data, size_t len, uint8_t out[20])
{
    const uint8_t *p = data;
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    size_t full = len - len % 64;
    for (size_t i = 0; i < full; i += 64)
        sha1_block(h, p + i);

    /* The padding (0x80, zeros, 64-bit bit length) spills into a second block when fewer
     * than 9 bytes are left in the last one. */
    uint8_t tail[128] = {0};
    size_t rest = len - full;
    if (rest)
        memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8u;
    for (size_t i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tail_len == 128)
        sha1_block(h, tail + 64);

    for (size_t i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

int ws_accept_key(const char *client_key, char out[29])
{
    uint8_t nonce[WS_KEY_RAW_LEN];
    size_t nonce_len = 0;
    char buf[WS_KEY_B64_LEN + sizeof(WS_GUID)];
    uint8_t digest[20];

    if (!client_key || !out)
        return -1;
    /* sodium_init is idempotent and thread-safe; it only fails if the library is unusable. */
    if (sodium_init() < 0)
        return -1;
    size_t key_len = strnlen(client_key, WS_KEY_B64_LEN + 1);
    if (key_len != WS_KEY_B64_LEN)
        return -1;
    /* No ignore set and no end pointer: any character outside the alphabet, missing padding
     * or non-zero trailing bits is an error, so only a canonical 16-byte nonce passes. */
    if (sodium_base642bin(nonce, sizeof nonce, client_key, key_len, NULL, &nonce_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        nonce_len != WS_KEY_RAW_LEN)
        return -1;

    memcpy(buf, client_key, WS_KEY_B64_LEN);
    memcpy(buf + WS_KEY_B64_LEN, WS_GUID, sizeof(WS_GUID) - 1);
    ws_sha1(buf, WS_KEY_B64_LEN + sizeof(WS_GUID) - 1, digest);
    sodium_bin2base64(out, 29, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

/* ---- helpers ---- */

/* 1004-1006 and 1015 are reserved for reporting, never for the wire (RFC 6455 7.4.1). */
static int close_code_sendable(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Caller holds c->mu. A failed write only means the counter is already non-zero (EAGAIN), so
 * the loop is woken anyway. */
static void wake_loop(ws_conn *c)
{
    uint64_t one = 1;
    if (c->wake_fd >= 0 && write(c->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN) {
        /* Nothing better to do: the loop still sees the outbox on its next timeout. */
    }
}

static int conn_enqueue(ws_conn *c, uint8_t opcode, const void *data, size_t len)
{
    if (!c || (len && !data) || len > SIZE_MAX - sizeof(ws_out))
        return -1;
    /* Copy outside the lock so a big message does not stall the session loop. */
    ws_out *m = malloc(sizeof *m + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->opcode = opcode;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);

    int result = -1;
    pthread_mutex_lock(&c->mu);
    if (c->finished || c->closing || c->close_code || len > WS_MAX_QUEUED - c->out_bytes)
        goto out;
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    c->out_bytes += len;
    m = NULL;
    wake_loop(c);
    result = 0;
out:
    pthread_mutex_unlock(&c->mu);
    free(m);
    return result;
}

static void outbox_clear(ws_conn *c)
{
    while (c->out_head) {
        ws_out *m = c->out_head;
        c->out_head = m->next;
        free(m);
    }
    c->out_tail = NULL;
}

static void conn_free(ws_conn *c)
{
    outbox_clear(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void registry_add(ws_conn *c)
{
    pthread_mutex_lock(&ws_registry_mu);
    c->reg_prev = NULL;
    c->reg_next = ws_registry;
    if (ws_registry)
        ws_registry->reg_prev = c;
    ws_registry = c;
    ws_registry_count++;
    pthread_mutex_unlock(&ws_registry_mu);
}

static void registry_remove(ws_conn *c)
{
    pthread_mutex_lock(&ws_registry_mu);
    if (c->reg_prev)
        c->reg_prev->reg_next = c->reg_next;
    else
        ws_registry = c->reg_next;
    if (c->reg_next)
        c->reg_next->reg_prev = c->reg_prev;
    c->reg_prev = c->reg_next = NULL;
    ws_registry_count--;
    pthread_mutex_unlock(&ws_registry_mu);
}

/* ---- public sending API ---- */

int ws_send_text(ws_conn *c, const char *text, size_t len)
{
    if (len && (!text || !utf8_valid((const uint8_t *)text, len)))
        return -1;
    return conn_enqueue(c, WSLAY_TEXT_FRAME, text, len);
}

int ws_send_binary(ws_conn *c, const void *data, size_t len)
{
    return conn_enqueue(c, WSLAY_BINARY_FRAME, data, len);
}

void ws_close(ws_conn *c, uint16_t code, const char *reason)
{
    if (!c)
        return;
    if (!close_code_sendable(code))
        code = WSLAY_CODE_INTERNAL_SERVER_ERROR;
    size_t rlen = reason ? strnlen(reason, WS_MAX_REASON + 1) : 0;
    if (rlen > WS_MAX_REASON) {
        /* A control frame holds 125 bytes; cut at a character boundary so it stays UTF-8. */
        rlen = WS_MAX_REASON;
        while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
            rlen--;
    }
    if (rlen && !utf8_valid((const uint8_t *)reason, rlen))
        rlen = 0;

    pthread_mutex_lock(&c->mu);
    if (!c->finished && !c->closing && !c->close_code) {
        c->close_code = code;
        c->close_reason_len = rlen;
        if (rlen)
            memcpy(c->close_reason, reason, rlen);
        wake_loop(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void ws_conn_ref(ws_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void ws_conn_unref(ws_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    unsigned left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left == 0)
        conn_free(c);
}

void *ws_conn_user(ws_conn *c) { return c ? c->ud : NULL; }

void ws_shutdown_all(void)
{
    pthread_mutex_lock(&ws_registry_mu);
    for (ws_conn *c = ws_registry; c; c = c->reg_next)
        ws_close(c, WSLAY_CODE_GOING_AWAY, "server shutting down");
    pthread_mutex_unlock(&ws_registry_mu);
}

int ws_active_count(void)
{
    pthread_mutex_lock(&ws_registry_mu);
    int n = ws_registry_count;
    pthread_mutex_unlock(&ws_registry_mu);
    return n;
}

/* ---- the session ---- */

/* Bytes the HTTP layer already read go first, then the socket. MSG_DONTWAIT makes every call
 * non-blocking whatever mode the upgraded socket is in, without changing its flags. */
static ssize_t on_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *user)
{
    ws_conn *c = user;
    (void)flags;
    if (len == 0) {
        /* recv() would return 0, which means EOF; wslay's buffer is simply full. */
        wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (c->npending > 0) {
        size_t n = len < c->npending ? len : c->npending;
        memcpy(buf, c->pending, n);
        c->pending += n;
        c->npending -= n;
        c->last_rx_ms = now_ms();
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
        if (n > 0) {
            c->last_rx_ms = now_ms();
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        /* EOF or a socket error: the peer is gone. */
        c->io_failed = 1;
        wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
}

static ssize_t on_send(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    ws_conn *c = user;
    int sflags = MSG_DONTWAIT | MSG_NOSIGNAL;
    if (flags & WSLAY_MSG_MORE)
        sflags |= MSG_MORE;
    for (;;) {
        ssize_t n = send(c->fd, data, len, sflags);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        c->io_failed = 1;
        wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
}

/* RFC 6455 7.1.7: after failing the connection we send our close and stop processing input,
 * including the peer's answering close. */
static void fail_connection(ws_conn *c, uint16_t code)
{
    int r = wslay_event_queue_close(c->ev, code, NULL, 0);
    if (r != 0 && r != WSLAY_ERR_NO_MORE_MSG)
        c->io_failed = 1; /* out of memory: cannot even say goodbye */
    wslay_event_shutdown_read(c->ev);
}

/* wslay has reassembled the message, answered pings and echoed closes; only data reaches the
 * handler. msg is freed by wslay when we return. */
static void on_msg_recv(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *arg,
                        void *user)
{
    ws_conn *c = user;
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return;
    if (!wslay_event_get_read_enabled(ev))
        return; /* already failing the connection */
    if (arg->msg_length > c->max_message) {
        fail_connection(c, WSLAY_CODE_MESSAGE_TOO_BIG);
        return;
    }
    const uint8_t *msg = arg->msg_length ? arg->msg : (const uint8_t *)"";
    if (arg->opcode == WSLAY_TEXT_FRAME && !utf8_valid(msg, arg->msg_length)) {
        fail_connection(c, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
        return;
    }
    if (c->h->on_message)
        c->h->on_message(c, arg->opcode == WSLAY_TEXT_FRAME ? WS_TEXT : WS_BINARY, msg,
                         arg->msg_length, c->ud);
}

/* Moves the outbox into wslay and starts a requested close once everything queued before it
 * has gone out (wslay sends control frames ahead of data, which would drop that data). */
static void session_sync(ws_conn *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->out_head) {
        ws_out *m = c->out_head;
        c->out_head = m->next;
        if (!c->closing) {
            struct wslay_event_msg msg = {m->opcode, m->data, m->len};
            /* Fails only once a close is queued/sent or on OOM: the message can never go. */
            if (wslay_event_queue_msg(c->ev, &msg) != 0)
                c->closing = 1;
        }
        free(m);
    }
    c->out_tail = NULL;
    if (c->close_code && !c->close_queued && wslay_event_get_queued_msg_count(c->ev) == 0) {
        /* NO_MORE_MSG means wslay is already closing on its own; either way we are done. */
        int r = wslay_event_queue_close(c->ev, c->close_code, c->close_reason, c->close_reason_len);
        if (r != 0 && r != WSLAY_ERR_NO_MORE_MSG)
            c->io_failed = 1;
        c->close_queued = 1;
    }
    pthread_mutex_unlock(&c->mu);
    session_account(c);
}

/* Publishes what the loop knows to senders: queued bytes and whether sending is over. */
static void session_account(ws_conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->out_bytes = wslay_event_get_queued_msg_length(c->ev);
    for (ws_out *m = c->out_head; m; m = m->next)
        c->out_bytes += m->len;
    if (!wslay_event_get_write_enabled(c->ev) || !wslay_event_get_read_enabled(c->ev) ||
        wslay_event_get_close_received(c->ev) || c->io_failed)
        c->closing = 1;
    pthread_mutex_unlock(&c->mu);
}

/* Returns non-zero when the session cannot go on. A framing error found below the event layer
 * (fragmented or oversized control frame, non-minimal length) makes wslay queue an empty close
 * and report a callback failure; that close still has to be flushed, so it is not fatal here. */
static int session_recv(ws_conn *c)
{
    int r = wslay_event_recv(c->ev);
    if (r == 0)
        return 0;
    if (c->io_failed || r != WSLAY_ERR_CALLBACK_FAILURE)
        return -1;
    c->fail_code = WSLAY_CODE_PROTOCOL_ERROR;
    return 0;
}

static void session_loop(ws_conn *c)
{
    int64_t start = now_ms();
    int64_t last_ping = start;
    int64_t close_deadline = 0;
    c->last_rx_ms = start;

    for (;;) {
        session_sync(c);
        if (c->io_failed)
            break;
        if (wslay_event_want_write(c->ev)) {
            if (wslay_event_send(c->ev) != 0)
                break;
            session_account(c);
        }
        if (c->npending > 0 && wslay_event_want_read(c->ev)) {
            /* Bytes already in hand never make the socket readable: parse them now. */
            if (session_recv(c) != 0)
                break;
            continue;
        }

        int rd = wslay_event_want_read(c->ev);
        int wr = wslay_event_want_write(c->ev);
        if (!rd && !wr)
            break; /* both closes exchanged, or our failure close flushed */

        int64_t now = now_ms();
        int closing;
        pthread_mutex_lock(&c->mu);
        closing = c->closing || c->close_code;
        pthread_mutex_unlock(&c->mu);
        if ((closing || !rd) && close_deadline == 0)
            close_deadline = now + WS_CLOSE_TIMEOUT_MS;
        if (close_deadline && now >= close_deadline)
            break;
        if (now - c->last_rx_ms >= WS_IDLE_TIMEOUT_MS)
            break;
        int64_t next_ping =
            (c->last_rx_ms > last_ping ? c->last_rx_ms : last_ping) + WS_PING_INTERVAL_MS;
        if (!closing && now >= next_ping) {
            struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
            if (wslay_event_queue_msg(c->ev, &ping) != 0)
                break;
            last_ping = now;
            continue;
        }

        int64_t wake_at = c->last_rx_ms + WS_IDLE_TIMEOUT_MS;
        if (!closing && next_ping < wake_at)
            wake_at = next_ping;
        if (close_deadline && close_deadline < wake_at)
            wake_at = close_deadline;
        int timeout = wake_at > now ? (int)(wake_at - now) : 0;

        /* Stop reading while the peer is not taking what we send (its pings would queue
         * pongs without bound). */
        int read_ok = rd && (wslay_event_get_queued_msg_length(c->ev) < WS_MAX_QUEUED ||
                             !wslay_event_get_write_enabled(c->ev));
        struct pollfd pfd[2] = {
            {.fd = c->fd, .events = (short)((read_ok ? POLLIN : 0) | (wr ? POLLOUT : 0))},
            {.fd = c->wake_fd, .events = POLLIN},
        };
        int n = poll(pfd, 2, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            c->io_failed = 1;
            break;
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            if (read(c->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN) {
                c->io_failed = 1;
                break;
            }
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (rd) {
                if (session_recv(c) != 0)
                    break;
            } else if (pfd[0].revents & (POLLHUP | POLLERR)) {
                c->io_failed = 1; /* the peer is gone before our close could be flushed */
                break;
            }
        }
        if (pfd[0].revents & POLLNVAL) {
            c->io_failed = 1;
            break;
        }
    }
}

/* The peer's code if it sent a close; the code we failed the connection with if we stopped
 * reading because of its input (wslay or on_msg_recv); otherwise the connection just ended. A
 * close we started (ws_close) that the peer never answered is 1006: reading was still on. */
static uint16_t session_end_code(ws_conn *c)
{
    if (wslay_event_get_close_received(c->ev))
        return wslay_event_get_status_code_received(c->ev);
    if (c->io_failed || wslay_event_get_read_enabled(c->ev) || !wslay_event_get_close_sent(c->ev))
        return WSLAY_CODE_ABNORMAL_CLOSURE;
    if (c->fail_code)
        return c->fail_code;
    return wslay_event_get_status_code_sent(c->ev);
}

void ws_session_run(int fd, const uint8_t *pending, size_t npending, const ws_handler *h, void *ud)
{
    uint16_t code = WSLAY_CODE_ABNORMAL_CLOSURE;
    int registered = 0;
    ws_conn *c = calloc(1, sizeof *c);
    if (!c) {
        if (h && h->on_close)
            h->on_close(NULL, code, ud);
        return;
    }
    c->refs = 1;
    c->wake_fd = -1;
    c->fd = fd;
    c->pending = pending;
    c->npending = pending ? npending : 0;
    c->h = h;
    c->ud = ud;
    c->max_message = h && h->max_message ? h->max_message : WS_DEFAULT_MAX_MESSAGE;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        if (h && h->on_close)
            h->on_close(NULL, code, ud);
        return;
    }
    if (!h || fd < 0)
        goto out;

    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0)
        goto out;
    struct wslay_event_callbacks cbs = {
        .recv_callback = on_recv,
        .send_callback = on_send,
        .on_msg_recv_callback = on_msg_recv,
    };
    if (wslay_event_context_server_init(&c->ev, &cbs, c) != 0) {
        c->ev = NULL;
        goto out;
    }
    wslay_event_config_set_max_recv_msg_length(c->ev, c->max_message);

    registry_add(c);
    registered = 1;
    if (h->on_open && h->on_open(c, ud) != 0)
        ws_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "session could not start");
    session_loop(c);
    code = session_end_code(c);

out:
    pthread_mutex_lock(&c->mu);
    c->finished = 1;
    c->closing = 1;
    outbox_clear(c);
    if (c->wake_fd >= 0 && close(c->wake_fd) != 0) {
        /* Nothing to recover: the descriptor is released either way on Linux. */
    }
    c->wake_fd = -1;
    pthread_mutex_unlock(&c->mu);
    if (c->ev)
        wslay_event_context_free(c->ev);
    c->ev = NULL;
    if (h && h->on_close)
        h->on_close(c, code, ud);
    /* Leave the registry only after on_close, so a shutdown waiting for ws_active_count() to
     * reach 0 knows every handler is done with its state. */
    if (registered)
        registry_remove(c);
    ws_conn_unref(c);
}
