"""POST /v1/auth/register and POST /v1/auth/login on the shared server: the 201/200 shapes,
email normalisation and uniqueness, the password and profile rules, body errors, identical
401s for a wrong password and an unknown email (and no timing oracle between them)."""
import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import UUID_RE, assert_problem
from test_accounts_support import (PASSWORD, RFC3339_RE, Client, assert_token_pair, jwt_parts,
                                   register, register_body, register_once, unique_email)

PROFILE_KEYS = {"id", "email", "email_verified", "full_name", "profession", "role",
                "target_grade", "exam_date", "first_language", "country", "created_at"}


def error_fields(body):
    return {e["field"] for e in body.get("errors", [])}


def assert_422_naming(r, field):
    body = assert_problem(r, 422)
    assert field in error_fields(body), body
    for e in body["errors"]:
        assert isinstance(e.get("message"), str) and e["message"], body
    return body


# ---- register: success --------------------------------------------------------------------


def test_register_returns_user_and_token_pair(praxis):
    tag = uuid.uuid4().hex[:10]
    raw = f"  Jane.Doe.{tag}@Example.COM "
    c = Client(praxis)
    r = c.register(register_body(raw, full_name="Jane Doe", profession="medicine",
                                 target_grade="B", exam_date="2027-03-14", first_language="Urdu",
                                 country="PK"))
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    body = r.json()
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}, body
    assert_token_pair(body)
    user = body["user"]
    assert set(user) == PROFILE_KEYS, user
    assert UUID_RE.match(user["id"]), user
    assert user["email"] == f"jane.doe.{tag}@example.com", "trimmed and lower-cased"
    assert user["email_verified"] is False
    assert user["full_name"] == "Jane Doe"
    assert user["profession"] == "medicine"
    assert user["role"] == "candidate", "the default role"
    assert user["target_grade"] == "B" and user["exam_date"] == "2027-03-14"
    assert user["first_language"] == "Urdu" and user["country"] == "PK"
    assert RFC3339_RE.match(user["created_at"]), user

    header, claims, sig = jwt_parts(body["access_token"])
    assert header["alg"] == "HS256" and header.get("kid"), header
    assert claims["sub"] == user["id"] and claims["role"] == "candidate", claims
    assert claims["iss"] == "oet-praxis" and claims["aud"] == "oet-praxis-api", claims
    assert claims["exp"] - claims["iat"] == 900, "15-minute access tokens"
    assert UUID_RE.match(claims["jti"]), claims
    assert sig

    me = c.get("/v1/users/me", token=body["access_token"])
    assert me.status_code == 200, me.text
    assert me.json() == user
    # The address signs in however it is spelt.
    assert c.login(f" JANE.DOE.{tag}@example.com", PASSWORD).status_code == 200


def test_register_accepts_boundary_values(praxis):
    # 10 and 128 characters, a 120-character name: all inside the rules.
    for pw, name in (("k7#Vq9!mZr", "J"), ("Ab1-" * 32, "N" * 120)):
        r = register_once(praxis, register_body(password=pw, full_name=name,
                                                profession="veterinary-science"))
        assert r.status_code == 201, (len(pw), len(name), r.text)
        assert r.json()["user"]["full_name"] == name


def test_register_duplicate_email_is_409_case_insensitive(praxis):
    acct = register(praxis)
    local, domain = acct.email.split("@")
    for variant in (acct.email, f"{local.upper()}@{domain.upper()}", f"  {local}@{domain}\t"):
        r = register_once(praxis, register_body(variant))
        body = assert_problem(r, 409, "email-taken")
        assert body["detail"], body
    # Still exactly one account: the original password works.
    assert Client(praxis).login(acct.email, PASSWORD).status_code == 200


def test_concurrent_registrations_of_one_email(praxis):
    email_addr = unique_email("race")
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: register_once(praxis, register_body(email_addr)),
                                range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], \
        [(r.status_code, r.text) for r in answers]


# ---- register: field rules -----------------------------------------------------------------

COMMON = ["qwertyuiop", "1234567890"]


@pytest.mark.parametrize("password", ["Sh0rt-pw!", "x" * 129, "é" * 129, *COMMON],
                         ids=["9-chars", "129-chars", "129-utf8-chars", *COMMON])
def test_register_rejects_weak_passwords(praxis, password):
    email_addr = unique_email("weak")
    r = register_once(praxis, register_body(email_addr, password=password))
    assert_422_naming(r, "password")
    # Nothing was created: the same address registers once the password is acceptable.
    assert register_once(praxis, register_body(email_addr)).status_code == 201


def test_register_rejects_password_equal_to_email(praxis):
    email_addr = unique_email("same")
    r = register_once(praxis, register_body(email_addr, password=email_addr))
    assert_422_naming(r, "password")
    # Compared with the normalised address, whatever the case.
    r = register_once(praxis, register_body(email_addr.upper(), password=email_addr))
    assert_422_naming(r, "password")


@pytest.mark.parametrize("name", ["", " \t ", "N" * 121, "line\nbreak"],
                         ids=["empty", "blank", "121-chars", "control-char"])
def test_register_rejects_bad_full_name(praxis, name):
    assert_422_naming(register_once(praxis, register_body(full_name=name)), "full_name")


