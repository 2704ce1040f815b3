"""Billing, first slice: the public plan list, the caller's subscription with usage, and the
free plan's monthly session quota enforced at session creation (402 naming plan, limit, reset
date and the upgrade route)."""
import uuid

from conftest import assert_problem
from test_sessions import new_user, scenario_ids, srv  # noqa: F401 (module fixtures)


def test_plans_are_public(srv):
    r = srv.get("/v1/billing/plans")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [p["id"] for p in items] == ["free", "standard", "premium"]
    free, standard, premium = items
    assert free["price_minor"] == 0 and free["sessions_per_month"] == 3 and not free["voice"]
    assert standard["sessions_per_month"] == 30 and standard["voice"]
    assert premium["sessions_per_month"] is None and premium["voice"] and premium["llm"]
    for p in items:
        assert set(p) == {"id", "name", "price_minor", "currency", "interval",
                          "sessions_per_month", "voice", "llm"}


def test_free_plan_quota(srv, scenario_ids):
    u = new_user(srv)
    sub = u.get("/v1/billing/subscription")
    assert sub.status_code == 200, sub.text
    body = sub.json()
    assert body["plan"] == "free" and body["status"] == "active"
    assert body["usage"] == {"sessions_used": 0, "sessions_limit": 3}
    assert body["current_period_end"] > body["current_period_start"]
    sid = next(iter(scenario_ids.values()))
    for i in range(3):
        r = u.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"})
        assert r.status_code == 201, (i, r.text)
    assert u.get("/v1/billing/subscription").json()["usage"]["sessions_used"] == 3
    r = u.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"})
    p = assert_problem(r, 402, "quota-exceeded")
    assert p["plan"] == "free" and p["limit"] == 3 and p["used"] == 3
    assert p["resets_at"] == body["current_period_end"]
    assert p["upgrade"] == "/v1/billing/checkout"
    # Nothing was created by the refused request.
    assert u.get("/v1/sessions").json()["total"] == 3
    # Another user's quota is their own.
    other = new_user(srv)
    assert other.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"}).status_code == 201
    assert_problem(srv.get("/v1/billing/subscription"), 401)


def test_quota_holds_under_concurrent_creates(srv, scenario_ids):
    """Ten simultaneous creates on a fresh free account: exactly three succeed."""
    from concurrent.futures import ThreadPoolExecutor
    u = new_user(srv)
    sid = next(iter(scenario_ids.values()))

    def create(_):
        return u.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(create, range(10)))
    assert sorted(codes) == [201] * 3 + [402] * 7, codes
    assert u.get("/v1/billing/subscription").json()["usage"]["sessions_used"] == 3


def test_voice_needs_a_voice_plan(srv, scenario_ids):
    u = new_user(srv)
    sid = next(iter(scenario_ids.values()))
    p = assert_problem(u.post("/v1/sessions", json={"scenario_id": sid, "mode": "voice"}), 402,
                       "voice-not-included")
    assert p["plan"] == "free" and p["upgrade"] == "/v1/billing/checkout"
    # The refusal used none of the quota.
    assert u.get("/v1/billing/subscription").json()["usage"]["sessions_used"] == 0
    assert u.get("/v1/sessions").json()["total"] == 0
