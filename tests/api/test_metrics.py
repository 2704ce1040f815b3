"""/metrics: Prometheus text format 0.0.4 with request counters and latency histograms by route
template and status, and process metrics."""
import uuid

from conftest import metric_value, parse_prometheus


def scrape(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200, r.text[:500]
    return r, parse_prometheus(r.text)


def test_metrics_content_type_and_families(praxis):
    praxis.get("/health/live")
    r, (samples, types) = scrape(praxis)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    assert "# TYPE http_requests_total counter" in r.text.splitlines()
    assert types.get("http_request_duration_seconds") == "histogram"
    for name in ("process_resident_memory_bytes", "process_open_fds", "praxis_uptime_seconds"):
        assert name in samples, f"{name} missing from /metrics"
        assert types.get(name) == "gauge", (name, types.get(name))
    rss = metric_value(samples, "process_resident_memory_bytes")
    fds = metric_value(samples, "process_open_fds")
    uptime = metric_value(samples, "praxis_uptime_seconds")
    assert rss > 1024 * 1024, rss
    assert 3 <= fds < 10000, fds
    assert 0 <= uptime < 24 * 3600, uptime


def test_request_counter_by_route_template_and_status(praxis):
    _, (before, _) = scrape(praxis)
    n0 = metric_value(before, "http_requests_total", method="GET", route="/health/live",
                      status="200") or 0
    for _ in range(3):
        assert praxis.get("/health/live").status_code == 200
    _, (after, _) = scrape(praxis)
    n1 = metric_value(after, "http_requests_total", method="GET", route="/health/live",
                      status="200")
    assert n1 == n0 + 3, (n0, n1)


def test_duration_histogram_series(praxis):
    praxis.get("/health/live")
    _, (samples, _) = scrape(praxis)
    buckets = [(lab, v) for lab, v in samples.get("http_request_duration_seconds_bucket", [])
               if lab.get("route") == "/health/live" and lab.get("method") == "GET"]
    assert buckets, "no http_request_duration_seconds_bucket series for /health/live"
    inf = [v for lab, v in buckets if lab.get("le") == "+Inf"]
    assert len(inf) == 1 and inf[0] >= 1, buckets
    # Buckets are cumulative and the +Inf bucket equals the count.
    finite = sorted((float(lab["le"]), v) for lab, v in buckets if lab["le"] != "+Inf")
    counts = [v for _, v in finite]
    assert counts == sorted(counts), finite
    assert all(v <= inf[0] for v in counts)
    count = metric_value(samples, "http_request_duration_seconds_count", method="GET",
                         route="/health/live")
    total = metric_value(samples, "http_request_duration_seconds_sum", method="GET",
                         route="/health/live")
    assert count == inf[0], (count, inf[0])
    assert total is not None and total >= 0


def test_unmatched_paths_share_one_series(praxis):
    """A 404 is counted under route="unmatched", never under the raw path (which would let any
    client create unbounded label values)."""
    junk = "/no/such/" + uuid.uuid4().hex
    assert praxis.get(junk).status_code == 404
    r, (samples, _) = scrape(praxis)
    assert junk not in r.text
    n = metric_value(samples, "http_requests_total", method="GET", route="unmatched",
                     status="404")
    assert n is not None and n >= 1


def _sum(samples, name, **labels):
    return sum(v for lab, v in samples.get(name, [])
               if all(lab.get(k) == val for k, val in labels.items()))


def test_status_label_for_errors(praxis):
    _, (before, _) = scrape(praxis)
    n0 = _sum(before, "http_requests_total", method="POST", status="405")
    assert praxis.post("/health/live").status_code == 405
    _, (after, _) = scrape(praxis)
    assert _sum(after, "http_requests_total", method="POST", status="405") == n0 + 1
