"""Real-time media and speech over HTTP: POST /v1/rtc/token signs a LiveKit access token for the
caller's own session room (checked here with nothing but hmac), refuses other users' sessions
(404), ended sessions (409) and servers without LiveKit (503); POST /v1/ai/tts speaks a text in
each patient voice as a 16 kHz mono WAV, for staff only."""
import base64
import hashlib
import hmac
import io
import json
import struct
import time
import uuid
import wave

import pytest

from conftest import DRIVER, Database, Server, assert_problem, tail
from test_accounts_support import Client, make_admin, register
from test_content import DATA_DIR, run_praxis

LIVEKIT_URL = "wss://livekit.example.test"
LIVEKIT_KEY = "APIpraxisTestKey"
LIVEKIT_SECRET = "livekit-test-secret-0123456789abcdefghijklmnop"
VOICES = ["slt", "rms", "awb", "kal"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"rtc-tts-{DRIVER}")
    db = Database(tmp)
    p = run_praxis(["seed", "--dir", DATA_DIR], db, tmp)
    assert p.returncode == 0, tail(p.stderr)
    server = Server("praxis", tmp / "server", database=db, own_db=False, extra_env={
        "LIVEKIT_URL": LIVEKIT_URL, "LIVEKIT_API_KEY": LIVEKIT_KEY,
        "LIVEKIT_API_SECRET": LIVEKIT_SECRET})
    server.start()
    try:
        yield server
        server.stop(expect=0)
    finally:
        server.cleanup()
        db.drop()


@pytest.fixture(scope="module")
def admin(srv):
    return make_admin(srv, name="Ada Admin")


@pytest.fixture(scope="module")
def scenario_id(admin):
    r = admin.get("/v1/scenarios", params={"per_page": 1})
    assert r.status_code == 200, r.text
    return r.json()["items"][0]["id"]


def candidate(srv, name="Rita Candidate"):
    return register(srv, full_name=name)


