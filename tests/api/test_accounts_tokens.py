"""Refresh tokens (rotation, reuse detection, logout) and access tokens (missing, garbage,
alg none, tampered, other algorithms, wrong iss/aud, expired, key rotation).

Forged tokens need a secret the test knows, so those run on a server of this module started
with JWT_SECRETS="new:<s2>,old:<s1>". Every rejection test has a positive control: a token
forged the same way with the right key and claims is accepted, so a 401 means the server
refused the one thing that differs, not that the forging code is wrong."""
import hashlib
import hmac
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import assert_problem
from test_accounts_support import (Client, assert_token_pair, audit_rows, b64url,
                                   claims_for, forge, jwt_parts, make_admin, module_server,
                                   register)

S_NEW = "new-secret-" + secrets.token_hex(16)
S_OLD = "old-secret-" + secrets.token_hex(16)
S_IGNORED = "single-secret-" + secrets.token_hex(16)
ISS, AUD = "praxis-tests-issuer", "praxis-tests-audience"


def good_claims(user_id, **kw):
    """Valid claims for the keyring server (its own JWT_ISSUER and JWT_AUDIENCE)."""
    return claims_for(user_id, iss=ISS, aud=AUD, **kw)


@pytest.fixture(scope="module")
def admin(praxis):
    return make_admin(praxis)


@pytest.fixture(scope="module")
def keyring_server(tmp_path_factory):
    # JWT_SECRETS wins over JWT_SECRET: the "default" key of the latter must not verify.
    yield from module_server(tmp_path_factory, "jwt-keyring", {
        "JWT_SECRETS": f"new:{S_NEW},old:{S_OLD}", "JWT_SECRET": S_IGNORED,
        "JWT_ISSUER": ISS, "JWT_AUDIENCE": AUD})


@pytest.fixture(scope="module")
def keyring_user(keyring_server):
    return register(keyring_server)


def assert_401(r):
    body = assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    return body


# ---- refresh -------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(praxis):
    acct = register(praxis)
    r = acct.client.refresh(acct.refresh_token)
    assert r.status_code == 200, r.text
    pair = r.json()
    assert_token_pair(pair)
    assert pair["refresh_token"] != acct.refresh_token
    assert pair["access_token"] != acct.access
    old_claims, new_claims = jwt_parts(acct.access)[1], jwt_parts(pair["access_token"])[1]
    assert new_claims["sub"] == acct.id and new_claims["sid"] == old_claims["sid"], \
        "a refresh stays in the sign-in's family"
    assert acct.client.get("/v1/users/me", token=pair["access_token"]).status_code == 200
    # The next rotation works from the new token.
    r2 = acct.client.refresh(pair["refresh_token"])
    assert r2.status_code == 200, r2.text


def test_reusing_a_spent_refresh_token_revokes_the_family(praxis, admin):
    acct = register(praxis)
    other_signin = acct.login()  # a second family: theft of one sign-in must not end this one
    first = acct.refresh_token
    r1 = acct.client.refresh(first)
    assert r1.status_code == 200, r1.text
    r2 = acct.client.refresh(r1.json()["refresh_token"])
    assert r2.status_code == 200, r2.text
    newest = r2.json()["refresh_token"]

    reuse = acct.client.refresh(first)
    body = assert_problem(reuse, 401, "invalid-refresh-token")
    assert body["detail"]
    # The thief's (or the victim's) newest token of that family is dead too.
    assert_problem(acct.client.refresh(newest), 401, "invalid-refresh-token")
    # The other sign-in is untouched.
    assert acct.client.refresh(other_signin["refresh_token"]).status_code == 200

    rows = audit_rows(admin, action="auth.refresh_reuse", target_id=acct.id)
    assert len(rows) >= 1, rows
    row = rows[0]
    assert row["action"] == "auth.refresh_reuse"
    assert row["actor_id"] == acct.id and row["target_id"] == acct.id, row
    assert row["details"]["family_id"] == jwt_parts(acct.access)[1]["sid"], row
    assert row["ip"] == acct.client.ip, row
    assert row["request_id"] == reuse.headers["X-Request-Id"], row


def test_concurrent_refreshes_spend_the_token_once(praxis):
    acct = register(praxis)
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: Client(praxis, ip=acct.client.ip).refresh(
            acct.refresh_token), range(5)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 401, 401, 401, 401], [(r.status_code, r.text) for r in answers]


