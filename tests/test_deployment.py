"""Starting it: the production guard (no database, no start), gunicorn's worker count from the
container's CPU quota, the start-up messages, and the local mail catcher of run-local."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from communication_service import create_app, serving
from communication_service.config import ConfigError
from communication_service.database import NO_DATABASE
from communication_service.extensions import db
from tests.conftest import API_TOKEN, _shared_dir
from tests.smtp_sink import free_port

REPO = Path(__file__).resolve().parents[1]
# The service's own settings, and what run-local or the metrics set: a test chooses them.
SERVICE_VARIABLES = (
    "APP_ENV",
    "DATABASE_URL",
    "EMBEDDED_",
    "API_TOKENS",
    "FLASK_",
    "GUNICORN_",
    "WEB_CONCURRENCY",
    "LOCAL_BANNER",
    "LOG_FORMAT",
    "PROMETHEUS_MULTIPROC_DIR",
)


def service_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_VARIABLES)}
    return {**env, **settings}


def plain(url: str) -> str:
    """The URL as an operator writes it (``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run(*command: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=REPO,
        env=service_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# The production guard ----------------------------------------------------------------------


def test_without_database_url_the_app_refuses_with_one_line():
    with pytest.raises(ConfigError) as refused:
        create_app({"database_url": "", "embedded_postgres": False, "api_tokens": API_TOKEN})
    message = str(refused.value)
    assert message == NO_DATABASE
    assert "\n" not in message
    assert "set DATABASE_URL=postgresql://" in message and "EMBEDDED_POSTGRES=1" in message


@pytest.mark.parametrize(
    "command",
    [
        ("flask", "--app", "wsgi", "db", "upgrade"),
        ("flask", "--app", "wsgi", "comm", "run-daily"),
        ("gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "wsgi:app"),
    ],
    ids=["flask db upgrade", "comm run-daily", "gunicorn"],
)
def test_a_plain_start_without_database_url_stops_with_one_line(command):
    result = run(*command)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "DATABASE_URL" in line]
    assert len(refusals) == 1, result.stderr  # gunicorn: from the master, not per worker
    assert NO_DATABASE in refusals[0]
    assert "Booting worker" not in result.stderr


def test_gunicorn_refuses_as_one_json_line_with_log_format_json():
    result = run(
        "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "wsgi:app",
        LOG_FORMAT="json",
    )  # fmt: skip
    assert result.returncode == 4
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    refusals = [entry for entry in entries if "DATABASE_URL" in entry["message"]]
    assert len(refusals) == 1 and refusals[0]["level"] == "ERROR"
    assert refusals[0]["message"] == f"configuration error: {NO_DATABASE}"


def test_embedded_postgres_when_asked_for(pg_server_url, tmp_path_factory, worker_id):
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the run's server is TEST_DATABASE_URL, not the embedded one")
    # The run's embedded server (tests/pg.py started it): the app joins it, as run-local's
    # processes join one another's.
    pgdata = _shared_dir(tmp_path_factory, worker_id) / "pgdata"
    app = create_app(
        {
            "database_url": "",
            "embedded_postgres": "1",
            "embedded_pgdata": str(pgdata),
            "api_tokens": API_TOKEN,
        }
    )
    try:
        assert make_url(app.config["SQLALCHEMY_DATABASE_URI"]).drivername == "postgresql+psycopg2"
        with app.app_context():
            directory = db.session.execute(sa.text("SHOW data_directory")).scalar_one()
            assert Path(directory).resolve() == pgdata.resolve()
            db.session.remove()
            db.engine.dispose()
    finally:
        app.extensions["reader"].close()


def test_database_url_wins_over_the_switch(database_url):
    app = create_app(
        {"database_url": database_url, "embedded_postgres": "1", "api_tokens": API_TOKEN}
    )
    try:
        assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url
    finally:
        app.extensions["reader"].close()


# Workers from the CPU quota ----------------------------------------------------------------


@pytest.fixture
def eight_cpus(monkeypatch):
    monkeypatch.setattr(serving, "usable_cpus", lambda: 8)


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def cgroup_v1(root: Path, quota: int, period: int, controller: str = "cpu,cpuacct") -> Path:
    directory = root / controller
    directory.mkdir(parents=True)
    (directory / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (directory / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "workers"),
    [
        ("max 100000", 8),  # no limit: the CPUs
        ("200000 100000", 2),
        ("150000 100000", 2),  # 1.5 CPUs: rounded up
        ("50000 100000", 1),  # half a CPU: still one worker
        ("1600000 100000", 8),  # a quota above the CPUs: the CPUs
    ],
)
def test_workers_follow_the_cgroup_v2_quota(tmp_path, eight_cpus, cpu_max, workers):
    root = cgroup_v2(tmp_path / "cgroup", cpu_max)
    assert serving.worker_count({}, cgroup_root=root) == workers


def test_workers_follow_the_cgroup_v1_quota(tmp_path, eight_cpus):
    assert serving.worker_count({}, cgroup_root=cgroup_v1(tmp_path / "a", 300000, 100000)) == 3
    unlimited = cgroup_v1(tmp_path / "b", -1, 100000, controller="cpu")
    assert serving.worker_count({}, cgroup_root=unlimited) == 8


def test_without_a_cgroup_the_cpus_count(tmp_path, eight_cpus):
    assert serving.cpu_quota(tmp_path / "nothing") is None
    assert serving.worker_count({}, cgroup_root=tmp_path / "nothing") == 8
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "cpu.max").write_text("?")
    assert serving.worker_count({}, cgroup_root=tmp_path / "garbled") == 8


def test_web_concurrency_overrides_the_quota(tmp_path, eight_cpus):
    root = cgroup_v2(tmp_path / "cgroup", "100000 100000")
    assert serving.worker_count({"WEB_CONCURRENCY": "5"}, cgroup_root=root) == 5


def test_gunicorn_conf_takes_its_workers_from_worker_count(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-not-used")  # no temp dir made
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf_under_test", REPO / "gunicorn.conf.py"
    )
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.workers == 3
    assert conf.control_socket_disable is True


# No API_TOKENS warning outside the HTTP server ---------------------------------------------


def test_flask_help_and_jobs_do_not_warn_about_api_tokens(app, database_url):
    for command in (("flask", "--app", "wsgi", "--help"), ("flask", "--app", "wsgi", "comm",
                    "batch-emails")):  # fmt: skip
        result = run(*command, DATABASE_URL=plain(database_url))
        assert result.returncode == 0, result.stderr
        assert "API_TOKENS" not in result.stdout + result.stderr


def test_gunicorn_warns_once_runs_without_a_writable_home_and_prints_the_bound_address(
    database_url, tmp_path
):
    """The banner (run-local's ``LOCAL_BANNER``) names the address gunicorn actually bound."""
    stdout = tmp_path / "stdout"
    env = service_env(
        DATABASE_URL=plain(database_url),
        HOME="/dev/null/no-home",  # cannot be created, not even by root
        LOCAL_BANNER="serving on {url} now",
    )
    env.pop("XDG_RUNTIME_DIR", None)
    with open(stdout, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
             "127.0.0.1:0", "--workers", "1", "wsgi:app"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    lines: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line, f"gunicorn exited: {lines}"
            lines.append(line)
            if match := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line):
                url = match.group(1)
        assert url, lines
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"no answer from {url}")
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
        lines.extend(rest.splitlines(keepends=True))
    log = "".join(lines)
    assert log.count("API_TOKENS is empty") == 1, log
    assert "control socket" not in log.lower(), log
    assert "Traceback" not in log
    assert f"serving on {url} now" in stdout.read_text()


