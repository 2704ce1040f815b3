"""Fixtures for the black-box API suite: real `praxis` / `praxis-harness` processes on free
127.0.0.1 ports, each with its own temp dir and a fresh database (SQLite file or a throwaway
PostgreSQL database), stopped with SIGTERM and required to exit 0 (the binaries run under
AddressSanitizer with leak detection: a nonzero exit is a leak or a crash).

Environment (set by ctest, see tests/CMakeLists.txt):
  PRAXIS_BIN          the praxis binary
  PRAXIS_HARNESS      the test harness (praxis + hidden /_test routes)
  PRAXIS_TEST_DRIVER  sqlite (default) or postgres
  PRAXIS_TEST_PG_URL  postgres://postgres@127.0.0.1:PORT/postgres (postgres runs only)
"""
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests

DRIVER = os.environ.get("PRAXIS_TEST_DRIVER", "sqlite").strip().lower() or "sqlite"
PG_URL = os.environ.get("PRAXIS_TEST_PG_URL", "")
CORS_ORIGIN = "https://app.example.test"
TIMEOUT = 10  # seconds, for every HTTP request the suite makes
START_TIMEOUT = 20
STOP_TIMEOUT = 20

# Variables the binaries read; scrubbed from the inherited environment so a developer's shell
# cannot change what the suite tests.
CONFIG_VARS = (
    "PRODUCTION", "HOST", "PORT", "DATABASE_URL", "DATA_DIR", "HTTP_THREADS",
    "REQUEST_TIMEOUT_SECONDS", "SHUTDOWN_GRACE_SECONDS", "DB_POOL_SIZE", "JWT_SECRET",
    "PUBLIC_URL", "CORS_ORIGINS", "LOG_LEVEL", "SEED_DIR", "REDIS_URL",
    "DATA_KEY", "STT_ENGINE", "STT_URL", "STT_API_KEY", "STT_MODEL", "STT_MODEL_DIR",
    "STT_DECODERS", "TTS_ENGINE", "TTS_URL", "TTS_API_KEY", "TTS_MODEL", "LLM_BASE_URL",
    "LLM_API_KEY", "LLM_MODEL", "LLM_TIMEOUT_MS", "VAD_HANGOVER_SHORT_MS",
    "VAD_HANGOVER_LONG_MS", "VAD_MIN_SPEECH_MS", "STREAM_IDLE_SECONDS", "LIVEKIT_URL",
    "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "BILLING_PROVIDER", "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PRICE_STANDARD",
    "STRIPE_PRICE_PREMIUM", "STRIPE_TIMEOUT_MS", "BILLING_GRACE_DAYS",
)

_counter = itertools.count(1)


def pytest_report_header(config):
    return f"praxis driver: {DRIVER}; bin: {os.environ.get('PRAXIS_BIN')}; " \
           f"harness: {os.environ.get('PRAXIS_HARNESS')}"


def _binary(var):
    path = os.environ.get(var)
    if not path:
        pytest.fail(f"{var} is not set (the path of the binary under test)", pytrace=False)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{var}={path} is not an executable file", pytrace=False)
    return path


def base_env():
    """The inherited environment without praxis configuration, plus sanitizer options."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def tail(text, limit=15000):
    return text if len(text) <= limit else "...\n" + text[-limit:]


# ---- databases --------------------------------------------------------------------------


def psql(sql, url=None, check=True):
    """Runs one SQL statement with the psql client against the test cluster."""
    url = url or PG_URL
    r = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"psql failed ({r.returncode}) for {sql!r}: {r.stderr}")
    return r.stdout


def pg_url_for(dbname):
    parts = urllib.parse.urlsplit(PG_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


class Database:
    """A fresh database for one server: a SQLite file in the server's temp dir, or a new
    PostgreSQL database created with psql and dropped at cleanup."""

    def __init__(self, tmpdir, driver=DRIVER):
        self.driver = driver
        self.name = None
        if driver == "sqlite":
            self.path = os.path.join(str(tmpdir), "praxis.db")
            self.url = "sqlite://" + os.path.abspath(self.path)
        elif driver == "postgres":
            if not PG_URL:
                pytest.fail("PRAXIS_TEST_DRIVER=postgres needs PRAXIS_TEST_PG_URL "
                            "(eval \"$(scripts/pg-temp.sh start)\")", pytrace=False)
            self.name = f"praxis_api_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
            psql(f'CREATE DATABASE "{self.name}"')
            self.url = pg_url_for(self.name)
        else:
            pytest.fail(f"PRAXIS_TEST_DRIVER={driver!r}: expected sqlite or postgres",
                        pytrace=False)

    def drop(self):
        if self.name:
            psql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true', check=False)
            psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', check=False)
            self.name = None


# ---- server processes -------------------------------------------------------------------


class Server:
    """One running praxis (kind "praxis") or harness (kind "harness") process."""

    def __init__(self, kind, tmpdir, extra_env=None, database=None, own_db=None):
        self.kind = kind
        self.tmpdir = str(tmpdir)
        os.makedirs(self.tmpdir, exist_ok=True)
        self.binary = _binary("PRAXIS_BIN" if kind == "praxis" else "PRAXIS_HARNESS")
        self.own_db = database is None if own_db is None else own_db
        self.db = database or Database(self.tmpdir)
        self.env = base_env()
        self.env.update({
            "DATA_DIR": os.path.join(self.tmpdir, "data"),
            "DATABASE_URL": self.db.url,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "info",
            "SHUTDOWN_GRACE_SECONDS": "10",
            "CORS_ORIGINS": CORS_ORIGIN,
            "HTTP_THREADS": "4",
        })
        self.env.update(extra_env or {})
        self.stderr_path = os.path.join(self.tmpdir, f"{kind}.stderr.log")
        self.stdout_path = os.path.join(self.tmpdir, f"{kind}.stdout.log")
        self.proc = None
        self.port = None
        self.returncode = None

    # -- life cycle --

    def start(self, timeout=START_TIMEOUT):
        # --port 0: the kernel picks a free port and the server reports it in its "listening"
        # log line, so two suites running side by side can never race for a port.
        argv = [self.binary, "serve", "--port", "0"] if self.kind == "praxis" \
            else [self.binary, "--port", "0"]
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.tmpdir, stdout=self._out,
                                     stderr=self._err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._close_files()
                pytest.fail(f"{self.kind} exited with {self.proc.returncode} before answering "
                            f"/health/live; stderr:\n{tail(self.stderr())}", pytrace=False)
            if self.port is None:
                self.port = self._listening_port()
            if self.port is not None:
                try:
                    r = requests.get(self.url("/health/live"), timeout=2)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                pytest.fail(f"{self.kind} did not answer /health/live within {timeout} s; "
                            f"stderr:\n{tail(self.stderr())}", pytrace=False)
            time.sleep(0.05)

    def _listening_port(self):
        for rec in self.log_records():
            if rec.get("msg") == "listening" and isinstance(rec.get("port"), int):
                return rec["port"]
        return None

    def _close_files(self):
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the process to end; fails (after killing it) when it does not."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._close_files()
            pytest.fail(f"{self.kind} did not exit within {timeout} s of SIGTERM; stderr:\n"
                        f"{tail(self.stderr())}", pytrace=False)
        self._close_files()
        return self.returncode

    def stop(self, expect=0, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, and require the exit code (0: no leak, no crash)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if expect is not None and rc != expect:
            pytest.fail(f"{self.kind} exited with {rc} (expected {expect}); stderr:\n"
                        f"{tail(self.stderr())}", pytrace=False)
        return rc

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._close_files()
        finally:
            if self.own_db:
                self.db.drop()

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- HTTP --

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, **kw):
        kw.setdefault("timeout", TIMEOUT)
        return requests.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    # -- logs --

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_records(self):
        out = []
        for line in self.stderr().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def wait_log(self, pred, timeout=5):
        """The first JSON log record satisfying pred, polling until timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for rec in self.log_records():
                if pred(rec):
                    return rec
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)


