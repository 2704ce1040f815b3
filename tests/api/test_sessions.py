"""Practice sessions over REST: the life cycle (preparing → active → completed), text turns
with the scripted patient playing the card (facts only when asked, the closing line at the
end), ownership (another user's session is a 404), the deadline completing a session by
itself, and the error answers."""
import time
import uuid

import pytest

from conftest import DRIVER, Database, Server, assert_problem, tail
from test_accounts_support import Client
from test_content import DATA_DIR, LIBRARY, PASSWORD, User, run_praxis

BY_SLUG = {doc["slug"]: doc for doc in LIBRARY}


def _seeded_server(tmp, env=None):
    db = Database(tmp)
    p = run_praxis(["seed", "--dir", DATA_DIR], db, tmp)
    assert p.returncode == 0, tail(p.stderr)
    server = Server("praxis", tmp / "server", database=db, own_db=False, extra_env=env)
    server.start()
    return server, db


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server, db = _seeded_server(tmp_path_factory.mktemp(f"sessions-{DRIVER}"))
    try:
        yield server
        server.stop(expect=0)
    finally:
        server.cleanup()
        db.drop()


def new_user(srv, profession="nursing"):
    """A registered candidate. Registration comes from a fresh loopback address (the per-IP
    register limit is 5 a minute); everything after uses the token."""
    email = f"s-{uuid.uuid4().hex[:10]}@example.com"
    r = Client(srv).register({"email": email, "password": PASSWORD,
                              "full_name": "Sam Candidate", "profession": profession})
    assert r.status_code == 201, r.text
    return User(srv, r.json())


@pytest.fixture(scope="module")
def scenario_ids(srv):
    u = new_user(srv)
    ids = {}
    page = 1
    while True:
        r = u.get("/v1/scenarios", params={"page": page, "per_page": 100})
        assert r.status_code == 200
        for item in r.json()["items"]:
            ids[item["title"]] = item["id"]
        if page * 100 >= r.json()["total"]:
            break
        page += 1
    by_slug = {}
    for doc in LIBRARY:
        by_slug[doc["slug"]] = ids[doc["title"]]
    return by_slug


def start_session(user, sid):
    r = user.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["status"] == "preparing" and s["turns"] == []
    r = user.post(f"/v1/sessions/{s['id']}/start")
    assert r.status_code == 200, r.text
    return r.json()


def say(user, session_id, text):
    r = user.post(f"/v1/sessions/{session_id}/turns", json={"text": text})
    assert r.status_code == 200, r.text
    return r.json()


def test_create_validation(srv, scenario_ids):
    u = new_user(srv)
    sid = next(iter(scenario_ids.values()))
    assert_problem(u.post("/v1/sessions", json={"scenario_id": "nope", "mode": "text"}), 422)
    assert_problem(u.post("/v1/sessions", json={"scenario_id": str(uuid.uuid4()),
                                                "mode": "text"}), 422)
    body = assert_problem(u.post("/v1/sessions", json={"scenario_id": sid, "mode": "video"}),
                          422)
    assert body["errors"][0]["field"] == "mode"
    assert_problem(u.post("/v1/sessions", json={"scenario_id": sid}), 422)
    assert_problem(u.post("/v1/sessions", json={"scenario_id": sid, "mode": "text", "x": 1}),
                   422)
    assert_problem(srv.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"}), 401)


def test_full_text_roleplay_plays_the_card(srv, scenario_ids):
    """For several cards: each fact comes back when asked with one of its triggers, a greeting
    reveals no fact, and ending gives the card's closing line."""
    for slug in ["medicine-new-hypertension", "pharmacy-asthma-preventer-inhaler",
                 "veterinary-science-overweight-labrador", "physiotherapy-back-pain-wants-scan"]:
        card = BY_SLUG[slug]["patient_card"]
        u = new_user(srv)
        s = start_session(u, scenario_ids[slug])
        assert s["status"] == "active" and s["ends_at"] and s["started_at"]
        answers = [f["answer"] for f in card["facts"]]
        greeting = say(u, s["id"], "Hello, my name is Sam and I'm one of the clinicians here.")
        assert greeting["candidate_turn"]["speaker"] == "candidate"
        assert greeting["patient_turn"]["speaker"] == "patient"
        assert not any(a in greeting["patient_turn"]["text"] for a in answers), greeting
        asked = 0
        for fact in card["facts"][:6]:
            reply = say(u, s["id"], f"Could you tell me, {fact['triggers'][0]}?")
            assert fact["answer"] in reply["patient_turn"]["text"], (slug, fact["topic"], reply)
            asked += 1
        ended = u.post(f"/v1/sessions/{s['id']}/end")
        assert ended.status_code == 200, ended.text
        view = ended.json()
        assert view["status"] == "completed" and view["completed_at"]
        assert view["turns"][-1]["speaker"] == "patient"
        assert view["turns"][-1]["text"] == card["closing_line"]
        ns = [t["n"] for t in view["turns"]]
        assert ns == sorted(ns) and len(set(ns)) == len(ns)
        # Every candidate turn is followed by a patient turn.
        assert sum(1 for t in view["turns"] if t["speaker"] == "candidate") == asked + 1


def test_state_transitions(srv, scenario_ids):
    u = new_user(srv)
    sid = scenario_ids["nursing-day-surgery-discharge"]
    r = u.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"})
    s = r.json()
    assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", json={"text": "Hello"}), 409)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/end"), 409)
    assert u.post(f"/v1/sessions/{s['id']}/start").status_code == 200
    assert_problem(u.post(f"/v1/sessions/{s['id']}/start"), 409)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", json={"text": ""}), 422)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", json={"text": "x" * 2001}), 422)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", json={"text": 5}), 422)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", data="{", headers={
        "Content-Type": "application/json"}), 400)
    assert u.post(f"/v1/sessions/{s['id']}/end").status_code == 200
    assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", json={"text": "Hello"}), 409)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/end"), 409)