# The local mail catcher --------------------------------------------------------------------


def start_catcher(directory: Path, port: int, *, parent: str = "") -> subprocess.Popen:
    """``scripts/mailcatcher.py``, directly or as the child of a shell ``parent`` runs on in."""
    catcher = [
        sys.executable,
        "scripts/mailcatcher.py",
        "--port",
        str(port),
        "--dir",
        str(directory),
    ]
    argv = ["bash", "-c", f'"$@" & exec {parent}', "bash", *catcher] if parent else catcher
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    ready = process.stdout.readline()
    assert f"SMTP on 127.0.0.1:{port}" in ready, ready
    return process


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_the_mail_catcher_writes_each_message_as_an_eml_file(tmp_path):
    port, directory = free_port(), tmp_path / "mail"
    catcher = start_catcher(directory, port)
    try:
        message = EmailMessage()
        message["From"] = "vermittlung@example.org"
        message["To"] = "praxis@example.org"
        message["Subject"] = "Anfrage: Psychotherapieplätze"
        message.set_content("Guten Tag,\nÄrztin\n")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        summary = catcher.stdout.readline()
    finally:
        catcher.terminate()
        catcher.communicate(timeout=30)
    files = sorted(directory.glob("*.eml"))
    assert len(files) == 1 and not list(directory.glob("*.part"))
    received = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert received["Subject"] == "Anfrage: Psychotherapieplätze"
    assert received.get_content().replace("\r\n", "\n") == "Guten Tag,\nÄrztin\n"  # as sent
    assert summary.strip() == (
        f"mail: to praxis@example.org | Anfrage: Psychotherapieplätze -> {files[0]}"
    )


def test_the_mail_catcher_stops_with_its_parent(tmp_path):
    """As under run-local: the shell's process becomes gunicorn; when that ends, so does the
    catcher (here the shell becomes ``sleep``, and is ended by SIGTERM)."""
    port = free_port()
    shell = start_catcher(tmp_path / "mail", port, parent="sleep 120")
    try:
        assert listening(port)
        shell.terminate()
        shell.wait(timeout=30)
        deadline = time.monotonic() + 15
        while listening(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not listening(port)
    finally:
        shell.kill()
        shell.stdout.close()


def test_the_mail_catcher_refuses_a_taken_port_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "scripts/mailcatcher.py", "--port", str(port), "--dir", str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"mail catcher: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr
