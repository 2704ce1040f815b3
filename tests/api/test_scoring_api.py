"""Scoring over HTTP on both databases: the calibration transcripts scored through
POST /v1/ai/score land in their expected ranges (>= 85% of criteria), and a scoring job
interrupted by a crash runs again on restart and still yields exactly one report."""
import glob
import json
import os
import sqlite3
import time
import uuid

import pytest

from conftest import DRIVER, Database, Server, psql, tail
from test_accounts_support import Client
from test_content import DATA_DIR, LIBRARY, PASSWORD, REPO, User, run_praxis

TRANSCRIPTS = sorted(glob.glob(os.path.join(REPO, "tests", "data", "transcripts", "*.json")))
LINGUISTIC = {"intelligibility", "fluency", "appropriateness", "grammar_expression"}


def sql(db, statement):
    if db.driver == "sqlite":
        con = sqlite3.connect(db.path)
        try:
            rows = con.execute(statement).fetchall()
            con.commit()
            return [tuple(str(v) for v in r) for r in rows]
        finally:
            con.close()
    out = psql(statement, url=db.url)
    return [tuple(line.split("|")) for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"scoring-{DRIVER}")
    db = Database(tmp)
    p = run_praxis(["seed", "--dir", DATA_DIR], db, tmp)
    assert p.returncode == 0, tail(p.stderr)
    email = f"scorer-admin-{uuid.uuid4().hex[:8]}@example.com"
    p = run_praxis(["admin", "create", "--email", email], db, tmp, stdin=PASSWORD + "\n")
    assert p.returncode == 0, p.stderr
    server = Server("praxis", tmp / "server", database=db, own_db=False)
    server.start()
    try:
        admin = User(server, server.post("/v1/auth/login",
                                         json={"email": email, "password": PASSWORD}).json())
        ids = {}
        for item in admin.get("/v1/scenarios", params={"per_page": 100}).json()["items"]:
            ids[item["title"]] = item["id"]
        slug_ids = {d["slug"]: ids[d["title"]] for d in LIBRARY}
        yield server, db, admin, slug_ids
        server.stop(expect=0)
    finally:
        server.cleanup()
        db.drop()


def test_calibration_through_the_api(env):
    server, _, admin, slug_ids = env
    assert len(TRANSCRIPTS) >= 24
    inside = total = 0
    misses = []
    for path in TRANSCRIPTS:
        with open(path, encoding="utf-8") as f:
            t = json.load(f)
        r = admin.post("/v1/ai/score", json={"scenario_id": slug_ids[t["scenario"]],
                                             "mode": t["mode"], "turns": t["turns"]})
        assert r.status_code == 200, (path, r.text)
        report = r.json()
        for crit, rng in t["expected"].items():
            if not isinstance(rng, list):
                continue
            group = "linguistic" if crit in LINGUISTIC else "clinical"
            score = report[group][crit]["score"]
            total += 1
            if score is not None and rng[0] <= score <= rng[1]:
                inside += 1
            else:
                misses.append((os.path.basename(path), crit, score, rng))
    agreement = inside / total
    print(f"calibration over HTTP ({DRIVER}): {inside}/{total} = {agreement:.1%}")
    assert agreement >= 0.85, misses


def test_scoring_survives_a_crash(env, tmp_path):
    """A scoring job whose worker died (row leased, lease expired, report still pending) is run
    again by the next process: one report, the same one the first run would give."""
    server, db, _, slug_ids = env
    client = Client(server)
    body = client.register({"email": f"crash-{uuid.uuid4().hex[:8]}@example.com",
                            "password": PASSWORD, "full_name": "Crash Candidate",
                            "profession": "medicine"}).json()
    u = User(server, body)
    s = u.post("/v1/sessions", json={"scenario_id": slug_ids["medicine-new-hypertension"],
                                     "mode": "text"}).json()
    u.post(f"/v1/sessions/{s['id']}/start")
    u.post(f"/v1/sessions/{s['id']}/turns", json={"text": "Hello, I'm Dr Lee. How are you?"})
    u.post(f"/v1/sessions/{s['id']}/end")
    deadline = time.monotonic() + 20
    while u.get(f"/v1/sessions/{s['id']}/feedback").status_code == 202 and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    first = u.get(f"/v1/sessions/{s['id']}/feedback")
    assert first.status_code == 200
    # Make it look as if the worker died mid-job: report pending again, the job leased by a
    # process that is gone, its lease already over.
    sid = s["id"]
    sql(db, f"UPDATE feedback_reports SET status = 'pending', report = NULL, completed_at = NULL "
            f"WHERE session_id = '{sid}'")
    past = "2000-01-01T00:00:00.000Z"
    sql(db, f"UPDATE outbox SET status = 'processing', locked_until = '{past}', "
            f"locked_by = 'dead-worker', sent_at = NULL WHERE dedupe_key = 'score:{sid}'")
    assert u.get(f"/v1/sessions/{sid}/feedback").status_code == 202
    deadline = time.monotonic() + 20
    while u.get(f"/v1/sessions/{sid}/feedback").status_code == 202 and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    again = u.get(f"/v1/sessions/{sid}/feedback")
    assert again.status_code == 200 and again.json() == first.json()
    assert sql(db, f"SELECT count(*) FROM feedback_reports WHERE session_id = '{sid}'") == [("1",)]
    assert sql(db, f"SELECT count(*) FROM progress_snapshots WHERE session_id = '{sid}'") == \
        [("1",)]
