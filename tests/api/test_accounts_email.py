"""Email verification, resend, forgot/reset password (log transport: the link is read from the
server's JSON log), their expiry on a short-TTL server, and a real SMTP delivery to smtp-sink
when PRAXIS_TEST_SMTP_URL is set."""
import os
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import assert_problem
from test_accounts_support import (DEFAULT_PUBLIC_URL, NEW_PASSWORD, PASSWORD, TOKEN_RE, Client,
                                   claims_for, email_records, forge, jwt_parts, logged_tokens,
                                   module_server, parse_mail, register, register_body,
                                   unique_email, wait_token)

VERIFY, RESET = "verify-email", "reset-password"


def verify(client, token):
    return client.post("/v1/auth/verify-email", json={"token": token})


def reset(client, token, password):
    return client.post("/v1/auth/reset-password", json={"token": token, "password": password})


def forgot(client, email_addr):
    return client.post("/v1/auth/forgot-password", json={"email": email_addr})


# ---- verification ------------------------------------------------------------------------------


def test_register_mails_a_verification_link(praxis):
    acct = register(praxis, full_name="Mail Reader")
    token = wait_token(praxis, acct.email, VERIFY)
    rec = next(r for r in email_records(praxis, acct.email) if token in r["text"])
    assert rec["subject"] == "Confirm your email address"
    assert f"{DEFAULT_PUBLIC_URL}/verify-email?token={token}" in rec["text"]
    assert "Mail Reader" in rec["text"]
    assert len(logged_tokens(praxis, acct.email, VERIFY)) == 1, "one email per registration"


def test_verify_email_then_token_is_spent(praxis):
    acct = register(praxis)
    token = wait_token(praxis, acct.email, VERIFY)
    assert acct.me()["email_verified"] is False
    r = verify(acct.client, token)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert acct.me()["email_verified"] is True
    assert_problem(verify(acct.client, token), 400, "invalid-token")


def test_concurrent_verifications_spend_the_token_once(praxis):
    acct = register(praxis)
    token = wait_token(praxis, acct.email, VERIFY)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: verify(Client(praxis), token), range(4)))
    assert sorted(r.status_code for r in answers) == [204, 400, 400, 400], \
        [(r.status_code, r.text) for r in answers]
    assert acct.me()["email_verified"] is True


@pytest.mark.parametrize("body,status", [({"token": "garbage"}, 400),
                                         ({"token": "A" * 43}, 400),
                                         ({"token": ""}, 400),
                                         ({}, 422), ({"token": 7}, 422)],
                         ids=["garbage", "unknown", "empty", "missing", "number"])
def test_verify_email_bad_tokens(praxis, body, status):
    assert_problem(Client(praxis).post("/v1/auth/verify-email", json=body), status)


def test_reset_token_does_not_verify_email(praxis):
    acct = register(praxis)
    assert forgot(acct.client, acct.email).status_code == 202
    token = wait_token(praxis, acct.email, RESET)
    assert_problem(verify(acct.client, token), 400, "invalid-token")
    assert acct.me()["email_verified"] is False
    # ... and it was not spent by that attempt.
    assert reset(acct.client, token, NEW_PASSWORD).status_code == 204


def test_resend_verification(praxis):
    acct = register(praxis)
    first = wait_token(praxis, acct.email, VERIFY)
    r = acct.post("/v1/auth/resend-verification")
    assert r.status_code == 202, r.text
    second = wait_token(praxis, acct.email, VERIFY, count=2)
    assert second != first
    assert verify(acct.client, second).status_code == 204
    assert acct.me()["email_verified"] is True
    assert_problem(acct.post("/v1/auth/resend-verification"), 409)
    assert len(logged_tokens(praxis, acct.email, VERIFY)) == 2, "no email after the 409"


def test_resend_verification_needs_a_token(praxis):
    r = Client(praxis).post("/v1/auth/resend-verification")
    assert_problem(r, 401)


# ---- forgot / reset --------------------------------------------------------------------------


