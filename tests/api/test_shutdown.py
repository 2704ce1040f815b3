"""Graceful shutdown: on SIGTERM the server stops accepting, lets in-flight requests finish,
closes WebSockets with 1001 and exits 0."""
import asyncio
import re
import signal
import socket
import threading
import time

import pytest
import requests
import websockets


def inflight(srv):
    """http_requests_in_flight as last set (by the previous request's metrics middleware)."""
    text = srv.get("/metrics").text
    m = re.search(r"^http_requests_in_flight (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def wait_inflight(srv, n, timeout=5):
    """Waits until at least n requests (besides the probe) are being handled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The gauge a /metrics scrape shows was set by the scrape before it, which counted
        # itself: n others in flight read as n + 1.
        if inflight(srv) >= n + 1:
            return True
        time.sleep(0.02)
    return False


def connect_refused(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


SLOW_MS = 2500  # long enough that the checks below fit comfortably inside it on a loaded box


def test_inflight_request_completes_on_sigterm(start_server):
    srv = start_server("harness")
    result = {}

    def slow():
        t0 = time.monotonic()
        try:
            result["r"] = requests.get(srv.url(f"/_test/slow?ms={SLOW_MS}"), timeout=30)
        except Exception as e:  # reported below
            result["e"] = e
        result["t"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    started = time.monotonic()
    t.start()
    try:
        # Give the request time to reach a worker first: MHD pins a connection to the pool thread
        # that accepted it, and a probe accepted in the same batch as the slow request would wait
        # behind it.
        time.sleep(0.3)
        assert wait_inflight(srv, 1), "the slow request never became in flight"
        srv.signal(signal.SIGTERM)
        signalled = time.monotonic()

        # New connections are refused while the slow request is still being served.
        refused = False
        while time.monotonic() - signalled < 1.5 and not refused:
            refused = connect_refused(srv.port)
            if not refused:
                time.sleep(0.02)
        seen = time.monotonic()
        still_running = t.is_alive()
        timing = (f"SIGTERM at {signalled - started:.2f} s, refusal seen at {seen - started:.2f} s "
                  f"after the slow request started")
        assert refused, "the listening socket still accepts connections after SIGTERM; " + timing
        assert still_running, "the slow request finished before the listener closed; " + timing
    finally:
        t.join(30)

    assert "e" not in result, f"in-flight request failed: {result.get('e')!r}"
    r = result["r"]
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "done", "slept_ms": SLOW_MS}
    assert result["t"] >= SLOW_MS / 1000 - 0.1
    rc = srv.wait()
    assert rc == 0, srv.stderr()[-5000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url("/health/live"), timeout=2)
    assert any(rec.get("msg", "").startswith("stopped") for rec in srv.log_records()), \
        srv.stderr()[-3000:]


def test_idle_server_exits_promptly(start_server):
    srv = start_server("praxis")
    assert srv.get("/health/ready").status_code == 200
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    rc = srv.wait()
    assert rc == 0, srv.stderr()[-5000:]
    assert time.monotonic() - t0 < 5


def test_sigint_also_graceful(start_server):
    srv = start_server("praxis")
    srv.signal(signal.SIGINT)
    assert srv.wait() == 0, srv.stderr()[-5000:]


def test_idle_keepalive_connection_does_not_block_shutdown(start_server):
    srv = start_server("praxis")
    s = requests.Session()
    assert s.get(srv.url("/health/live"), timeout=5).status_code == 200  # connection kept open
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0, srv.stderr()[-5000:]
    assert time.monotonic() - t0 < 5
    s.close()


def test_websocket_closed_1001_on_shutdown(start_server):
    srv = start_server("harness")

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/_test/ws", open_timeout=10,
                                      close_timeout=10) as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 10) == "hi"
            srv.signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            await ws.wait_closed()
            return ws.close_code

    code = asyncio.run(asyncio.wait_for(go(), 30))
    assert code == 1001, code
    assert srv.wait() == 0, srv.stderr()[-5000:]


def test_shutdown_deadline_is_enforced(start_server):
    """SHUTDOWN_GRACE_SECONDS bounds the shutdown: a request still running at the deadline is
    cut off and the process exits soon after, instead of waiting for the handler."""
    srv = start_server("harness", env={"SHUTDOWN_GRACE_SECONDS": "1"})
    t = threading.Thread(target=lambda: _quiet_get(srv.url("/_test/slow?ms=4000")))
    t.start()
    try:
        time.sleep(0.3)
        assert wait_inflight(srv, 1)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        rc = srv.wait(timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        t.join(20)
    assert rc == 0, srv.stderr()[-5000:]
    assert elapsed < 2.5, f"exit took {elapsed:.1f} s with SHUTDOWN_GRACE_SECONDS=1"


def _quiet_get(url):
    try:
        requests.get(url, timeout=20)
    except requests.RequestException:
        pass
