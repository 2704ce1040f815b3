"""/v1/users/me: profile read and edit, password change, GDPR export and erasure."""
import uuid

import pytest

from conftest import assert_problem
from test_accounts_support import (NEW_PASSWORD, PASSWORD, USER_AGENT, Client, email_records,
                                   jwt_parts, make_admin, register, unique_email, wait_token)


@pytest.fixture(scope="module")
def admin(praxis):
    return make_admin(praxis)


def fields(r):
    return {e["field"] for e in r.json().get("errors", [])}


# ---- profile ----------------------------------------------------------------------------------


def test_get_me(praxis):
    acct = register(praxis, full_name="Ada Lovelace", profession="pharmacy")
    me = acct.me()
    assert me == acct.user
    assert me["full_name"] == "Ada Lovelace" and me["profession"] == "pharmacy"
    assert "password_hash" not in me and "disabled" not in me and "deleted_at" not in me


def test_patch_me_changes_fields(praxis):
    acct = register(praxis)
    r = acct.patch("/v1/users/me", json={"full_name": "New Name", "target_grade": "C+",
                                          "exam_date": "2027-11-30", "country": "IE",
                                          "first_language": "Irish"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["full_name"] == "New Name" and body["target_grade"] == "C+"
    assert body["exam_date"] == "2027-11-30" and body["country"] == "IE"
    assert acct.me() == body
    # Absent fields keep their value; null clears a nullable one.
    r = acct.patch("/v1/users/me", json={"target_grade": None})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["target_grade"] is None
    assert after["full_name"] == "New Name" and after["exam_date"] == "2027-11-30"
    r = acct.patch("/v1/users/me", json={"exam_date": None, "profession": "dietetics"})
    assert r.status_code == 200 and r.json()["exam_date"] is None
    assert r.json()["profession"] == "dietetics"
    # An empty patch changes nothing.
    r = acct.patch("/v1/users/me", json={})
    assert r.status_code == 200 and r.json()["full_name"] == "New Name"


@pytest.mark.parametrize("body,field", [
    ({"exam_date": "2027-02-30"}, "exam_date"), ({"exam_date": "27-01-01"}, "exam_date"),
    ({"exam_date": "2027-01-01T00:00:00Z"}, "exam_date"), ({"exam_date": 20270101}, "exam_date"),
    ({"target_grade": "F"}, "target_grade"), ({"target_grade": "b"}, "target_grade"),
    ({"target_grade": 3}, "target_grade"), ({"full_name": ""}, "full_name"),
    ({"full_name": "N" * 121}, "full_name"), ({"full_name": None}, "full_name"),
    ({"profession": "astronaut"}, "profession"), ({"email": "new@example.com"}, "email"),
    ({"role": "admin"}, "role"), ({"email_verified": True}, "email_verified"),
    ({"password": "Whatever-Long-1"}, "password"), ({"id": str(uuid.uuid4())}, "id"),
])
def test_patch_me_rejects_invalid_and_readonly_fields(praxis, body, field):
    acct = register(praxis)
    r = acct.patch("/v1/users/me", json=body)
    assert_problem(r, 422)
    assert field in fields(r), r.text
    assert acct.me() == acct.user, "nothing changed"


def test_patch_me_odd_dates_are_validated_not_500(praxis):
    # Both databases must agree on what a date is: an answer is 200 or 422, never a 500.
    acct = register(praxis)
    for value in ("0000-01-01", "9999-12-31", "2028-02-29"):
        r = acct.patch("/v1/users/me", json={"exam_date": value})
        assert r.status_code in (200, 422), (value, r.status_code, r.text)
        if r.status_code == 200:
            assert r.json()["exam_date"] == value


def test_patch_me_body_errors(praxis):
    acct = register(praxis)
    assert_problem(acct.patch("/v1/users/me", data="{", headers={
        "Content-Type": "application/json"}), 400)
    assert_problem(acct.patch("/v1/users/me", data="full_name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert_problem(acct.client.patch("/v1/users/me", json={"full_name": "X"}), 401)


# ---- password change --------------------------------------------------------------------------


def change_password(acct, current, new, token=None):
    return acct.post("/v1/users/me/password", token=token or acct.access,
                     json={"current_password": current, "new_password": new})


def test_password_change_errors(praxis):
    acct = register(praxis)
    assert_problem(change_password(acct, "Not-My-Password-1", NEW_PASSWORD), 403,
                   "wrong-password")
    for weak in ("short", "qwertyuiop", acct.email, "x" * 129):
        r = change_password(acct, PASSWORD, weak)
        assert_problem(r, 422)
        assert "new_password" in fields(r), r.text
    r = acct.post("/v1/users/me/password", json={"new_password": NEW_PASSWORD})
    assert_problem(r, 422)
    assert "current_password" in fields(r)
    # None of that changed the password.
    assert acct.client.login(acct.email, PASSWORD).status_code == 200


def test_password_change_keeps_this_signin_and_ends_the_others(praxis, admin):
    acct = register(praxis)
    other = acct.login()
    r = change_password(acct, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 204, r.text
    assert r.content == b""
    # This sign-in (the family of the access token used) keeps working ...
    mine = acct.client.refresh(acct.refresh_token)
    assert mine.status_code == 200, mine.text
    assert jwt_parts(mine.json()["access_token"])[1]["sid"] == jwt_parts(acct.access)[1]["sid"]
    # ... the other one is signed out.
    assert_problem(acct.client.refresh(other["refresh_token"]), 401)
    assert_problem(acct.client.login(acct.email, PASSWORD), 401)
    assert acct.client.login(acct.email, NEW_PASSWORD).status_code == 200
    rows = admin.get("/v1/admin/audit-logs", params={"action": "user.password_changed",
                                                     "actor_id": acct.id}).json()["items"]
    assert len(rows) == 1 and rows[0]["target_id"] == acct.id, rows


# ---- GDPR export ------------------------------------------------------------------------------


def test_export_contains_everything_about_the_user(praxis):
    acct = register(praxis, full_name="Export Me")
    assert acct.client.login(acct.email, "Not-The-Password-1").status_code == 401
    login = acct.client.login(acct.email, PASSWORD)
    assert login.status_code == 200
    r = acct.get("/v1/users/me/export")
    assert r.status_code == 200, r.text
    cd = r.headers.get("Content-Disposition", "")
    assert cd.startswith("attachment"), cd
    assert "filename=" in cd and ".json" in cd, cd
    doc = r.json()
    for key in ("profile", "sign_ins", "sessions", "audit_logs"):
        assert key in doc, sorted(doc)
    assert doc["profile"]["id"] == acct.id and doc["profile"]["email"] == acct.email
    assert doc["profile"]["full_name"] == "Export Me"
    assert isinstance(doc["sessions"], list)
    assert len(doc["sign_ins"]) == 2, doc["sign_ins"]  # register + login
    for s in doc["sign_ins"]:
        assert s["ip"] == acct.client.ip and s["user_agent"] == USER_AGENT, s
        assert "token_hash" not in s, "never export secrets or their hashes"
    actions = [a["action"] for a in doc["audit_logs"]]
    assert {"user.register", "auth.login", "auth.login_failed"} <= set(actions), actions
    login_row = next(a for a in doc["audit_logs"] if a["action"] == "auth.login")
    assert login_row["request_id"] == login.headers["X-Request-Id"], login_row
    assert login_row["ip"] == acct.client.ip and login_row["user_agent"] == USER_AGENT
    text = r.text
    assert "password_hash" not in text and "$argon2" not in text
    assert acct.refresh_token not in text
    # The export itself is audited.
    again = acct.get("/v1/users/me/export").json()
    assert "user.export" in [a["action"] for a in again["audit_logs"]]


def test_export_needs_a_token(praxis):
    assert_problem(Client(praxis).get("/v1/users/me/export"), 401)


# ---- erasure ----------------------------------------------------------------------------------


def test_delete_me_errors(praxis):
    acct = register(praxis)
    assert_problem(acct.delete("/v1/users/me", json={"password": "Not-My-Password-1"}), 403,
                   "wrong-password")
    r = acct.delete("/v1/users/me")
    assert r.status_code in (400, 422), (r.status_code, r.text)
    assert_problem(r, r.status_code)
    assert_problem(acct.delete("/v1/users/me", json={}), 422)
    assert_problem(acct.client.delete("/v1/users/me", json={"password": PASSWORD}), 401)
    assert acct.me()["email"] == acct.email, "still there"


def test_delete_me_erases_the_account(praxis, admin):
    original_name = "Forget Me Completely"
    acct = register(praxis, full_name=original_name)
    other = acct.login()
    r = acct.delete("/v1/users/me", json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    assert r.content == b""

    assert_problem(acct.client.login(acct.email, PASSWORD), 401, "invalid-credentials")
    r = acct.get("/v1/users/me")
    assert_problem(r, 401)
    for rt in (acct.refresh_token, other["refresh_token"]):
        assert_problem(acct.client.refresh(rt), 401)

    # The address is free again, for a brand-new account.
    again = register(praxis, acct.email)
    assert again.id != acct.id

    r = admin.get(f"/v1/admin/users/{acct.id}")
    assert r.status_code == 200, r.text
    erased = r.json()
    assert erased["deleted_at"], erased
    assert erased["disabled"] is True
    local = acct.email.split("@")[0]
    assert acct.email not in erased["email"] and local not in erased["email"], erased
    assert erased["full_name"] != original_name, erased
    for k in ("target_grade", "exam_date", "first_language", "country"):
        assert erased[k] is None, erased
    # Audit rows about the user survive, without IP or user agent.
    r = admin.get("/v1/admin/audit-logs", params={"target_id": acct.id, "per_page": 100})
    rows = r.json()["items"]
    assert "user.delete" in [x["action"] for x in rows], rows
    for row in rows:
        assert row["ip"] is None and row["user_agent"] is None, row
    # Searching for the old address finds only the new account.
    found = admin.get("/v1/admin/users", params={"q": acct.email}).json()["items"]
    assert [u["id"] for u in found] == [again.id], found


def test_deleted_user_cannot_reset_password(praxis):
    acct = register(praxis)
    assert acct.delete("/v1/users/me", json={"password": PASSWORD}).status_code == 204
    c = Client(praxis)
    assert c.post("/v1/auth/forgot-password", json={"email": acct.email}).status_code == 202
    # A fresh account on another address proves the mailer ran after that request.
    fresh = register(praxis, unique_email("after-delete"))
    wait_token(praxis, fresh.email, "verify-email")
    assert not [r for r in email_records(praxis, acct.email) if "reset-password" in r["text"]]
