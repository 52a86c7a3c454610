"""``flask --app wsgi comm …``: demo data and the scheduled jobs."""

from __future__ import annotations

import functools
import logging
import secrets
import sys
import sysconfig
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from communication_service import current_settings
from communication_service.clock import Clock, FixedClock, SystemClock, today
from communication_service.context import Context
from communication_service.extensions import db
from communication_service.metrics import record_job

comm_cli = AppGroup("comm", help="Communication Service jobs and tools.")


def job_clock(now: str | None) -> Clock:
    """The app's clock, or one fixed at ``--now`` (ISO timestamp; naive means TIMEZONE)."""
    tz = ZoneInfo(current_settings().timezone)
    if now is None:
        clock = current_app.extensions["clock"]
        return clock if clock is not None else SystemClock(tz)
    try:
        return FixedClock(datetime.fromisoformat(now), tz)
    except ValueError:
        raise click.BadParameter(f"not an ISO timestamp: {now!r}", param_hint="--now") from None


def job_context(clock: Clock) -> Context:
    """The context a job runs in: the app's session, reader and settings, with ``clock``."""
    return Context(db.session, current_app.extensions["reader"], clock, current_settings())


def with_now(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a job ``--now`` and pass it the resulting clock as ``clock``."""

    @click.option("--now", "now", default=None, help="Run as if it were this ISO timestamp.")
    @functools.wraps(command)
    def wrapper(now: str | None, **kwargs: Any) -> Any:
        return command(clock=job_clock(now), **kwargs)

    return wrapper


verbose_option = click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="After the summary, one line per reason naming the therapists or emails (ids only).",
)


@comm_cli.command("demo-data")
@with_now
def demo_data_command(clock: Clock) -> None:
    """Build a realistic week around today (resets the demo's own rows; refuses other data)."""
    from communication_service.services.demo_data import DemoDataRefused, load_demo_data

    try:
        counts = load_demo_data(job_context(clock))
    except DemoDataRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(
        "demo data: "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        + f" (a week around {today(clock).isoformat()})"
    )


@comm_cli.command("new-token")
def new_token_command() -> None:
    """Print a fresh random API token (put it into API_TOKENS)."""
    click.echo(secrets.token_urlsafe(32))


class TerminalProgress:
    """A ``click.progressbar`` when stdout is a terminal; silent in cron jobs and logs."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stdout.isatty()
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=max(total, 1), label=self.label)
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


job_log = logging.getLogger("communication_service.jobs")


def run_job(
    name: str,
    run: Callable[[], Any],
    ok: Callable[[Any], bool] = lambda _: True,
    *,
    verbose: bool = False,
) -> None:
    """Run a job and report it: its one-line summary on stdout and as one log line (a JSON
    object with ``LOG_FORMAT=json``: ``job``, ``result``), exit status 1 when it could not do
    its work (SMTP or the database unreachable), 0 otherwise. ``verbose``: the result's
    ``details()`` (the ids behind the summary's reasons) follow the summary on stdout, one a
    line, and go into the same log line as ``details``."""
    details: list[str] = []
    try:
        result = run()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        summary, succeeded = f"{name}: {_database_failure(error)}", False
    except Exception as error:  # a bug: named by its type and place, never its message (data)
        summary, succeeded = f"{name}: stopped by an unexpected error ({_where(error)})", False
    else:
        summary, succeeded = result.summary(), ok(result)
        details = result.details() if verbose else []
    click.echo(summary)
    for line in details:
        click.echo(line)
    fields: dict[str, Any] = {"job": name, "result": "ok" if succeeded else "failed"}
    if details:
        fields["details"] = details
    job_log.log(logging.INFO if succeeded else logging.ERROR, summary, extra={"fields": fields})
    record_job(name, fields["result"])
    if not succeeded:
        raise click.exceptions.Exit(1)


# SQLSTATEs of a transaction PostgreSQL aborted for a concurrent writer: a rerun succeeds.
_CONFLICTS = {"40P01": "deadlock detected", "40001": "serialization failure"}


def _database_failure(error: sa.exc.DBAPIError) -> str:
    conflict = _CONFLICTS.get(getattr(error.orig, "pgcode", None) or "")
    if conflict is not None:
        return (
            f"stopped by a concurrent writer ({conflict}); its open transaction was rolled "
            "back, run it again"
        )
    return f"database unavailable ({type(error).__name__})"


# The checkout the package was loaded from: places in it are shown relative to it.
_CHECKOUT = Path(__file__).resolve().parent.parent
_LIBRARIES = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"])


def _where(error: BaseException) -> str:
    """``KeyError at communication_service/services/batching.py:231``: the innermost frame of
    the project's own code (the message may hold data, the place does not)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if not frame.filename.startswith(_LIBRARIES)] or frames
    if not own:
        return type(error).__name__
    path = Path(own[-1].filename)
    shown = path.relative_to(_CHECKOUT) if path.is_relative_to(_CHECKOUT) else path.name
    return f"{type(error).__name__} at {shown}:{own[-1].lineno}"


@comm_cli.command("batch-emails")
@with_now
@verbose_option
def batch_emails_command(clock: Clock, verbose: bool) -> None:
    """Queue one batching email per eligible therapist (rules 4-6, 9, 12); idempotent."""
    from communication_service.services.batching import batch_emails

    with TerminalProgress("rendering emails") as progress:
        run_job(
            "batch-emails",
            lambda: batch_emails(job_context(clock), progress=progress),
            verbose=verbose,
        )


@comm_cli.command("send-emails")
@with_now
@verbose_option
def send_emails_command(clock: Clock, verbose: bool) -> None:
    """Deliver queued emails over SMTP; exits 1 when the SMTP server is unreachable."""
    from communication_service.services.sending import send_emails

    with TerminalProgress("sending emails") as progress:
        run_job(
            "send-emails",
            lambda: send_emails(job_context(clock), progress=progress),
            lambda result: not result.smtp_unavailable,
            verbose=verbose,
        )


@comm_cli.command("schedule-follow-ups")
@with_now
@verbose_option
def schedule_follow_ups_command(clock: Clock, verbose: bool) -> None:
    """Book a follow-up call for each unanswered email sent FOLLOW_UP_AFTER_DAYS ago (rule 7)."""
    from communication_service.services.follow_ups import schedule_follow_ups

    with TerminalProgress("booking follow-up calls") as progress:
        run_job(
            "schedule-follow-ups",
            lambda: schedule_follow_ups(job_context(clock), progress=progress),
            verbose=verbose,
        )


@comm_cli.command("run-daily")
@with_now
@verbose_option
def run_daily_command(clock: Clock, verbose: bool) -> None:
    """batch-emails, send-emails, schedule-follow-ups in order; exits 1 if SMTP was down."""
    from communication_service.services.daily import run_daily

    bars: list[TerminalProgress] = []

    def progress(job: str) -> TerminalProgress:
        for bar in bars:  # the previous job has finished: end its bar's line
            bar.close()
        bars.append(TerminalProgress(job))
        return bars[-1]

    try:
        run_job(
            "run-daily",
            lambda: run_daily(job_context(clock), progress=progress),
            lambda result: result.ok,
            verbose=verbose,
        )
    finally:
        for bar in bars:
            bar.close()


@comm_cli.command("import-mail")
@click.option(
    "--maildir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A Maildir (new/, cur/) as Postfix or Dovecot deliver it.",
)
@with_now
def import_mail_command(maildir: Path, clock: Clock) -> None:
    """Store the messages in MAILDIR/new (replies, auto-replies, bounces), match them to the
    emails they answer, and move each to cur/; safe to run twice or concurrently."""
    from communication_service.services.inbound_emails import (
        MaildirError,
        import_maildir,
        require_maildir,
    )

    try:  # before the job: run_job reports its errors as a failed run (exit 1), not usage
        require_maildir(maildir)
    except MaildirError as error:
        raise click.BadParameter(str(error), param_hint="--maildir") from None
    with TerminalProgress("importing mail") as progress:
        run_job(
            "import-mail", lambda: import_maildir(job_context(clock), maildir, progress=progress)
        )
