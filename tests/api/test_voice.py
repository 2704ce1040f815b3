"""Voice role-plays end to end: real speech (flite at test time) over the session stream
(docs/realtime.md) and as uploads, recognised by pocketsphinx with the card's language model,
answered by the patient with synthesised speech; barge-in, reconnect, recordings sealed to
their owner, and every kind of bad input."""
import asyncio
import json
import struct
import time

import pytest
import websockets

from conftest import DRIVER, assert_problem
from test_sessions import BY_SLUG, _seeded_server, new_user
from voice_support import FLITE, RATE, Stream, noise, synth, wav_bytes, wer

pytestmark = pytest.mark.skipif(FLITE is None, reason="the flite CLI makes the test speech")

SLUG = "medicine-new-hypertension"


@pytest.fixture(scope="module")
def vsrv(tmp_path_factory):
    server, db = _seeded_server(tmp_path_factory.mktemp(f"voice-{DRIVER}"),
                                env={"STREAM_IDLE_SECONDS": "30"})
    try:
        yield server
        server.stop(expect=0)
    finally:
        server.cleanup()
        db.drop()


def scenario_id(user, slug):
    title = BY_SLUG[slug]["title"]
    r = user.get("/v1/scenarios", params={"per_page": 100})
    return next(s["id"] for s in r.json()["items"] if s["title"] == title)


def upgrade(user, plan="standard"):
    r = user.post("/v1/billing/checkout", json={"plan": plan})
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    r = user.post(url[url.index("/v1/"):])
    assert r.status_code in (200, 201), r.text
    assert user.get("/v1/billing/subscription").json()["plan"] == plan


def voice_session(srv, slug=SLUG, start=False):
    u = new_user(srv)
    upgrade(u)
    r = u.post("/v1/sessions", json={"scenario_id": scenario_id(u, slug), "mode": "voice"})
    assert r.status_code == 201, r.text
    s = r.json()
    if start:
        assert u.post(f"/v1/sessions/{s['id']}/start").status_code == 200
    return u, s


def to_44k_stereo(pcm):
    """Linear interpolation to 44.1 kHz, the same samples on both channels."""
    src = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    n = len(src) * 44100 // RATE
    out = []
    for i in range(n):
        x = i * RATE / 44100
        k = int(x)
        a = src[k]
        b = src[k + 1] if k + 1 < len(src) else a
        v = int(a + (b - a) * (x - k))
        out += (v, v)
    return struct.pack(f"<{len(out)}h", *out)


