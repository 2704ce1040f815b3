"""Billing with Stripe: signed webhooks (valid, bad, stale, secret rotation, replay, out of
order, unknown types, malformed, huge), the subscription and invoices they produce, the
payment-failure email and the past_due grace; and our calls to Stripe through a local double
(checkout, portal, cancel) with their form fields, Authorization and Idempotency-Key headers,
retries on 429/5xx with the same key, and the 502/503 answers when Stripe refuses or hangs."""
import json
import os
import time
import uuid

import pytest

from billing_support import (PRICE_PREMIUM, PRICE_STANDARD, PUBLIC_URL, SECRET_KEY, WEBHOOK_NEW,
                             WEBHOOK_OLD, Seeded, StripeDouble, create_session, event, invoice,
                             new_sub_id, new_user, scenario_id, send, sign, sql, stripe_env,
                             subscription, wait_email)
from conftest import DRIVER, assert_problem
from test_accounts_support import audit_rows, make_admin, parse_mail


@pytest.fixture(scope="module")
def double():
    d = StripeDouble()
    yield d
    d.close()


@pytest.fixture(scope="module")
def stripe_srv(tmp_path_factory, double):
    s = Seeded(tmp_path_factory.mktemp(f"billing-stripe-{DRIVER}"), stripe_env(double))
    try:
        yield s.srv
    finally:
        s.close()


@pytest.fixture
def seeded(tmp_path):
    """Factory for servers of one test: seeded(env) -> Server."""
    made = []

    def make(env):
        s = Seeded(tmp_path / f"s{len(made)}", env)
        made.append(s)
        return s.srv

    yield make
    for s in made:
        s.close()


def sub_view(user):
    r = user.get("/v1/billing/subscription")
    assert r.status_code == 200, r.text
    return r.json()


def activate(srv, user, plan_price=PRICE_STANDARD, status="active", sub_id=None, **kw):
    """A Stripe subscription for user, made by a signed customer.subscription.created."""
    sub_id = sub_id or new_sub_id()
    obj = subscription(sub_id, status=status, price=plan_price, user_id=user.id, **kw)
    r = send(srv, event("customer.subscription.created", obj, created=int(time.time()) - 30))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "applied", r.json()
    return sub_id, obj


def event_row(srv, event_id):
    rows = sql(srv, f"SELECT type, outcome, processed_at FROM stripe_events "
                    f"WHERE id = '{event_id}'")
    return rows[0] if rows else None


# ---- signatures ------------------------------------------------------------------------------


def test_signed_event_activates_the_plan(stripe_srv):
    u = new_user(stripe_srv)
    assert sub_view(u)["plan"] == "free"
    sub_id = new_sub_id()
    ev = event("customer.subscription.created",
               subscription(sub_id, price=PRICE_PREMIUM, user_id=u.id, customer="cus_a1"))
    r = send(stripe_srv, ev)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "outcome": "applied"}
    view = sub_view(u)
    assert view["plan"] == "premium" and view["status"] == "active", view
    assert view["provider"] == "stripe" and view["usage"]["sessions_limit"] is None
    assert view["current_period_end"] > view["current_period_start"]
    row = event_row(stripe_srv, ev["id"])
    assert row[0] == "customer.subscription.created" and row[1] == "applied" and row[2]


def test_bad_signatures_are_refused_and_not_recorded(stripe_srv):
    u = new_user(stripe_srv)
    ev = event("customer.subscription.created", subscription(new_sub_id(), user_id=u.id))
    body = json.dumps(ev).encode()
    assert_problem(send(stripe_srv, ev, secret="whsec_somebody_else"), 400, "bad-signature")
    assert_problem(send(stripe_srv, ev, header=False), 400, "bad-signature")
    assert_problem(send(stripe_srv, ev, header="t=123"), 400, "bad-signature")
    assert_problem(send(stripe_srv, ev, header="garbage"), 400, "bad-signature")
    # The signature of one body does not carry over to another.
    tampered = body.replace(b'"active"', b'"trialing"')
    assert tampered != body
    assert_problem(send(stripe_srv, None, raw=tampered, header=sign(body)), 400, "bad-signature")
    assert event_row(stripe_srv, ev["id"]) is None
    assert sub_view(u)["plan"] == "free"
    # The same event properly signed is new, not a duplicate of the refused ones.
    r = send(stripe_srv, ev)
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text


