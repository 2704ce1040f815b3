"""gzip of responses over 1 KiB when the client accepts it."""
import gzip
import json

import pytest


def raw_get(srv, path, accept_encoding):
    """The response with its body exactly as sent (not decoded)."""
    r = srv.get(path, headers={"Accept-Encoding": accept_encoding}, stream=True)
    raw = r.raw.read(decode_content=False)
    r.close()
    return r, raw


def vary(r):
    return {v.strip().lower() for v in r.headers.get("Vary", "").split(",") if v.strip()}


def test_big_json_gzipped(harness):
    plain_r, plain = raw_get(harness, "/_test/big", "identity")
    assert plain_r.status_code == 200
    assert "Content-Encoding" not in plain_r.headers
    expected = json.loads(plain)
    assert len(expected["items"]) == 500

    r, raw = raw_get(harness, "/_test/big", "gzip")
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert len(raw) < len(plain) / 4, (len(raw), len(plain))
    assert int(r.headers["Content-Length"]) == len(raw)
    assert json.loads(gzip.decompress(raw)) == expected
    assert "accept-encoding" in vary(r)
    assert "accept-encoding" in vary(plain_r)


def test_requests_decodes_transparently(harness):
    r = harness.get("/_test/big", headers={"Accept-Encoding": "gzip, deflate"})
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.json()["items"][499] == {"n": 499,
                                      "text": "The patient reports chest pain on exertion."}


@pytest.mark.parametrize("ae", ["identity", "gzip;q=0", "deflate", "br", "gzip;q=0, identity"])
def test_not_gzipped_when_not_accepted(harness, ae):
    r, raw = raw_get(harness, "/_test/big", ae)
    assert r.status_code == 200
    assert "Content-Encoding" not in r.headers, (ae, r.headers)
    assert len(json.loads(raw)["items"]) == 500


@pytest.mark.parametrize("ae", ["gzip", "GZIP", "deflate, gzip;q=0.5", "*", "br;q=1, gzip"])
def test_gzipped_variants(harness, ae):
    r, raw = raw_get(harness, "/_test/big", ae)
    assert r.headers.get("Content-Encoding") == "gzip", (ae, r.headers)
    assert len(json.loads(gzip.decompress(raw))["items"]) == 500


def test_small_responses_never_gzipped(praxis):
    r, raw = raw_get(praxis, "/health/live", "gzip")
    assert r.status_code == 200
    assert "Content-Encoding" not in r.headers
    assert raw == b'{"status":"ok"}'
    assert "accept-encoding" in vary(r)


@pytest.mark.parametrize("path", ["/metrics", "/openapi.json", "/docs"])
def test_ops_pages_gzipped_when_large(praxis, path):
    plain_r, plain = raw_get(praxis, path, "identity")
    r, raw = raw_get(praxis, path, "gzip")
    assert r.status_code == plain_r.status_code == 200
    if len(plain) > 1024:
        assert r.headers.get("Content-Encoding") == "gzip", (path, len(plain), r.headers)
        text = gzip.decompress(raw)
        assert text[:20] == plain[:20]
    else:
        assert "Content-Encoding" not in r.headers
