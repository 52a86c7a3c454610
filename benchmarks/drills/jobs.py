"""Running the real ``flask --app wsgi comm <job>`` commands as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from benchmarks.infra import API_TOKEN, ROOT, service_capabilities
from communication_service.config import as_sqlalchemy_url

JOB_NOW = datetime(2026, 12, 1, 7, 0)  # a Tuesday morning, no holiday


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def later(days: float = 0, minutes: float = 0) -> str:
    return iso(JOB_NOW + timedelta(days=days, minutes=minutes))


def missing_commands(*names: str) -> list[str]:
    _, commands = service_capabilities()
    return [name for name in names if name not in commands]


@dataclass
class Job:
    name: str
    process: subprocess.Popen
    output_path: str
    output: str = ""  # what the job printed, once it has ended

    def wait(self, timeout: float = 300) -> int:
        code = self.process.wait(timeout=timeout)
        with open(self.output_path, errors="replace") as handle:
            self.output = handle.read()
        os.unlink(self.output_path)
        return code


def start_job(name: str, database_url: str, now: str, smtp_port: int | None = None) -> Job:
    """``flask --app wsgi comm <name> --now <now>`` in a new process (output to a temp file)."""
    env = {
        **os.environ,
        "DATABASE_URL": as_sqlalchemy_url(database_url),
        "API_TOKENS": API_TOKEN,  # not used by jobs; set so start-up does not warn
        "LOG_LEVEL": "WARNING",
    }
    if smtp_port is not None:
        env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)})
    handle, output_path = tempfile.mkstemp(prefix=f"job-{name}-", suffix=".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "comm", name, "--now", now],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    os.close(handle)
    return Job(name, process, output_path)


def run_job(name: str, database_url: str, now: str, smtp_port: int | None = None) -> Job:
    job = start_job(name, database_url, now, smtp_port)
    job.wait()
    return job