def test_stale_and_future_timestamps(stripe_srv):
    u = new_user(stripe_srv)
    ev = event("customer.subscription.created", subscription(new_sub_id(), user_id=u.id))
    now = int(time.time())
    assert_problem(send(stripe_srv, ev, t=now - 400), 400, "stale-signature")
    assert_problem(send(stripe_srv, ev, t=now + 400), 400, "stale-signature")
    # A forged signature is "bad" whatever its time: staleness tells nothing to a forger.
    assert_problem(send(stripe_srv, ev, t=now - 400, secret="whsec_forged"), 400,
                   "bad-signature")
    assert event_row(stripe_srv, ev["id"]) is None
    assert send(stripe_srv, ev, t=now - 200).status_code == 200


def test_secret_rotation(stripe_srv):
    """STRIPE_WEBHOOK_SECRET=old,new: either secret verifies; during Stripe's own rotation a
    header carries one v1 per secret and any match passes."""
    u = new_user(stripe_srv)
    for secret in (WEBHOOK_OLD, WEBHOOK_NEW):
        ev = event("customer.created", {"id": "cus_rot", "object": "customer"})
        r = send(stripe_srv, ev, secret=secret)
        assert r.status_code == 200, (secret, r.text)
    ev = event("customer.subscription.created", subscription(new_sub_id(), user_id=u.id))
    body = json.dumps(ev).encode()
    t = int(time.time())
    new_sig = sign(body, WEBHOOK_NEW, t).split("v1=")[1]
    foreign = sign(body, "whsec_unknown", t).split("v1=")[1]
    r = send(stripe_srv, None, raw=body, header=f"t={t},v1={foreign},v1={new_sig}")
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
    assert sub_view(u)["plan"] == "standard"
    ev = event("customer.created", {"id": "cus_rot2", "object": "customer"})
    body = json.dumps(ev).encode()
    assert_problem(send(stripe_srv, None, raw=body, header=f"t={t},v1={foreign}"), 400,
                   "bad-signature")


# ---- delivery semantics ----------------------------------------------------------------------


def test_replay_has_no_second_effect(stripe_srv):
    u = new_user(stripe_srv)
    sub_id, _ = activate(stripe_srv, u, customer="cus_replay")
    fail = event("invoice.payment_failed", invoice("in_replay1", sub_id, status="open",
                                                   customer="cus_replay"))
    first = send(stripe_srv, fail)
    assert first.status_code == 200 and first.json()["outcome"] == "applied", first.text
    wait_email(stripe_srv, u.email, "Your OET Praxis payment failed")
    before = sub_view(u)
    again = send(stripe_srv, fail)
    assert again.status_code == 200, again.text
    assert again.json() == {"received": True, "duplicate": True}
    time.sleep(0.5)  # the outbox would have sent a second mail by now
    mails = [r for r in stripe_srv.log_records()
             if r.get("msg") == "email" and r.get("to") == u.email
             and r.get("subject") == "Your OET Praxis payment failed"]
    assert len(mails) == 1, mails
    assert sub_view(u) == before
    assert len(u.get("/v1/billing/invoices").json()["items"]) == 1


