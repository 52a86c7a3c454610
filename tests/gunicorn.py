"""A real gunicorn for tests: ``gunicorn -c gunicorn.conf.py wsgi:app`` on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def server_env(**settings: str) -> dict[str, str]:
    """This process's environment without the service's own settings, plus ``settings``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "FLASK_",
                "GUNICORN_",
                "WEB_CONCURRENCY",
                "API_TOKENS",
                "PROMETHEUS_MULTIPROC_DIR",
                "APP_ENV",
            )
        )
    }
    return {**env, **settings}


class Gunicorn:
    """gunicorn wsgi:app with the project's gunicorn.conf.py, its stderr read line by line."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                str(workers),
                "wsgi:app",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.base_url = self._wait_for_listening()

    def _wait_for_listening(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise AssertionError(f"gunicorn exited: {self.lines}")
            self.lines.append(line)
            match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
            if match:
                return match.group(1)
        raise AssertionError(f"gunicorn did not start: {self.lines}")

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        req = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def stop(self) -> list[str]:
        self.process.send_signal(signal.SIGTERM)
        _, rest = self.process.communicate(timeout=60)
        self.lines.extend(rest.splitlines(keepends=True))
        return self.lines