def test_other_users_sessions_are_404(srv, scenario_ids):
    owner, other = new_user(srv), new_user(srv)
    s = start_session(owner, scenario_ids["dentistry-wisdom-tooth-aftercare"])
    for method, path, body in (("GET", f"/v1/sessions/{s['id']}", None),
                               ("POST", f"/v1/sessions/{s['id']}/start", None),
                               ("POST", f"/v1/sessions/{s['id']}/turns", {"text": "hi"}),
                               ("POST", f"/v1/sessions/{s['id']}/end", None)):
        r = other.call(method, path, json=body)
        assert_problem(r, 404)
    assert_problem(owner.get(f"/v1/sessions/{uuid.uuid4()}"), 404)
    assert owner.get("/v1/sessions/not-a-uuid").status_code == 404
    # The other user's list does not show it.
    assert other.get("/v1/sessions").json()["total"] == 0


def test_list_and_filter(srv, scenario_ids):
    u = new_user(srv)
    ids = list(scenario_ids.values())[:3]
    made = []
    for sid in ids:
        made.append(u.post("/v1/sessions", json={"scenario_id": sid, "mode": "text"}).json())
    u.post(f"/v1/sessions/{made[0]['id']}/start")
    r = u.get("/v1/sessions")
    assert r.status_code == 200 and r.json()["total"] == 3
    assert [s["id"] for s in r.json()["items"]] == [m["id"] for m in reversed(made)]
    assert "turns" not in r.json()["items"][0]
    r = u.get("/v1/sessions", params={"status": "active"})
    assert [s["id"] for s in r.json()["items"]] == [made[0]["id"]]
    r = u.get("/v1/sessions", params={"per_page": 2, "page": 2})
    assert len(r.json()["items"]) == 1 and r.json()["total"] == 3
    assert_problem(u.get("/v1/sessions", params={"status": "paused"}), 422)
    assert_problem(u.get("/v1/sessions", params={"per_page": 0}), 422)


def test_deadline_completes_the_session(tmp_path):
    """With the clocks sped up (SESSION_TIME_SCALE), the role-play's time runs out: the sweeper
    adds the closing line and completes the session; a late turn is a 409."""
    server, db = _seeded_server(tmp_path, env={"SESSION_TIME_SCALE": "0.02"})
    try:
        slug = "optometry-first-reading-glasses"
        u = new_user(server)
        sid = None
        r = u.get("/v1/scenarios", params={"per_page": 100})
        for item in r.json()["items"]:
            if item["title"] == BY_SLUG[slug]["title"]:
                sid = item["id"]
        s = start_session(u, sid)
        say(u, s["id"], "Hello, I'm the optometrist. What brings you in today?")
        deadline = time.monotonic() + 20
        view = None
        while time.monotonic() < deadline:
            view = u.get(f"/v1/sessions/{s['id']}").json()
            if view["status"] == "completed":
                break
            time.sleep(0.3)
        assert view["status"] == "completed", view
        assert view["turns"][-1]["text"] == BY_SLUG[slug]["patient_card"]["closing_line"]
        # The closing line sits at the deadline (6 s of role-play at this scale), not later.
        assert view["turns"][-1]["t_ms"] <= 6500
        assert_problem(u.post(f"/v1/sessions/{s['id']}/turns", json={"text": "Anything else?"}),
                       409)
        server.stop(expect=0)
    finally:
        server.cleanup()
        db.drop()


def test_sessions_in_openapi(srv):
    doc = srv.get("/openapi.json").json()
    for path, method in (("/v1/sessions", "post"), ("/v1/sessions", "get"),
                         ("/v1/sessions/{id}", "get"), ("/v1/sessions/{id}/start", "post"),
                         ("/v1/sessions/{id}/turns", "post"), ("/v1/sessions/{id}/end", "post")):
        assert method in doc["paths"][path], (path, method)


