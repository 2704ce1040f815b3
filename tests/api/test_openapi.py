"""/openapi.json and /docs: every route is documented, every documented operation routes, and
the harness's hidden routes never appear."""
import html
import re
import uuid

import pytest

OPS_PATHS = ["/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def doc(praxis):
    r = praxis.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    return r.json()


def test_document_basics(doc):
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert re.match(r"^\d+\.\d+\.\d+", doc["info"]["version"]), doc["info"]
    assert isinstance(doc["paths"], dict) and doc["paths"]


@pytest.mark.parametrize("path", OPS_PATHS)
def test_ops_paths_documented(doc, path):
    assert path in doc["paths"], sorted(doc["paths"])
    op = doc["paths"][path].get("get")
    assert op, doc["paths"][path]
    assert "200" in op["responses"]


def test_operations_are_well_formed(doc):
    ids = set()
    for path, item in doc["paths"].items():
        assert path.startswith("/") and ":" not in path, path
        params = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            assert method in METHODS, (path, method)
            assert op.get("responses"), (path, method)
            for code in op["responses"]:
                assert re.match(r"^[1-5]\d\d$", code), (path, method, code)
            oid = op.get("operationId")
            assert oid and oid not in ids, (path, method, oid)
            ids.add(oid)
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert declared == params, (path, method, declared, params)


def test_hidden_routes_not_documented(harness):
    doc = harness.get("/openapi.json").json()
    hidden = [p for p in doc["paths"] if p.startswith("/_test")]
    assert hidden == [], hidden
    for path in OPS_PATHS:
        assert path in doc["paths"]
    page = harness.get("/docs").text
    assert "/_test" not in page


def test_hidden_routes_absent_from_praxis(praxis):
    for path in ("/_test/ws", "/_test/slow?ms=1", "/_test/big"):
        assert praxis.get(path).status_code == 404, path
    assert praxis.post("/_test/echo", json={"name": "a", "count": 1}).status_code == 404


def sample_path(path, op):
    """A concrete path for a template, from the parameters' schemas."""
    schemas = {p["name"]: p.get("schema", {}) for p in op.get("parameters", [])
               if p.get("in") == "path"}

    def value(m):
        s = schemas.get(m.group(1), {})
        if s.get("format") == "uuid":
            return str(uuid.uuid4())
        if s.get("type") == "integer":
            return "1"
        return "sample"
    return re.sub(r"\{([^}]+)\}", value, path)


def test_every_documented_operation_routes(praxis, doc):
    """OPTIONS lists, for each documented path, every documented method; and every
    non-parameterised GET actually answers (not 404/405)."""
    for path, item in doc["paths"].items():
        op0 = next(iter(item.values()))
        concrete = sample_path(path, op0)
        r = praxis.request("OPTIONS", concrete)
        assert r.status_code == 204, (path, concrete, r.status_code, r.text[:200])
        allow = {m.strip().lower() for m in r.headers.get("Allow", "").split(",")}
        assert set(item) <= allow, (path, sorted(item), r.headers.get("Allow"))
        if "get" in item and "{" not in path:
            g = praxis.get(concrete)
            assert g.status_code not in (404, 405), (path, g.status_code)


def test_docs_lists_every_operation(praxis, doc):
    page = praxis.get("/docs").text
    for path, item in doc["paths"].items():
        assert html.escape(path, quote=True) in page or path in page, path
        for method in item:
            assert method.upper() in page
