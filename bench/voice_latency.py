"""Voice response latency over the real-time stream, end to end, like a microphone would:
each client streams a candidate utterance (flite speech) in real time, then keeps streaming
room noise; the latency is from its last voiced frame to the first byte of patient audio on
the socket (end-of-turn detection included). Also: the part after the end-of-turn decision
(vad.speech_end received → first audio byte), the recogniser's real-time factor and the first
TTS chunk time from /metrics. Runs 1, 4, then more concurrent sessions until p95 passes the
target. Usage: voice_latency.py PRAXIS_BINARY [exchanges_per_session] [max_sessions]"""
import asyncio
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import Server, call, percentile  # noqa: E402

RATE = 16000
FRAME = 320  # 20 ms
TARGET_P50_MS, TARGET_P95_MS, TARGET_AFTER_P50_MS = 600, 900, 150
SLUG_TITLE = None

LINES = [
    "hello my name is sam i'm one of the doctors here",
    "can you tell me what brings you in today",
    "when did this start",
    "are you taking any medicines at the moment",
    "do you have any allergies",
    "how is this affecting your daily life",
    "what are you most worried about",
    "does anyone in your family have a similar problem",
]


def synth(text, voice):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", f.name], check=True)
        with wave.open(f.name) as w:
            return w.readframes(w.getnframes())


def last_voiced_sample(pcm):
    """The end of the last 10 ms window within 35 dB of the loudest one: where the speech
    energy ends (flite's last syllables are soft; a fixed threshold would end them early)."""
    n = len(pcm) // 2
    s = struct.unpack(f"<{n}h", pcm)
    win = 160
    energies = [sum(x * x for x in s[i:i + win]) / win for i in range(0, n - win, win)]
    peak = max(energies) if energies else 0
    last = 0
    for k, e in enumerate(energies):
        if peak and e >= peak * 10 ** (-35 / 10):
            last = (k + 1) * win
    return last


def noise_frame(rnd):
    return struct.pack(f"<{FRAME}h", *(rnd.randint(-30, 30) for _ in range(FRAME)))


async def session(base, port, token, sid, utterances, exchanges, out):
    url = f"ws://127.0.0.1:{port}/v1/sessions/{sid}/stream"
    rnd = random.Random(sid)
    quiet = [noise_frame(rnd) for _ in range(50)]
    async with websockets.connect(url, subprotocols=["bearer", token], max_size=None,
                                  compression=None, ping_interval=None) as ws:
        state = {"audio_end": asyncio.Event(), "first_audio": None, "speech_end": None,
                 "active": asyncio.Event()}

        async def reader():
            async for msg in ws:
                now = time.perf_counter()
                if isinstance(msg, bytes):
                    if state["first_audio"] is None:
                        state["first_audio"] = now
                    continue
                ev = json.loads(msg)
                if ev["type"] == "session.state" and ev["status"] == "active":
                    state["active"].set()
                elif ev["type"] == "vad.speech_end":
                    state["speech_end"] = now
                elif ev["type"] == "patient.audio_end":
                    state["audio_end"].set()
                elif ev["type"] == "error":
                    out["errors"].append(ev)

        task = asyncio.create_task(reader())
        # The candidate reads the card during preparation (the socket is open by then), and
        # then starts the role-play.
        await asyncio.sleep(3.0)
        await ws.send(json.dumps({"type": "start"}))
        await asyncio.wait_for(state["active"].wait(), 30)
        # Let an opening line play out while sending room noise, as a live microphone does.
        t_end = time.perf_counter() + 1.0
        k = 0
        while time.perf_counter() < t_end or (state["first_audio"] and
                                              not state["audio_end"].is_set()):
            await ws.send(quiet[k % len(quiet)])
            k += 1
            await asyncio.sleep(0.02)
        for x in range(exchanges):
            pcm, last = utterances[x % len(utterances)]
            state["audio_end"].clear()
            state["first_audio"] = None
            state["speech_end"] = None
            t0 = time.perf_counter()
            sent = 0
            t_last_voiced = None
            step = FRAME * 2
            for off in range(0, len(pcm), step):
                await ws.send(pcm[off:off + step])
                sent += FRAME
                if t_last_voiced is None and sent >= last:
                    t_last_voiced = time.perf_counter()
                # Real time: frame k leaves at t0 + k * 20 ms.
                delay = t0 + sent / RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if t_last_voiced is None:
                t_last_voiced = time.perf_counter()
            # Room noise until the reply has played out.
            deadline = time.perf_counter() + 30
            while not state["audio_end"].is_set() and time.perf_counter() < deadline:
                await ws.send(quiet[k % len(quiet)])
                k += 1
                sent += FRAME
                delay = t0 + sent / RATE - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if state["first_audio"] is None:
                out["missing"] += 1
                continue
            out["latency"].append((state["first_audio"] - t_last_voiced) * 1000)
            if state["speech_end"] is not None:
                out["eot"].append((state["speech_end"] - t_last_voiced) * 1000)
            if state["speech_end"] is not None:
                out["after"].append((state["first_audio"] - state["speech_end"]) * 1000)
        await ws.send(json.dumps({"type": "end"}))
        task.cancel()


