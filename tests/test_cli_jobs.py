"""How the jobs report: a bar on a terminal (nothing in logs and cron mails), one summary line
on stdout and as one log line, and an exit status a scheduler can alert on."""

from __future__ import annotations

import io
import json
import mailbox
import os
import subprocess
import sys

from sqlalchemy.engine import make_url

from communication_service.cli import TerminalProgress
from tests import mail_samples as samples
from tests.gunicorn import REPO, server_env


def run_job(database_url: str, job: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``flask --app wsgi comm <job>`` in its own process, as cron or a CronJob runs it."""
    plain = make_url(database_url).set(drivername="postgresql")
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "comm", job, *args],
        cwd=REPO,
        env=server_env(DATABASE_URL=plain.render_as_string(hide_password=False), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_job_reports_its_run_as_one_json_line_and_exits_zero(app, database_url):
    result = run_job(database_url, "batch-emails", LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    summary = [line for line in lines if line.get("job") == "batch-emails"]
    assert len(summary) == 1 and summary[0]["result"] == "ok"
    assert summary[0]["message"] == result.stdout.strip()


def test_import_mail_reads_a_maildir_and_reports_one_json_line(app, database_url, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    key = box.add(samples.fresh_email(sender="praxis@example.de"))
    result = run_job(
        database_url, "import-mail", "--maildir", str(tmp_path / "Maildir"), LOG_FORMAT="json"
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    [summary] = [line for line in lines if line.get("job") == "import-mail"]
    assert summary["result"] == "ok" and summary["message"] == result.stdout.strip()
    assert "1 messages read, 1 stored (unknown 1)" in summary["message"]
    assert os.listdir(tmp_path / "Maildir" / "cur") == [f"{key}:2,"]


def test_a_job_without_its_database_exits_one_with_one_line():
    result = run_job("postgresql://nobody@127.0.0.1:1/nothing", "schedule-follow-ups")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    reported = [line for line in result.stderr.splitlines() if "database unavailable" in line]
    assert len(reported) == 1 and "schedule-follow-ups" in reported[0]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    progress = TerminalProgress("rendering emails")
    for done in range(1, 4):
        progress(done, 3)
    progress.close()
    assert "rendering emails" in terminal.getvalue()

    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    progress = TerminalProgress("rendering emails")
    progress(1, 3)
    progress.close()
    assert piped.getvalue() == ""