def test_out_of_order_updates(stripe_srv):
    """customer.subscription.updated events delivered newest first: the older one is recorded
    (outcome stale) and changes nothing; the newest state stays."""
    u = new_user(stripe_srv)
    sub_id = new_sub_id()
    now = int(time.time())
    created = event("customer.subscription.created",
                    subscription(sub_id, status="incomplete", user_id=u.id), created=now - 60)
    newer = event("customer.subscription.updated",
                  subscription(sub_id, status="active", price=PRICE_PREMIUM, user_id=u.id,
                               cancel=True), created=now - 10)
    older = event("customer.subscription.updated",
                  subscription(sub_id, status="active", price=PRICE_STANDARD, user_id=u.id),
                  created=now - 30)
    assert send(stripe_srv, newer).json()["outcome"] == "applied"
    assert send(stripe_srv, created).json()["outcome"] == "stale"
    assert send(stripe_srv, older).json()["outcome"] == "stale"
    view = sub_view(u)
    assert view["plan"] == "premium" and view["status"] == "active", view
    assert view["cancel_at_period_end"] is True
    assert event_row(stripe_srv, older["id"])[1] == "stale"
    # Same second: created never overrides updated; deleted overrides both.
    same = now - 10
    late_created = event("customer.subscription.created",
                         subscription(sub_id, status="incomplete", user_id=u.id), created=same)
    assert send(stripe_srv, late_created).json()["outcome"] == "stale"
    deleted = event("customer.subscription.deleted",
                    subscription(sub_id, status="canceled", price=PRICE_PREMIUM, user_id=u.id),
                    created=same)
    assert send(stripe_srv, deleted).json()["outcome"] == "applied"
    assert sub_view(u)["plan"] == "free"
    # An "active" from before the deletion, delivered after it, cannot resurrect the plan.
    resurrect = event("customer.subscription.updated",
                      subscription(sub_id, status="active", user_id=u.id), created=now - 20)
    assert send(stripe_srv, resurrect).json()["outcome"] == "stale"
    assert sub_view(u)["plan"] == "free"


def test_unknown_types_are_recorded(stripe_srv):
    ev = event("charge.refunded", {"id": "ch_1", "object": "charge", "amount": 100})
    r = send(stripe_srv, ev)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored", r.text
    row = event_row(stripe_srv, ev["id"])
    assert row[0] == "charge.refunded" and row[1] == "ignored" and row[2]
    assert send(stripe_srv, ev).json()["duplicate"] is True


def test_malformed_bodies(stripe_srv):
    for raw in (b'{"id": "evt_x", ', b"not json", b"[1, 2]", b'"text"', b""):
        assert_problem(send(stripe_srv, None, raw=raw), 400, "malformed-json")
    for ev in ({"id": "evt_no_type", "created": 1, "data": {"object": {}}},
               {"id": "evt_no_obj", "type": "x.y", "created": int(time.time()), "data": {}},
               {"type": "x.y", "created": int(time.time()), "data": {"object": {}}},
               {"id": "evt_bad_created", "type": "x.y", "created": "yesterday",
                "data": {"object": {}}},
               {"id": "", "type": "x.y", "created": 1, "data": {"object": {}}}):
        assert_problem(send(stripe_srv, ev), 400, "invalid-event")
    # Known types with objects we cannot use: recorded, ignored, 200 (Stripe must not retry).
    for ev in (event("customer.subscription.updated", {"id": "sub_bad", "status": "weird"}),
               event("invoice.paid", {"id": "in_bad", "status": "paid"}),
               event("customer.subscription.updated",
                     subscription(new_sub_id(), price="price_not_ours", customer="cus_nobody"))):
        r = send(stripe_srv, ev)
        assert r.status_code == 200 and r.json()["outcome"] in ("ignored", "unlinked"), r.text


def test_huge_bodies(stripe_srv):
    big = event("customer.created", {"id": "cus_big", "object": "customer",
                                     "description": "x" * (300 * 1024)})
    p = assert_problem(send(stripe_srv, big), 413)
    assert "KiB" in p["detail"]
    assert_problem(send(stripe_srv, None, raw=b"{" + b" " * (3 * 1024 * 1024) + b"}"), 413)
    # Just under the cap is fine.
    ok = event("customer.created", {"id": "cus_ok", "object": "customer",
                                    "description": "x" * (200 * 1024)})
    assert send(stripe_srv, ok).status_code == 200


