"""Admin routes (/v1/admin/users, /v1/admin/audit-logs), `praxis admin create`, roles taking
effect at once, disabled accounts, and other users' data being out of a candidate's reach."""
import os
import subprocess
import uuid

import pytest

from conftest import UUID_RE, assert_problem
from test_accounts_support import (PASSWORD, Client, audit_rows, jwt_parts, make_admin,
                                   register, unique_email)


@pytest.fixture(scope="module")
def admin(praxis):
    return make_admin(praxis, name="Site Admin")


def patch_user(admin, user_id, body):
    return admin.patch(f"/v1/admin/users/{user_id}", json=body)


# ---- admin create ------------------------------------------------------------------------------


def test_admin_create_makes_a_verified_admin(admin):
    me = admin.me()
    assert me["role"] == "admin" and me["email_verified"] is True
    assert me["full_name"] == "Site Admin"
    assert jwt_parts(admin.access)[1]["role"] == "admin"


def test_admin_create_refuses_a_duplicate_and_a_weak_password(praxis, admin):
    base = [os.environ["PRAXIS_BIN"], "admin", "create", "--email"]
    r = subprocess.run(base + [admin.email.upper()], env=praxis.env, cwd=praxis.tmpdir,
                       input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "already exists" in r.stderr, (r.returncode, r.stderr)
    r = subprocess.run(base + [unique_email("weakadmin")], env=praxis.env, cwd=praxis.tmpdir,
                       input="qwertyuiop\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "password" in r.stderr, (r.returncode, r.stderr)


# ---- listing and search --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagged(praxis):
    """Three candidates whose addresses share a unique tag, oldest first."""
    tag = "tag" + uuid.uuid4().hex[:10]
    return tag, [register(praxis, f"{tag}-{i}@example.com", full_name=f"Tagged {i}")
                 for i in range(3)]


def test_list_users_paginates_and_searches(admin, tagged):
    tag, users = tagged
    r = admin.get("/v1/admin/users", params={"q": tag, "per_page": 2})
    assert r.status_code == 200, r.text
    p1 = r.json()
    assert set(p1) == {"items", "page", "per_page", "total"}, p1
    assert (p1["page"], p1["per_page"], p1["total"]) == (1, 2, 3), p1
    assert len(p1["items"]) == 2
    p2 = admin.get("/v1/admin/users", params={"q": tag, "per_page": 2, "page": 2}).json()
    assert (p2["page"], p2["total"], len(p2["items"])) == (2, 3, 1), p2
    p3 = admin.get("/v1/admin/users", params={"q": tag, "per_page": 2, "page": 3}).json()
    assert p3["items"] == [] and p3["total"] == 3
    ids = [u["id"] for u in p1["items"] + p2["items"]]
    assert ids == [u.id for u in reversed(users)], "newest first, no overlap between pages"
    item = p1["items"][0]
    assert item["email"] == users[2].email and item["disabled"] is False
    assert item["deleted_at"] is None and UUID_RE.match(item["id"])
    # Case-insensitive, on part of the address or of the name.
    assert admin.get("/v1/admin/users", params={"q": tag.upper()}).json()["total"] == 3
    one = admin.get("/v1/admin/users", params={"q": f"{tag}-1@"}).json()
    assert [u["id"] for u in one["items"]] == [users[1].id], one
    # LIKE wildcards in q are literal.
    assert admin.get("/v1/admin/users", params={"q": f"%{tag}%"}).json()["total"] == 0
    assert admin.get("/v1/admin/users", params={"q": f"{tag}_1"}).json()["total"] == 0


def test_list_users_role_filter(admin, tagged):
    tag, users = tagged
    r = admin.get("/v1/admin/users", params={"q": tag, "role": "candidate"})
    assert r.json()["total"] == 3
    assert admin.get("/v1/admin/users", params={"q": tag, "role": "admin"}).json()["total"] == 0
    admins = admin.get("/v1/admin/users", params={"role": "admin", "per_page": 100}).json()
    assert admin.id in [u["id"] for u in admins["items"]]
    assert all(u["role"] == "admin" for u in admins["items"])
    assert_problem(admin.get("/v1/admin/users", params={"role": "superuser"}), 422)


@pytest.mark.parametrize("params,field", [({"per_page": 0}, "per_page"),
                                          ({"per_page": 101}, "per_page"),
                                          ({"per_page": "x"}, "per_page"),
                                          ({"page": 0}, "page"), ({"page": "-1"}, "page")])
def test_bad_pagination_is_422(admin, params, field):
    for path in ("/v1/admin/users", "/v1/admin/audit-logs"):
        r = admin.get(path, params=params)
        body = assert_problem(r, 422)
        assert field in {e["field"] for e in body["errors"]}, body


def test_per_page_100_is_allowed(admin):
    r = admin.get("/v1/admin/users", params={"per_page": 100})
    assert r.status_code == 200 and r.json()["per_page"] == 100


# ---- one user --------------------------------------------------------------------------------


def test_get_user(admin, praxis):
    acct = register(praxis)
    r = admin.get(f"/v1/admin/users/{acct.id}")
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["id"] == acct.id and u["email"] == acct.email
    assert u["disabled"] is False and u["deleted_at"] is None
    assert_problem(admin.get(f"/v1/admin/users/{uuid.uuid4()}"), 404)
    assert_problem(admin.get("/v1/admin/users/not-a-uuid"), 404)
    assert_problem(admin.patch(f"/v1/admin/users/{uuid.uuid4()}", json={"role": "tutor"}), 404)


@pytest.mark.parametrize("body,field", [({"role": "superuser"}, "role"), ({"role": 1}, "role"),
                                        ({"disabled": "yes"}, "disabled"),
                                        ({"email": "x@example.com"}, "email")])
def test_patch_user_validation(admin, praxis, body, field):
    acct = register(praxis)
    r = patch_user(admin, acct.id, body)
    b = assert_problem(r, 422)
    assert field in {e["field"] for e in b["errors"]}, b


def test_role_change_takes_effect_immediately(admin, praxis):
    acct = register(praxis)
    r = patch_user(admin, acct.id, {"role": "tutor"})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "tutor"
    # The old access token (role claim "candidate") already sees the new role ...
    assert acct.me()["role"] == "tutor"
    # ... a tutor is still no admin ...
    assert_problem(acct.get("/v1/admin/users"), 403)
    # ... and the next token pair carries it.
    pair = acct.client.refresh(acct.refresh_token).json()
    assert jwt_parts(pair["access_token"])[1]["role"] == "tutor"
    acct.access, acct.refresh_token = pair["access_token"], pair["refresh_token"]

    # Promotion and demotion are just as immediate.
    assert patch_user(admin, acct.id, {"role": "admin"}).status_code == 200
    assert acct.get("/v1/admin/users").status_code == 200
    assert patch_user(admin, acct.id, {"role": "candidate"}).json()["role"] == "candidate"
    assert_problem(acct.get("/v1/admin/users"), 403)

    rows = audit_rows(admin, actor_id=admin.id, action="admin.user_role_changed",
                      target_id=acct.id)
    assert [(x["details"]["from"], x["details"]["to"]) for x in rows] == [
        ("admin", "candidate"), ("tutor", "admin"), ("candidate", "tutor")], rows
    for x in rows:
        assert x["actor_id"] == admin.id and x["target_type"] == "user", x
        assert x["ip"] == admin.client.ip, x


AUTHED_ROUTES = [("GET", "/v1/users/me", None), ("PATCH", "/v1/users/me", {"full_name": "X"}),
                 ("POST", "/v1/users/me/password",
                  {"current_password": PASSWORD, "new_password": "Brand-New-Password-3"}),
                 ("GET", "/v1/users/me/export", None),
                 ("DELETE", "/v1/users/me", {"password": PASSWORD}),
                 ("POST", "/v1/auth/resend-verification", None),
                 ("GET", "/v1/admin/users", None), ("GET", "/v1/admin/audit-logs", None)]


def test_disabled_user_is_locked_out(admin, praxis):
    acct = register(praxis)
    second = acct.login()
    r = patch_user(admin, acct.id, {"disabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True
    for method, path, body in AUTHED_ROUTES:
        r = acct.client.request(method, path, token=acct.access, json=body)
        assert_problem(r, 403, "account-disabled")
    for rt in (acct.refresh_token, second["refresh_token"]):
        r = acct.client.refresh(rt)
        assert r.status_code in (401, 403), r.text
        assert_problem(r, r.status_code)
    assert_problem(acct.client.login(acct.email, PASSWORD), 403, "account-disabled")
    # A wrong password says nothing about the account's state.
    assert_problem(acct.client.login(acct.email, "Not-The-Password-1"), 401,
                   "invalid-credentials")

    rows = audit_rows(admin, actor_id=admin.id, action="admin.user_disabled", target_id=acct.id)
    assert len(rows) == 1 and rows[0]["actor_id"] == admin.id, rows

    # Enabled again: sign-in works (the old sessions stay revoked).
    r = patch_user(admin, acct.id, {"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert acct.client.login(acct.email, PASSWORD).status_code == 200
    assert_problem(acct.client.refresh(second["refresh_token"]), 401)
    assert audit_rows(admin, action="admin.user_enabled", target_id=acct.id)


def test_admin_cannot_lock_themselves_out(admin):
    assert_problem(patch_user(admin, admin.id, {"disabled": True}), 409)
    assert_problem(patch_user(admin, admin.id, {"role": "tutor"}), 409)
    assert admin.me()["role"] == "admin"


def test_staff_without_profession_cannot_become_candidate(admin, praxis):
    other_admin = make_admin(praxis)
    assert other_admin.me()["profession"] is None
    assert_problem(patch_user(admin, other_admin.id, {"role": "candidate"}), 409)
    assert other_admin.me()["role"] == "admin"


def test_admin_cannot_lock_themselves_out_with_an_uppercase_id(praxis):
    # The router accepts upper-case hex in {id:uuid}; the self-check must not be bypassed by
    # spelling one's own id differently (PostgreSQL's uuid type compares case-insensitively).
    me = make_admin(praxis)
    for body in ({"disabled": True}, {"role": "tutor"}):
        r = patch_user(me, me.id.upper(), body)
        assert r.status_code in (404, 409), (r.status_code, r.text)
        assert_problem(r, r.status_code)
    r = me.get("/v1/users/me")
    assert r.status_code == 200 and r.json()["role"] == "admin", r.text


def test_admin_user_lookup_with_uppercase_id_is_no_error(admin, praxis):
    # The router accepts upper-case hex; the lookup may find the user or answer 404, no more.
    # (Today SQLite answers 404 and PostgreSQL 200: the drivers disagree.)
    acct = register(praxis)
    r = admin.get(f"/v1/admin/users/{acct.id.upper()}")
    assert r.status_code in (200, 404), r.text
    if r.status_code == 200:
        assert r.json()["id"] == acct.id


# ---- roles refused --------------------------------------------------------------------------


def admin_calls(target_id):
    return [("GET", "/v1/admin/users", None), ("GET", f"/v1/admin/users/{target_id}", None),
            ("PATCH", f"/v1/admin/users/{target_id}", {"disabled": True}),
            ("GET", "/v1/admin/audit-logs", None)]


def test_candidate_and_tutor_get_403_on_admin_routes(admin, praxis):
    candidate = register(praxis)
    tutor = register(praxis)
    assert patch_user(admin, tutor.id, {"role": "tutor"}).status_code == 200
    victim = register(praxis)
    for who in (candidate, tutor):
        for method, path, body in admin_calls(victim.id):
            r = who.client.request(method, path, token=who.access, json=body)
            assert_problem(r, 403)
    assert victim.me()["role"] == "candidate"
    r = admin.get(f"/v1/admin/users/{victim.id}").json()
    assert r["disabled"] is False, "the refused PATCH changed nothing"


def test_another_users_data_is_unreachable(praxis):
    # No non-admin route takes a user id: /me is always the caller. The only routes naming
    # another user are the admin ones, which answer 403 to a candidate.
    alice = register(praxis)
    bob = register(praxis)
    assert_problem(alice.get(f"/v1/admin/users/{bob.id}"), 403)
    assert alice.me()["id"] == alice.id
    export = alice.get("/v1/users/me/export").json()
    assert bob.id not in str(export) and bob.email not in str(export)


def test_admin_routes_need_a_token(praxis):
    c = Client(praxis)
    for method, path, body in admin_calls(str(uuid.uuid4())):
        assert_problem(c.request(method, path, json=body), 401)


# ---- audit log ----------------------------------------------------------------------------------


def test_audit_log_filters(admin, praxis):
    acct = register(praxis)
    assert patch_user(admin, acct.id, {"role": "tutor"}).status_code == 200
    assert patch_user(admin, acct.id, {"disabled": True}).status_code == 200

    mine = audit_rows(admin, actor_id=admin.id)
    assert mine and all(x["actor_id"] == admin.id for x in mine)
    actions = {x["action"] for x in mine if x["target_id"] == acct.id}
    assert {"admin.user_role_changed", "admin.user_disabled"} <= actions, actions

    disabled = audit_rows(admin, action="admin.user_disabled")
    assert disabled and all(x["action"] == "admin.user_disabled" for x in disabled)
    assert acct.id in [x["target_id"] for x in disabled]

    page = admin.get("/v1/admin/audit-logs", params={"actor_id": admin.id, "per_page": 1}).json()
    assert len(page["items"]) == 1 and page["total"] >= 2 and page["per_page"] == 1, page
    row = page["items"][0]
    for k in ("id", "action", "actor_id", "target_type", "target_id", "ip", "user_agent",
              "request_id", "created_at"):
        assert k in row, row

    # The register row is the user's own.
    own = audit_rows(admin, actor_id=acct.id, action="user.register")
    assert len(own) == 1 and own[0]["ip"] == acct.client.ip, own

    assert_problem(admin.get("/v1/admin/audit-logs", params={"actor_id": "nope"}), 422)
    assert admin.get("/v1/admin/audit-logs",
                     params={"actor_id": str(uuid.uuid4())}).json()["total"] == 0