def test_feedback_after_the_roleplay(srv, scenario_ids):
    """Ending queues scoring; feedback is 202 pending, then 200 with the report of API.md —
    the same report on every read, nothing for a session still running, 404 for others."""
    slug = "pharmacy-asthma-preventer-inhaler"
    card = BY_SLUG[slug]["patient_card"]
    u, other = new_user(srv, "pharmacy"), new_user(srv)
    s = start_session(u, scenario_ids[slug])
    assert_problem(u.get(f"/v1/sessions/{s['id']}/feedback"), 409)
    say(u, s["id"], "Hello, my name is Sam, I'm the pharmacist. What would you like to talk about "
                    "today?")
    for fact in card["facts"][:4]:
        say(u, s["id"], f"Can you tell me {fact['triggers'][0]}?")
    say(u, s["id"], "That must be worrying for you. Does that make sense so far?")
    assert u.post(f"/v1/sessions/{s['id']}/end").status_code == 200
    deadline = time.monotonic() + 20
    while True:
        r = u.get(f"/v1/sessions/{s['id']}/feedback")
        if r.status_code != 202 or time.monotonic() > deadline:
            break
        assert r.json() == {"status": "pending"}
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["session_id"] == s["id"]
    assert 0 <= report["overall"]["estimated_score"] <= 500
    assert report["overall"]["estimated_score"] % 10 == 0
    assert report["overall"]["grade"] in ("A", "B", "C+", "C", "D", "E")
    assert set(report["linguistic"]) == {"intelligibility", "fluency", "appropriateness",
                                         "grammar_expression"}
    assert report["linguistic"]["intelligibility"]["score"] is None  # text mode
    assert set(report["clinical"]) == {"relationship_building", "patient_perspective",
                                       "providing_structure", "information_gathering",
                                       "information_giving"}
    for crit in report["clinical"].values():
        assert 0 <= crit["score"] <= 3 and crit["indicators"]
    assert len(report["tasks"]) == len(BY_SLUG[slug]["candidate_card"]["tasks"])
    again = u.get(f"/v1/sessions/{s['id']}/feedback")
    assert again.status_code == 200 and again.json() == report
    assert_problem(other.get(f"/v1/sessions/{s['id']}/feedback"), 404)
    # Progress: the scored session shows up in the trend and the per-criterion history, the
    # weakest criteria are named, and recommendations put unplayed cards first.
    prog = u.get("/v1/progress")
    assert prog.status_code == 200, prog.text
    body = prog.json()
    assert body["sessions_completed"] == 1 and body["sessions_scored"] == 1
    assert body["sessions_this_month"] == 1
    assert body["estimated_score"]["latest"] == report["overall"]["estimated_score"]
    assert [t["session_id"] for t in body["estimated_score"]["trend"]] == [s["id"]]
    fluency = body["criteria"]["fluency"]
    assert fluency["max"] == 6 and len(fluency["history"]) == 1
    assert fluency["moving_average"] == report["linguistic"]["fluency"]["score"]
    assert body["criteria"]["intelligibility"]["history"] == []  # text mode: not assessed
    assert len(body["weakest"]) == 3 and "intelligibility" not in body["weakest"]
    recs = body["recommended_scenarios"]
    # Pharmacy has three cards: the two unplayed ones come first, the played one last.
    assert len(recs) == 3 and [x["id"] for x in recs][2] == scenario_ids[slug]


def test_progress_for_a_new_user(srv, scenario_ids):
    u = new_user(srv, "optometry")
    body = u.get("/v1/progress").json()
    assert body["sessions_completed"] == 0 and body["estimated_score"]["trend"] == []
    assert body["weakest"] == []
    recs = body["recommended_scenarios"]
    optometry = {scenario_ids[d["slug"]] for d in LIBRARY if d["profession"] == "optometry"}
    assert len(recs) == 3 and {x["id"] for x in recs} == optometry
    assert_problem(srv.get("/v1/progress"), 401)


def test_ai_score_for_staff(srv, scenario_ids):
    """POST /v1/ai/score scores a posted transcript like a session; staff only."""
    slug = "medicine-new-hypertension"
    fact = BY_SLUG[slug]["patient_card"]["facts"][0]
    turns = [
        {"n": 0, "speaker": "candidate", "t_ms": 0,
         "text": "Good morning, I'm Dr Lee. Could you tell me what you know about blood pressure?"},
        {"n": 1, "speaker": "patient", "t_ms": 4000, "text": fact["answer"],
         "meta": {"kind": "answer", "topics": [fact["topic"]], "cues": []}},
    ]
    body = {"scenario_id": scenario_ids[slug], "mode": "text", "turns": turns}
    candidate = new_user(srv)
    assert_problem(candidate.post("/v1/ai/score", json=body), 403)
    email = f"tutor-{uuid.uuid4().hex[:8]}@example.com"
    p = run_praxis(["admin", "create", "--email", email], srv.db, srv.tmpdir,
                   stdin=PASSWORD + "\n")
    assert p.returncode == 0, p.stderr
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    admin = User(srv, r.json())
    first = admin.post("/v1/ai/score", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["overall"]["grade"] in ("A", "B", "C+", "C", "D", "E")
    assert admin.post("/v1/ai/score", json=body).json() == first.json()  # deterministic
    assert_problem(admin.post("/v1/ai/score", json={**body, "turns": []}), 422)
    assert_problem(admin.post("/v1/ai/score", json={**body, "scenario_id": str(uuid.uuid4())}),
                   422)
    assert_problem(admin.post("/v1/ai/score", json={**body, "turns": [{"speaker": 5}]}), 422)
