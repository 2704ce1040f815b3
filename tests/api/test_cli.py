"""The command line: version, --help, exit codes, configuration errors (exit 2, one line naming
the variable), healthcheck and migrate."""
import os
import re
import socket
import subprocess
import threading

import pytest

from conftest import DRIVER, Database, base_env, free_port, tail

EXIT_USAGE = 2


def praxis_bin():
    path = os.environ.get("PRAXIS_BIN")
    if not path:
        pytest.fail("PRAXIS_BIN is not set", pytrace=False)
    return path


def run(args, tmp_path, env=None, timeout=30, stdin=subprocess.DEVNULL):
    """Runs praxis in tmp_path (so no stray .env is read) with a valid base configuration."""
    e = base_env()
    e.update({
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "sqlite://" + str(tmp_path / "cli.db"),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "info",
    })
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([praxis_bin()] + list(args), env=e, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=timeout, stdin=stdin)


def show(p):
    return f"exit {p.returncode}\nstdout:\n{tail(p.stdout, 3000)}\nstderr:\n{tail(p.stderr, 5000)}"


def test_version(tmp_path):
    p = run(["version"], tmp_path)
    assert p.returncode == 0, show(p)
    assert re.fullmatch(r"praxis \d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?\n", p.stdout), \
        p.stdout


def test_main_help(tmp_path):
    p = run(["--help"], tmp_path)
    assert p.returncode == 0, show(p)
    assert "usage" in p.stdout.lower()
    for cmd in ("serve", "migrate", "seed", "admin", "healthcheck", "version"):
        assert cmd in p.stdout


@pytest.mark.parametrize("cmd", [["serve"], ["migrate"], ["seed"], ["admin"], ["admin", "create"],
                                 ["healthcheck"], ["version"]])
def test_command_help(tmp_path, cmd):
    p = run(cmd + ["--help"], tmp_path)
    assert p.returncode == 0, show(p)
    assert "usage" in p.stdout.lower(), show(p)
    # --help does nothing else: no database is created.
    assert not (tmp_path / "cli.db").exists()


def test_unknown_command(tmp_path):
    p = run(["frobnicate"], tmp_path)
    assert p.returncode == EXIT_USAGE, show(p)
    assert "frobnicate" in p.stderr


def test_no_command(tmp_path):
    p = run([], tmp_path)
    assert p.returncode == EXIT_USAGE, show(p)
    assert "usage" in p.stderr.lower()


@pytest.mark.parametrize("args", [["serve", "--bogus"], ["serve", "extra"],
                                  ["serve", "--port", "abc"], ["serve", "--port", "70000"],
                                  ["serve", "--services", "nosuch"], ["healthcheck", "--port", "x"],
                                  ["migrate", "extra"]])
def test_bad_arguments_exit_2(tmp_path, args):
    p = run(args, tmp_path, timeout=20)
    assert p.returncode == EXIT_USAGE, show(p)


def assert_config_error(p, variable, allow_log_lines=False):
    """Exit 2 and one line naming the variable. allow_log_lines: errors found after start-up
    began (the port is bound after migrating) may follow the JSON log lines of that start-up."""
    assert p.returncode == EXIT_USAGE, show(p)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    if allow_log_lines:
        lines = [line for line in lines if not line.startswith("{")]
    assert len(lines) == 1, f"expected one line, got:\n{p.stderr}"
    assert variable in lines[0], lines[0]
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr


@pytest.mark.parametrize("variable,value", [
    ("PORT", "abc"),
    ("PORT", "0x50"),
    ("PORT", "99999"),
    ("DATABASE_URL", "mysql://x"),
    ("DATABASE_URL", "sqlite://"),
    ("HTTP_THREADS", "0"),
    ("LOG_LEVEL", "loud"),
    ("PUBLIC_URL", "ftp://example.test"),
    ("CORS_ORIGINS", "not an origin"),
    ("SHUTDOWN_GRACE_SECONDS", "-1"),
    ("PRODUCTION", "maybe"),
])
def test_config_errors_name_the_variable(tmp_path, variable, value):
    p = run(["serve", "--port", "0"], tmp_path, env={variable: value}, timeout=20)
    assert_config_error(p, variable)


def test_short_jwt_secret_in_production(tmp_path):
    p = run(["serve", "--port", "0"], tmp_path,
            env={"PRODUCTION": "true", "JWT_SECRET": "short"}, timeout=20)
    assert_config_error(p, "JWT_SECRET")
    # The secret itself is never echoed.
    assert '"short"' not in p.stderr


def test_missing_jwt_secret_in_production(tmp_path):
    p = run(["serve", "--port", "0"], tmp_path, env={"PRODUCTION": "true", "JWT_SECRET": None},
            timeout=20)
    assert_config_error(p, "JWT_SECRET")


def test_data_dir_under_a_regular_file(tmp_path):
    blocker = tmp_path / "plainfile"
    blocker.write_text("not a directory")
    p = run(["serve", "--port", "0"], tmp_path, env={"DATA_DIR": str(blocker / "x")}, timeout=20)
    assert_config_error(p, "DATA_DIR")


