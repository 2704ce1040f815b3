"""Helpers for the test_accounts_*.py files (this module holds no tests).

Every account test talks to a server through a `Client` bound to its own loopback source
address (127.42.x.y): the per-IP rate limits (register 5/min, login 100/min, ...) then count
each test separately, so tests neither trip over each other on the shared server nor depend on
the order they run in. The server sees that address as the client IP, which also lets the tests
check the IP recorded in audit rows and sign-ins.
"""
import base64
import email
import email.policy
import hashlib
import hmac
import itertools
import json
import os
import re
import subprocess
import time
import uuid

import requests
from requests.adapters import HTTPAdapter

from conftest import DRIVER, TIMEOUT, Server, tail

PASSWORD = "Plenty-Of-Entropy-42"
NEW_PASSWORD = "Another-Long-Secret-77"
USER_AGENT = "praxis-accounts-tests/1.0"
DEFAULT_PUBLIC_URL = "http://localhost:8000"
TOKEN_RE = r"[A-Za-z0-9_-]{20,}"
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

_ips = itertools.count(1)


def next_ip():
    """A loopback address no other client of this test run uses."""
    n = next(_ips)
    return f"127.42.{(n // 250) % 250}.{n % 250 + 1}"


def unique_email(tag="user"):
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


class _SourceAdapter(HTTPAdapter):
    def __init__(self, ip, **kw):
        self._ip = ip
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._ip, 0)
        super().init_poolmanager(*args, **kw)


