"""The local billing provider (the default, for development and tests) and quotas end to end:
the free plan's fourth session is refused, a local checkout link upgrades at once (and voice
becomes possible), plan switches, cancellation at the period's end, the portal page, usage
with voice minutes, single-use and expiring links, and none of it in production."""
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_support import (PUBLIC_URL, Seeded, create_session, local_path, new_user,
                             scenario_id, sql)
from conftest import DRIVER, assert_problem
from test_accounts_support import audit_rows, make_admin

LOCAL = {"PUBLIC_URL": PUBLIC_URL}


@pytest.fixture(scope="module")
def local_srv(tmp_path_factory):
    s = Seeded(tmp_path_factory.mktemp(f"billing-local-{DRIVER}"), LOCAL)
    try:
        yield s.srv
    finally:
        s.close()


def checkout(user, plan):
    r = user.post("/v1/billing/checkout", json={"plan": plan})
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert url.startswith(f"{PUBLIC_URL}/v1/billing/local/checkout/"), url
    return local_path(url)


def upgrade(user, plan):
    r = user.srv.get(checkout(user, plan))
    assert r.status_code == 200, r.text
    return r.json()


def sub_view(user):
    r = user.get("/v1/billing/subscription")
    assert r.status_code == 200, r.text
    return r.json()


def test_quota_then_upgrade_end_to_end(local_srv):
    u = new_user(local_srv)
    sid = scenario_id(u)
    for i in range(3):
        assert create_session(u, sid).status_code == 201, i
    assert_problem(create_session(u, sid), 402, "quota-exceeded")
    assert_problem(create_session(u, sid, "voice"), 402, "voice-not-included")
    path = checkout(u, "standard")
    # Nothing changes until the link is followed.
    assert sub_view(u)["plan"] == "free"
    r = local_srv.get(path)
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    body = r.json()
    assert body["plan"] == "standard" and body["status"] == "active"
    assert body["provider"] == "local" and body["cancel_at_period_end"] is False
    view = sub_view(u)
    assert view["plan"] == "standard" and view["usage"] == {"sessions_used": 0,
                                                            "sessions_limit": 30}
    # One calendar month.
    start, end = view["current_period_start"], view["current_period_end"]
    months = (int(end[:4]) - int(start[:4])) * 12 + int(end[5:7]) - int(start[5:7])
    assert months == 1 and end[11:19] == start[11:19], (start, end)
    assert create_session(u, sid).status_code == 201
    assert create_session(u, sid, "voice").status_code == 201
    usage = u.get("/v1/billing/usage").json()
    assert usage["plan"] == "standard" and usage["sessions_used"] == 2
    assert usage["sessions_limit"] == 30 and usage["voice_minutes_used"] == 0
    assert usage["period_start"] == start and usage["period_end"] == end
    # The link is spent.
    assert_problem(local_srv.get(path), 404)
    assert_problem(local_srv.post(path), 404)


