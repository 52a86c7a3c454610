"""The one clock: every "now" of the service comes from here, in ``TIMEZONE``, and so does
every conversion between local days and the stored timestamps (``timestamp without time
zone`` columns hold UTC), so a ``FixedClock`` moves all of them at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


class Clock(Protocol):
    tz: ZoneInfo

    def now(self) -> datetime: ...


class SystemClock:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


class FixedClock:
    """A clock standing still at one instant (tests, ``--now`` back-fills)."""

    def __init__(self, instant: datetime, tz: ZoneInfo) -> None:
        self.tz = tz
        self.instant = instant if instant.tzinfo else instant.replace(tzinfo=tz)

    def now(self) -> datetime:
        return self.instant.astimezone(self.tz)


def current_clock() -> Clock:
    return current_app.extensions["clock"]


def today(clock: Clock) -> date:
    return clock.now().date()


def local_now(clock: Clock) -> datetime:
    """The clock's "now" as local wall-clock time without a zone, the way calls are stored
    (``scheduled_date`` + ``scheduled_time`` in ``TIMEZONE``)."""
    return clock.now().replace(tzinfo=None)


def utc_naive(clock: Clock) -> datetime:
    """The clock's "now" as stored in ``timestamp without time zone`` columns (UTC)."""
    return clock.now().astimezone(UTC).replace(tzinfo=None)


def to_utc_naive(value: datetime, clock: Clock) -> datetime:
    """An input timestamp as stored: naive input means the clock's zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.tz)
    return value.astimezone(UTC).replace(tzinfo=None)


def local_midnight_utc(day: date, clock: Clock) -> datetime:
    """Start of ``day`` in the clock's zone as a stored (naive UTC) timestamp."""
    return datetime.combine(day, time(0), tzinfo=clock.tz).astimezone(UTC).replace(tzinfo=None)


def local_date(stored: datetime, clock: Clock) -> date:
    """The date in the clock's zone of a stored (naive UTC) timestamp."""
    return stored.replace(tzinfo=UTC).astimezone(clock.tz).date()


def app_utc_naive() -> datetime:
    """``utc_naive`` for column defaults, which SQLAlchemy calls without arguments: the app's
    clock inside an app context, the system clock outside one (a job's background thread has
    no app context, so its writers set ``updated_at`` themselves)."""
    if has_app_context():
        return utc_naive(current_clock())
    return datetime.now(UTC).replace(tzinfo=None)