def run(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def ask(st, text, voice="rms"):
    """Says text; returns (final transcript event, patient.text event, index after them)."""
    mark = len(st.events)
    await st.speak(synth(text, voice))
    i, fin = await st.wait_for(lambda e: e["type"] == "transcript.final" and e.get("text"),
                               mark, timeout=30)
    j, pat = await st.wait_type("patient.text", i)
    return fin, pat, j


async def played_out(st, turn, start=0):
    """Waits until the patient's audio of turn has played out."""
    return await st.wait_for(lambda e: e["type"] == "patient.audio_end" and e["turn"] == turn,
                             start, timeout=60)


def test_voice_roleplay_over_the_stream(vsrv):
    card = BY_SLUG[SLUG]["patient_card"]
    u, s = voice_session(vsrv)
    by_topic = {f["topic"]: f for f in card["facts"]}
    # What a candidate would say: a greeting, then questions in their own words.
    asked = [("Have you had any symptoms, like headaches or feeling dizzy?", "symptoms"),
             ("How did the readings go with the machine at home?", "home_readings"),
             ("Does anyone in your family have high blood pressure?", "family_history"),
             ("How much alcohol do you drink in a week?", "alcohol"),
             ("Do you smoke at all?", "smoking")]
    facts = [by_topic[t] for _, t in asked]
    lines = ["Hello, I'm one of the doctors here. Thank you for coming in today."] + \
            [q for q, _ in asked]

    async def go():
        errors = total = 0
        answered = 0
        async with Stream(vsrv.port, s["id"], u.token) as st:
            _, state = await st.wait_type("session.state")
            assert state["status"] == "preparing" and state["mode"] == "voice"
            assert state["sample_rate"] == RATE
            await st.send({"type": "start"})
            i, state = await st.wait_for(lambda e: e["type"] == "session.state" and
                                         e["status"] == "active")
            assert 0 < state["remaining_ms"] <= 300_000
            # The opening line (if the card has one) plays out before the candidate speaks.
            await asyncio.sleep(0.3)
            opening = [e for e in st.events if e["type"] == "patient.audio_start"]
            if opening:
                await played_out(st, opening[0]["turn"])
            for k, line in enumerate(lines):
                fin, pat, j = await ask(st, line)
                e, n = wer(line, fin["text"])
                errors += e
                total += n
                assert fin["input"] == "voice" and fin["words"], fin
                times = [(w["start"], w["end"]) for w in fin["words"]]
                assert all(a <= b for a, b in times), times
                assert all(times[x][0] <= times[x + 1][0] for x in range(len(times) - 1))
                assert all(0 <= w["conf"] <= 1 for w in fin["words"])
                assert pat["turn"] == fin["turn"] + 1
                if k > 0 and facts[k - 1]["answer"] in pat["text"]:
                    answered += 1
                _, a0 = await st.wait_for(lambda e: e["type"] == "patient.audio_start" and
                                          e["turn"] == pat["turn"], j)
                assert a0["sample_rate"] == RATE and a0["format"] == "pcm_s16le"
                _, end = await played_out(st, pat["turn"], j)
                assert end["interrupted"] is False
                audio = st.audio.get(pat["turn"], b"")
                # Real speech: about 60-90 ms per character; at least 40 ms per character.
                assert len(audio) // 2 >= RATE * 0.04 * len(pat["text"]) * 0.5, \
                    (len(audio), pat["text"])
                assert end["played_ms"] == len(audio) // 2 * 1000 // RATE
            rate = errors / total
            print(f"voice role-play WER {rate:.3f} over {total} words")
            assert rate <= 0.15, rate
            assert answered >= len(facts) - 1, answered
            await st.send({"type": "end"})
            i, closing = await st.wait_for(lambda e: e["type"] == "patient.text" and
                                           e.get("kind") == "closing", timeout=30)
            assert closing["text"] == card["closing_line"]
            _, ended = await st.wait_type("session.ended", i, timeout=60)
            assert ended["status"] == "completed"
            await st.wait_type("_closed", i, timeout=60)
            assert st.close_code == 1000

    run(go())
    view = u.get(f"/v1/sessions/{s['id']}").json()
    assert view["status"] == "completed"
    cand = [t for t in view["turns"] if t["speaker"] == "candidate"]
    assert len(cand) == len(lines)
    for t in cand:
        assert t["input"] == "voice" and t["words"] and t["duration_ms"] > 500
        assert t["audio_url"].endswith(f"/turns/{t['n']}/audio")
    # The candidate's own recording comes back to them as WAV; to nobody else.
    r = u.get(cand[1]["audio_url"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    assert r.content[:4] == b"RIFF" and len(r.content) > RATE * 2 * 0.5
    other = new_user(vsrv)
    assert_problem(other.get(cand[1]["audio_url"]), 404)
    # The patient's speech of any turn.
    pt = next(t for t in view["turns"] if t["speaker"] == "patient")
    r = u.get(pt["audio_url"])
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    # The voice session counted its minutes towards the plan's usage (started to completed).
    usage = u.get("/v1/billing/usage").json()
    assert usage["voice_minutes_used"] >= 1, usage
    # The speed figures are exported.
    metrics = vsrv.get("/metrics").text
    assert 'praxis_turn_latency_seconds_count{mode="voice"}' in metrics
    assert "praxis_stt_realtime_factor_count" in metrics
    assert "praxis_tts_first_audio_seconds_count" in metrics


def test_barge_in_stops_patient_audio_and_reconnect_resumes(vsrv):
    card = BY_SLUG[SLUG]["patient_card"]
    u, s = voice_session(vsrv, start=True)
    long_fact = max(card["facts"], key=lambda f: len(f["answer"]))

    async def go():
        async with Stream(vsrv.port, s["id"], u.token, how="query") as st:
            await st.wait_type("session.state")
            await asyncio.sleep(0.3)
            opening = [e for e in st.events if e["type"] == "patient.audio_start"]
            if opening:
                await played_out(st, opening[0]["turn"])
            mark = len(st.events)
            await st.speak(synth(f"Could you tell me {long_fact['triggers'][0]}?"))
            i, a0 = await st.wait_for(lambda e: e["type"] == "patient.audio_start", mark, 30)
            turn = a0["turn"]
            await st.wait_for(lambda e: e["type"] == "binary" and e["turn"] == turn, i)
            # Talk over the patient.
            await st.speak(synth("Sorry, can I just ask you something else?"), speed=1.0,
                           tail_ms=1200)
            _, end = await st.wait_for(lambda e: e["type"] == "patient.audio_end" and
                                       e["turn"] == turn, i, timeout=30)
            assert end["interrupted"] is True
            sent_ms = len(st.audio[turn]) // 2 * 1000 // RATE
            assert 0 <= end["played_ms"] <= sent_ms
            await asyncio.sleep(0.5)
            assert st.frames_after_end.get(turn, 0) == 0
            return turn, end["played_ms"]

    turn, played = run(go())
    view = u.get(f"/v1/sessions/{s['id']}").json()
    t = next(x for x in view["turns"] if x["n"] == turn)
    assert t["interrupted"] is True and t["played_ms"] == played
    turns_before = len(view["turns"])

    async def again():
        async with Stream(vsrv.port, s["id"], u.token, how="header") as st:
            _, state = await st.wait_type("session.state")
            assert state["resumed"] is True and state["status"] == "active"
            assert state["turns"] >= turns_before - 2
            fin, pat, _ = await ask(st, "Do you have any allergies?")
            assert fin["turn"] >= turns_before - 2

    run(again())
    view = u.get(f"/v1/sessions/{s['id']}").json()
    assert len(view["turns"]) > turns_before


def test_a_second_socket_replaces_the_first(vsrv):
    u, s = voice_session(vsrv, start=True)

    async def go():
        async with Stream(vsrv.port, s["id"], u.token) as first:
            await first.wait_type("session.state")
            async with Stream(vsrv.port, s["id"], u.token) as second:
                await second.wait_type("session.state")
                await first.wait_type("_closed")
                assert first.close_code == 4001
                await second.send({"type": "ping", "id": 7})
                _, pong = await second.wait_type("pong")
                assert pong["id"] == 7

    run(go())


def test_stream_refuses_strangers_and_bad_input(vsrv):
    u, s = voice_session(vsrv, start=True)
    other = new_user(vsrv)

    async def handshake(token, sid):
        try:
            async with Stream(vsrv.port, sid, token):
                return 101
        except websockets.InvalidStatusCode as e:
            return e.status_code

    assert run(handshake(other.token, s["id"])) == 404
    assert run(handshake("not-a-token", s["id"])) == 401

    async def go():
        async with Stream(vsrv.port, s["id"], u.token) as st:
            await st.wait_type("session.state")
            for bad, code in [("{not json", "bad_message"), ('{"type": 5}', "bad_message"),
                              ('[1, 2]', "bad_message"), ('{"type": "dance"}', "unknown_type"),
                              ('{"type": "text", "text": ""}', "bad_message"),
                              (b"\x01\x02\x03", "bad_frame")]:
                mark = len(st.events)
                await st.send(bad)
                _, e = await st.wait_type("error", mark)
                assert e["code"] == code, (bad, e)
            # Still up.
            mark = len(st.events)
            await st.send({"type": "ping"})
            await st.wait_type("pong", mark)
            # A message over 64 KiB closes the socket with 1009.
            await st.send(b"\x00" * 70000)
            await st.wait_type("_closed", mark)
            assert st.close_code == 1009

    run(go())


def test_text_session_over_the_stream(vsrv):
    u = new_user(vsrv)
    r = u.post("/v1/sessions", json={"scenario_id": scenario_id(u, SLUG), "mode": "text"})
    s = r.json()
    card = BY_SLUG[SLUG]["patient_card"]
    fact = card["facts"][0]

    async def go():
        async with Stream(vsrv.port, s["id"], u.token) as st:
            await st.wait_type("session.state")
            mark = len(st.events)
            await st.send({"type": "text", "text": "Hello"})
            _, e = await st.wait_type("error", mark)
            assert e["code"] == "wrong_state"
            await st.send({"type": "start"})
            await st.wait_for(lambda e: e["type"] == "session.state" and e["status"] == "active")
            mark = len(st.events)
            await st.send(noise(40))
            _, e = await st.wait_type("error", mark)
            assert e["code"] == "audio_not_expected"
            mark = len(st.events)
            await st.send({"type": "text", "text": f"Could you tell me, {fact['triggers'][0]}?"})
            i, fin = await st.wait_type("transcript.final", mark)
            assert fin["input"] == "text"
            _, pat = await st.wait_type("patient.text", i)
            assert fact["answer"] in pat["text"]
            await asyncio.sleep(0.3)
            assert not any(e["type"] == "binary" for e in st.events)

    run(go())


def test_uploaded_audio_turns(vsrv):
    card = BY_SLUG[SLUG]["patient_card"]
    u, s = voice_session(vsrv, start=True)
    fact = card["facts"][1]
    line = f"Can you tell me {fact['triggers'][0]}?"
    pcm = synth(line, "awb")
    # Any rate and channel count: 44.1 kHz stereo here.
    stereo = to_44k_stereo(pcm)
    r = u.post(f"/v1/sessions/{s['id']}/audio", data=wav_bytes(stereo, 44100, 2),
               headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    body = r.json()
    e, n = wer(line, body["candidate_turn"]["text"])
    assert e / n <= 0.25, body["candidate_turn"]["text"]
    assert body["candidate_turn"]["words"] and body["candidate_turn"]["duration_ms"] > 500
    assert body["patient_turn"]["audio_url"]
    assert fact["answer"] in body["patient_turn"]["text"]
    # Bad audio: wrong type, garbage, silence, too long, empty.
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=b"hello",
                          headers={"Content-Type": "text/plain"}), 415)
    # Not audio at all, whatever the header says: 415; a real file cut short: 422.
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=b"RIFF\x00\x00garbage" * 10,
                          headers={"Content-Type": "audio/wav"}), 415, "unsupported-audio")
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=b"\x00" * 1000,
                          headers={"Content-Type": "audio/ogg"}), 415, "unsupported-audio")
    cut = wav_bytes(pcm)[: len(pcm) // 2]
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=cut,
                          headers={"Content-Type": "audio/wav"}), 422, "bad-audio")
    silent = wav_bytes(b"\x00\x00" * RATE * 2)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=silent,
                          headers={"Content-Type": "audio/wav"}), 422)
    long = wav_bytes(noise(61_000, level=3000))
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=long,
                          headers={"Content-Type": "audio/wav"}), 422)
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=b"",
                          headers={"Content-Type": "audio/wav"}), 422)
    # Not the caller's session; a text session; a finished one.
    other = new_user(vsrv)
    assert_problem(other.post(f"/v1/sessions/{s['id']}/audio", data=wav_bytes(pcm),
                              headers={"Content-Type": "audio/wav"}), 404)
    t = u.post("/v1/sessions", json={"scenario_id": scenario_id(u, SLUG), "mode": "text"})
    tid = t.json()["id"]
    u.post(f"/v1/sessions/{tid}/start")
    assert_problem(u.post(f"/v1/sessions/{tid}/audio", data=wav_bytes(pcm),
                          headers={"Content-Type": "audio/wav"}), 409)
    assert u.post(f"/v1/sessions/{s['id']}/end").status_code == 200
    assert_problem(u.post(f"/v1/sessions/{s['id']}/audio", data=wav_bytes(pcm),
                          headers={"Content-Type": "audio/wav"}), 409)


