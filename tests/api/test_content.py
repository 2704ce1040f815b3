"""The content service over HTTP: the shipped library listed, filtered, paginated and searched;
the candidate view; ETag / If-None-Match; the staff workflow (validation, draft, publish, new
versions, archive, history, audit); role checks; and, across every candidate-facing response,
not one key or sentence of a patient card.

The module runs its own server on a database seeded with `praxis seed --dir <repo>/data`."""
import glob
import json
import os
import re
import sqlite3
import subprocess
import uuid

import pytest

from conftest import DRIVER, Database, Server, assert_problem, base_env, psql, tail

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA_DIR = os.path.join(REPO, "data")
PASSWORD = "Plenty-Of-Entropy-42"
ETAG_RE = re.compile(r'^W/"[0-9a-f]{32}"$')
CACHE_CONTROL = "private, max-age=0, must-revalidate"
PROFESSIONS = ["medicine", "nursing", "dentistry", "pharmacy", "physiotherapy",
               "occupational-therapy", "dietetics", "optometry", "podiatry", "radiography",
               "speech-pathology", "veterinary-science"]
SUMMARY_KEYS = {"id", "version", "title", "profession", "setting", "difficulty", "tags",
                "prep_seconds", "roleplay_seconds"}
VIEW_KEYS = SUMMARY_KEYS | {"candidate_card"}
CARD_KEYS = {"role", "setting", "patient", "background", "tasks"}
PATIENT_KEYS = {"facts", "cues", "concerns", "patient_card", "closing_line", "expected_tasks",
                "persona", "triggers", "evidence_phrases"}


def library():
    files = sorted(glob.glob(os.path.join(DATA_DIR, "scenarios", "*.json")))
    out = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            out.append(json.load(fh))
    return out


LIBRARY = library()


def db_select(db, sql):
    """Rows of a query against the server's database, as tuples of strings."""
    if db.driver == "sqlite":
        con = sqlite3.connect(db.path)
        try:
            return [tuple(str(v) for v in row) for row in con.execute(sql).fetchall()]
        finally:
            con.close()
    out = psql(sql, url=db.url)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def run_praxis(args, db, tmpdir, stdin=None):
    env = base_env()
    env.update({"DATABASE_URL": db.url, "DATA_DIR": os.path.join(str(tmpdir), "data"),
                "LOG_LEVEL": "info"})
    return subprocess.run([os.environ["PRAXIS_BIN"]] + args, env=env, cwd=str(tmpdir),
                          input=stdin, capture_output=True, text=True, timeout=120)


class User:
    """A signed-in user of the module's server."""

    def __init__(self, srv, body):
        self.srv = srv
        self.id = body["user"]["id"] if "user" in body else None
        self.token = body["access_token"]

    def call(self, method, path, **kw):
        headers = dict(kw.pop("headers", None) or {})
        headers["Authorization"] = "Bearer " + self.token
        return self.srv.request(method, path, headers=headers, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def put(self, path, **kw):
        return self.call("PUT", path, **kw)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"content-{DRIVER}")
    db = Database(tmp)
    server = None
    try:
        for attempt in (1, 2):
            p = run_praxis(["seed", "--dir", DATA_DIR], db, tmp)
            assert p.returncode == 0, f"seed run {attempt}: exit {p.returncode}\n{tail(p.stderr)}"
        server = Server("praxis", tmp / "server", database=db, own_db=False)
        server.start()
        yield server
        server.stop(expect=0)
    finally:
        if server:
            server.cleanup()
        db.drop()


@pytest.fixture(scope="module")
def admin(srv):
    email = f"content-admin-{uuid.uuid4().hex[:8]}@example.com"
    p = run_praxis(["admin", "create", "--email", email], srv.db, srv.tmpdir,
                   stdin=PASSWORD + "\n")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    u = User(srv, r.json())
    u.id = u.get("/v1/users/me").json()["id"]
    return u


def register(srv, tag):
    r = srv.post("/v1/auth/register", json={
        "email": f"{tag}-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
        "full_name": "Content Tester", "profession": "nursing"})
    assert r.status_code == 201, r.text
    return User(srv, r.json())


@pytest.fixture(scope="module")
def candidate(srv):
    return register(srv, "content-candidate")


@pytest.fixture(scope="module")
def slug_ids(admin):
    """slug → id of every scenario, from the admin list."""
    out = {}
    page = 1
    while True:
        r = admin.get("/v1/admin/scenarios", params={"page": page, "per_page": 100})
        assert r.status_code == 200, r.text
        body = r.json()
        out.update({it["slug"]: it["id"] for it in body["items"]})
        if page * 100 >= body["total"]:
            return out
        page += 1