def metric_avg(base, name):
    raw = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    s = c = 0.0
    for line in raw.splitlines():
        m = re.match(rf"^{name}_(sum|count)(\{{[^}}]*\}})? ([0-9.eE+-]+)$", line)
        if m:
            if m.group(1) == "sum":
                s += float(m.group(3))
            else:
                c += float(m.group(3))
    return s / c if c else float("nan")


def run_level(srv, n, exchanges, utterances, scenario):
    tokens = [srv.user("premium") for _ in range(n)]
    sids = []
    for t in tokens:
        st, s = call(srv.base, "POST", "/v1/sessions", t,
                     {"scenario_id": scenario, "mode": "voice"})
        assert st == 201, (st, s)
        sids.append(s["id"])
    out = {"latency": [], "after": [], "eot": [], "errors": [], "missing": 0}

    async def all_sessions():
        await asyncio.gather(*(session(srv.base, srv.port, t, sid, utterances, exchanges, out)
                               for t, sid in zip(tokens, sids)))

    asyncio.run(all_sessions())
    return out


def main():
    binary = sys.argv[1]
    exchanges = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    max_sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    if not shutil.which("flite"):
        print("voice latency: skipped (the flite CLI makes the speech)")
        return
    voices = ["rms", "slt", "awb"]
    utterances = []
    for i, line in enumerate(LINES):
        pcm = synth(line, voices[i % len(voices)])
        utterances.append((pcm, last_voiced_sample(pcm)))
    extra = {"STT_DECODERS": str(max_sessions), "HTTP_THREADS": "16"}
    for k in ("VAD_HANGOVER_LONG_MS", "VAD_HANGOVER_SHORT_MS"):
        if os.environ.get(k):
            extra[k] = os.environ[k]
    srv = Server(binary, extra)
    try:
        tok = srv.user()
        scenario = srv.scenarios(tok)[0]["id"]
        print(f"voice latency: {exchanges} exchanges per session, real-time microphone "
              f"streams, targets p50 <= {TARGET_P50_MS} ms, p95 <= {TARGET_P95_MS} ms, "
              f"after end-of-turn p50 <= {TARGET_AFTER_P50_MS} ms")
        sustained = 0
        for n in [1, 4, 6, 8, 10, 12, 16]:
            if n > max_sessions:
                break
            out = run_level(srv, n, exchanges, utterances, scenario)
            lat, after = out["latency"], out["after"]
            p50, p95 = percentile(lat, 50), percentile(lat, 95)
            print(f"  {n:2d} sessions: {len(lat)} replies, end of speech -> first audio "
                  f"p50 {p50:.0f} ms  p95 {p95:.0f} ms  max {max(lat) if lat else 0:.0f} ms; "
                  f"after end-of-turn p50 {percentile(after, 50):.0f} ms  "
                  f"p95 {percentile(after, 95):.0f} ms; no reply {out['missing']}, "
                  f"errors {len(out['errors'])}")
            if os.environ.get("BENCH_VERBOSE"):
                print("    end-of-turn decisions (ms after the last voiced frame):",
                      [round(x) for x in out["eot"]], out["errors"][:3])
            if lat and p95 <= TARGET_P95_MS and out["missing"] == 0:
                sustained = n
            elif n >= 4:
                break
        print(f"  sustained with p95 <= {TARGET_P95_MS} ms: {sustained} concurrent voice "
              f"sessions on {os.cpu_count()} cores")
        print(f"  STT real-time factor (mean): {metric_avg(srv.base, 'praxis_stt_realtime_factor'):.3f}"
              f"   TTS first audio (mean): "
              f"{metric_avg(srv.base, 'praxis_tts_first_audio_seconds') * 1000:.1f} ms")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
