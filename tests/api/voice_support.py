"""Helpers for the voice tests: real candidate speech synthesised with the flite CLI at test
time, word error rate, and an asyncio client of the session stream (docs/realtime.md)."""
import asyncio
import io
import json
import random
import re
import shutil
import struct
import subprocess
import tempfile
import wave

import websockets

RATE = 16000
FRAME = 320  # 20 ms
WS_TIMEOUT = 20

FLITE = shutil.which("flite")


def synth(text, voice="rms"):
    """16 kHz mono PCM16 bytes of text spoken by flite (a real voice, so recognition is real)."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run([FLITE, "-voice", voice, "-t", text, "-o", f.name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with wave.open(f.name) as w:
            assert w.getsampwidth() == 2 and w.getnchannels() == 1
            assert w.getframerate() == RATE, w.getframerate()
            return w.readframes(w.getnframes())


def wav_bytes(pcm, rate=RATE, channels=1):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def noise(ms, level=30, seed=7):
    """Quiet room noise (not digital silence)."""
    rnd = random.Random(seed)
    n = RATE * ms // 1000
    return struct.pack(f"<{n}h", *(rnd.randint(-level, level) for _ in range(n)))


def words(text):
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def wer(ref, hyp):
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)], len(r)


class Stream:
    """One connection to /v1/sessions/{id}/stream; a reader task collects every event."""

    def __init__(self, port, session_id, token, how="subprotocol"):
        self.url = f"ws://127.0.0.1:{port}/v1/sessions/{session_id}/stream"
        self.token = token
        self.how = how
        self.events = []
        self.audio = {}  # turn -> bytes
        self.current_turn = None
        self.frames_after_end = {}
        self.ended_turns = set()
        self.cond = None
        self.ws = None
        self.reader = None
        self.close_code = None

    async def __aenter__(self):
        kw = dict(open_timeout=WS_TIMEOUT, close_timeout=WS_TIMEOUT, max_size=None,
                  compression=None, ping_interval=None)
        url = self.url
        if self.how == "subprotocol":
            kw["subprotocols"] = ["bearer", self.token]
        elif self.how == "query":
            url += "?access_token=" + self.token
        elif self.how == "header":
            kw["extra_headers"] = {"Authorization": "Bearer " + self.token}
        self.cond = asyncio.Condition()
        self.ws = await websockets.connect(url, **kw)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        try:
            await asyncio.wait_for(self.reader, WS_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.reader.cancel()

    async def _read(self):
        try:
            async for msg in self.ws:
                async with self.cond:
                    if isinstance(msg, bytes):
                        t = self.current_turn
                        if t in self.ended_turns:
                            self.frames_after_end[t] = self.frames_after_end.get(t, 0) + 1
                        self.audio[t] = self.audio.get(t, b"") + msg
                        self.events.append({"type": "binary", "turn": t, "bytes": len(msg)})
                    else:
                        ev = json.loads(msg)
                        if ev["type"] == "patient.audio_start":
                            self.current_turn = ev["turn"]
                        elif ev["type"] == "patient.audio_end":
                            self.ended_turns.add(ev["turn"])
                        self.events.append(ev)
                    self.cond.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            async with self.cond:
                self.events.append({"type": "_closed", "code": self.ws.close_code})
                self.cond.notify_all()

    async def send(self, obj):
        await self.ws.send(json.dumps(obj) if isinstance(obj, dict) else obj)

    async def wait_for(self, pred, start=0, timeout=WS_TIMEOUT):
        """The first event at index >= start matching pred; returns (index, event)."""
        async def scan():
            async with self.cond:
                while True:
                    for i in range(start, len(self.events)):
                        if pred(self.events[i]):
                            return i, self.events[i]
                    if self.events and self.events[-1]["type"] == "_closed" and \
                            not pred(self.events[-1]):
                        raise AssertionError(f"closed while waiting; events: {self.events[-8:]}")
                    await self.cond.wait()
        return await asyncio.wait_for(scan(), timeout)

    async def wait_type(self, type_, start=0, timeout=WS_TIMEOUT):
        return await self.wait_for(lambda e: e["type"] == type_, start, timeout)

    async def speak(self, pcm, speed=4.0, tail_ms=1500):
        """Streams pcm in 20 ms frames, speed times faster than real time, then quiet noise
        long enough for the end-of-turn hangover."""
        data = pcm + noise(tail_ms)
        step = FRAME * 2
        delay = 0.02 / speed
        for off in range(0, len(data), step):
            await self.ws.send(data[off:off + step])
            await asyncio.sleep(delay)

    async def quiet(self, ms, speed=4.0):
        await self.speak(b"", speed=speed, tail_ms=ms)