class Client:
    """HTTP to one server from one loopback address; `token=` adds a bearer token."""

    def __init__(self, srv, ip=None):
        self.srv = srv
        self.ip = ip or next_ip()
        self.session = requests.Session()
        self.session.mount("http://", _SourceAdapter(self.ip))
        self.session.headers["User-Agent"] = USER_AGENT

    def request(self, method, path, token=None, **kw):
        kw.setdefault("timeout", TIMEOUT)
        headers = dict(kw.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.srv.url(path), headers=headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # -- auth routes --

    def register(self, body):
        return self.post("/v1/auth/register", json=body)

    def login(self, email_addr, password):
        return self.post("/v1/auth/login", json={"email": email_addr, "password": password})

    def refresh(self, refresh_token):
        return self.post("/v1/auth/refresh", json={"refresh_token": refresh_token})

    def logout(self, refresh_token):
        return self.post("/v1/auth/logout", json={"refresh_token": refresh_token})


def register_body(email_addr=None, password=PASSWORD, full_name="Test Candidate",
                  profession="nursing", **extra):
    body = {"email": unique_email() if email_addr is None else email_addr, "password": password,
            "full_name": full_name, "profession": profession}
    body.update(extra)
    return body


def register_once(srv, body):
    """One POST /v1/auth/register from a fresh address (the 5/min per-IP limit never bites)."""
    return Client(srv).register(body)


def assert_token_pair(body, ttl=900):
    assert body["token_type"] == "Bearer", body
    assert body["expires_in"] == ttl, body
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2, body
    rt = body["refresh_token"]
    assert isinstance(rt, str) and re.fullmatch(TOKEN_RE, rt), body
    assert "." not in rt, "the refresh token is opaque, not a JWT"


class Account:
    """A registered user: its client (own IP), credentials and current tokens."""

    def __init__(self, client, email_addr, password, body):
        self.client = client
        self.email = email_addr
        self.password = password
        self.user = body["user"]
        self.id = body["user"]["id"]
        self.access = body["access_token"]
        self.refresh_token = body["refresh_token"]

    @property
    def srv(self):
        return self.client.srv

    def get(self, path, **kw):
        kw.setdefault("token", self.access)
        return self.client.get(path, **kw)

    def post(self, path, **kw):
        kw.setdefault("token", self.access)
        return self.client.post(path, **kw)

    def patch(self, path, **kw):
        kw.setdefault("token", self.access)
        return self.client.patch(path, **kw)

    def delete(self, path, **kw):
        kw.setdefault("token", self.access)
        return self.client.delete(path, **kw)

    def me(self):
        r = self.get("/v1/users/me")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def login(self, password=None):
        """A second sign-in (a new refresh-token family); returns the 200 body."""
        r = self.client.login(self.email, password or self.password)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()


def register(srv, email_addr=None, password=PASSWORD, client=None, **fields):
    """Registers a new account (fresh address unless client is given) and returns it."""
    client = client or Client(srv)
    body = register_body(email_addr, password, **fields)
    r = client.register(body)
    assert r.status_code == 201, (r.status_code, r.text)
    out = r.json()
    return Account(client, out["user"]["email"], password, out)


# ---- emails from the log transport -----------------------------------------------------------


def logged_tokens(srv, to, kind):
    """Tokens of kind ("verify-email" or "reset-password") mailed to `to`, oldest first."""
    found = []
    pat = re.compile(re.escape(kind) + r"\?token=(" + TOKEN_RE + ")")
    for rec in srv.log_records():
        if rec.get("msg") == "email" and rec.get("to") == to:
            m = pat.search(rec.get("text", ""))
            if m:
                found.append(m.group(1))
    return found


def wait_token(srv, to, kind, count=1, timeout=8):
    """The count-th token of kind mailed to `to` (the outbox sends asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        tokens = logged_tokens(srv, to, kind)
        if len(tokens) >= count:
            return tokens[count - 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} email #{count} for {to} within {timeout} s; log:\n"
                                 f"{tail(srv.stderr(), 4000)}")
        time.sleep(0.05)


def email_records(srv, to):
    return [r for r in srv.log_records() if r.get("msg") == "email" and r.get("to") == to]


# ---- JWT forging -------------------------------------------------------------------------------


def b64url(data):
    if isinstance(data, (dict, list)):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def forge(secret, claims, kid="default", alg="HS256", header=None):
    """A JWT signed with HMAC (alg HS256/HS384/HS512) over secret."""
    hdr = header if header is not None else {"alg": alg, "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(hdr)}.{b64url(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(sig)}"


def claims_for(user_id, role="candidate", iss="oet-praxis", aud="oet-praxis-api", ttl=600,
               iat=None, **extra):
    now = int(time.time())
    iat = now - 5 if iat is None else iat
    c = {"sub": user_id, "role": role, "iss": iss, "aud": aud, "jti": str(uuid.uuid4()),
         "iat": iat, "exp": now + ttl}
    c.update(extra)
    return c


# ---- admins ------------------------------------------------------------------------------------


def make_admin(srv, email_addr=None, password=PASSWORD, name=None):
    """`praxis admin create --email` against srv's database (same env), password on stdin;
    then signs the admin in and returns the Account."""
    email_addr = email_addr or unique_email("admin")
    argv = [os.environ["PRAXIS_BIN"], "admin", "create", "--email", email_addr]
    if name:
        argv += ["--name", name]
    r = subprocess.run(argv, env=srv.env, cwd=srv.tmpdir, input=password + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "Administrator created" in r.stdout and email_addr in r.stdout, r.stdout
    assert password not in r.stdout, "a password given on stdin is never echoed"
    client = Client(srv)
    lr = client.login(email_addr, password)
    assert lr.status_code == 200, (lr.status_code, lr.text)
    return Account(client, email_addr, password, lr.json())


def audit_rows(admin, **filters):
    r = admin.get("/v1/admin/audit-logs", params={"per_page": 100, **filters})
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["items"]


# ---- servers owned by one module -----------------------------------------------------------------


def module_server(tmp_path_factory, name, env):
    """Generator for a module-scoped fixture: a praxis with extra env on its own database,
    stopped with SIGTERM at the end and required to exit 0 (no leak, no crash)."""
    srv = Server("praxis", tmp_path_factory.mktemp(f"{name}-{DRIVER}"), extra_env=env)
    try:
        srv.start()
        yield srv
        srv.stop(expect=0)
    finally:
        srv.cleanup()


def parse_mail(raw):
    """(headers message, decoded text body) of one message dumped by smtp-sink."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
    return msg, part.get_content()