def test_local_pages_are_404_with_stripe(stripe_srv):
    u = new_user(stripe_srv)
    for path in ("/v1/billing/local/checkout/" + "A" * 43, "/v1/billing/local/portal/" + "A" * 43):
        assert_problem(stripe_srv.get(path), 404)
    r = u.post("/v1/billing/checkout", json={"plan": "standard"})
    assert "/v1/billing/local/" not in r.json()["url"]


def test_webhook_is_404_with_the_local_provider(praxis):
    ev = event("customer.created", {"id": "cus_1"})
    assert_problem(send(praxis, ev), 404, "billing-provider")


# ---- what events do ---------------------------------------------------------------------------


def test_checkout_completed_links_customer_and_subscription(stripe_srv, double):
    """The subscription's own events may come without metadata and before we know the
    customer: checkout.session.completed ties both to the user who checked out."""
    u = new_user(stripe_srv)
    sub_id, cus = new_sub_id(), f"cus_{uuid.uuid4().hex[:10]}"
    done = event("checkout.session.completed",
                 {"id": "cs_1", "object": "checkout.session", "mode": "subscription",
                  "client_reference_id": u.id, "customer": cus, "subscription": sub_id,
                  "metadata": {"user_id": u.id, "plan": "standard"}}, created=int(time.time()) - 20)
    assert send(stripe_srv, done).json()["outcome"] == "applied"
    assert sub_view(u)["plan"] == "free"  # incomplete until the subscription says otherwise
    upd = event("customer.subscription.updated",
                subscription(sub_id, status="active", customer=cus), created=int(time.time()) - 5)
    assert send(stripe_srv, upd).json()["outcome"] == "applied"
    assert sub_view(u)["plan"] == "standard"
    # The customer is known now: the portal needs no new customer.
    double.clear()
    r = u.post("/v1/billing/portal")
    assert r.status_code == 200, r.text
    assert double.calls("/v1/billing_portal/sessions")[0]["form"]["customer"] == cus
    # A checkout for someone who does not exist links nothing.
    ghost = event("checkout.session.completed",
                  {"id": "cs_2", "mode": "subscription", "client_reference_id": str(uuid.uuid4()),
                   "customer": "cus_ghost", "subscription": "sub_ghost"})
    assert send(stripe_srv, ghost).json()["outcome"] == "unlinked"


def test_invoices_and_payment_failure(stripe_srv):
    u = new_user(stripe_srv)
    sub_id, _ = activate(stripe_srv, u, customer="cus_inv")
    now = int(time.time())
    paid = invoice("in_paid_" + uuid.uuid4().hex[:8], sub_id, created=now - 100)
    assert send(stripe_srv, event("invoice.paid", paid)).json()["outcome"] == "applied"
    failed = invoice("in_fail_" + uuid.uuid4().hex[:8], sub_id, status="open", amount=5900,
                     created=now - 50)
    r = send(stripe_srv, event("invoice.payment_failed", failed))
    assert r.json()["outcome"] == "applied", r.text
    mail = wait_email(stripe_srv, u.email, "Your OET Praxis payment failed")[0]
    assert "59.00 USD" in mail["text"] and failed["hosted_invoice_url"] in mail["text"]
    assert "Billie Payer" in mail["text"] and "Standard plan" in mail["text"]
    # past_due with the default three-day grace: the plan still applies, the end is shown.
    view = sub_view(u)
    assert view["plan"] == "standard" and view["status"] == "past_due", view
    assert view["grace_until"] and view["grace_until"][:10] in mail["text"]
    # The invoices, newest first, paged like every list.
    r = u.get("/v1/billing/invoices")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 20
    first, second = body["items"]
    assert first["status"] == "open" and first["amount_due"] == 5900
    assert first["amount_paid"] == 0 and first["currency"] == "usd"
    assert first["hosted_invoice_url"] == failed["hosted_invoice_url"]
    assert first["number"] == failed["number"] and first["created_at"] > second["created_at"]
    assert second["status"] == "paid" and second["amount_paid"] == 2900
    assert set(first) == {"id", "number", "status", "amount_due", "amount_paid", "currency",
                          "hosted_invoice_url", "invoice_pdf", "period_start", "period_end",
                          "created_at"}
    page2 = u.get("/v1/billing/invoices", params={"per_page": 1, "page": 2}).json()
    assert page2["total"] == 2 and [i["id"] for i in page2["items"]] == [second["id"]]
    assert_problem(u.get("/v1/billing/invoices", params={"per_page": 0}), 422)
    # Paid later: the invoice moves on; an older failure arriving late does not move it back.
    later = dict(failed, status="paid", amount_paid=5900)
    assert send(stripe_srv, event("invoice.paid", later)).json()["outcome"] == "applied"
    stale = send(stripe_srv, event("invoice.payment_failed", failed, created=now - 200))
    assert stale.json()["outcome"] == "stale"
    items = u.get("/v1/billing/invoices").json()["items"]
    assert items[0]["status"] == "paid"
    # Nobody else sees them.
    other = new_user(stripe_srv)
    assert other.get("/v1/billing/invoices").json() == {"items": [], "page": 1, "per_page": 20,
                                                        "total": 0}