def test_rapid_turns_are_limited_and_nothing_is_lost(vsrv):
    u = new_user(vsrv)
    r = u.post("/v1/sessions", json={"scenario_id": scenario_id(u, SLUG), "mode": "text"})
    sid = r.json()["id"]
    u.post(f"/v1/sessions/{sid}/start")
    ok = limited = 0
    for k in range(100):
        r = u.post(f"/v1/sessions/{sid}/turns", json={"text": f"Question number {k}, is it sore?"})
        if r.status_code == 200:
            ok += 1
        else:
            assert_problem(r, 429)
            assert int(r.headers["Retry-After"]) >= 1
            limited += 1
    assert ok == 60 and limited == 40
    view = u.get(f"/v1/sessions/{sid}").json()
    said = [t["text"] for t in view["turns"] if t["speaker"] == "candidate"]
    assert len(said) == ok
    # Every accepted turn is stored, in order, each with its reply.
    assert said == sorted(said, key=lambda x: int(x.split()[2].rstrip(",")))


def test_ai_stt_for_staff(vsrv):
    import os
    from test_accounts_support import make_admin
    admin = make_admin(vsrv)
    sid = scenario_id(admin, SLUG)
    line = "Does anyone in your family have high blood pressure?"
    audio = wav_bytes(synth(line, "slt"))
    r = admin.post("/v1/ai/stt", params={"scenario_id": sid}, data=audio,
                   headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    body = r.json()
    e, n = wer(line, body["text"])
    assert e / n <= 0.2, body
    assert body["language_model"].startswith(sid + "-v")
    assert body["words"] and 0 < body["duration_s"] < 10 and 0 < body["rtf"] < 1
    # The card's model is cached under DATA_DIR/lm.
    lm = os.path.join(vsrv.env["DATA_DIR"], "lm")
    assert any(f.startswith(body["language_model"]) for f in os.listdir(lm)), os.listdir(lm)
    generic = admin.post("/v1/ai/stt", data=audio, headers={"Content-Type": "audio/wav"})
    assert generic.status_code == 200 and generic.json()["language_model"] == "generic"
    assert_problem(admin.post("/v1/ai/stt", data=b"text", headers={"Content-Type": "text/plain"}),
                   415)
    assert_problem(admin.post("/v1/ai/stt", params={"scenario_id": "nope"}, data=audio,
                              headers={"Content-Type": "audio/wav"}), 422)
    assert_problem(new_user(vsrv).post("/v1/ai/stt", data=audio,
                                       headers={"Content-Type": "audio/wav"}), 403)


@pytest.fixture(scope="module")
def fast_srv(tmp_path_factory):
    """Clocks shrunk: role-play time x0.02 (about 6 s), idle prompts after 3 s, sockets that send
    nothing for 5 s are closed."""
    server, db = _seeded_server(tmp_path_factory.mktemp(f"voice-fast-{DRIVER}"),
                                env={"STREAM_IDLE_SECONDS": "5", "SESSION_TIME_SCALE": "0.02"})
    try:
        yield server
        server.stop(expect=0)
    finally:
        server.cleanup()
        db.drop()


def test_stream_clocks_idle_prompt_deadline_and_idle_socket(fast_srv):
    card = BY_SLUG[SLUG]
    u = new_user(fast_srv)
    r = u.post("/v1/sessions", json={"scenario_id": scenario_id(u, SLUG), "mode": "text"})
    s = r.json()

    async def go():
        async with Stream(fast_srv.port, s["id"], u.token) as st:
            await st.wait_type("session.state")
            await st.send({"type": "start"})
            i, state = await st.wait_for(lambda e: e["type"] == "session.state" and
                                         e["status"] == "active")
            limit_ms = state["remaining_ms"]
            assert 0 < limit_ms <= card["roleplay_seconds"] * 20 + 1000

            async def keepalive():
                while True:
                    await asyncio.sleep(1.5)
                    await st.send({"type": "ping"})

            pinger = asyncio.create_task(keepalive())
            try:
                # Silence: the patient speaks up by itself (a due cue or a prompt).
                _, prompt = await st.wait_for(lambda e: e["type"] == "patient.text" and
                                              e.get("kind") != "opening", i, timeout=15)
                assert prompt["text"]
                # The deadline: the closing line, then the end, then a normal close.
                j, closing = await st.wait_for(lambda e: e["type"] == "patient.text" and
                                               e.get("kind") == "closing", i, timeout=30)
                assert closing["text"] == card["patient_card"]["closing_line"]
                _, ended = await st.wait_type("session.ended", j, timeout=15)
                assert ended["status"] == "completed" and ended["reason"] == "time_up"
                assert ended["feedback_url"] == f"/v1/sessions/{s['id']}/feedback"
                await st.wait_type("_closed", j, timeout=15)
                assert st.close_code == 1000
            finally:
                pinger.cancel()

    run(go())
    assert u.get(f"/v1/sessions/{s['id']}").json()["status"] == "completed"

    # A socket that says nothing is closed with 4000 after STREAM_IDLE_SECONDS.
    r = u.post("/v1/sessions", json={"scenario_id": scenario_id(u, SLUG), "mode": "text"})
    quiet = r.json()

    async def idle():
        t0 = time.monotonic()
        async with Stream(fast_srv.port, quiet["id"], u.token) as st:
            await st.wait_type("session.state")
            await st.wait_type("_closed", timeout=15)
            assert st.close_code == 4000
            assert 4.5 <= time.monotonic() - t0 <= 12

    run(idle())
