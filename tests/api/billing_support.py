"""Helpers for the test_billing_*.py files (this module holds no tests).

- StripeDouble: a small stand-in for the Stripe API (python http.server on 127.0.0.1:0 in a
  thread) that records every request (method, path, headers, form fields) and answers like
  Stripe for the endpoints billing calls. It replays the first answer for a reused
  Idempotency-Key, as Stripe does, and can be scripted to fail (429/5xx a number of times) or
  to hang, to exercise retries and timeouts.
- Signed webhook events built with Stripe's scheme (HMAC-SHA256 over "<t>.<body>").
- Seeded servers (plans and the role-play library) with the billing environment, and direct
  SQL against a server's database for the few things no route can do (expire a link).
"""
import hashlib
import hmac
import itertools
import json
import os
import sqlite3
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import DRIVER, Database, Server, psql, tail
from test_accounts_support import Client
from test_content import DATA_DIR, PASSWORD, User, run_praxis

SECRET_KEY = "sk_test_praxis_double"
PRICE_STANDARD = "price_standard_test"
PRICE_PREMIUM = "price_premium_test"
WEBHOOK_OLD = "whsec_old_secret_for_tests"
WEBHOOK_NEW = "whsec_new_secret_for_tests"
PUBLIC_URL = "https://praxis.example.test"

_ids = itertools.count(1)


# ---- the Stripe double ----------------------------------------------------------------------


class StripeDouble:
    """Records requests in .requests (dicts: method, path, headers, form, raw, at) and answers
    /v1/customers, /v1/checkout/sessions, /v1/billing_portal/sessions and
    /v1/subscriptions/{id}. .script(path, answers...) queues answers for a path, each a dict
    with status, body (dict), headers (dict) and delay (seconds); once used up, the default
    answer returns."""

    def __init__(self):
        self.requests = []
        self.subscriptions = {}   # id -> object returned by POST /v1/subscriptions/{id}
        self._scripts = {}
        self._idem = {}           # Idempotency-Key -> (status, body): Stripe replays it
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n).decode() if n else ""
                double._handle(self, "POST", raw)

            def do_GET(self):
                double._handle(self, "GET", "")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, path, *answers):
        with self._lock:
            self._scripts.setdefault(path, []).extend(answers)

    def calls(self, path=None):
        with self._lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def clear(self):
        with self._lock:
            self.requests.clear()

    # -- answering --

    def _handle(self, h, method, raw):
        path = urllib.parse.urlsplit(h.path).path
        form = {k: v[0] if len(v) == 1 else v
                for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        rec = {"method": method, "path": path, "headers": dict(h.headers), "form": form,
               "raw": raw, "at": time.monotonic()}
        with self._lock:
            self.requests.append(rec)
            queued = self._scripts.get(path)
            answer = queued.pop(0) if queued else None
        if answer is not None:
            if answer.get("delay"):
                time.sleep(answer["delay"])
            self._send(h, answer.get("status", 200), answer.get("body", {}),
                       answer.get("headers"))
            return
        if h.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            self._send(h, 401, {"error": {"type": "invalid_request_error",
                                          "message": "Invalid API Key provided"}})
            return
        key = h.headers.get("Idempotency-Key")
        with self._lock:
            seen = self._idem.get(key) if key else None
        if seen:
            self._send(h, *seen)
            return
        status, body = self._default(path, form)
        if key and status < 500:
            with self._lock:
                self._idem.setdefault(key, (status, body))
        self._send(h, status, body)

    def _default(self, path, form):
        n = next(_ids)
        if path == "/v1/customers":
            return 200, {"id": f"cus_test{n}", "object": "customer", "email": form.get("email"),
                         "metadata": {"user_id": form.get("metadata[user_id]")}}
        if path == "/v1/checkout/sessions":
            return 200, {"id": f"cs_test_{n}", "object": "checkout.session",
                         "url": f"https://checkout.stripe.test/c/pay/cs_test_{n}",
                         "customer": form.get("customer"), "mode": form.get("mode")}
        if path == "/v1/billing_portal/sessions":
            return 200, {"id": f"bps_{n}", "object": "billing_portal.session",
                         "url": f"https://billing.stripe.test/p/session/bps_{n}",
                         "customer": form.get("customer")}
        if path.startswith("/v1/subscriptions/"):
            sid = path.rsplit("/", 1)[1]
            obj = self.subscriptions.get(sid)
            if obj is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                       "message": f"No such subscription: '{sid}'"}}
            obj = dict(obj)
            if "cancel_at_period_end" in form:
                obj["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
            self.subscriptions[sid] = obj
            return 200, obj
        return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized URL"}}

    @staticmethod
    def _send(h, status, body, headers=None):
        data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


# ---- events ------------------------------------------------------------------------------------


def sign(payload, secret=WEBHOOK_NEW, t=None):
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(type_, obj, created=None, event_id=None):
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:20]}", "object": "event",
            "type": type_, "created": int(time.time()) if created is None else created,
            "livemode": False, "api_version": "2024-06-20", "data": {"object": obj}}


