"""Every accounts route is in /openapi.json with its method, its main answers, and a JSON
request body where it takes one."""
import pytest

ROUTES = [
    ("post", "/v1/auth/register", "201", True),
    ("post", "/v1/auth/login", "200", True),
    ("post", "/v1/auth/refresh", "200", True),
    ("post", "/v1/auth/logout", "204", True),
    ("post", "/v1/auth/verify-email", "204", True),
    ("post", "/v1/auth/resend-verification", "202", False),
    ("post", "/v1/auth/forgot-password", "202", True),
    ("post", "/v1/auth/reset-password", "204", True),
    ("get", "/v1/users/me", "200", False),
    ("patch", "/v1/users/me", "200", True),
    ("delete", "/v1/users/me", "204", True),
    ("post", "/v1/users/me/password", "204", True),
    ("get", "/v1/users/me/export", "200", False),
    ("get", "/v1/admin/users", "200", False),
    ("get", "/v1/admin/users/{id}", "200", False),
    ("patch", "/v1/admin/users/{id}", "200", True),
    ("get", "/v1/admin/audit-logs", "200", False),
]


@pytest.fixture(scope="module")
def doc(praxis):
    r = praxis.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


@pytest.mark.parametrize("method,path,ok,has_body", ROUTES,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in ROUTES])
def test_accounts_route_documented(doc, method, path, ok, has_body):
    assert path in doc["paths"], sorted(p for p in doc["paths"] if p.startswith("/v1"))
    op = doc["paths"][path].get(method)
    assert op, (path, sorted(doc["paths"][path]))
    assert ok in op["responses"], (path, method, sorted(op["responses"]))
    if has_body:
        assert "application/json" in op["requestBody"]["content"], op
    if "{id}" in path:
        params = [p for p in op.get("parameters", []) if p.get("in") == "path"]
        assert [p["name"] for p in params] == ["id"], params


def test_accounts_error_answers_documented(doc):
    paths = doc["paths"]
    assert {"409", "422", "429"} <= set(paths["/v1/auth/register"]["post"]["responses"])
    assert {"401", "429"} <= set(paths["/v1/auth/login"]["post"]["responses"])
    assert {"401", "403"} <= set(paths["/v1/admin/users"]["get"]["responses"])
    assert "404" in paths["/v1/admin/users/{id}"]["get"]["responses"]