def test_logout_revokes_the_refresh_token(praxis):
    acct = register(praxis)
    r = acct.client.logout(acct.refresh_token)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(acct.client.refresh(acct.refresh_token), 401, "invalid-refresh-token")
    # Logging out twice, or with a token that never existed, is still a 204.
    assert acct.client.logout(acct.refresh_token).status_code == 204
    assert acct.client.logout("x" * 43).status_code == 204


def test_logout_revokes_the_rotated_family_too(praxis):
    acct = register(praxis)
    newer = acct.client.refresh(acct.refresh_token).json()["refresh_token"]
    assert acct.client.logout(newer).status_code == 204
    assert_problem(acct.client.refresh(newer), 401)


@pytest.mark.parametrize("body,status", [({"refresh_token": "garbage"}, 401),
                                         ({"refresh_token": "A" * 43}, 401),
                                         ({"refresh_token": "x" * 129}, 422),
                                         ({}, 422), ({"refresh_token": 5}, 422)],
                         ids=["garbage", "unknown", "too-long", "missing", "number"])
def test_refresh_bad_tokens(praxis, body, status):
    assert_problem(Client(praxis).post("/v1/auth/refresh", json=body), status)


def test_an_access_token_is_not_a_refresh_token(praxis):
    acct = register(praxis)
    r = acct.client.refresh(acct.access)
    assert r.status_code in (401, 422), r.text  # 422: longer than any refresh token
    assert_problem(r, r.status_code)


# ---- access tokens on the shared server (unknown secret) -----------------------------------


def test_missing_token_is_401_with_www_authenticate(praxis):
    c = Client(praxis)
    for path in ("/v1/users/me", "/v1/users/me/export", "/v1/admin/users"):
        r = c.get(path)
        assert_401(r)
    assert_401(c.get("/v1/users/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_401(c.get("/v1/users/me", headers={"Authorization": "Bearer"}))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "a.b.", "...", "e30.e30.e30",
                                   "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig!"])
def test_garbage_token_is_401(praxis, token):
    assert_401(Client(praxis).get("/v1/users/me", token=token))


def test_alg_none_token_is_401(praxis):
    acct = register(praxis)
    _, claims, sig = jwt_parts(acct.access)
    header = b64url({"alg": "none", "typ": "JWT", "kid": "default"})
    payload = b64url(claims)
    assert_401(acct.client.get("/v1/users/me", token=f"{header}.{payload}."))
    # The none header with the original signature kept is no better.
    assert_401(acct.client.get("/v1/users/me", token=f"{header}.{payload}.{sig}"))
    # Control: the genuine token works.
    assert acct.get("/v1/users/me").status_code == 200


def test_tampered_payload_is_401(praxis):
    acct = register(praxis)
    h, _, s = acct.access.split(".")
    _, claims, _ = jwt_parts(acct.access)
    for change in ({"role": "admin"}, {"sub": str(uuid.uuid4())}, {"exp": claims["exp"] + 3600}):
        forged = f"{h}.{b64url({**claims, **change})}.{s}"
        assert_401(acct.client.get("/v1/users/me", token=forged))
        assert_401(acct.client.get("/v1/admin/users", token=forged))
    # A flipped signature character is refused as well.
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    assert_401(acct.client.get("/v1/users/me", token=f"{h}.{acct.access.split('.')[1]}.{flipped}"))


# ---- forged tokens against a known keyring ---------------------------------------------------


def test_issued_tokens_are_signed_with_the_first_key(keyring_server, keyring_user):
    header, claims, _ = jwt_parts(keyring_user.access)
    assert header["kid"] == "new" and header["alg"] == "HS256", header
    assert claims["iss"] == ISS and claims["aud"] == AUD, claims
    assert keyring_user.get("/v1/users/me").status_code == 200


def test_forged_control_token_is_accepted(keyring_user):
    tok = forge(S_NEW, good_claims(keyring_user.id), kid="new")
    r = keyring_user.client.get("/v1/users/me", token=tok)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == keyring_user.id


def test_old_key_still_verifies(keyring_user):
    tok = forge(S_OLD, good_claims(keyring_user.id), kid="old")
    assert keyring_user.client.get("/v1/users/me", token=tok).status_code == 200