def test_forgot_password_unknown_email_is_202_and_sends_nothing(praxis):
    acct = register(praxis)
    c = Client(praxis)
    ghost = unique_email("ghost")
    r = forgot(c, ghost)
    assert r.status_code == 202, r.text
    # The same answer for a real account ...
    r2 = forgot(c, acct.email)
    assert r2.status_code == 202 and r2.json() == r.json(), (r.text, r2.text)
    # ... which gets its mail; the outbox keeps order, so by now a mail to ghost would be there.
    wait_token(praxis, acct.email, RESET)
    time.sleep(0.3)
    assert email_records(praxis, ghost) == []
    # Malformed addresses get the same 202.
    assert forgot(c, "not-an-address").status_code == 202


def test_forgot_password_body_errors(praxis):
    c = Client(praxis)
    assert_problem(c.post("/v1/auth/forgot-password", json={}), 422)
    assert_problem(c.post("/v1/auth/forgot-password", data="{",
                          headers={"Content-Type": "application/json"}), 400)


def test_reset_password_flow(praxis):
    acct = register(praxis)
    second = acct.login()  # another sign-in: both families must end
    rotated = acct.client.refresh(acct.refresh_token).json()["refresh_token"]
    r = forgot(Client(praxis), f"  {acct.email.upper()} ")  # normalised like everywhere else
    assert r.status_code == 202
    token = wait_token(praxis, acct.email, RESET)
    rec = next(x for x in email_records(praxis, acct.email) if token in x["text"])
    assert rec["subject"] == "Reset your OET Praxis password"
    assert f"{DEFAULT_PUBLIC_URL}/reset-password?token={token}" in rec["text"]

    # A weak password is refused without spending the token.
    weak = reset(acct.client, token, "qwertyuiop")
    body = assert_problem(weak, 422)
    assert "password" in {e["field"] for e in body["errors"]}, body
    assert_problem(reset(acct.client, token, "short"), 422)
    assert_problem(reset(acct.client, token, acct.email), 422)

    r = reset(acct.client, token, NEW_PASSWORD)
    assert r.status_code == 204, r.text
    assert_problem(acct.client.login(acct.email, PASSWORD), 401)
    assert acct.client.login(acct.email, NEW_PASSWORD).status_code == 200
    for rt in (rotated, second["refresh_token"]):
        assert_problem(acct.client.refresh(rt), 401)
    # Single use.
    assert_problem(reset(acct.client, token, "Yet-Another-Password-9"), 400, "invalid-token")
    fresh = acct.client.login(acct.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    # Both steps are in the user's audit trail.
    export = acct.client.get("/v1/users/me/export", token=fresh.json()["access_token"]).json()
    actions = [a["action"] for a in export["audit_logs"]]
    assert {"user.password_reset_requested", "user.password_reset"} <= set(actions), actions


def test_reset_password_bad_tokens(praxis):
    c = Client(praxis)
    assert_problem(reset(c, "garbage", NEW_PASSWORD), 400, "invalid-token")
    assert_problem(reset(c, "A" * 43, NEW_PASSWORD), 400, "invalid-token")
    assert_problem(c.post("/v1/auth/reset-password", json={"token": "A" * 43}), 422)
    acct = register(praxis)
    verify_token = wait_token(praxis, acct.email, VERIFY)
    assert_problem(reset(c, verify_token, NEW_PASSWORD), 400, "invalid-token")
    assert acct.client.login(acct.email, PASSWORD).status_code == 200


# ---- expiry (short TTLs) -------------------------------------------------------------------------

SHORT_SECRET = "short-ttl-secret-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def short_server(tmp_path_factory):
    yield from module_server(tmp_path_factory, "short-ttl", {
        "ACCESS_TOKEN_TTL_SECONDS": "2", "REFRESH_TOKEN_TTL_SECONDS": "2",
        "EMAIL_VERIFY_TTL_SECONDS": "1", "PASSWORD_RESET_TTL_SECONDS": "1",
        "JWT_SECRET": SHORT_SECRET, "PUBLIC_URL": "https://app.example.test/"})


@pytest.fixture(scope="module")
def expired(short_server):
    """Everything issued first, then one wait that outlives every TTL."""
    a = register(short_server)
    b = register(short_server)
    # The tokens work while fresh (2 s access TTL leaves room for this check).
    assert a.get("/v1/users/me").status_code == 200
    assert forgot(b.client, b.email).status_code == 202
    out = {
        "a": a, "b": b,
        "verify": wait_token(short_server, a.email, VERIFY),
        "reset": wait_token(short_server, b.email, RESET),
    }
    time.sleep(3.2)
    return out


def test_short_ttl_is_reported(short_server):
    c = Client(short_server)
    body = c.register(register_body()).json()
    assert body["expires_in"] == 2
    claims = jwt_parts(body["access_token"])[1]
    assert claims["exp"] - claims["iat"] == 2


def test_links_use_public_url(short_server, expired):
    # PUBLIC_URL here ends in "/": the link must not get a double slash.
    rec = email_records(short_server, expired["a"].email)[0]
    assert re.search(r"https://app\.example\.test/verify-email\?token=" + TOKEN_RE, rec["text"]), \
        rec["text"]


def test_expired_access_token_is_401(expired):
    a = expired["a"]
    r = a.get("/v1/users/me")
    assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_expired_refresh_token_is_401(expired):
    a = expired["a"]
    assert_problem(a.client.refresh(a.refresh_token), 401, "invalid-refresh-token")


def test_expired_verification_token_is_400(expired):
    a = expired["a"]
    assert_problem(verify(a.client, expired["verify"]), 400, "invalid-token")
    fresh = a.login()
    assert a.client.get("/v1/users/me", token=fresh["access_token"]).json()["email_verified"] \
        is False


def test_expired_reset_token_is_400(expired):
    b = expired["b"]
    assert_problem(reset(b.client, expired["reset"], NEW_PASSWORD), 400, "invalid-token")
    assert b.client.login(b.email, PASSWORD).status_code == 200, "the password is unchanged"


def test_known_secret_forges_on_short_server(short_server, expired):
    # JWT_SECRET alone gives the key id "default"; a token forged with it is accepted, so the
    # 401s above come from expiry and nothing else.
    a = expired["a"]
    tok = forge(SHORT_SECRET, claims_for(a.id), kid="default")
    assert a.client.get("/v1/users/me", token=tok).status_code == 200


# ---- SMTP ------------------------------------------------------------------------------------


def _sink_messages(sink_dir):
    out = []
    for root, _, files in os.walk(sink_dir):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    out.append(f.read())
            except OSError:
                pass
    return out


def test_smtp_delivers_the_verification_link(start_server):
    url = os.environ.get("PRAXIS_TEST_SMTP_URL")
    sink_dir = os.environ.get("SMTP_SINK_DIR")
    if not url or not sink_dir:
        pytest.skip("PRAXIS_TEST_SMTP_URL / SMTP_SINK_DIR unset: start a sink with "
                    "eval \"$(scripts/smtp-sink.sh start)\" (needs Debian's postfix)")
    srv = start_server(env={"EMAIL_TRANSPORT": "smtp", "SMTP_URL": url,
                            "SMTP_FROM": "Praxis Tests <tests@praxis.example>",
                            "PUBLIC_URL": "https://smtp.example.test"})
    email_addr = f"smtp-{uuid.uuid4().hex[:12]}@example.com"
    acct = register(srv, email_addr)
    deadline = time.monotonic() + 10
    found = None
    while found is None:
        for raw in _sink_messages(sink_dir):
            if email_addr.encode() in raw and b"verify-email" in raw:
                found = raw
                break
        if found is None:
            if time.monotonic() > deadline:
                pytest.fail(f"no message for {email_addr} in {sink_dir} within 10 s; server "
                            f"log:\n{srv.stderr()[-4000:]}")
            time.sleep(0.1)
    msg, text = parse_mail(found)
    assert email_addr in msg["To"], msg["To"]
    assert "tests@praxis.example" in msg["From"], msg["From"]
    assert msg["Subject"] == "Confirm your email address"
    m = re.search(r"https://smtp\.example\.test/verify-email\?token=(" + TOKEN_RE + ")", text)
    assert m, text
    # The link in the delivered message really verifies the address.
    assert verify(acct.client, m.group(1)).status_code == 204
    assert acct.me()["email_verified"] is True
    # The SMTP transport does not also write the link into the log.
    assert m.group(1) not in srv.stderr()
