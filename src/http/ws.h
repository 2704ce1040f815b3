/* WebSockets (RFC 6455): handshake helpers and a session that runs wslay's event API on a
 * socket handed over by an HTTP upgrade. One thread per session runs the read/write loop;
 * ws_send_* may be called from any thread (messages are queued and the loop is woken). */
#ifndef PRAXIS_HTTP_WS_H
#define PRAXIS_HTTP_WS_H

#include "core/common.h"
#include <stdint.h>

typedef struct ws_conn ws_conn;

enum { WS_TEXT = 1, WS_BINARY = 2 };

/* Callbacks run on the session's thread. */
typedef struct ws_handler {
    /* After the handshake; return non-zero to close with 1011. */
    int (*on_open)(ws_conn *c, void *ud);
    /* One complete message (fragments reassembled); text is valid UTF-8. */
    void (*on_message)(ws_conn *c, int type, const uint8_t *data, size_t len, void *ud);
    /* Exactly once per ws_session_run, when the session ends for any reason (even when it
     * could not start; c is NULL only if the connection object could not be allocated).
     * code is the peer's close code (1005 if its close frame had none), the code this side
     * failed the connection with (1002, 1007, 1009), or 1006 when the connection ended
     * without a close frame from the peer (drop, timeout, I/O error). */
    void (*on_close)(ws_conn *c, uint16_t code, void *ud);
    size_t max_message; /* 0 = 1 MiB; larger messages close the session with 1009 */
} ws_handler;

/* The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
 * out must hold 29 bytes. Returns -1 if key is not a 16-byte base64 nonce. */
int ws_accept_key(const char *client_key, char out[29]) WUR;

/* SHA-1 (FIPS 180-1), needed only by the handshake. */
void ws_sha1(const void *data, size_t len, uint8_t out[20]);

/* Runs a server-side session on fd until it closes; takes ownership of fd only in the sense
 * that it reads and writes it; the caller closes it after. `pending`/`npending` are bytes the
 * HTTP layer read past the handshake (may be NULL/0). Blocks the calling thread. */
void ws_session_run(int fd, const uint8_t *pending, size_t npending, const ws_handler *h,
                    void *ud);

/* Queue one message; safe from any thread, including inside the callbacks. Returns -1 when
 * the session has ended or is closing, when text is not valid UTF-8, or when the outgoing
 * queue would exceed 8 MiB (a peer that does not read). */
int ws_send_text(ws_conn *c, const char *text, size_t len) WUR;
int ws_send_binary(ws_conn *c, const void *data, size_t len) WUR;
/* Starts the closing handshake with code and reason (reason may be NULL; cut to 123 bytes).
 * Messages queued before it are sent first. Codes an endpoint may not send become 1011.
 * Safe from any thread; no-op once closing. */
void ws_close(ws_conn *c, uint16_t code, const char *reason);

/* Keeps c's memory valid past the end of its session, for a thread that may still call
 * ws_send_* after on_close (those calls then return -1). Take the reference while c is known
 * to be alive: inside a callback, or while holding another reference. Freed at zero. */
void ws_conn_ref(ws_conn *c);
void ws_conn_unref(ws_conn *c);
/* The ud given to ws_session_run. */
void *ws_conn_user(ws_conn *c);

/* Asks every running session to close with 1001 (going away); used on shutdown. */
void ws_shutdown_all(void);
/* Sessions running now. */
int ws_active_count(void);

#endif