def test_data_dir_is_a_file(tmp_path):
    blocker = tmp_path / "plainfile"
    blocker.write_text("not a directory")
    p = run(["serve", "--port", "0"], tmp_path, env={"DATA_DIR": str(blocker)}, timeout=20)
    assert_config_error(p, "DATA_DIR")


def test_database_url_password_never_echoed(tmp_path):
    p = run(["serve", "--port", "0"], tmp_path,
            env={"DATABASE_URL": "postgres://praxis:hunter2secret@127.0.0.1:1/nodb"}, timeout=30)
    assert p.returncode != 0, show(p)
    assert "hunter2secret" not in p.stderr + p.stdout, show(p)
    assert "DATABASE_URL" in p.stderr, show(p)


def test_occupied_port(tmp_path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        p = run(["serve", "--port", str(port)], tmp_path, timeout=30)
    finally:
        s.close()
    assert_config_error(p, "PORT", allow_log_lines=True)
    assert str(port) in p.stderr


def test_healthcheck_against_running_server(praxis, tmp_path):
    p = run(["healthcheck", "--port", str(praxis.port)], tmp_path, timeout=20)
    assert p.returncode == 0, show(p)


def test_healthcheck_port_from_env(praxis, tmp_path):
    p = run(["healthcheck"], tmp_path, env={"PORT": str(praxis.port)}, timeout=20)
    assert p.returncode == 0, show(p)


def test_healthcheck_against_closed_port(tmp_path):
    p = run(["healthcheck", "--port", str(free_port())], tmp_path, timeout=20)
    assert p.returncode == 1, show(p)


def test_healthcheck_against_non_ready_answer(tmp_path):
    """A listener that answers something other than 200 is not ready."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    def answer():
        c, _ = srv.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n")
        c.close()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        p = run(["healthcheck", "--port", str(port)], tmp_path, timeout=20)
    finally:
        t.join(5)
        srv.close()
    assert p.returncode == 1, show(p)


def migrate_env(db):
    return {"DATABASE_URL": db.url}


def test_migrate_twice(tmp_path, database):
    env = migrate_env(database)
    p1 = run(["migrate"], tmp_path, env=env, timeout=60)
    assert p1.returncode == 0, show(p1)
    p2 = run(["migrate"], tmp_path, env=env, timeout=60)
    assert p2.returncode == 0, show(p2)


def test_migrate_concurrently(tmp_path):
    """Processes migrating one fresh database at once all succeed (advisory lock on
    PostgreSQL, busy timeout on SQLite). Several rounds of two processes, each round on a
    fresh database: the race is at creation time."""
    rounds = 12 if DRIVER == "sqlite" else 3
    for round_ in range(rounds):
        d = tmp_path / f"round{round_}"
        d.mkdir()
        db = Database(d)
        try:
            e = base_env()
            e.update({"DATA_DIR": str(d / "data"), "DATABASE_URL": db.url, "LOG_LEVEL": "info"})
            procs = [subprocess.Popen([praxis_bin(), "migrate"], env=e, cwd=str(d),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
            outs = [p.communicate(timeout=60) for p in procs]
            for p, (out, err) in zip(procs, outs):
                assert p.returncode == 0, f"round {round_}: exit {p.returncode}\n{tail(err, 5000)}"
            p = run(["migrate"], d, env={"DATABASE_URL": db.url}, timeout=60)
            assert p.returncode == 0, show(p)
        finally:
            db.drop()


def test_serve_on_migrated_database(database, start_server, tmp_path):
    p = run(["migrate"], tmp_path, env={"DATABASE_URL": database.url}, timeout=60)
    assert p.returncode == 0, show(p)
    srv = start_server("praxis", database=database)
    assert srv.get("/health/ready").status_code == 200


# ---- .env ---------------------------------------------------------------------------------------


def test_dotenv_is_read(tmp_path):
    db = tmp_path / "from-dotenv.db"
    (tmp_path / ".env").write_text(f"# comment\nDATABASE_URL=sqlite://{db}\n")
    p = run(["migrate"], tmp_path, env={"DATABASE_URL": None})
    assert p.returncode == 0, show(p)
    assert db.exists()


def test_environment_wins_over_dotenv(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_URL=mysql://ignored\n")
    p = run(["migrate"], tmp_path)  # DATABASE_URL set in the environment
    assert p.returncode == 0, show(p)


def test_dotenv_bad_value_names_the_variable(tmp_path):
    (tmp_path / ".env").write_text("LOG_LEVEL=loud\n")
    p = run(["serve", "--port", "0"], tmp_path, env={"LOG_LEVEL": None}, timeout=20)
    assert_config_error(p, "LOG_LEVEL")


def test_dotenv_malformed_line(tmp_path):
    (tmp_path / ".env").write_text("GOOD=1\nthis line is not an assignment\n")
    p = run(["serve", "--port", "0"], tmp_path, timeout=20)
    assert_config_error(p, ".env:2")


def test_healthcheck_reads_port_from_dotenv(praxis, tmp_path):
    """`praxis healthcheck` is meant for container probes, where PORT usually comes from the
    same .env the server read."""
    (tmp_path / ".env").write_text(f"PORT={praxis.port}\n")
    p = run(["healthcheck"], tmp_path, env={"PORT": None}, timeout=20)
    assert p.returncode == 0, show(p)
