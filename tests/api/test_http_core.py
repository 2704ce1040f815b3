"""Routing answers (404, 405 with Allow, HEAD, OPTIONS), CORS and security headers."""
import http.client

import pytest

from conftest import CORS_ORIGIN, assert_problem


def allow_set(r):
    return {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}


# ---- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/health", "/health/live/", "/health//live",
                                  "/health/live/extra", "/v1/does-not-exist"])
def test_unknown_path_is_404_problem(praxis, path):
    r = praxis.get(path)
    body = assert_problem(r, 404, "not-found")
    assert body["type"].endswith("/not-found")
    assert body["title"] == "Not Found"


def test_nul_in_path_does_not_truncate(praxis):
    """%00 decodes to a NUL byte: the path must not be cut there and routed as its prefix
    ("/health/live%00junk" is not "/health/live")."""
    r = praxis.get("/health/live%00junk")
    assert r.status_code in (400, 404), (r.status_code, r.text[:200])
    assert r.headers.get("Content-Type", "").startswith("application/problem+json")


def test_405_with_allow(praxis):
    r = praxis.post("/health/live", json={})
    body = assert_problem(r, 405, "method-not-allowed")
    assert body["title"] == "Method Not Allowed"
    allow = allow_set(r)
    assert {"GET", "HEAD"} <= allow, r.headers.get("Allow")
    assert "POST" not in allow


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_405(praxis, method):
    r = praxis.request(method, "/health/ready")
    assert_problem(r, 405)
    assert {"GET", "HEAD"} <= allow_set(r)


def test_unknown_method(praxis):
    """An unrecognised method is 501 Not Implemented, or 405 -- and a 405 MUST carry Allow
    (RFC 9110 15.5.6)."""
    r = praxis.request("BREW", "/health/live")
    assert r.status_code in (405, 501), r.status_code
    assert r.headers.get("Content-Type", "").startswith("application/problem+json")
    if r.status_code == 405:
        assert {"GET", "HEAD"} <= allow_set(r), r.headers


def test_head(praxis):
    get = praxis.get("/health/live")
    r = praxis.request("HEAD", "/health/live")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.headers.get("Content-Length") == str(len(get.content))
    assert r.headers.get("X-Request-Id")


def test_options_without_cors(praxis):
    r = praxis.request("OPTIONS", "/health/live")
    assert r.status_code == 204
    assert r.content == b""
    assert {"GET", "HEAD", "OPTIONS"} <= allow_set(r), r.headers.get("Allow")
    assert "Access-Control-Allow-Origin" not in r.headers


def test_options_unknown_path_is_404(praxis):
    assert_problem(praxis.request("OPTIONS", "/nope"), 404)


def test_keep_alive(praxis):
    """Two requests on one TCP connection."""
    conn = http.client.HTTPConnection("127.0.0.1", praxis.port, timeout=10)
    try:
        conn.request("GET", "/health/live")
        r1 = conn.getresponse()
        assert r1.status == 200 and r1.read() == b'{"status":"ok"}'
        sock = conn.sock
        assert sock is not None, "the server closed a keep-alive connection"
        conn.request("GET", "/health/ready")
        r2 = conn.getresponse()
        assert r2.status == 200
        r2.read()
        assert conn.sock is sock
    finally:
        conn.close()


# ---- CORS ---------------------------------------------------------------------------------


