"""Shared by the benchmarks: a throwaway praxis server (SQLite in a temp dir, seeded, rate
limits shrunk so the load itself is measured, not the limiter) and signed-in users."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "Bench-passphrase-0451"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, token=None, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw and r.headers.get_content_type().endswith("json") else raw)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw


class Server:
    def __init__(self, binary, extra_env=None):
        self.dir = tempfile.mkdtemp(prefix="praxis-bench.")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update({
            "DATABASE_URL": f"sqlite://{self.dir}/praxis.db",
            "DATA_DIR": self.dir,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warn"),
            "RATE_LIMIT_WINDOW_SCALE": "0.001",
            "SEED_DIR": os.path.join(ROOT, "data"),
        })
        self.env.update(extra_env or {})
        self.binary = binary = os.path.abspath(binary)
        for cmd in ("migrate", "seed"):
            subprocess.run([binary, cmd], env=self.env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd=self.dir)
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if call(self.base, "GET", "/health/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not become ready")

    def user(self, plan=None):
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        st, body = call(self.base, "POST", "/v1/auth/register",
                        body={"email": email, "password": PASSWORD, "full_name": "Bench User",
                              "profession": "medicine"})
        if st != 201:
            raise RuntimeError(f"register: {st} {body}")
        token = body["access_token"]
        if plan:
            st, body = call(self.base, "POST", "/v1/billing/checkout", token, {"plan": plan})
            if st != 200:
                raise RuntimeError(f"checkout: {st} {body}")
            path = body["url"][body["url"].index("/v1/"):]
            st, _ = call(self.base, "POST", path, token)
            if st not in (200, 201):
                raise RuntimeError(f"local checkout: {st}")
        return token

    def scenarios(self, token):
        st, body = call(self.base, "GET", "/v1/scenarios?per_page=100", token)
        return body["items"]

    def card(self, token, scenario_id):
        return call(self.base, "GET", f"/v1/scenarios/{scenario_id}", token)[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        if os.environ.get("BENCH_KEEP_LOG"):
            shutil.copy(os.path.join(self.dir, "server.log"), os.environ["BENCH_KEEP_LOG"])
        shutil.rmtree(self.dir, ignore_errors=True)


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)