@pytest.mark.parametrize("profession", ["surgeon", "Medicine", "", "nursing "])
def test_register_rejects_unknown_profession(praxis, profession):
    assert_422_naming(register_once(praxis, register_body(profession=profession)), "profession")


@pytest.mark.parametrize("email_addr", ["not-an-email", "a@b", "two@@example.com",
                                        "sp ace@example.com", "@example.com", ""])
def test_register_rejects_invalid_email(praxis, email_addr):
    assert_422_naming(register_once(praxis, register_body(email_addr)), "email")


def test_register_non_ascii_email_is_refused_or_accepted_never_500(praxis):
    # The validator lets non-ASCII addresses through; the mailer must then be able to send to
    # them, or the validator must refuse them with a 422. A 500 is neither.
    r = register_once(praxis, register_body(f"jos\u00e9-{uuid.uuid4().hex[:8]}@example.com"))
    assert r.status_code in (201, 422), (r.status_code, r.text)
    if r.status_code == 422:
        assert "email" in error_fields(r.json())


@pytest.mark.parametrize("extra", [{"role": "admin"}, {"email_verified": True},
                                   {"nickname": "jd"}], ids=["role", "email_verified", "nickname"])
def test_register_rejects_unknown_fields(praxis, extra):
    r = register_once(praxis, register_body(**extra))
    assert_422_naming(r, next(iter(extra)))


def test_register_names_every_missing_field(praxis):
    body = assert_problem(register_once(praxis, {}), 422)
    assert {"email", "password", "full_name", "profession"} <= error_fields(body), body


@pytest.mark.parametrize("field,value", [("target_grade", "F"), ("target_grade", "c+"),
                                         ("exam_date", "2027-02-30"), ("exam_date", "14/03/2027")])
def test_register_rejects_bad_optional_fields(praxis, field, value):
    assert_422_naming(register_once(praxis, register_body(**{field: value})), field)


@pytest.mark.parametrize("data", ['{"email": "a@example.com",', "[1, 2]", "not json", ""],
                         ids=["truncated", "array", "text", "empty"])
def test_register_malformed_json_is_400(praxis, data):
    r = Client(praxis).post("/v1/auth/register", data=data,
                            headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_register_wrong_content_type_is_415(praxis, ctype):
    r = Client(praxis).post("/v1/auth/register", data=json.dumps(register_body()),
                            headers={"Content-Type": ctype})
    assert_problem(r, 415)


# ---- login ----------------------------------------------------------------------------------


def test_login_returns_a_new_pair(praxis):
    acct = register(praxis)
    r = acct.client.login(acct.email, PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert_token_pair(body)
    assert body["user"]["id"] == acct.id and body["user"]["email"] == acct.email
    assert body["refresh_token"] != acct.refresh_token
    # A separate sign-in: its own refresh-token family.
    assert jwt_parts(body["access_token"])[1]["sid"] != jwt_parts(acct.access)[1]["sid"]
    assert acct.client.get("/v1/users/me", token=body["access_token"]).status_code == 200


def _comparable(r):
    body = assert_problem(r, 401, "invalid-credentials")
    return {k: body.get(k) for k in ("type", "title", "status", "detail", "errors")}


def test_login_wrong_password_and_unknown_email_answer_the_same(praxis):
    acct = register(praxis)
    wrong = acct.client.login(acct.email, "Not-The-Password-1")
    unknown = acct.client.login(unique_email("nobody"), "Not-The-Password-1")
    assert _comparable(wrong) == _comparable(unknown)
    assert wrong.headers["Content-Type"] == unknown.headers["Content-Type"]
    # Malformed addresses too: no hint that the address could not exist.
    assert _comparable(acct.client.login("no-at-sign", "Not-The-Password-1")) == _comparable(wrong)


def test_login_unknown_email_is_not_dramatically_faster(praxis):
    acct = register(praxis)
    c = Client(praxis)
    c.login(unique_email("warmup"), "Not-The-Password-1")  # first use builds the dummy hash
    wrong, unknown = [], []
    for _ in range(5):
        for target, email_addr in ((wrong, acct.email), (unknown, unique_email("nobody"))):
            t0 = time.perf_counter()
            r = c.login(email_addr, "Not-The-Password-1")
            target.append(time.perf_counter() - t0)
            assert r.status_code == 401, r.text
    w, u = statistics.median(wrong), statistics.median(unknown)
    assert u >= 0.4 * w, f"unknown-email median {u:.4f}s vs wrong-password {w:.4f}s: " \
                         "an unknown address must cost the same hashing time"


@pytest.mark.parametrize("body,status", [({"email": "a@example.com"}, 422),
                                         ({"password": "x" * 12}, 422),
                                         ({"email": "a@example.com", "password": 12}, 422),
                                         ({"email": "a@example.com", "password": "x" * 12,
                                           "remember": True}, 422)],
                         ids=["no-password", "no-email", "number-password", "unknown-field"])
def test_login_body_errors(praxis, body, status):
    assert_problem(Client(praxis).post("/v1/auth/login", json=body), status)


def test_login_malformed_json_and_content_type(praxis):
    c = Client(praxis)
    assert_problem(c.post("/v1/auth/login", data="{", headers={"Content-Type":
                                                                "application/json"}), 400)
    assert_problem(c.post("/v1/auth/login", data="email=a", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 415)
