"""WebSocket upgrade through the harness echo route (/_test/ws) with a real client
(python3-websockets 10.4: asyncio API)."""
import asyncio
import base64
import os

import pytest
import websockets

from conftest import assert_problem

WS_TIMEOUT = 10


def ws_url(srv):
    return f"ws://127.0.0.1:{srv.port}/_test/ws"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def connect(srv, **kw):
    kw.setdefault("open_timeout", WS_TIMEOUT)
    kw.setdefault("close_timeout", WS_TIMEOUT)
    kw.setdefault("max_size", None)
    kw.setdefault("compression", None)
    return websockets.connect(ws_url(srv), **kw)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), WS_TIMEOUT)


def test_text_echo(harness):
    async def go():
        async with connect(harness) as ws:
            for msg in ("hello", "", "ünïcødé ✓", "x" * 70000):
                await ws.send(msg)
                got = await recv(ws)
                assert isinstance(got, str)
                assert got == msg
    run(go())


def test_binary_echo(harness):
    async def go():
        async with connect(harness) as ws:
            for msg in (b"\x00\x01\x02\xff", os.urandom(200_000)):
                await ws.send(msg)
                got = await recv(ws)
                assert isinstance(got, bytes)
                assert got == msg
    run(go())


def test_fragmented_message_is_reassembled(harness):
    async def go():
        async with connect(harness) as ws:
            await ws.send(["frag", "ment", "ed"])
            assert await recv(ws) == "fragmented"
            await ws.send([b"\x01\x02", b"\x03"])
            assert await recv(ws) == b"\x01\x02\x03"
    run(go())


def test_ping_pong(harness):
    async def go():
        async with connect(harness) as ws:
            pong = await ws.ping(b"are-you-there")
            await asyncio.wait_for(pong, WS_TIMEOUT)
            # Still usable after the ping.
            await ws.send("after ping")
            assert await recv(ws) == "after ping"
    run(go())


def test_clean_close_1000(harness):
    async def go():
        ws = await connect(harness)
        await ws.send("bye")
        assert await recv(ws) == "bye"
        await ws.close(code=1000, reason="done")
        assert ws.close_code == 1000
        return ws
    run(go())


def test_oversized_message_closes_1009(harness):
    async def go():
        async with connect(harness) as ws:
            await ws.send(b"\0" * (1024 * 1024 + 1))
            with pytest.raises(websockets.ConnectionClosed):
                await recv(ws)
            await ws.wait_closed()
            assert ws.close_code == 1009, ws.close_code
    run(go())


def test_concurrent_connections(harness):
    async def one(i):
        async with connect(harness) as ws:
            for j in range(5):
                msg = f"conn {i} msg {j}"
                await ws.send(msg)
                assert await recv(ws) == msg
            return i

    async def go():
        done = await asyncio.gather(*(one(i) for i in range(6)))
        assert sorted(done) == list(range(6))
    run(go())
    # The HTTP side still answers.
    assert harness.get("/health/live").status_code == 200


def key():
    return base64.b64encode(os.urandom(16)).decode()


def test_plain_get_426(harness):
    r = harness.get("/_test/ws")
    assert_problem(r, 426, "upgrade-required")
    assert r.headers.get("Upgrade", "").lower() == "websocket"


def test_wrong_version_426(harness):
    r = harness.get("/_test/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                          "Sec-WebSocket-Version": "8",
                                          "Sec-WebSocket-Key": key()})
    assert_problem(r, 426)
    assert r.headers.get("Sec-WebSocket-Version") == "13"


def test_missing_key_400(harness):
    r = harness.get("/_test/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                          "Sec-WebSocket-Version": "13"})
    assert_problem(r, 400)


def test_ws_route_other_method_405(harness):
    r = harness.post("/_test/ws")
    assert_problem(r, 405)


def test_raw_handshake_accept_key_and_connection_token_list(harness):
    """`Connection: keep-alive, Upgrade` (what Firefox sends) upgrades, and the accept key is
    the RFC 6455 digest of the client key."""
    import hashlib
    import socket
    k = key()
    s = socket.create_connection(("127.0.0.1", harness.port), timeout=10)
    try:
        s.sendall((f"GET /_test/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\n"
                   f"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {k}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 101"), lines
        headers = {ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip()
                   for ln in lines[1:]}
        expect = base64.b64encode(hashlib.sha1(
            (k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == expect, headers
        assert headers.get("upgrade", "").lower() == "websocket"
        assert "upgrade" in headers.get("connection", "").lower()
        # A masked text frame "hi" is echoed unmasked.
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"hi"))
        s.sendall(bytes([0x81, 0x80 | 2]) + mask + payload)
        frame = s.recv(16)
        assert frame[:4] == b"\x81\x02hi", frame
        # Close 1000; the server answers with its close frame.
        mask = os.urandom(4)
        code = (1000).to_bytes(2, "big")
        s.sendall(bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i] for i, b in enumerate(code)))
        frame = s.recv(16)
        assert frame[0] == 0x88 and frame[2:4] == code, frame
    finally:
        s.close()


def test_unmasked_client_frame_is_protocol_error(harness):
    """RFC 6455 5.1: a server MUST close on an unmasked client frame (1002)."""
    import socket
    k = key()
    s = socket.create_connection(("127.0.0.1", harness.port), timeout=10)
    try:
        s.sendall((f"GET /_test/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {k}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        extra = head.split(b"\r\n\r\n", 1)[1]
        assert head.startswith(b"HTTP/1.1 101"), head
        s.sendall(b"\x81\x02hi")  # not masked
        data = extra
        while len(data) < 4:
            chunk = s.recv(16)
            if not chunk:
                break
            data += chunk
        assert data[:1] == b"\x88", data
        assert int.from_bytes(data[2:4], "big") == 1002, data
    finally:
        s.close()