@pytest.mark.parametrize("secret,kid", [(S_OLD, "retired"), (S_OLD, "new"), (S_NEW, "old"),
                                        (S_IGNORED, "default"), ("wrong-secret", "new")],
                         ids=["unknown-kid", "old-secret-labelled-new",
                              "new-secret-labelled-old", "JWT_SECRET-ignored", "wrong-secret"])
def test_wrong_key_or_kid_is_401(keyring_user, secret, kid):
    tok = forge(secret, good_claims(keyring_user.id), kid=kid)
    assert_401(keyring_user.client.get("/v1/users/me", token=tok))


def test_missing_kid_is_401(keyring_user):
    tok = forge(S_NEW, good_claims(keyring_user.id), header={"alg": "HS256", "typ": "JWT"})
    assert_401(keyring_user.client.get("/v1/users/me", token=tok))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_401(keyring_user, alg):
    tok = forge(S_NEW, good_claims(keyring_user.id), kid="new", alg=alg)
    assert_401(keyring_user.client.get("/v1/users/me", token=tok))


def test_alg_none_with_known_key_is_401(keyring_user):
    claims = good_claims(keyring_user.id)
    hdr = b64url({"alg": "none", "typ": "JWT", "kid": "new"})
    assert_401(keyring_user.client.get("/v1/users/me", token=f"{hdr}.{b64url(claims)}."))
    # A header claiming none but carrying a valid HS256 MAC over itself: still refused.
    signing_input = f"{hdr}.{b64url(claims)}"
    mac = b64url(hmac.new(S_NEW.encode(), signing_input.encode(), hashlib.sha256).digest())
    assert_401(keyring_user.client.get("/v1/users/me", token=f"{signing_input}.{mac}"))


@pytest.mark.parametrize("change", [{"iss": "someone-else"}, {"aud": "another-api"},
                                    {"iss": "oet-praxis"}, {"aud": "oet-praxis-api"},
                                    {"iss": None}, {"aud": None}, {"exp": None},
                                    {"exp": "soon"}, {"sub": "not-a-uuid"}, {"role": "root"},
                                    {"jti": None}],
                         ids=["iss", "aud", "default-iss", "default-aud", "no-iss", "no-aud",
                              "no-exp", "exp-string", "sub", "role", "no-jti"])
def test_bad_claims_are_401(keyring_user, change):
    claims = good_claims(keyring_user.id)
    for k, v in change.items():
        if v is None:
            claims.pop(k)
        else:
            claims[k] = v
    assert_401(keyring_user.client.get("/v1/users/me", token=forge(S_NEW, claims, kid="new")))


def test_expired_and_future_tokens_are_401(keyring_user):
    now = int(time.time())
    expired = good_claims(keyring_user.id, iat=now - 1000)
    expired["exp"] = now - 5
    assert_401(keyring_user.client.get("/v1/users/me", token=forge(S_NEW, expired, kid="new")))
    future = good_claims(keyring_user.id, iat=now + 3600, ttl=7200)
    assert_401(keyring_user.client.get("/v1/users/me", token=forge(S_NEW, future, kid="new")))


def test_forged_role_claim_does_not_grant_admin(keyring_user):
    # Even a correctly signed token saying "admin" is checked against the stored role.
    tok = forge(S_NEW, good_claims(keyring_user.id, role="admin"), kid="new")
    assert keyring_user.client.get("/v1/users/me", token=tok).json()["role"] == "candidate"
    assert_problem(keyring_user.client.get("/v1/admin/users", token=tok), 403)


def test_token_for_a_user_that_does_not_exist_is_401(keyring_user):
    tok = forge(S_NEW, good_claims(str(uuid.uuid4())), kid="new")
    assert_401(keyring_user.client.get("/v1/users/me", token=tok))


def test_duplicate_header_keys_are_401(keyring_user):
    # {"alg":"none", ..., "alg":"HS256"}: parsers disagree on which one wins, so refuse it.
    raw = b'{"alg":"none","typ":"JWT","kid":"new","alg":"HS256"}'
    claims = good_claims(keyring_user.id)
    tok = forge(S_NEW, claims, kid="new")
    _, p, _ = tok.split(".")
    h = b64url(raw)
    mac = b64url(hmac.new(S_NEW.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
    assert_401(keyring_user.client.get("/v1/users/me", token=f"{h}.{p}.{mac}"))
