"""Rate limits of the auth routes, on a server with RATE_LIMIT_WINDOW_SCALE=0.05 (a one-minute
window lasts 3 s, an hour 180 s): 429 with Retry-After and RateLimit-* headers, and recovery
once the window is over."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import assert_problem, metric_value, parse_prometheus
from test_accounts_support import (PASSWORD, Client, logged_tokens, module_server, register,
                                   register_body, unique_email, wait_token)


@pytest.fixture(scope="module")
def rl_server(tmp_path_factory):
    yield from module_server(tmp_path_factory, "ratelimit", {"RATE_LIMIT_WINDOW_SCALE": "0.05"})


def int_header(r, name):
    v = r.headers.get(name)
    assert v is not None and v.isdigit(), (name, v, dict(r.headers))
    return int(v)


def assert_429(r, limit, max_wait):
    body = assert_problem(r, 429, "rate-limited")
    retry = int_header(r, "Retry-After")
    assert 1 <= retry <= max_wait, retry
    assert int_header(r, "RateLimit-Limit") == limit
    assert int_header(r, "RateLimit-Remaining") == 0
    assert 1 <= int_header(r, "RateLimit-Reset") <= max_wait
    assert body["detail"], body
    return retry


def test_login_limit_per_ip_and_email_hits_429_and_recovers(rl_server):
    acct = register(rl_server)
    attacker_ip = Client(rl_server).ip

    def wrong(_):
        return Client(rl_server, ip=attacker_ip).login(acct.email, "Not-The-Password-1")

    # Ten failures in a burst, as a guessing script would send them.
    with ThreadPoolExecutor(max_workers=10) as pool:
        first = list(pool.map(wrong, range(10)))
    for r in first:
        assert_problem(r, 401, "invalid-credentials")
        assert int_header(r, "RateLimit-Limit") == 10
    assert sorted(int_header(r, "RateLimit-Remaining") for r in first) == list(range(10))

    c = Client(rl_server, ip=attacker_ip)
    retry = assert_429(c.login(acct.email, "Not-The-Password-1"), 10, 3)
    # The right password does not get through either while the window lasts ...
    assert_429(c.login(acct.email, PASSWORD), 10, 3)
    # ... but the limit is per address and account: others are unaffected.
    assert_problem(c.login(unique_email("other"), "Not-The-Password-1"), 401)
    assert Client(rl_server).login(acct.email, PASSWORD).status_code == 200

    samples, _ = parse_prometheus(c.get("/metrics").text)
    assert (metric_value(samples, "praxis_rate_limited_total", rule="login-ip-email") or 0) >= 2

    time.sleep(retry + 0.5)
    assert_problem(c.login(acct.email, "Not-The-Password-1"), 401, "invalid-credentials")
    assert c.login(acct.email, PASSWORD).status_code == 200


def test_register_limit_per_ip(rl_server):
    c = Client(rl_server)
    for i in range(5):
        r = c.register(register_body())
        assert r.status_code == 201, (i, r.text)
        assert int_header(r, "RateLimit-Limit") == 5
        assert int_header(r, "RateLimit-Remaining") == 4 - i
    sixth = register_body()
    assert_429(c.register(sixth), 5, 3)
    # A client-supplied forwarding header does not change who the client is.
    r = c.post("/v1/auth/register", json=sixth, headers={"X-Forwarded-For": "203.0.113.7",
                                                         "X-Real-IP": "203.0.113.7"})
    assert_429(r, 5, 3)
    # Refused before anything was stored.
    assert_problem(Client(rl_server).login(sixth["email"], PASSWORD), 401)
    # Another address is not limited.
    assert Client(rl_server).register(register_body()).status_code == 201


def test_forgot_password_limit_per_email(rl_server):
    acct = register(rl_server)
    variants = [acct.email, acct.email.upper(), f"  {acct.email} "]
    for v in variants:  # three addresses: the limit follows the (normalised) email, not the IP
        r = Client(rl_server).post("/v1/auth/forgot-password", json={"email": v})
        assert r.status_code == 202, r.text
    r = Client(rl_server).post("/v1/auth/forgot-password", json={"email": acct.email})
    assert_429(r, 3, 180)
    # Three emails went out, not four.
    wait_token(rl_server, acct.email, "reset-password", count=3)
    other = Client(rl_server).post("/v1/auth/forgot-password", json={"email": unique_email()})
    assert other.status_code == 202
    time.sleep(0.5)
    assert len(logged_tokens(rl_server, acct.email, "reset-password")) == 3


def test_resend_verification_limit_per_user(rl_server):
    acct = register(rl_server)
    for _ in range(3):
        assert acct.post("/v1/auth/resend-verification").status_code == 202
    assert_429(acct.post("/v1/auth/resend-verification"), 3, 180)
    # Per user: another account on the same address is not affected.
    other = register(rl_server, client=Client(rl_server, ip=acct.client.ip))
    assert other.post("/v1/auth/resend-verification").status_code == 202
