"""The pure slot finder (docs/rules.md rules 1-3): telephone hours, the intervals already taken,
public holidays and the earliest allowed instant in, free slots on the grid out.

No database and no clock: the caller passes "now" (as the earliest start) and the zone, so
every rule here is a function of its arguments and is tested without PostgreSQL. Dates and
times are wall-clock times in ``TIMEZONE``; a 09:00-12:00 window stays 09:00-12:00 local across
the DST switches.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib
import orjson

from communication_service.config import Settings
from communication_service.models.therapist import WEEKDAYS

Interval = tuple[datetime, datetime]  # naive local wall-clock [start, end)


@dataclass(frozen=True, order=True)
class FreeSlot:
    """A free slot: local date and wall-clock start/end."""

    date: date
    start: time
    end: time

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date, "start": self.start, "end": self.end}


def _minutes(hhmm: Any) -> int | None:
    """Minutes after midnight of an "HH:MM" string; None when it is not one."""
    try:
        hours, minutes = str(hhmm).split(":")
        value = int(hours) * 60 + int(minutes)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < 24 * 60 and 0 <= int(minutes) < 60 else None


def availability_windows(
    availability: Mapping[str, Any] | None, day: date
) -> list[tuple[int, int]]:
    """The telephone-hours windows of ``day`` as sorted (start, end) minutes after midnight.

    Other services write the JSON directly, so a malformed window is skipped, never a crash.
    """
    return weekday_windows(availability, day.weekday())


def weekday_windows(availability: Mapping[str, Any] | None, weekday: int) -> list[tuple[int, int]]:
    """``availability_windows`` of any day that is a ``weekday`` (0 = Monday)."""
    if not isinstance(availability, Mapping):
        return []
    windows = availability.get(WEEKDAYS[weekday]) or []
    result = []
    for window in windows if isinstance(windows, list) else []:
        if not isinstance(window, Mapping):
            continue
        start, end = _minutes(window.get("start")), _minutes(window.get("end"))
        if start is not None and end is not None and start < end:
            result.append((start, end))
    return sorted(result)


def telephone_hours(availability: Any) -> dict[str, list[dict[str, str]]]:
    """The telephone hours as the rules read them, in the API's shape: each weekday with
    windows (sorted, zero-padded ``HH:MM``), a malformed window or day left out. What other
    services wrote directly is shown so, as the slot finder uses it. A new object each time."""
    try:
        # Read once per distinct value: every therapist row of a list shows its hours, and
        # most therapists keep one of a few schedules.
        hours = _hours_of_json(orjson.dumps(availability))
    except TypeError:  # not a JSON value (never so from the database)
        hours = _hours_of(availability)
    return {day: [{"start": start, "end": end} for start, end in windows] for day, windows in hours}


Hours = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


@functools.lru_cache(maxsize=4096)
def _hours_of_json(text: bytes) -> Hours:
    return _hours_of(orjson.loads(text))


def _hours_of(availability: Any) -> Hours:
    return tuple(
        (day, tuple((_hh_mm(start), _hh_mm(end)) for start, end in windows))
        for weekday, day in enumerate(WEEKDAYS)
        if (windows := weekday_windows(availability, weekday))
    )


def _hh_mm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def containing_window(
    availability: Mapping[str, Any] | None, day: date, start: time, duration_minutes: int
) -> tuple[time, time] | None:
    """The window that wholly holds a call (rule 1), or None."""
    return window_holding(availability_windows(availability, day), start, duration_minutes)


def window_holding(
    windows: Iterable[tuple[int, int]], start: time, duration_minutes: int
) -> tuple[time, time] | None:
    """The one of a day's ``windows`` (minutes after midnight) that wholly holds a call."""
    call_start = start.hour * 60 + start.minute
    call_end = call_start + duration_minutes
    for window_start, window_end in windows:
        if window_start <= call_start and call_end <= window_end:
            return _clock_time(window_start), _clock_time(window_end)
    return None


def _clock_time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def exists_locally(moment: datetime, tz: ZoneInfo) -> bool:
    """False for wall-clock times a DST switch skips (02:30 on the last Sunday of March)."""
    aware = moment.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment


