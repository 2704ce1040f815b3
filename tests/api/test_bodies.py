"""Request bodies through the harness: 400 (malformed / non-object JSON), 415 (content type),
413 (1 MiB JSON, 25 MiB audio; announced or chunked) and 422 (per-field errors)."""
import json

import pytest

from conftest import assert_problem

MiB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def echo(srv, body, headers=None, **kw):
    h = dict(JSON)
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    return srv.post("/_test/echo", data=data, headers=h, **kw)


def error_fields(body):
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    for e in errors:
        assert set(e) == {"field", "message"}, e
        assert isinstance(e["field"], str) and isinstance(e["message"], str) and e["message"]
    return {e["field"]: e["message"] for e in errors}


# ---- success ----------------------------------------------------------------------------------


def test_echo_valid(harness):
    body = {"name": "Dr Ada", "count": 3, "tags": ["a", "b"]}
    r = echo(harness, body)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == body


def test_echo_valid_with_charset_and_without_optional(harness):
    body = {"name": "Ünïcødé", "count": -7}
    r = echo(harness, json.dumps(body).encode(),
             headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text
    assert r.json() == body


# ---- 400 --------------------------------------------------------------------------------------


def test_malformed_json_reports_line_and_column(harness):
    r = echo(harness, '{\n  "name": "x",\n  "count": 1,,\n}')
    body = assert_problem(r, 400)
    detail = body.get("detail", "")
    assert "line 3" in detail and "column" in detail, detail


def test_malformed_json_single_line(harness):
    body = assert_problem(echo(harness, '{"name": "x", "count": }'), 400)
    assert "line 1" in body["detail"] and "column" in body["detail"], body


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "42", "null", "true"])
def test_non_object_json_is_400(harness, payload):
    body = assert_problem(echo(harness, payload), 400)
    assert body.get("detail")


def test_empty_json_body_is_400(harness):
    assert_problem(echo(harness, b""), 400)


def test_duplicate_keys_are_400(harness):
    assert_problem(echo(harness, '{"name": "a", "name": "b", "count": 1}'), 400)


def test_invalid_utf8_is_400(harness):
    assert_problem(echo(harness, b'{"name": "\xff\xfe", "count": 1}'), 400)


# ---- 422 --------------------------------------------------------------------------------------


def test_wrong_types_422(harness):
    body = assert_problem(echo(harness, {"name": 5, "count": "three", "tags": "x"}), 422)
    fields = error_fields(body)
    assert set(fields) == {"name", "count", "tags"}, fields


def test_missing_fields_422(harness):
    fields = error_fields(assert_problem(echo(harness, {}), 422))
    assert set(fields) == {"name", "count"}, fields
    assert all("required" in m for m in fields.values()), fields


def test_unknown_field_422(harness):
    fields = error_fields(assert_problem(echo(harness, {"name": "a", "count": 1, "admin": True}),
                                         422))
    assert set(fields) == {"admin"}, fields


def test_length_bounds_422(harness):
    fields = error_fields(assert_problem(echo(harness, {"name": "", "count": 1}), 422))
    assert set(fields) == {"name"}
    fields = error_fields(assert_problem(echo(harness, {"name": "n" * 41, "count": 1}), 422))
    assert set(fields) == {"name"}
    assert echo(harness, {"name": "n" * 40, "count": 1}).status_code == 200
    # Characters, not bytes: 40 two-byte characters fit.
    assert echo(harness, {"name": "é" * 40, "count": 1}).status_code == 200


def test_null_and_float_422(harness):
    fields = error_fields(assert_problem(echo(harness, {"name": None, "count": 1.5}), 422))
    assert set(fields) == {"name", "count"}, fields


def test_422_problem_shape(harness):
    body = assert_problem(echo(harness, {"count": 1}), 422, "validation-failed")
    assert body["title"]
    assert body["errors"] == [{"field": "name", "message": body["errors"][0]["message"]}]


# ---- 415 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", "multipart/form-data; boundary=x"])
def test_json_route_wrong_content_type_415(harness, ctype):
    r = harness.post("/_test/echo", data='{"name": "a", "count": 1}',
                     headers={"Content-Type": ctype})
    assert_problem(r, 415, "unsupported-media-type")