def all_published(user, **params):
    items, page = [], 1
    while True:
        r = user.get("/v1/scenarios", params={**params, "page": page, "per_page": 100})
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if page * 100 >= body["total"]:
            return items
        page += 1


# ---- the library ----------------------------------------------------------------------------


def test_list_needs_a_token(srv):
    assert_problem(srv.get("/v1/scenarios"), 401)
    assert_problem(srv.get(f"/v1/scenarios/{uuid.uuid4()}"), 401)


def test_the_library_is_listed(candidate):
    r = candidate.get("/v1/scenarios")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert (body["page"], body["per_page"]) == (1, 20)
    assert body["total"] == len(LIBRARY) >= 36
    assert len(body["items"]) == 20
    for it in body["items"]:
        assert set(it) == SUMMARY_KEYS, it
        assert it["version"] == 1
        assert it["profession"] in PROFESSIONS
    items = all_published(candidate)
    assert len(items) == len(LIBRARY)
    assert {it["title"] for it in items} == {d["title"] for d in LIBRARY}
    # Without a search: by profession, then title.
    keys = [(it["profession"], it["title"]) for it in items]
    assert keys == sorted(keys)


def test_pagination(candidate):
    pages = []
    for page in (1, 2, 3, 4):
        r = candidate.get("/v1/scenarios", params={"page": page, "per_page": 10})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(LIBRARY)
        pages.append([it["id"] for it in r.json()["items"]])
    flat = [i for p in pages for i in p]
    assert len(flat) == len(set(flat)) == min(40, len(LIBRARY))
    r = candidate.get("/v1/scenarios", params={"page": 99, "per_page": 10})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == len(LIBRARY)


def test_filters(candidate):
    for prof in PROFESSIONS:
        items = all_published(candidate, profession=prof)
        assert len(items) == 3, prof
        assert {it["profession"] for it in items} == {prof}
        assert {it["difficulty"] for it in items} == {"easy", "medium", "hard"}, prof
    hard = all_published(candidate, difficulty="hard")
    assert len(hard) == sum(1 for d in LIBRARY if d["difficulty"] == "hard")
    assert {it["difficulty"] for it in hard} == {"hard"}
    both = all_published(candidate, profession="pharmacy", difficulty="easy")
    assert len(both) == 1 and both[0]["profession"] == "pharmacy"
    tag = LIBRARY[0]["tags"][0]
    tagged = all_published(candidate, tag=tag)
    assert len(tagged) == sum(1 for d in LIBRARY if tag in d["tags"]) >= 1
    assert all(tag in it["tags"] for it in tagged)
    # A tag matches whole, never a part of one.
    assert all_published(candidate, tag=tag[:-1] + "zz") == []
    # Empty parameters are no filter (forms send them).
    r = candidate.get("/v1/scenarios", params={"profession": "", "q": ""})
    assert r.status_code == 200 and r.json()["total"] == len(LIBRARY)


@pytest.mark.parametrize("params,field", [
    ({"profession": "surgery"}, "profession"),
    ({"difficulty": "extreme"}, "difficulty"),
    ({"tag": "Not A Tag"}, "tag"),
    ({"tag": "x" * 31}, "tag"),
    ({"q": "!!! ???"}, "q"),
    ({"q": "a" * 201}, "q"),
    ({"page": "0"}, "page"),
    ({"per_page": "101"}, "per_page"),
])
def test_invalid_filters_are_422(candidate, params, field):
    body = assert_problem(candidate.get("/v1/scenarios", params=params), 422)
    assert field in [e["field"] for e in body["errors"]], body


SEARCHES = [
    ("asthma inhaler", "pharmacy-asthma-preventer-inhaler"),
    ("diabetic foot", "podiatry-diabetic-foot-ulcer-offloading"),
    ("gallbladder surgery, going home", "nursing-day-surgery-discharge"),
    ("dog treats weight", "veterinary-science-overweight-labrador"),
    ("toddler not talking", "speech-pathology-late-talker-parent"),
    ("MRI claustrophobia", "radiography-mri-claustrophobia"),
    ("cat kidney", "veterinary-science-cat-kidney-disease"),
    ("high blood pressure", "medicine-new-hypertension"),
]