def test_checkout_link_by_post_and_as_a_page(local_srv):
    u = new_user(local_srv)
    r = local_srv.post(checkout(u, "premium"), headers={"Accept": "text/html"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert "Subscription active" in r.text and "premium" in r.text
    assert "Content-Security-Policy" in r.headers
    assert sub_view(u)["plan"] == "premium"


def test_links_are_single_use_even_at_once(local_srv):
    u = new_user(local_srv)
    path = checkout(u, "standard")
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = sorted(pool.map(lambda _: local_srv.get(path).status_code, range(4)))
    assert codes == [200, 404, 404, 404], codes
    rows = sql(local_srv, f"SELECT count(*) FROM subscriptions WHERE user_id = '{u.id}'")
    assert int(rows[0][0]) == 1


def test_expired_and_bad_links(local_srv):
    u = new_user(local_srv)
    path = checkout(u, "standard")
    sql(local_srv, f"UPDATE billing_local_tokens SET expires_at = '2020-01-01T00:00:00.000Z' "
                   f"WHERE user_id = '{u.id}'")
    assert_problem(local_srv.get(path), 404)
    assert sub_view(u)["plan"] == "free"
    for bad in ("nope", "A" * 43, "A" * 44, "%00" * 10):
        assert_problem(local_srv.get(f"/v1/billing/local/checkout/{bad}"), 404)
    # Tokens are stored hashed: the link's token is nowhere in the table.
    token = path.rsplit("/", 1)[1]
    rows = sql(local_srv, f"SELECT token_hash FROM billing_local_tokens WHERE user_id = '{u.id}'")
    assert rows and all(token not in r[0] for r in rows)


def test_switch_and_refusals(local_srv):
    u = new_user(local_srv)
    upgrade(u, "standard")
    assert_problem(u.post("/v1/billing/checkout", json={"plan": "standard"}), 409, "plan-active")
    assert_problem(u.post("/v1/billing/checkout", json={"plan": "free"}), 422)
    upgrade(u, "premium")
    view = sub_view(u)
    assert view["plan"] == "premium" and view["usage"]["sessions_limit"] is None
    live = sql(local_srv, f"SELECT plan_id, status FROM subscriptions WHERE user_id = '{u.id}' "
                          f"ORDER BY created_at")
    assert [tuple(r) for r in live] == [("standard", "canceled"), ("premium", "active")]
    admin = make_admin(local_srv)
    rows = [r for r in audit_rows(admin, action="billing.subscription_changed")
            if r["target_id"] == u.id]
    plans = sorted((r["details"]["from"]["plan"], r["details"]["to"]["plan"]) for r in rows)
    assert plans == [("free", "standard"), ("standard", "premium")], rows
    assert all(r["actor_id"] == u.id for r in rows)


def test_cancel_at_period_end(local_srv):
    u = new_user(local_srv)
    assert_problem(u.post("/v1/billing/cancel"), 409, "no-subscription")
    upgrade(u, "standard")
    r = u.post("/v1/billing/cancel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cancel_at_period_end"] is True and body["plan"] == "standard"
    assert body["status"] == "active"
    view = sub_view(u)
    assert view["cancel_at_period_end"] is True and view["plan"] == "standard"
    assert u.post("/v1/billing/cancel").json()["cancel_at_period_end"] is True
    # The period ends (moved into the past here): the free plan applies.
    sql(local_srv, f"UPDATE subscriptions SET current_period_start = '2020-01-01T00:00:00.000Z', "
                   f"current_period_end = '2020-02-01T00:00:00.000Z' WHERE user_id = '{u.id}'")
    view = sub_view(u)
    assert view["plan"] == "free" and view["cancel_at_period_end"] is False
    assert_problem(u.post("/v1/billing/cancel"), 409, "no-subscription")


def test_portal(local_srv):
    u = new_user(local_srv)
    assert_problem(u.post("/v1/billing/portal"), 409, "no-customer")
    upgrade(u, "standard")
    r = u.post("/v1/billing/portal")
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert url.startswith(f"{PUBLIC_URL}/v1/billing/local/portal/")
    page = local_srv.get(local_path(url))
    assert page.status_code == 200 and page.json()["plan"] == "standard"
    # Portal links show, they do not expire on use; checkout paths do not take them.
    assert local_srv.get(local_path(url)).status_code == 200
    assert_problem(local_srv.get(local_path(url).replace("/portal/", "/checkout/")), 404)


def test_usage_counts_voice_minutes(local_srv):
    u = new_user(local_srv)
    usage = u.get("/v1/billing/usage").json()
    assert usage == {"plan": "free", "period_start": usage["period_start"],
                     "period_end": usage["period_end"], "sessions_used": 0,
                     "sessions_limit": 3, "voice_minutes_used": 0, "voice": False}
    # Voice seconds come from the sessions team (billing_record_voice_seconds); written here
    # the way it writes them: 61 s + 30 s is 91 s, two minutes started.
    for i, secs in enumerate((61, 30)):
        sql(local_srv, f"INSERT INTO usage_events (id, user_id, kind, quantity, created_at) VALUES "
                       f"('00000000-0000-7000-8000-{u.id[-8:]}000{i}', '{u.id}', 'voice_seconds', "
                       f"{secs}, '{usage['period_start']}')")
    assert u.get("/v1/billing/usage").json()["voice_minutes_used"] == 2
    assert_problem(local_srv.get("/v1/billing/usage"), 401)


def test_local_provider_is_off_in_production(tmp_path):
    s = Seeded(tmp_path / "prod", dict(LOCAL, PRODUCTION="true", JWT_SECRET="p" * 48,
                                       DATA_KEY="ab" * 32))
    try:
        u = new_user(s.srv)
        assert_problem(u.post("/v1/billing/checkout", json={"plan": "standard"}), 404,
                       "billing-provider")
        assert_problem(u.post("/v1/billing/portal"), 404, "billing-provider")
        assert_problem(s.srv.get("/v1/billing/local/checkout/" + "A" * 43), 404)
        assert_problem(s.srv.get("/v1/billing/local/portal/" + "A" * 43), 404)
        # A link made before the switch to production is dead too.
        token = "B" * 43
        digest = hashlib.sha256(token.encode()).hexdigest()
        sql(s.srv, f"INSERT INTO billing_local_tokens (id, user_id, purpose, plan_id, token_hash, "
                   f"expires_at, created_at) VALUES ('00000000-0000-7000-8000-000000000001', "
                   f"'{u.id}', 'checkout', 'standard', '{digest}', '2999-01-01T00:00:00.000Z', "
                   f"'2026-01-01T00:00:00.000Z')")
        assert_problem(s.srv.get("/v1/billing/local/checkout/" + token), 404)
        assert sub_view(u)["plan"] == "free"
    finally:
        s.close()


def test_local_routes_are_documented(local_srv):
    doc = local_srv.get("/openapi.json").json()
    paths = doc["paths"]
    for path, method in (("/v1/billing/checkout", "post"), ("/v1/billing/portal", "post"),
                         ("/v1/billing/cancel", "post"), ("/v1/billing/usage", "get"),
                         ("/v1/billing/invoices", "get"), ("/v1/webhooks/stripe", "post"),
                         ("/v1/billing/local/checkout/{token}", "get"),
                         ("/v1/billing/local/checkout/{token}", "post"),
                         ("/v1/billing/local/portal/{token}", "get")):
        assert method in paths.get(path, {}), (path, method)
    checkout_op = paths["/v1/billing/checkout"]["post"]
    for code in ("200", "409", "422", "502", "503"):
        assert code in checkout_op["responses"], code
    assert checkout_op.get("security"), "checkout needs a bearer token"
    assert not paths["/v1/webhooks/stripe"]["post"].get("security"), "the webhook is public"