def test_json_route_missing_content_type_with_body_415(harness):
    r = harness.post("/_test/echo", data=b'{"name": "a", "count": 1}')
    assert "Content-Type" not in r.request.headers
    assert_problem(r, 415)


def test_audio_route_json_415(harness):
    r = harness.post("/_test/audio", data=b"{}", headers=JSON)
    assert_problem(r, 415)


# ---- 413 --------------------------------------------------------------------------------------


def chunks(total, size=64 * 1024):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b" " * n
        sent += n


def test_json_at_limit_is_not_413(harness):
    # Exactly 1 MiB (padding with whitespace keeps it valid JSON): accepted.
    core = b'{"name": "a", "count": 1}'
    data = core + b" " * (MiB - len(core))
    r = echo(harness, data)
    assert r.status_code == 200, r.text[:300]


def test_json_over_limit_content_length_413(harness):
    r = echo(harness, b" " * (MiB + 1))
    body = assert_problem(r, 413, "payload-too-large")
    assert "1 MiB" in body.get("detail", ""), body


def test_json_over_limit_chunked_413(harness):
    r = harness.post("/_test/echo", data=chunks(MiB + 1), headers=JSON)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert_problem(r, 413)


def test_json_chunked_under_limit(harness):
    def gen():
        yield b'{"name": "chunked", '
        yield b'"count": 2}'
    r = harness.post("/_test/echo", data=gen(), headers=JSON)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "chunked", "count": 2}


def test_server_still_healthy_after_413s(harness):
    for _ in range(3):
        assert echo(harness, b" " * (MiB + 1)).status_code == 413
    assert harness.get("/health/live").status_code == 200


@pytest.mark.parametrize("ctype", ["audio/wav", "audio/flac", "audio/ogg", "audio/x-wav"])
def test_audio_accepted(harness, ctype):
    r = harness.post("/_test/audio", data=b"RIFF" + b"\0" * 1000, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": 1004}


def test_audio_2mib(harness):
    r = harness.post("/_test/audio", data=b"\x01" * (2 * MiB),
                     headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": 2 * MiB}


def test_audio_25mib_exactly_accepted(harness):
    r = harness.post("/_test/audio", data=b"\x02" * (25 * MiB),
                     headers={"Content-Type": "audio/wav"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": 25 * MiB}


def test_audio_26mib_413(harness):
    r = harness.post("/_test/audio", data=b"\x03" * (26 * MiB),
                     headers={"Content-Type": "audio/wav"}, timeout=60)
    body = assert_problem(r, 413)
    assert "25 MiB" in body.get("detail", ""), body


def test_audio_26mib_chunked_413(harness):
    r = harness.post("/_test/audio", data=chunks(26 * MiB, 256 * 1024),
                     headers={"Content-Type": "audio/wav"}, timeout=60)
    assert_problem(r, 413)


# ---- Expect: 100-continue (what curl sends for large bodies) ------------------------------------


def raw_exchange(srv, head, timeout=5):
    """Sends head (request line + headers), returns (socket, first bytes answered)."""
    import socket
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    s.sendall(head)
    return s, s.recv(65536)


def test_expect_continue_refused_early_when_too_large(harness):
    s, first = raw_exchange(harness, (
        "POST /_test/audio HTTP/1.1\r\nHost: t\r\nContent-Type: audio/wav\r\n"
        f"Content-Length: {26 * MiB}\r\nExpect: 100-continue\r\n\r\n").encode())
    try:
        # The 413 comes at once, without a 100 Continue and without reading the 26 MiB.
        assert first.startswith(b"HTTP/1.1 413 "), first[:200]
        assert b"application/problem+json" in first
    finally:
        s.close()


def test_expect_continue_accepted_body(harness):
    body = b"\x05" * 4096
    s, first = raw_exchange(harness, (
        "POST /_test/audio HTTP/1.1\r\nHost: t\r\nContent-Type: audio/wav\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode())
    try:
        assert first.startswith(b"HTTP/1.1 100 "), first[:200]
        s.sendall(body)
        rest = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        head, _, payload = rest.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), rest[:300]
        assert json.loads(payload) == {"bytes": 4096}
    finally:
        s.close()
