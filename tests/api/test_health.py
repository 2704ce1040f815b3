"""Liveness and readiness, including readiness failing (and recovering) when the database goes
away."""
import time

import pytest

from conftest import DRIVER, assert_problem, psql


def test_live(praxis):
    r = praxis.get("/health/live")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == {"status": "ok"}


def test_live_ignores_query_string(praxis):
    r = praxis.get("/health/live?probe=1")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_ready(praxis):
    r = praxis.get("/health/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


def assert_unready(srv):
    r = srv.get("/health/ready")
    body = assert_problem(r, 503)
    assert body["checks"]["database"] == "unavailable", body
    retry = r.headers.get("Retry-After")
    assert retry is not None and retry.isdigit() and int(retry) > 0, r.headers
    # The answer names the failing check without leaking internals.
    text = r.text.lower()
    for leak in ("select", "sqlite", "libpq", "/tmp/", "0x"):
        assert leak not in text, r.text
    # The process itself is still alive.
    live = srv.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok"}


def wait_ready(srv, timeout=10):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = srv.get("/health/ready")
        if last.status_code == 200:
            return last
        time.sleep(0.1)
    return last


@pytest.mark.skipif(DRIVER != "sqlite", reason="SQLite variant (the postgres run has its own)")
def test_ready_fails_when_sqlite_file_is_corrupted(start_server):
    """SQLite has no server to stop and chmod means nothing to root: the database going bad is
    simulated by overwriting the file header with garbage, then putting it back."""
    srv = start_server("praxis")
    assert srv.get("/health/ready").status_code == 200
    path = srv.db.path
    with open(path, "r+b") as f:
        original = f.read(100)
        f.seek(0)
        f.write(b"\xde\xad\xbe\xef garbage, not a database " * 3 + b"\0" * 28)
        f.flush()
    try:
        assert_unready(srv)
    finally:
        with open(path, "r+b") as f:
            f.write(original)
    r = wait_ready(srv)
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"] == "ok"


@pytest.mark.skipif(DRIVER != "postgres", reason="PostgreSQL variant (the sqlite run has its own)")
def test_ready_fails_when_postgres_is_unreachable_and_recovers(start_server):
    srv = start_server("praxis")
    assert srv.get("/health/ready").status_code == 200
    name = srv.db.name
    psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        # pg_terminate_backend(pid, timeout) waits for the backends to be gone (PostgreSQL 14+).
        psql(f"SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
             f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        assert_unready(srv)
        # Still unavailable on a second probe (the pool cannot reconnect while it is refused).
        assert_unready(srv)
    finally:
        psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # The pool reconnects by itself once the database accepts connections again.
    r = wait_ready(srv)
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"] == "ok"