def test_plan_changes_are_audited(stripe_srv):
    u = new_user(stripe_srv)
    sub_id, _ = activate(stripe_srv, u)
    send(stripe_srv, event("customer.subscription.updated",
                           subscription(sub_id, price=PRICE_PREMIUM, user_id=u.id)))
    admin = make_admin(stripe_srv)
    rows = [r for r in audit_rows(admin, action="billing.subscription_changed")
            if r.get("target_id") == u.id]
    assert len(rows) == 2, rows
    changes = sorted((r["details"]["from"] or {}).get("plan", "-") + ">" +
                     r["details"]["to"]["plan"] for r in rows)
    assert changes == ["-" + ">standard", "standard>premium"], rows


def test_past_due_without_grace_falls_back_to_free(seeded, double):
    srv = seeded(stripe_env(double, BILLING_GRACE_DAYS="0"))
    u = new_user(srv)
    sub_id, _ = activate(srv, u)
    sid = scenario_id(u)
    assert create_session(u, sid, "voice").status_code == 201
    r = send(srv, event("customer.subscription.updated",
                        subscription(sub_id, status="past_due", user_id=u.id)))
    assert r.json()["outcome"] == "applied"
    view = sub_view(u)
    assert view["plan"] == "free" and view["usage"]["sessions_limit"] == 3, view
    assert_problem(create_session(u, sid, "voice"), 402, "voice-not-included")
    # Paid again: the plan is back.
    send(srv, event("customer.subscription.updated",
                    subscription(sub_id, status="active", user_id=u.id),
                    created=int(time.time()) + 1))
    assert sub_view(u)["plan"] == "standard"


def test_payment_failure_mail_reaches_smtp(seeded, double):
    url, sink = os.environ.get("PRAXIS_TEST_SMTP_URL"), os.environ.get("SMTP_SINK_DIR")
    if not url or not sink:
        pytest.skip("PRAXIS_TEST_SMTP_URL / SMTP_SINK_DIR unset: start a sink with "
                    "eval \"$(scripts/smtp-sink.sh start)\"")
    srv = seeded(stripe_env(double, EMAIL_TRANSPORT="smtp", SMTP_URL=url,
                            SMTP_FROM="Praxis Billing <billing@praxis.example>"))
    u = new_user(srv)
    sub_id, _ = activate(srv, u, customer="cus_smtp")
    failed = invoice("in_smtp_" + uuid.uuid4().hex[:8], sub_id, status="open", amount=2900)
    assert send(srv, event("invoice.payment_failed", failed)).json()["outcome"] == "applied"
    mail_dir = os.path.join(sink, "mail")
    deadline = time.monotonic() + 15
    while True:
        for name in os.listdir(mail_dir):
            with open(os.path.join(mail_dir, name), "rb") as f:
                raw = f.read()
            if u.email.encode() in raw and b"payment failed" in raw:
                msg, text = parse_mail(raw)
                assert msg["Subject"] == "Your OET Praxis payment failed"
                assert "29.00 USD" in text and failed["hosted_invoice_url"] in text
                return
        assert time.monotonic() < deadline, "no payment-failure mail in the SMTP sink"
        time.sleep(0.1)


