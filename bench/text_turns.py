"""Text turn latency: HTTP request in → the patient's reply out, scripted patient, with N
sessions taking turns concurrently (one thread each, back to back). Prints p50/p90/p99 and
throughput. Usage: text_turns.py PRAXIS_BINARY [sessions] [turns_per_session] [think_ms]"""
import http.client
import json
import sys
import threading
import time

from server import Server, call, percentile

QUESTIONS = [
    "Hello, my name is Alex, I'm one of the doctors. What brings you in today?",
    "When did this start?",
    "Can you tell me more about the pain?",
    "Have you had anything like this before?",
    "Are you taking any medicines at the moment?",
    "Do you have any allergies?",
    "How is this affecting your daily life?",
    "What are you most worried about?",
    "That must be difficult for you.",
    "Does anyone in your family have a similar problem?",
    "Do you smoke or drink alcohol?",
    "So just to check, it started a few days ago and it is getting worse?",
]


def main():
    binary = sys.argv[1]
    sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    turns = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    think_ms = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    srv = Server(binary, {"HTTP_THREADS": "32"})
    try:
        tokens = [srv.user() for _ in range(sessions)]
        scen = srv.scenarios(tokens[0])
        ids = []
        for i, tok in enumerate(tokens):
            st, s = call(srv.base, "POST", "/v1/sessions", tok,
                         {"scenario_id": scen[i % len(scen)]["id"], "mode": "text"})
            assert st == 201, (st, s)
            st, _ = call(srv.base, "POST", f"/v1/sessions/{s['id']}/start", tok)
            assert st == 200, st
            ids.append(s["id"])
        lat = []
        errors = []
        lock = threading.Lock()
        barrier = threading.Barrier(sessions)

        def play(tok, sid):
            # One keep-alive connection per session, as a browser would hold.
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            headers = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
            barrier.wait()
            mine = []
            for k in range(turns):
                body = json.dumps({"text": QUESTIONS[k % len(QUESTIONS)]})
                t0 = time.perf_counter()
                conn.request("POST", f"/v1/sessions/{sid}/turns", body, headers)
                r = conn.getresponse()
                r.read()
                st = r.status
                dt = time.perf_counter() - t0
                if think_ms:
                    time.sleep(think_ms / 1000)
                if st != 200:
                    with lock:
                        errors.append(st)
                    continue
                mine.append(dt)
            with lock:
                lat.extend(mine)

        threads = [threading.Thread(target=play, args=(t, s)) for t, s in zip(tokens, ids)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        ms = [x * 1000 for x in lat]
        print(f"text turns: {sessions} concurrent sessions (think time {think_ms} ms), "
              f"{len(ms)} turns in {wall:.1f} s "
              f"({len(ms) / wall:.0f} turns/s), errors {len(errors)}")
        print(f"  latency ms: p50 {percentile(ms, 50):.2f}  p90 {percentile(ms, 90):.2f}  "
              f"p99 {percentile(ms, 99):.2f}  max {max(ms):.2f}   (targets: p50 <= 10, p99 <= 50)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
