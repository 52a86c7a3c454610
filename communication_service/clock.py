"""The one clock: every "now" of the service comes from here, in ``TIMEZONE``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app


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


def utcnow_naive() -> datetime:
    """UTC wall time for ``timestamp without time zone`` columns (they hold UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)