# ---- our calls to Stripe ----------------------------------------------------------------------


def assert_stripe_headers(call):
    assert call["method"] == "POST"
    assert call["headers"].get("Authorization") == f"Bearer {SECRET_KEY}"
    assert call["headers"].get("Content-Type") == "application/x-www-form-urlencoded"
    key = call["headers"].get("Idempotency-Key")
    assert key and key.startswith("praxis-") and len(key) <= 255, call["headers"]
    return key


def test_checkout_creates_the_customer_once(stripe_srv, double):
    u = new_user(stripe_srv)
    double.clear()
    r = u.post("/v1/billing/checkout", json={"plan": "standard"})
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    assert r.headers.get("Cache-Control") == "no-store"
    customers = double.calls("/v1/customers")
    assert len(customers) == 1
    assert_stripe_headers(customers[0])
    form = customers[0]["form"]
    assert form["email"] == u.email and form["metadata[user_id]"] == u.id
    assert form["name"] == "Billie Payer"
    sessions = double.calls("/v1/checkout/sessions")
    assert len(sessions) == 1
    assert_stripe_headers(sessions[0])
    f = sessions[0]["form"]
    cus = f["customer"]
    assert cus.startswith("cus_test")
    assert f["mode"] == "subscription"
    assert f["line_items[0][price]"] == PRICE_STANDARD and f["line_items[0][quantity]"] == "1"
    assert f["client_reference_id"] == u.id
    assert f["subscription_data[metadata][user_id]"] == u.id
    assert f["metadata[plan]"] == "standard"
    assert f["success_url"] == f"{PUBLIC_URL}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"
    assert f["cancel_url"] == f"{PUBLIC_URL}/billing/cancel"
    # The second checkout (premium this time) reuses the stored customer.
    double.clear()
    r = u.post("/v1/billing/checkout", json={"plan": "premium"})
    assert r.status_code == 200, r.text
    assert double.calls("/v1/customers") == []
    f = double.calls("/v1/checkout/sessions")[0]["form"]
    assert f["customer"] == cus and f["line_items[0][price]"] == PRICE_PREMIUM