def new_session(user, scenario_id):
    r = user.post("/v1/sessions", json={"scenario_id": scenario_id, "mode": "text"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_hs256(token, secret):
    """The claims of an HS256 JWT whose signature verifies with secret (else AssertionError)."""
    head, payload, sig = token.split(".")
    expected = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(expected, b64url_decode(sig)), "signature does not verify"
    header = json.loads(b64url_decode(head))
    assert header["alg"] == "HS256", header
    return json.loads(b64url_decode(payload))


# ---- POST /v1/rtc/token ---------------------------------------------------------------------


def test_token_for_own_session_is_a_livekit_join_token(srv, scenario_id):
    user = candidate(srv, "Rita Candidate")
    sid = new_session(user, scenario_id)
    for step in ("preparing", "active"):
        if step == "active":
            assert user.post(f"/v1/sessions/{sid}/start").status_code == 200
        before = int(time.time())
        r = user.post("/v1/rtc/token", json={"session_id": sid})
        after = int(time.time())
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"url", "room", "token"}, body
        assert body["url"] == LIVEKIT_URL
        assert body["room"] == f"session-{sid}"
        claims = verify_hs256(body["token"], LIVEKIT_SECRET)
        assert claims["iss"] == LIVEKIT_KEY
        assert claims["sub"] == user.id
        assert claims["name"] == "Rita Candidate"
        assert claims["video"] == {"room": f"session-{sid}", "roomJoin": True,
                                   "canPublish": True, "canSubscribe": True,
                                   "canPublishData": True}, claims
        assert before - 1 <= claims["nbf"] <= after + 1, claims
        assert claims["exp"] - claims["nbf"] == 3600, claims
        with pytest.raises(AssertionError):
            verify_hs256(body["token"], LIVEKIT_SECRET + "x")
        assert LIVEKIT_SECRET not in r.text


def test_other_users_and_unknown_sessions_are_404(srv, scenario_id):
    owner = candidate(srv)
    other = candidate(srv)
    sid = new_session(owner, scenario_id)
    assert_problem(other.post("/v1/rtc/token", json={"session_id": sid}), 404)
    assert_problem(owner.post("/v1/rtc/token", json={"session_id": str(uuid.uuid4())}), 404)
    # Staff do not join candidates' rooms either: the room is the candidate's.
    admin = make_admin(srv)
    assert_problem(admin.post("/v1/rtc/token", json={"session_id": sid}), 404)


def test_ended_session_has_no_room(srv, scenario_id):
    user = candidate(srv)
    sid = new_session(user, scenario_id)
    assert user.post(f"/v1/sessions/{sid}/start").status_code == 200
    assert user.post(f"/v1/sessions/{sid}/end").status_code == 200
    assert_problem(user.post("/v1/rtc/token", json={"session_id": sid}), 409, "wrong-state")


def test_token_request_validation(srv):
    user = candidate(srv)
    for body in ({}, {"session_id": "nope"}, {"session_id": 5},
                 {"session_id": str(uuid.uuid4()), "extra": 1}):
        assert_problem(user.post("/v1/rtc/token", json=body), 422)
    assert_problem(user.post("/v1/rtc/token", data="{", headers={
        "Content-Type": "application/json"}), 400)
    assert_problem(Client(srv).post("/v1/rtc/token", json={"session_id": str(uuid.uuid4())}), 401)


def test_unconfigured_livekit_answers_503(praxis):
    user = register(praxis)
    r = user.post("/v1/rtc/token", json={"session_id": str(uuid.uuid4())})
    body = assert_problem(r, 503, "rtc-unavailable")
    assert "LIVEKIT" not in json.dumps(body)


# ---- POST /v1/ai/tts --------------------------------------------------------------------------


def read_wav(r):
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"].split(";")[0] == "audio/wav"
    w = wave.open(io.BytesIO(r.content))
    assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
    frames = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    return samples


def test_tts_speaks_each_voice_for_staff(srv, admin):
    text = "Hello, doctor. My chest has been hurting since Monday."
    for voice in VOICES:
        samples = read_wav(admin.post("/v1/ai/tts", json={"text": text, "voice": voice}))
        seconds = len(samples) / 16000
        assert 2.0 < seconds < 6.0, (voice, seconds)
        rms = (sum(s * s for s in samples) / len(samples)) ** 0.5
        assert rms > 300, (voice, rms)
    # Tutors are staff too.
    tutor = candidate(srv, "Theo Tutor")
    r = admin.patch(f"/v1/admin/users/{tutor.id}", json={"role": "tutor"})
    assert r.status_code == 200, r.text
    samples = read_wav(tutor.post("/v1/ai/tts", json={"text": "Thank you.", "voice": "rms"}))
    assert len(samples) > 8000


def test_tts_is_staff_only(srv):
    user = candidate(srv)
    assert_problem(user.post("/v1/ai/tts", json={"text": "Hello.", "voice": "slt"}), 403)
    assert_problem(Client(srv).post("/v1/ai/tts", json={"text": "Hello.", "voice": "slt"}), 401)


def test_tts_refuses_bad_input(srv, admin):
    cases = [
        ({"text": "", "voice": "slt"}, "text"),
        ({"text": "a" * 2001, "voice": "slt"}, "text"),
        ({"text": "\u00e9" * 1500, "voice": "slt"}, "text"),  # 1500 characters, 3000 bytes
        ({"text": "?! ... ;;", "voice": "slt"}, "text"),
        ({"text": "\U0001F600\U0001F622", "voice": "slt"}, "text"),
        ({"text": "Hello.", "voice": "bob"}, "voice"),
        ({"text": "Hello.", "voice": "SLT"}, "voice"),
        ({"text": "Hello."}, "voice"),
        ({"voice": "slt"}, "text"),
        ({"text": 5, "voice": "slt"}, "text"),
        ({"text": "Hello.", "voice": "slt", "speed": 2}, "speed"),
    ]
    for body, field in cases:
        problem = assert_problem(admin.post("/v1/ai/tts", json=body), 422)
        fields = {e["field"] for e in problem.get("errors", [])}
        assert field in fields, (body, problem)


def test_tts_hostile_but_speakable_text(srv, admin):
    text = "Caf\u00e9 \U0001F600 **bold** <b>tag</b> \u201cquoted\u201d \u2014 38\u00b0C\x01\x02 ok."
    samples = read_wav(admin.post("/v1/ai/tts", json={"text": text, "voice": "kal"}))
    assert len(samples) > 16000
    samples = read_wav(admin.post("/v1/ai/tts", json={"text": "word " * 400, "voice": "kal"}))
    assert len(samples) > 16000 * 30


def test_tts_first_audio_metric(srv, admin):
    read_wav(admin.post("/v1/ai/tts", json={"text": "Good morning.", "voice": "awb"}))
    text = srv.get("/metrics").text
    lines = [line for line in text.splitlines()
             if line.startswith('praxis_tts_first_audio_seconds_count{engine="flite"}')]
    assert lines and float(lines[0].split()[-1]) >= 1, text[-2000:]
    assert 'praxis_tts_first_audio_seconds_bucket{engine="flite",le="0.05"}' in text


def test_routes_documented(srv):
    doc = srv.get("/openapi.json").json()
    tts = doc["paths"]["/v1/ai/tts"]["post"]
    assert "audio/wav" in tts["responses"]["200"]["content"], tts["responses"]["200"]
    assert "403" in tts["responses"] and "422" in tts["responses"]
    token = doc["paths"]["/v1/rtc/token"]["post"]
    for code in ("200", "404", "409", "503"):
        assert code in token["responses"], token["responses"]
