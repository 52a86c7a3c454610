"""``flask --app wsgi comm …``: demo data and the scheduled jobs."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup

from communication_service.clock import Clock, FixedClock, SystemClock
from communication_service.extensions import db

comm_cli = AppGroup("comm", help="Communication Service jobs and tools.")


def job_clock(now: str | None) -> Clock:
    """The app's clock, or one fixed at ``--now`` (ISO timestamp; naive means TIMEZONE)."""
    tz = ZoneInfo(current_app.extensions["settings"].timezone)
    if now is None:
        clock = current_app.extensions["clock"]
        return clock if clock is not None else SystemClock(tz)
    try:
        return FixedClock(datetime.fromisoformat(now), tz)
    except ValueError:
        raise click.BadParameter(f"not an ISO timestamp: {now!r}", param_hint="--now") from None


def with_now(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a job ``--now`` and pass it the resulting clock as ``clock``."""

    @click.option("--now", "now", default=None, help="Run as if it were this ISO timestamp.")
    @functools.wraps(command)
    def wrapper(now: str | None, **kwargs: Any) -> Any:
        return command(clock=job_clock(now), **kwargs)

    return wrapper


@comm_cli.command("demo-data")
def demo_data_command() -> None:
    """Insert a small, realistic data set (idempotent)."""
    from communication_service.services.demo_data import load_demo_data

    counts = load_demo_data(db.session)
    click.echo(
        "demo data: "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        + " (rows present after the run)"
    )


@comm_cli.command("new-token")
def new_token_command() -> None:
    """Print a fresh random API token (put it into API_TOKENS)."""
    click.echo(secrets.token_urlsafe(32))