def send(srv, ev, secret=WEBHOOK_NEW, t=None, header=None, raw=None):
    """POSTs an event (dict, or raw bytes) signed with secret at t; header overrides."""
    payload = raw if raw is not None else json.dumps(ev).encode()
    sig = header if header is not None else sign(payload, secret, t)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if sig is not False:
        headers["Stripe-Signature"] = sig
    return srv.post("/v1/webhooks/stripe", data=payload, headers=headers)


def subscription(sub_id, status="active", price=PRICE_STANDARD, user_id=None,
                 customer="cus_none", start=None, end=None, cancel=False):
    now = int(time.time())
    start = now - 3600 if start is None else start
    end = now + 30 * 86400 if end is None else end
    obj = {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
           "cancel_at_period_end": cancel, "current_period_start": start,
           "current_period_end": end, "canceled_at": None, "trial_end": None,
           "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price}}]},
           "metadata": {"user_id": user_id} if user_id else {}}
    return obj


def invoice(inv_id, sub_id, status="paid", amount=2900, customer="cus_none", created=None,
            number=None):
    now = int(time.time()) if created is None else created
    return {"id": inv_id, "object": "invoice", "customer": customer, "subscription": sub_id,
            "number": number or f"PRX-{inv_id[-6:]}", "status": status, "amount_due": amount,
            "amount_paid": amount if status == "paid" else 0, "currency": "usd",
            "hosted_invoice_url": f"https://invoice.stripe.test/i/{inv_id}",
            "invoice_pdf": f"https://invoice.stripe.test/i/{inv_id}/pdf",
            "period_start": now - 3600, "period_end": now + 30 * 86400, "created": now}


def new_sub_id():
    return f"sub_{uuid.uuid4().hex[:14]}"


# ---- servers -----------------------------------------------------------------------------------


def stripe_env(double, **extra):
    env = {"BILLING_PROVIDER": "stripe", "STRIPE_API_BASE": double.url,
           "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": f"{WEBHOOK_OLD},{WEBHOOK_NEW}",
           "STRIPE_PRICE_STANDARD": PRICE_STANDARD, "STRIPE_PRICE_PREMIUM": PRICE_PREMIUM,
           "STRIPE_TIMEOUT_MS": "800", "PUBLIC_URL": PUBLIC_URL}
    env.update(extra)
    return env


class Seeded:
    """A praxis on its own seeded database (plans + library); .srv; .close() stops it (exit 0
    required) and drops the database."""

    def __init__(self, tmp, env=None):
        os.makedirs(tmp, exist_ok=True)
        self.db = Database(tmp)
        p = run_praxis(["seed", "--dir", DATA_DIR], self.db, tmp)
        assert p.returncode == 0, tail(p.stderr)
        self.srv = Server("praxis", tmp / "server", database=self.db, own_db=False,
                          extra_env=env)
        try:
            self.srv.start()
        except BaseException:
            self.srv.cleanup()
            self.db.drop()
            raise

    def close(self, check=True):
        try:
            if check and self.srv.alive:
                self.srv.stop(expect=0)
        finally:
            self.srv.cleanup()
            self.db.drop()


def new_user(srv):
    """A registered candidate (registered from a fresh loopback address) with .id."""
    email = f"b-{uuid.uuid4().hex[:10]}@example.com"
    r = Client(srv).register({"email": email, "password": PASSWORD, "full_name": "Billie Payer",
                              "profession": "nursing"})
    assert r.status_code == 201, r.text
    u = User(srv, r.json())
    u.email = email
    return u


def sql(srv, statement):
    """Runs one statement against srv's database (either driver); returns rows as tuples."""
    if DRIVER == "postgres":
        out = psql(statement, url=srv.db.url)
        return [tuple(line.split("|")) for line in out.splitlines() if line]
    con = sqlite3.connect(srv.db.path, timeout=10)
    try:
        rows = con.execute(statement).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def local_path(url):
    """The path of a link the server built on PUBLIC_URL (the suite calls its real port)."""
    parts = urllib.parse.urlsplit(url)
    return parts.path


def wait_email(srv, to, subject, timeout=8):
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in srv.log_records()
                 if r.get("msg") == "email" and r.get("to") == to and r.get("subject") == subject]
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no email {subject!r} to {to} within {timeout} s; log:\n"
                                 f"{tail(srv.stderr(), 4000)}")
        time.sleep(0.05)


def scenario_id(user):
    r = user.get("/v1/scenarios", params={"per_page": 1})
    assert r.status_code == 200, r.text
    return r.json()["items"][0]["id"]


def create_session(user, sid, mode="text"):
    return user.post("/v1/sessions", json={"scenario_id": sid, "mode": mode})


def env_for_smtp():
    url, sink = os.environ.get("PRAXIS_TEST_SMTP_URL"), os.environ.get("SMTP_SINK_DIR")
    return (url, sink) if url and sink else (None, None)