@pytest.mark.parametrize("q,slug", SEARCHES)
def test_search_ranks_the_right_card_first(candidate, slug_ids, q, slug):
    r = candidate.get("/v1/scenarios", params={"q": q, "per_page": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] >= 1
    assert body["items"][0]["id"] == slug_ids[slug], [it["title"] for it in body["items"]]


def test_search_with_filters_and_no_hits(candidate):
    r = candidate.get("/v1/scenarios", params={"q": "inhaler", "profession": "pharmacy"})
    assert r.status_code == 200
    assert all(it["profession"] == "pharmacy" for it in r.json()["items"])
    r = candidate.get("/v1/scenarios", params={"q": "zzyzx qwxv"})
    assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["items"] == []
    # Query syntax in the text is just words: no error, no injection.
    r = candidate.get("/v1/scenarios", params={"q": 'asthma" OR * NEAR( ) | ! & :'})
    assert r.status_code == 200, r.text


# ---- the candidate view -----------------------------------------------------------------------


def test_detail_is_the_candidate_view(candidate, slug_ids):
    for doc in LIBRARY:
        r = candidate.get(f"/v1/scenarios/{slug_ids[doc['slug']]}")
        assert r.status_code == 200, r.text
        v = r.json()
        assert set(v) == VIEW_KEYS, sorted(v)
        assert set(v["candidate_card"]) == CARD_KEYS, sorted(v["candidate_card"])
        assert v["title"] == doc["title"] and v["version"] == 1
        assert v["candidate_card"]["tasks"] == doc["candidate_card"]["tasks"]
        assert v["prep_seconds"] == doc.get("prep_seconds", 180)


def test_unknown_scenarios_are_404(candidate):
    assert_problem(candidate.get(f"/v1/scenarios/{uuid.uuid4()}"), 404)
    assert candidate.get("/v1/scenarios/not-a-uuid").status_code == 404


def test_etags_and_304(candidate, slug_ids):
    sid = slug_ids[LIBRARY[0]["slug"]]
    for path, params in ((f"/v1/scenarios/{sid}", None),
                         ("/v1/scenarios", {"profession": "nursing"}),
                         ("/v1/scenarios", {"q": "asthma inhaler"})):
        r = candidate.get(path, params=params)
        assert r.status_code == 200
        etag = r.headers.get("ETag", "")
        assert ETAG_RE.match(etag), etag
        assert r.headers.get("Cache-Control") == CACHE_CONTROL
        again = candidate.get(path, params=params)
        assert again.headers["ETag"] == etag and again.content == r.content
        r304 = candidate.get(path, params=params, headers={"If-None-Match": etag})
        assert r304.status_code == 304, r304.text
        assert r304.content == b""
        assert r304.headers.get("ETag") == etag
        assert r304.headers.get("Cache-Control") == CACHE_CONTROL
        listed = candidate.get(path, params=params,
                               headers={"If-None-Match": f'"0000", {etag[2:]}'})
        assert listed.status_code == 304
        other = candidate.get(path, params=params, headers={"If-None-Match": '"deadbeef"'})
        assert other.status_code == 200 and other.content == r.content


# ---- staff ------------------------------------------------------------------------------------


def new_doc(title=None, slug=None):
    """A valid document derived from the first library card."""
    doc = json.loads(json.dumps(LIBRARY[0]))
    doc["slug"] = slug or f"api-test-{uuid.uuid4().hex[:10]}"
    doc["title"] = title or f"API test card {uuid.uuid4().hex[:6]}"
    return doc


def bad(mutate):
    doc = new_doc()
    mutate(doc)
    return doc


def set_(path, value):
    def f(doc):
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return f


def dup_topic(doc):
    facts = doc["patient_card"]["facts"]
    facts[1]["topic"] = facts[0]["topic"]


def unknown_topic(doc):
    doc["patient_card"]["cues"][0]["when"] = {"after_topic": "no_such_topic"}


@pytest.mark.parametrize("mutate,field", [
    (set_(["profession"], "surgery"), "profession"),
    (set_(["candidate_card", "tasks"], []), "candidate_card.tasks"),
    (dup_topic, "patient_card.facts[1].topic"),
    (unknown_topic, "patient_card.cues[0].when.after_topic"),
    (set_(["patient_card", "voice"], "robot"), "patient_card.voice"),
    (set_(["title"], "T" * 121), "title"),
    (set_(["patient_card", "secret"], 1), "patient_card.secret"),
])
def test_create_validation(admin, mutate, field):
    body = assert_problem(admin.post("/v1/admin/scenarios", json=bad(mutate)), 422)
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert field in fields, body
    if field == "patient_card.voice":
        assert "voice not available" in fields[field]
    if field == "patient_card.facts[1].topic":
        assert "duplicates facts[0]" in fields[field]


def test_create_needs_json(admin):
    r = admin.post("/v1/admin/scenarios", data="{not json",
                   headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


def test_draft_publish_version_archive(admin, candidate, srv):
    doc = new_doc(title="Zebrafinch bite: first aid advice")
    r = admin.post("/v1/admin/scenarios", json=doc)
    assert r.status_code == 201, r.text
    created = r.json()
    sid = created["id"]
    assert r.headers["Location"] == f"/v1/admin/scenarios/{sid}"
    assert created["state"] == "draft" and created["version"] == 1
    assert created["current_version"] is None and created["latest_version"] == 1
    assert created["patient_card"] == doc["patient_card"]
    assert created["slug"] == doc["slug"]

    # A draft is invisible to candidates: detail, list and search.
    assert_problem(candidate.get(f"/v1/scenarios/{sid}"), 404)
    assert sid not in [it["id"] for it in all_published(candidate)]
    r = candidate.get("/v1/scenarios", params={"q": "zebrafinch"})
    assert r.json()["total"] == 0

    # The same slug again is a conflict.
    body = assert_problem(admin.post("/v1/admin/scenarios", json=new_doc(slug=doc["slug"])), 409)
    assert body["errors"][0]["field"] == "slug"

    r = admin.post(f"/v1/admin/scenarios/{sid}/publish")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "published" and r.json()["current_version"] == 1
    r = candidate.get(f"/v1/scenarios/{sid}")
    assert r.status_code == 200 and r.json()["version"] == 1
    assert r.json()["title"] == doc["title"]
    etag_v1 = r.headers["ETag"]
    r = candidate.get("/v1/scenarios", params={"q": "zebrafinch"})
    assert r.json()["items"][0]["id"] == sid

    # A new version: candidates keep seeing version 1 until it is published.
    doc2 = dict(doc, title="Zebrafinch bite: advice for a worried parent")
    doc2["candidate_card"] = dict(doc["candidate_card"],
                                  tasks=doc["candidate_card"]["tasks"][:3])
    r = admin.put(f"/v1/admin/scenarios/{sid}", json=doc2)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["latest_version"], r.json()["current_version"]) == \
        (2, 2, 1)
    assert r.json()["title"] == doc2["title"]
    r = candidate.get(f"/v1/scenarios/{sid}")
    assert r.json()["version"] == 1 and r.json()["title"] == doc["title"]
    assert candidate.get(f"/v1/scenarios/{sid}",
                         headers={"If-None-Match": etag_v1}).status_code == 304
    r = admin.post(f"/v1/admin/scenarios/{sid}/publish")
    assert r.status_code == 200 and r.json()["current_version"] == 2
    r = candidate.get(f"/v1/scenarios/{sid}", headers={"If-None-Match": etag_v1})
    assert r.status_code == 200, "a new version is a new representation"
    assert r.json()["version"] == 2 and r.json()["title"] == doc2["title"]
    assert len(r.json()["candidate_card"]["tasks"]) == 3
    listed = {it["id"]: it for it in all_published(candidate)}
    assert listed[sid]["title"] == doc2["title"] and listed[sid]["version"] == 2

    # History.
    r = admin.get(f"/v1/admin/scenarios/{sid}/versions")
    assert r.status_code == 200, r.text
    vs = r.json()["items"]
    assert [v["version"] for v in vs] == [1, 2]
    assert [v["published"] for v in vs] == [False, True]
    assert [v["title"] for v in vs] == [doc["title"], doc2["title"]]
    assert all(v["created_by"] == admin.id for v in vs)

    # Archive: gone for candidates, still there for staff.
    r = admin.post(f"/v1/admin/scenarios/{sid}/archive")
    assert r.status_code == 200 and r.json()["state"] == "archived"
    assert_problem(candidate.get(f"/v1/scenarios/{sid}"), 404)
    assert sid not in [it["id"] for it in all_published(candidate)]
    assert candidate.get("/v1/scenarios", params={"q": "zebrafinch"}).json()["total"] == 0
    r = admin.get(f"/v1/admin/scenarios/{sid}")
    assert r.status_code == 200 and r.json()["state"] == "archived"
    assert r.json()["patient_card"]["facts"] == doc["patient_card"]["facts"]
    r = admin.get("/v1/admin/scenarios", params={"state": "archived"})
    assert sid in [it["id"] for it in r.json()["items"]]
    r = admin.get(f"/v1/admin/scenarios/{sid}/versions")
    assert [v["published"] for v in r.json()["items"]] == [False, False]

    # Every change left an audit row with the admin as actor (read from the database itself,
    # so this checks the content service and nothing else).
    rows = sorted(db_select(srv.db, "SELECT action, actor_id FROM audit_logs "
                                    f"WHERE target_id = '{sid}'"))
    assert rows == sorted([("scenario.create", admin.id), ("scenario.update", admin.id),
                           ("scenario.publish", admin.id), ("scenario.publish", admin.id),
                           ("scenario.archive", admin.id)]), rows


def test_admin_unknown_ids_are_404(admin):
    sid = uuid.uuid4()
    assert_problem(admin.get(f"/v1/admin/scenarios/{sid}"), 404)
    assert_problem(admin.put(f"/v1/admin/scenarios/{sid}", json=new_doc()), 404)
    assert_problem(admin.post(f"/v1/admin/scenarios/{sid}/publish"), 404)
    assert_problem(admin.post(f"/v1/admin/scenarios/{sid}/archive"), 404)
    assert_problem(admin.get(f"/v1/admin/scenarios/{sid}/versions"), 404)


def test_admin_list_filters(admin):
    r = admin.get("/v1/admin/scenarios", params={"profession": "dentistry", "per_page": 100})
    assert r.status_code == 200
    assert {it["profession"] for it in r.json()["items"]} == {"dentistry"}
    assert_problem(admin.get("/v1/admin/scenarios", params={"state": "deleted"}), 422)
    r = admin.get("/v1/admin/scenarios", params={"state": "published", "per_page": 1})
    assert r.json()["total"] >= len(LIBRARY)


def test_staff_routes_refuse_candidates_and_admit_tutors(srv, admin, candidate):
    sid = uuid.uuid4()
    calls = [("GET", "/v1/admin/scenarios", None), ("POST", "/v1/admin/scenarios", new_doc()),
             ("GET", f"/v1/admin/scenarios/{sid}", None),
             ("PUT", f"/v1/admin/scenarios/{sid}", new_doc()),
             ("POST", f"/v1/admin/scenarios/{sid}/publish", None),
             ("POST", f"/v1/admin/scenarios/{sid}/archive", None),
             ("GET", f"/v1/admin/scenarios/{sid}/versions", None)]
    for method, path, body in calls:
        assert_problem(candidate.call(method, path, json=body), 403)
        assert_problem(srv.request(method, path, json=body), 401)
    tutor = register(srv, "content-tutor")
    me = tutor.get("/v1/users/me").json()
    r = admin.call("PATCH", f"/v1/admin/users/{me['id']}", json={"role": "tutor"})
    assert r.status_code == 200, r.text
    r = tutor.post("/v1/admin/scenarios", json=new_doc())
    assert r.status_code == 201, r.text
    assert tutor.get(f"/v1/admin/scenarios/{r.json()['id']}").status_code == 200


# ---- no patient data, anywhere a candidate looks ------------------------------------------------


def patient_texts():
    """Sentences only the patient card has: backgrounds, answers, cue lines, closing lines."""
    out = set()
    for d in LIBRARY:
        pc = d["patient_card"]
        out.add(pc["background"])
        out.add(pc["closing_line"])
        out.update(f["answer"] for f in pc["facts"])
        out.update(c["line"] for c in pc["cues"])
    return {t for t in out if len(t) >= 30}


def assert_no_patient_data(value, where):
    if isinstance(value, dict):
        for k, v in value.items():
            assert k not in PATIENT_KEYS, f"{where}: key {k!r}"
            assert_no_patient_data(v, where)
    elif isinstance(value, list):
        for v in value:
            assert_no_patient_data(v, where)


def test_no_candidate_response_contains_patient_data(candidate, slug_ids):
    secrets = patient_texts()
    seen = []

    def check(r, where):
        assert r.status_code == 200, (where, r.status_code)
        assert_no_patient_data(r.json(), where)
        text = r.text
        for s in secrets:
            assert json.dumps(s)[1:-1] not in text and s not in text, (where, s[:60])
        seen.append(where)

    for per_page in (20, 100):
        page = 1
        while True:
            r = candidate.get("/v1/scenarios", params={"page": page, "per_page": per_page})
            check(r, f"list page {page}/{per_page}")
            if page * per_page >= r.json()["total"]:
                break
            page += 1
    for prof in PROFESSIONS:
        check(candidate.get("/v1/scenarios", params={"profession": prof}), f"list {prof}")
    for q, _ in SEARCHES:
        check(candidate.get("/v1/scenarios", params={"q": q}), f"search {q}")
    for slug, sid in slug_ids.items():
        r = candidate.get(f"/v1/scenarios/{sid}")
        if r.status_code == 404:
            continue  # drafts and archived cards of other tests
        check(r, f"detail {slug}")
    assert len(seen) >= len(LIBRARY) + 12
