"""X-Request-Id (generated, echoed when sane, replaced otherwise) and the JSON access log line
written to stderr for every request."""
import uuid

import pytest

from conftest import UUID_RE


def test_request_id_generated_when_absent(praxis):
    a = praxis.get("/health/live").headers.get("X-Request-Id", "")
    b = praxis.get("/health/live").headers.get("X-Request-Id", "")
    assert UUID_RE.match(a), a
    assert UUID_RE.match(b), b
    assert a != b


@pytest.mark.parametrize("rid", [
    "abc-123",
    "req_2024.01.01:0001",
    str(uuid.uuid4()),
    "x" * 128,
])
def test_request_id_echoed_when_sane(praxis, rid):
    r = praxis.get("/health/live", headers={"X-Request-Id": rid})
    assert r.status_code == 200
    assert r.headers.get("X-Request-Id") == rid


@pytest.mark.parametrize("rid", [
    "a" * 200,
    "a b",
    "<script>",
    "id;drop",
    "quote\"d",
])
def test_request_id_replaced_when_insane(praxis, rid):
    r = praxis.get("/health/live", headers={"X-Request-Id": rid})
    assert r.status_code == 200
    got = r.headers.get("X-Request-Id", "")
    assert got != rid
    assert UUID_RE.match(got), got


def test_request_id_on_error_responses(praxis):
    r = praxis.get("/no/such/path", headers={"X-Request-Id": "err-probe-1"})
    assert r.status_code == 404
    assert r.headers.get("X-Request-Id") == "err-probe-1"
    r = praxis.post("/health/live", headers={"X-Request-Id": "err-probe-2"})
    assert r.status_code == 405
    assert r.headers.get("X-Request-Id") == "err-probe-2"


def find_request_log(srv, rid):
    rec = srv.wait_log(lambda rec: rec.get("msg") == "request" and rec.get("request_id") == rid)
    assert rec is not None, f"no access log line with request_id {rid}; stderr tail:\n" \
                            f"{srv.stderr()[-3000:]}"
    return rec


def test_access_log_line(praxis):
    rid = "log-" + uuid.uuid4().hex
    r = praxis.get("/health/live", headers={"X-Request-Id": rid})
    assert r.status_code == 200
    rec = find_request_log(praxis, rid)
    assert rec["method"] == "GET"
    assert rec["route"] == "/health/live"
    assert rec["status"] == 200
    assert isinstance(rec["duration_ms"], (int, float)) and 0 <= rec["duration_ms"] < 10000
    assert rec["bytes"] == len(r.content)
    assert rec["request_id"] == rid
    assert "level" in rec and "ts" in rec
    assert "user_id" not in rec  # no authentication on this route


def test_access_log_uses_route_template_not_raw_path(praxis):
    rid = "log-" + uuid.uuid4().hex
    secret_path = "/no/such/" + uuid.uuid4().hex
    r = praxis.get(secret_path + "?token=abc", headers={"X-Request-Id": rid})
    assert r.status_code == 404
    rec = find_request_log(praxis, rid)
    assert rec["status"] == 404
    assert rec["route"] != secret_path and "token" not in rec["route"]


def test_access_log_one_line_per_request(praxis):
    rid = "log-" + uuid.uuid4().hex
    for _ in range(3):
        praxis.get("/health/ready", headers={"X-Request-Id": rid})
    find_request_log(praxis, rid)
    lines = [rec for rec in praxis.log_records()
             if rec.get("msg") == "request" and rec.get("request_id") == rid]
    assert len(lines) == 3, lines
    assert all(rec["route"] == "/health/ready" for rec in lines)


def test_clean_start_logs_no_warnings(start_server):
    """With every variable set properly, start-up says nothing at warn level or above (a warning
    on every start trains operators to ignore warnings)."""
    srv = start_server("praxis", env={"JWT_SECRET": "x" * 48})
    srv.get("/health/ready")
    bad = [rec for rec in srv.log_records() if rec.get("level") in ("warn", "error", "fatal")]
    assert bad == [], bad
    non_json = [ln for ln in srv.stderr().splitlines() if ln.strip() and not ln.startswith("{")]
    assert non_json == [], non_json
