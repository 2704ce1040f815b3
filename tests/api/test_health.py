"""Liveness and readiness, including readiness failing (and recovering) when the database goes
away."""
import time

import pytest

from conftest import PG_URL, Database, assert_problem, psql


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


# SQLite: the driver keeps its connections (and WAL) open, so removing the database's directory
# or overwriting the main file's header does not make `SELECT 1` fail (pages live in the WAL and
# in open file descriptors) -- there is no reliable way to take a SQLite database away from a
# running server from the outside. The readiness failure is therefore exercised on PostgreSQL,
# in every run where the throwaway cluster is available (the sqlite run included).


@pytest.mark.skipif(not PG_URL, reason="needs PRAXIS_TEST_PG_URL (scripts/pg-temp.sh start)")
def test_ready_fails_when_postgres_is_unreachable_and_recovers(start_server, tmp_path):
    db = Database(tmp_path / "pg", driver="postgres")
    srv = start_server("praxis", database=db, own_db=True)
    assert srv.get("/health/ready").status_code == 200
    name = db.name
    psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        # pg_terminate_backend(pid, timeout) waits for the backends to be gone (PG 14+).
        psql(f"SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
             f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        assert_unready(srv)
        # Still unavailable on a second probe: the pool cannot reconnect while refused.
        assert_unready(srv)
    finally:
        psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # The pool reconnects by itself once the database accepts connections again.
    r = wait_ready(srv)
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"] == "ok"
