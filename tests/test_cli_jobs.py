"""How the jobs report: a bar on a terminal (nothing in logs and cron mails), one summary line
on stdout and as one log line, and an exit status a scheduler can alert on."""

from __future__ import annotations

import io
import json
import logging
import mailbox
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import click
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from communication_service import cli
from communication_service.cli import TerminalProgress
from communication_service.models import Email, EmailBatch, Therapist
from tests import mail_samples as samples
from tests.conftest import BERLIN, DEFAULT_NOW
from tests.factories import make_email, make_placement_request, make_therapist
from tests.gunicorn import REPO, server_env

TODAY = DEFAULT_NOW.date()


def days_ago(days: int) -> datetime:
    """A ``sent_at`` (naive UTC) on the Berlin day ``days`` before today, at noon."""
    day = TODAY - timedelta(days=days)
    return (
        datetime(day.year, day.month, day.day, 12, tzinfo=BERLIN)
        .astimezone(UTC)
        .replace(tzinfo=None)
    )


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


# --- what a job left alone, and why (counted in the summary, named with --verbose) ------------


def invoke(app, *args: str):
    result = app.test_cli_runner().invoke(args=["comm", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()


def waiting_request(session, therapist_id: int, **values) -> int:
    return make_placement_request(session, therapist_id=therapist_id, **values)


def test_batch_emails_counts_the_therapists_it_skipped_by_reason(app, session, client):
    emailed = make_therapist(session, nachname="Geheimname")
    make_email(session, therapist_id=emailed, status="sent", sent_at=days_ago(3))
    cooling, blocked, eligible = (make_therapist(session) for _ in range(3))
    session.execute(sa.update(Therapist).where(Therapist.id == blocked).values(status="blocked"))
    session.commit()
    waiting_request(session, cooling, status="rejected", response_date=TODAY - timedelta(days=3))
    pending = make_therapist(session, email=None)
    assert client.post("/api/phone-calls", json={"therapist_id": pending}).status_code == 201
    no_hours = make_therapist(session, email=None, telefonische_erreichbarkeit={})
    away = make_therapist(session)
    absence = {"starts_on": TODAY.isoformat(), "ends_on": (TODAY + timedelta(days=3)).isoformat()}
    assert client.post(f"/api/therapists/{away}/absences", json=absence).status_code == 201
    for therapist in (emailed, cooling, blocked, eligible, pending, no_hours, away):
        waiting_request(session, therapist)

    [summary] = invoke(app, "batch-emails")
    assert summary.startswith("batch-emails: 1 emails queued carrying 1 requests")
    assert summary.endswith(
        "; 0 calls scheduled carrying 0 requests for therapists without an email address"
        "; 1 not booked now (1 no telephone hours)"
        "; 5 therapists skipped "
        "(1 absent, 1 call pending, 1 contacted within 7 days, 1 cooling period, 1 not active)"
    )

    session.execute(sa.delete(Email).where(Email.therapist_id == eligible))
    session.commit()
    summary, *details = invoke(app, "batch-emails", "--verbose")
    assert details == [
        f"batch-emails: not booked now, no telephone hours: therapists {no_hours}",
        f"batch-emails: skipped, absent: therapists {away}",
        f"batch-emails: skipped, call pending: therapists {pending}",
        f"batch-emails: skipped, contacted within 7 days: therapists {emailed}",
        f"batch-emails: skipped, cooling period: therapists {cooling}",
        f"batch-emails: skipped, not active: therapists {blocked}",
    ]
    assert "Geheimname" not in "\n".join([summary, *details])  # ids only


def test_schedule_follow_ups_counts_the_emails_it_skipped_by_reason(app, session, client):
    def sent_to(therapist_id: int, **request_values) -> int:
        request = waiting_request(session, therapist_id, **request_values)
        return make_email(
            session,
            therapist_id=therapist_id,
            status="sent",
            sent_at=days_ago(7),
            placement_request_ids=(request,),
        )

    sent_to(make_therapist(session))  # followed up
    blocked = sent_to(make_therapist(session, status="blocked"))
    cooling_therapist = make_therapist(session)
    cooling = sent_to(cooling_therapist)
    waiting_request(
        session, cooling_therapist, status="rejected", response_date=TODAY - timedelta(days=5)
    )
    not_due = sent_to(make_therapist(session), next_contact_after=TODAY + timedelta(days=3))
    on_call_therapist = make_therapist(session)
    on_call = sent_to(on_call_therapist)
    [request] = session.scalars(
        sa.select(EmailBatch.placement_request_id).where(EmailBatch.email_id == on_call)
    )
    booked = client.post(
        "/api/phone-calls",
        json={"therapist_id": on_call_therapist, "placement_request_ids": [request]},
    )
    assert booked.status_code == 201
    no_hours = make_therapist(session, telefonische_erreichbarkeit={})
    sent_to(no_hours)

    summary, *details = invoke(app, "schedule-follow-ups", "-v")
    assert summary == (
        "schedule-follow-ups: 1 follow-up calls scheduled carrying 1 requests of 2 unanswered "
        "emails; 1 not booked now (1 no telephone hours); 4 emails skipped (1 cooling period, "
        "1 no request due yet, 1 not active, 1 requests already on a call)"
    )
    assert details == [
        f"schedule-follow-ups: not booked now, no telephone hours: therapists {no_hours}",
        f"schedule-follow-ups: skipped, cooling period: emails {cooling}",
        f"schedule-follow-ups: skipped, no request due yet: emails {not_due}",
        f"schedule-follow-ups: skipped, not active: emails {blocked}",
        f"schedule-follow-ups: skipped, requests already on a call: emails {on_call}",
    ]


def test_send_emails_and_run_daily_name_what_they_withdrew(app, session, caplog):
    blocked, cooling = make_therapist(session), make_therapist(session)
    for therapist in (blocked, cooling):
        waiting_request(session, therapist)
    invoke(app, "batch-emails")
    emails = dict(session.execute(sa.select(Email.therapist_id, Email.id)).all())
    session.execute(sa.update(Therapist).where(Therapist.id == blocked).values(status="blocked"))
    waiting_request(session, cooling, status="rejected", response_date=TODAY)
    session.commit()

    with caplog.at_level(logging.INFO, logger="communication_service.jobs"):
        summary, *details = invoke(app, "run-daily", "--verbose")
    assert "send-emails: 0 sent, 0 to retry later, 0 failed, 0 recovered from a stale " in summary
    assert "2 queued batching emails withdrawn (1 cooling period, 1 not active)" in summary
    assert details == [  # batch-emails ran first: the requests were still in those emails
        f"send-emails: withdrawn, cooling period: emails {emails[cooling]}",
        f"send-emails: withdrawn, not active: emails {emails[blocked]}",
    ]
    [logged] = [r for r in caplog.records if getattr(r, "fields", {}).get("job") == "run-daily"]
    assert logged.getMessage() == summary and logged.fields["details"] == details


def test_without_verbose_a_job_prints_its_summary_only(app, session):
    waiting_request(session, make_therapist(session, status="blocked"))
    [summary] = invoke(app, "batch-emails")
    assert summary.endswith("; 1 therapists skipped (1 not active)")


def _job_failures(name: str) -> float:
    from communication_service.metrics import JOB_RUNS

    return JOB_RUNS.labels(name, "failed")._value.get()


def test_an_unexpected_error_stops_a_job_with_one_line_naming_its_place_not_its_data(
    app, capsys, caplog
):
    def broken() -> None:
        patient = {"vorname": "Clara", "nachname": "Brandt"}
        raise ValueError(f"cannot offer {patient['vorname']} {patient['nachname']}")

    failures = _job_failures("batch-emails")
    with pytest.raises(click.exceptions.Exit) as stopped:
        cli.run_job("batch-emails", broken)
    assert stopped.value.exit_code == 1
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"batch-emails: stopped by an unexpected error"
        r" \(ValueError at tests/test_cli_jobs\.py:\d+\)\n",
        out,
    ), out
    [logged] = [r for r in caplog.records if r.name == "communication_service.jobs"]
    assert logged.levelno == logging.ERROR and logged.getMessage() == out.strip()
    assert "Brandt" not in caplog.text and "Traceback" not in caplog.text
    assert _job_failures("batch-emails") == failures + 1


def test_a_job_aborted_by_a_deadlock_says_so_and_to_run_it_again(
    app, session, database_url, capsys
):
    """A real deadlock: the job's transaction waits for a row another one holds, which waits
    for the job's. PostgreSQL aborts the job's (its deadlock check runs first)."""
    first, second = make_therapist(session), make_therapist(session)
    session.commit()
    lock = sa.text("SELECT 1 FROM therapist_service.therapists WHERE id = :id FOR UPDATE")
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    other = engine.connect()
    other.execute(sa.text("SET deadlock_timeout = '30s'"))
    other.execute(lock, {"id": first})
    blocked = threading.Thread(target=lambda: other.execute(lock, {"id": second}))

    def job() -> None:
        with engine.begin() as connection:
            connection.execute(sa.text("SET LOCAL deadlock_timeout = '50ms'"))
            connection.execute(lock, {"id": second})
            blocked.start()
            _wait_until_waiting_for_a_lock(connection)
            connection.execute(lock, {"id": first})

    try:
        with pytest.raises(click.exceptions.Exit) as stopped:
            cli.run_job("schedule-follow-ups", job)
    finally:
        blocked.join(10)
        other.rollback()
        other.close()
        engine.dispose()
    assert stopped.value.exit_code == 1
    assert capsys.readouterr().out == (
        "schedule-follow-ups: stopped by a concurrent writer (deadlock detected); its open "
        "transaction was rolled back, run it again\n"
    )


def _wait_until_waiting_for_a_lock(connection: sa.Connection) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the other transaction never waited for the job's row")