def _session_server(kind, tmp_path_factory):
    srv = Server(kind, tmp_path_factory.mktemp(f"{kind}-{DRIVER}"))
    try:
        srv.start()
        yield srv
        srv.stop(expect=0)
    finally:
        srv.cleanup()


@pytest.fixture(scope="session")
def praxis(tmp_path_factory):
    """The praxis binary, shared by every test that does not stop or reconfigure it."""
    yield from _session_server("praxis", tmp_path_factory)


@pytest.fixture(scope="session")
def harness(tmp_path_factory):
    """The test harness (praxis + /_test routes), shared likewise."""
    yield from _session_server("harness", tmp_path_factory)


@pytest.fixture
def start_server(tmp_path):
    """Factory for servers owned by one test: start_server(kind, env=..., database=...,
    own_db=...). Servers still running at the end are stopped with SIGTERM and must exit 0;
    their database is dropped afterwards when they own it (the default without database=)."""
    servers = []

    def start(kind="praxis", env=None, database=None, own_db=None, start=True):
        srv = Server(kind, tmp_path / f"{kind}{len(servers)}", extra_env=env, database=database,
                     own_db=own_db)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield start
    errors = []
    for srv in servers:
        try:
            if srv.alive:
                srv.stop(expect=0)
        except BaseException as e:  # report every server, not only the first
            errors.append(e)
        finally:
            srv.cleanup()
    if errors:
        raise errors[0]


@pytest.fixture
def database(tmp_path):
    """A fresh database of the current driver, dropped at the end."""
    db = Database(tmp_path)
    yield db
    db.drop()


# ---- helpers shared by the tests ----------------------------------------------------------

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PROBLEM_BASE = "https://oetpraxis.dev/problems/"


def assert_problem(r, status, slug=None):
    """r is an RFC 9457 problem with this status; returns the parsed body."""
    assert r.status_code == status, (r.status_code, r.headers, r.text[:500])
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/problem+json", ctype
    body = r.json()
    assert body["status"] == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("type"), str) and body["type"].startswith(PROBLEM_BASE), body
    if slug:
        assert body["type"] == PROBLEM_BASE + slug, body
    assert r.headers.get("X-Request-Id"), "every response carries X-Request-Id"
    return body


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_prometheus(text):
    """{name: [(labels dict, float value)]} plus {name: type}."""
    samples, types = {}, {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
            continue
        if line.startswith("#"):
            continue
        m = line_re.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        name, labels, value = m.group(1), m.group(2), m.group(3)
        lab = dict(label_re.findall(labels or ""))
        samples.setdefault(name, []).append((lab, float(value)))
    return samples, types


def metric_value(samples, name, **labels):
    for lab, v in samples.get(name, []):
        if all(lab.get(k) == val for k, val in labels.items()):
            return v
    return None


# ---- accounts configuration (issue 3) ------------------------------------------------------
# Scrubbed like the variables above (base_env reads CONFIG_VARS when called), so a developer's
# EMAIL_TRANSPORT=smtp or RATE_LIMIT_WINDOW_SCALE cannot change what the suite tests.
CONFIG_VARS = CONFIG_VARS + (
    "JWT_SECRETS", "JWT_ISSUER", "JWT_AUDIENCE", "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_SECONDS", "EMAIL_VERIFY_TTL_SECONDS", "PASSWORD_RESET_TTL_SECONDS",
    "EMAIL_TRANSPORT", "SMTP_URL", "SMTP_FROM", "RATE_LIMIT_WINDOW_SCALE",
)