def test_checkout_retried_by_the_client_is_one_checkout(stripe_srv, double):
    u = new_user(stripe_srv)
    double.clear()
    key = str(uuid.uuid4())
    a = u.post("/v1/billing/checkout", json={"plan": "standard"}, headers={"Idempotency-Key": key})
    b = u.post("/v1/billing/checkout", json={"plan": "standard"}, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert a.json()["url"] == b.json()["url"]
    keys = [c["headers"]["Idempotency-Key"] for c in double.calls("/v1/checkout/sessions")]
    assert len(keys) == 2 and keys[0] == keys[1]
    # Without a key of its own every request is a new checkout.
    double.clear()
    c = u.post("/v1/billing/checkout", json={"plan": "standard"})
    d = u.post("/v1/billing/checkout", json={"plan": "standard"})
    assert c.json()["url"] != d.json()["url"]
    keys = [x["headers"]["Idempotency-Key"] for x in double.calls("/v1/checkout/sessions")]
    assert keys[0] != keys[1] and key not in keys
    # Another user's identical key is another Stripe key.
    other = new_user(stripe_srv)
    double.clear()
    other.post("/v1/billing/checkout", json={"plan": "standard"},
               headers={"Idempotency-Key": key})
    assert double.calls("/v1/checkout/sessions")[0]["headers"]["Idempotency-Key"] not in keys
    bad = u.post("/v1/billing/checkout", json={"plan": "standard"},
                 headers={"Idempotency-Key": "x" * 201})
    assert assert_problem(bad, 422)["errors"][0]["field"] == "Idempotency-Key"


def test_checkout_refusals(stripe_srv, double):
    u = new_user(stripe_srv)
    for body in ({"plan": "free"}, {"plan": "platinum"}, {}, {"plan": 3},
                 {"plan": "standard", "coupon": "x"}):
        p = assert_problem(u.post("/v1/billing/checkout", json=body), 422)
        assert p["errors"], p
    p = assert_problem(u.post("/v1/billing/checkout", json={"plan": "free"}), 422)
    assert p["errors"][0] == {"field": "plan", "message": "the free plan needs no checkout"}
    assert_problem(u.post("/v1/billing/checkout", data="plan=standard",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert_problem(stripe_srv.post("/v1/billing/checkout", json={"plan": "standard"}), 401)
    activate(stripe_srv, u)
    double.clear()
    assert_problem(u.post("/v1/billing/checkout", json={"plan": "standard"}), 409, "plan-active")
    assert_problem(u.post("/v1/billing/checkout", json={"plan": "premium"}), 409,
                   "subscription-active")
    assert double.calls() == []


def test_retries_reuse_the_idempotency_key(stripe_srv, double):
    u = new_user(stripe_srv)
    u.post("/v1/billing/checkout", json={"plan": "standard"})  # the customer exists now
    double.clear()
    double.script("/v1/checkout/sessions",
                  {"status": 500, "body": {"error": {"type": "api_error"}}},
                  {"status": 502, "body": {}})
    r = u.post("/v1/billing/checkout", json={"plan": "standard"})
    assert r.status_code == 200, r.text
    calls = double.calls("/v1/checkout/sessions")
    assert len(calls) == 3
    assert len({assert_stripe_headers(c) for c in calls}) == 1
    assert calls[0]["raw"] == calls[2]["raw"]
    # 429 with Retry-After: waited out in full before the next attempt.
    double.clear()
    double.script("/v1/checkout/sessions",
                  {"status": 429, "body": {"error": {"type": "rate_limit_error"}},
                   "headers": {"Retry-After": "1"}})
    r = u.post("/v1/billing/checkout", json={"plan": "standard"})
    assert r.status_code == 200, r.text
    calls = double.calls("/v1/checkout/sessions")
    assert len(calls) == 2 and calls[1]["at"] - calls[0]["at"] >= 0.95
    assert calls[0]["headers"]["Idempotency-Key"] == calls[1]["headers"]["Idempotency-Key"]


def test_stripe_down_is_503_and_refusal_is_502(stripe_srv, double):
    u = new_user(stripe_srv)
    u.post("/v1/billing/checkout", json={"plan": "standard"})
    double.clear()
    down = {"status": 503, "body": {"error": {"type": "api_error"}}}
    double.script("/v1/checkout/sessions", down, down, down)
    p = assert_problem(u.post("/v1/billing/checkout", json={"plan": "standard"}), 503,
                       "billing-unavailable")
    assert len(double.calls("/v1/checkout/sessions")) == 3
    assert p["detail"]
    # Overloaded with a long Retry-After: no retries, and the wait is passed on.
    double.clear()
    double.script("/v1/checkout/sessions",
                  {"status": 429, "body": {}, "headers": {"Retry-After": "120"}})
    r = u.post("/v1/billing/checkout", json={"plan": "standard"})
    assert_problem(r, 503, "billing-unavailable")
    assert r.headers["Retry-After"] == "120"
    assert len(double.calls("/v1/checkout/sessions")) == 1
    # A hanging Stripe: three attempts of STRIPE_TIMEOUT_MS (0.8 s), then 503.
    double.clear()
    hang = {"status": 200, "body": {"url": "https://late.example"}, "delay": 3}
    double.script("/v1/checkout/sessions", hang, hang, hang)
    t0 = time.monotonic()
    r = u.post("/v1/billing/checkout", json={"plan": "standard"}, timeout=30)
    elapsed = time.monotonic() - t0
    assert_problem(r, 503, "billing-unavailable")
    assert int(r.headers["Retry-After"]) > 0
    assert 2.0 < elapsed < 8, elapsed
    calls = double.calls("/v1/checkout/sessions")
    assert len(calls) == 3 and len({c["headers"]["Idempotency-Key"] for c in calls}) == 1
    # A 4xx is Stripe refusing us: 502, no retry, nothing of Stripe's message leaks.
    double.clear()
    double.script("/v1/checkout/sessions",
                  {"status": 400, "body": {"error": {"type": "invalid_request_error",
                                                     "message": "No such price: 'secret_x'"}}})
    p = assert_problem(u.post("/v1/billing/checkout", json={"plan": "standard"}), 502,
                       "stripe-error")
    assert "secret_x" not in json.dumps(p)
    assert len(double.calls("/v1/checkout/sessions")) == 1
    # A 200 that is not what Stripe sends is as bad.
    double.clear()
    double.script("/v1/checkout/sessions", {"status": 200, "body": {"id": "cs_no_url"}})
    assert_problem(u.post("/v1/billing/checkout", json={"plan": "standard"}), 502,
                   "stripe-error")


def test_portal(stripe_srv, double):
    u = new_user(stripe_srv)
    assert_problem(u.post("/v1/billing/portal"), 409, "no-customer")
    u.post("/v1/billing/checkout", json={"plan": "standard"})
    double.clear()
    key = str(uuid.uuid4())
    r = u.post("/v1/billing/portal", headers={"Idempotency-Key": key})
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith("https://billing.stripe.test/p/session/")
    call = double.calls("/v1/billing_portal/sessions")[0]
    assert_stripe_headers(call)
    assert call["form"]["customer"].startswith("cus_test")
    assert call["form"]["return_url"] == f"{PUBLIC_URL}/billing"
    r2 = u.post("/v1/billing/portal", headers={"Idempotency-Key": key})
    assert r2.json()["url"] == r.json()["url"]


def test_cancel_at_period_end(stripe_srv, double):
    u = new_user(stripe_srv)
    assert_problem(u.post("/v1/billing/cancel"), 409, "no-subscription")
    sub_id, obj = activate(stripe_srv, u, customer="cus_cancel")
    double.subscriptions[sub_id] = obj
    double.clear()
    r = u.post("/v1/billing/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["cancel_at_period_end"] is True and r.json()["plan"] == "standard"
    calls = double.calls(f"/v1/subscriptions/{sub_id}")
    assert len(calls) == 1
    assert_stripe_headers(calls[0])
    assert calls[0]["form"] == {"cancel_at_period_end": "true"}
    view = sub_view(u)
    assert view["cancel_at_period_end"] is True and view["status"] == "active"
    # An event from before the cancellation, delivered late, does not undo it.
    late = event("customer.subscription.updated", obj, created=int(time.time()) - 20)
    assert send(stripe_srv, late).json()["outcome"] == "stale"
    assert sub_view(u)["cancel_at_period_end"] is True
    # Cancelling again asks Stripe nothing.
    double.clear()
    assert u.post("/v1/billing/cancel").json()["cancel_at_period_end"] is True
    assert double.calls() == []
    # The period ends: Stripe deletes the subscription and the free plan applies.
    send(stripe_srv, event("customer.subscription.deleted",
                           dict(obj, status="canceled", cancel_at_period_end=True),
                           created=int(time.time()) + 2))
    assert sub_view(u)["plan"] == "free"
    assert_problem(u.post("/v1/billing/cancel"), 409, "no-subscription")