def preflight(srv, origin, method="GET", path="/health/live", headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    h.update(headers or {})
    return srv.request("OPTIONS", path, headers=h)


def test_cors_preflight_allowed(praxis):
    r = preflight(praxis, CORS_ORIGIN, headers={"Access-Control-Request-Headers":
                                                 "content-type, x-request-id"})
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.content == b""
    assert r.headers.get("Access-Control-Allow-Origin") == CORS_ORIGIN
    methods = {m.strip() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")}
    assert "GET" in methods, r.headers
    max_age = r.headers.get("Access-Control-Max-Age", "")
    assert max_age.isdigit() and int(max_age) > 0, r.headers
    allow_headers = r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "content-type" in allow_headers and "x-request-id" in allow_headers
    assert "origin" in r.headers.get("Vary", "").lower()


def test_cors_preflight_disallowed_origin(praxis):
    r = preflight(praxis, "https://evil.example.test")
    assert_problem(r, 403, "forbidden")
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_preflight_method_not_offered(praxis):
    r = preflight(praxis, CORS_ORIGIN, method="DELETE")
    assert r.status_code >= 400, r.status_code
    methods = r.headers.get("Access-Control-Allow-Methods", "")
    assert "DELETE" not in methods


def test_cors_simple_get_allowed_origin(praxis):
    r = praxis.get("/health/live", headers={"Origin": CORS_ORIGIN})
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == CORS_ORIGIN
    vary = {v.strip().lower() for v in r.headers.get("Vary", "").split(",")}
    assert "origin" in vary, f"Vary: {r.headers.get('Vary')!r} must include Origin"
    # The response varies on both, so a cache must key on both.
    assert "accept-encoding" in vary, f"Vary: {r.headers.get('Vary')!r}"


def test_cors_simple_get_disallowed_origin(praxis):
    r = praxis.get("/health/live", headers={"Origin": "https://evil.example.test"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_cors_error_responses_readable_by_allowed_origin(praxis):
    r = praxis.get("/nope", headers={"Origin": CORS_ORIGIN})
    assert r.status_code == 404
    assert r.headers.get("Access-Control-Allow-Origin") == CORS_ORIGIN
    assert "x-request-id" in r.headers.get("Access-Control-Expose-Headers", "").lower()


# ---- security headers -----------------------------------------------------------------------


def assert_security_headers(r):
    h = r.headers
    assert h.get("X-Content-Type-Options") == "nosniff", (r.url, r.status_code, dict(h))
    assert h.get("X-Frame-Options") == "DENY", (r.url, r.status_code, dict(h))
    assert h.get("Referrer-Policy"), (r.url, r.status_code, dict(h))


@pytest.mark.parametrize("method,path,kw", [
    ("GET", "/health/live", {}),
    ("GET", "/health/ready", {}),
    ("GET", "/metrics", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/docs", {}),
    ("GET", "/nope", {}),
    ("POST", "/health/live", {}),
    ("HEAD", "/health/live", {}),
    ("OPTIONS", "/health/live", {}),
    ("OPTIONS", "/health/live", {"headers": {"Origin": CORS_ORIGIN,
                                             "Access-Control-Request-Method": "GET"}}),
    ("OPTIONS", "/health/live", {"headers": {"Origin": "https://evil.example.test",
                                             "Access-Control-Request-Method": "GET"}}),
])
def test_security_headers_everywhere(praxis, method, path, kw):
    r = praxis.request(method, path, **kw)
    assert_security_headers(r)
    assert "Strict-Transport-Security" not in r.headers  # PUBLIC_URL is http here


def test_security_headers_on_harness_errors(harness):
    r = harness.post("/_test/echo", data="x" * (1024 * 1024 + 1),
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert_security_headers(r)
    r = harness.post("/_test/echo", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert_security_headers(r)


def test_docs_is_html_with_csp(praxis):
    r = praxis.get("/docs")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "text/html"
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, csp
    assert "<html" in r.text.lower()


def test_hsts_when_public_url_is_https(start_server):
    srv = start_server("praxis", env={"PUBLIC_URL": "https://praxis.example.test"})
    for r in (srv.get("/health/live"), srv.get("/nope"), srv.get("/docs")):
        hsts = r.headers.get("Strict-Transport-Security", "")
        assert "max-age=" in hsts, (r.url, dict(r.headers))
        assert int(hsts.split("max-age=")[1].split(";")[0]) >= 86400
    doc = srv.get("/openapi.json").json()
    assert doc["servers"][0]["url"] == "https://praxis.example.test"


def test_concurrent_requests(praxis):
    """Parallel clients on the thread pool and the database pool."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        path = "/health/ready" if i % 2 else "/health/live"
        return praxis.get(path, headers={"X-Request-Id": f"conc-{i}"})

    with ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(one, range(200)))
    assert [r.status_code for r in rs] == [200] * 200
    assert all(r.headers["X-Request-Id"] == f"conc-{i}" for i, r in enumerate(rs))


def test_idle_connection_times_out(start_server):
    """REQUEST_TIMEOUT_SECONDS closes a connection that stops sending (slowloris)."""
    import socket
    import time
    srv = start_server("praxis", env={"REQUEST_TIMEOUT_SECONDS": "1"})
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")  # headers never finished
        t0 = time.monotonic()
        data = s.recv(4096)
        elapsed = time.monotonic() - t0
        assert elapsed < 5, elapsed
        assert data == b"" or not data.startswith(b"HTTP/1.1 200"), data
    finally:
        s.close()
    assert srv.get("/health/live").status_code == 200