def utc_instant(moment: datetime, tz: ZoneInfo) -> datetime:
    """A UTC instant; naive values are wall-clock times in ``tz``.

    Aware datetimes sharing one tzinfo compare as wall-clock times in Python, so everything
    is compared in UTC.
    """
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint union of the intervals (touching ones are merged)."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def find_free_slots(
    availability: Mapping[str, Any] | None,
    booked: Iterable[Interval],
    holidays: Collection[date],
    start: datetime,
    days: int,
    duration_minutes: int,
    grid_minutes: int,
    tz: ZoneInfo,
    *,
    limit: int | None = None,
) -> list[FreeSlot]:
    """Free slots, earliest first (docs/rules.md rules 1-3).

    - ``availability``: the ``telefonische_erreichbarkeit`` dict (None/{} = no hours).
    - ``booked``: taken intervals as naive local wall-clock (start, end): the therapist's own
      scheduled calls and the moments when every phone line is busy.
    - ``holidays``: local dates without calls.
    - ``start``: the earliest instant a slot may start (now, or later); naive = local.
    - ``days``: the horizon, counted in local calendar days from ``start``'s date.
    A slot starts on a minute of the day divisible by ``grid_minutes``, lies wholly inside one
    window, starts and ends at wall-clock times that exist (DST), and overlaps nothing booked.
    """
    if days <= 0 or duration_minutes <= 0 or grid_minutes <= 0:
        return []
    start_utc = utc_instant(start, tz)
    start_local = start_utc.astimezone(tz).replace(tzinfo=None)
    first_day = start_local.date()
    busy = merge_intervals(booked)
    busy_starts = [interval[0] for interval in busy]
    duration = timedelta(minutes=duration_minutes)

    def on_grid(moment: datetime, midnight: datetime) -> int:
        """The first grid minute of the day at or after ``moment``."""
        minutes = -(-(moment - midnight) // timedelta(minutes=1))  # round up
        return -(-minutes // grid_minutes) * grid_minutes

    slots: list[FreeSlot] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day in holidays:
            continue
        midnight = datetime.combine(day, time())
        for window_start, window_end in availability_windows(availability, day):
            minute = -(-window_start // grid_minutes) * grid_minutes
            if day == first_day:  # jump over the past at once
                minute = max(minute, on_grid(start_local, midnight))
            # The candidate moves forward on the grid, jumping over whole busy intervals,
            # so the work grows with windows and intervals, not with the slots taken.
            while minute + duration_minutes <= window_end:
                slot_start = midnight + timedelta(minutes=minute)
                slot_end = slot_start + duration
                index = bisect.bisect_left(busy_starts, slot_end) - 1
                if index >= 0 and busy[index][1] > slot_start:
                    if busy[index][1].date() != day:
                        break  # busy for the rest of the day
                    minute = max(minute + grid_minutes, on_grid(busy[index][1], midnight))
                    continue
                if (
                    exists_locally(slot_start, tz)
                    and exists_locally(slot_end, tz)
                    and utc_instant(slot_start, tz) >= start_utc  # DST: compare instants
                ):
                    slots.append(FreeSlot(day, slot_start.time(), slot_end.time()))
                    if limit is not None and len(slots) >= limit:
                        return slots
                minute += grid_minutes
    return slots


@functools.lru_cache(maxsize=32)
def _holiday_calendar(country: str, subdivision: str, years: tuple[int, ...]) -> frozenset[date]:
    calendar = holidays_lib.country_holidays(country, subdiv=subdivision or None, years=years)
    return frozenset(calendar.keys())


def holiday_dates(settings: Settings, first: date, last: date) -> frozenset[date]:
    """Public holidays of ``HOLIDAY_COUNTRY``/``HOLIDAY_SUBDIVISION`` between two dates.

    The calendar is built once per (country, subdivision, years) and cached.
    """
    if not settings.holiday_country:
        return frozenset()
    years = tuple(range(first.year, last.year + 1))
    return _holiday_calendar(settings.holiday_country, settings.holiday_subdivision, years)


def search_start(now: datetime, not_before: date | datetime | None, tz: ZoneInfo) -> datetime:
    """Where an automatic search begins: now, or ``not_before`` when that is later (a date
    means its local midnight), in ``tz``."""
    start = now
    if isinstance(not_before, datetime):
        candidate = not_before if not_before.tzinfo else not_before.replace(tzinfo=tz)
    elif isinstance(not_before, date):
        candidate = datetime.combine(not_before, time(), tzinfo=tz)
    else:
        return start.astimezone(tz)
    return max(utc_instant(start, tz), utc_instant(candidate, tz)).astimezone(tz)
