"""The pure slot finder (docs/rules.md rules 1 and 3): no database involved."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from communication_service.config import Settings
from communication_service.services.slots import (
    FreeSlot,
    containing_window,
    find_free_slots,
    holiday_dates,
    merge_intervals,
    telephone_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 11, 30)


def hours(**days: list[tuple[str, str]]) -> dict:
    return {day: [{"start": s, "end": e} for s, e in windows] for day, windows in days.items()}


def starts(slots: list[FreeSlot]) -> list[str]:
    return [slot.start.strftime("%H:%M") for slot in slots]


def find(availability, *, start, booked=(), holidays=(), days=1, duration=5, grid=5, limit=None):
    return find_free_slots(
        availability, booked, holidays, start, days, duration, grid, BERLIN, limit=limit
    )


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=BERLIN)


def test_slots_start_on_the_grid():
    slots = find(hours(monday=[("09:02", "09:31")]), start=at(MONDAY, "08:00"))
    assert starts(slots) == ["09:05", "09:10", "09:15", "09:20", "09:25"]
    assert all(slot.start.minute % 5 == 0 for slot in slots)


def test_a_coarser_grid_is_honoured():
    slots = find(hours(monday=[("09:00", "10:00")]), start=at(MONDAY, "08:00"), grid=15)
    assert starts(slots) == ["09:00", "09:15", "09:30", "09:45"]


def test_a_call_lies_wholly_inside_one_window():
    availability = hours(monday=[("09:00", "09:30"), ("09:30", "09:40")])
    slots = find(availability, start=at(MONDAY, "08:00"), duration=20)
    # 09:15-09:35 would span both windows; 09:30 window is too short for 20 minutes.
    assert starts(slots) == ["09:00", "09:05", "09:10"]
    assert all(slot.end <= time(9, 30) for slot in slots)


def test_odd_window_starts_and_ends():
    slots = find(hours(tuesday=[("12:05", "12:50")]), start=at(MONDAY, "08:00"), days=2)
    assert [slot.date for slot in slots] == [MONDAY + timedelta(days=1)] * 9
    assert starts(slots) == [f"12:{m:02d}" for m in range(5, 50, 5)]
    assert slots[-1].end == time(12, 50)


def test_never_in_the_past():
    slots = find(hours(monday=[("09:00", "10:00")]), start=at(MONDAY, "09:07"))
    assert starts(slots)[0] == "09:10"
    assert find(hours(monday=[("09:00", "10:00")]), start=at(MONDAY, "10:00")) == []


def test_the_horizon_counts_calendar_days_from_the_start():
    availability = hours(friday=[("09:00", "09:05")])
    assert find(availability, start=at(MONDAY, "08:00"), days=4) == []
    assert find(availability, start=at(MONDAY, "08:00"), days=5) == [
        FreeSlot(date(2026, 12, 4), time(9, 0), time(9, 5))
    ]


def test_booked_intervals_are_skipped():
    booked = [
        (datetime(2026, 11, 30, 9, 0), datetime(2026, 11, 30, 9, 10)),
        (datetime(2026, 11, 30, 9, 12), datetime(2026, 11, 30, 9, 17)),
    ]
    slots = find(hours(monday=[("09:00", "09:30")]), start=at(MONDAY, "08:00"), booked=booked)
    assert starts(slots) == ["09:20", "09:25"]


def test_public_holidays_of_the_configured_country():
    settings = Settings(holiday_country="DE")
    calendar = holiday_dates(settings, date(2026, 12, 1), date(2027, 1, 31))
    assert date(2026, 12, 25) in calendar and date(2027, 1, 1) in calendar
    assert date(2026, 12, 24) not in calendar
    availability = hours(friday=[("09:00", "09:05")])
    slots = find(
        availability, start=at(date(2026, 12, 21), "08:00"), holidays=calendar, days=21, limit=3
    )
    # Friday 2026-12-25 and Friday 2027-01-01 are skipped.
    assert [slot.date for slot in slots] == [date(2027, 1, 8)]


def test_subdivision_holidays_and_calendar_caching():
    bavaria = Settings(holiday_country="DE", holiday_subdivision="BY")
    berlin = Settings(holiday_country="DE", holiday_subdivision="BE")
    epiphany = date(2027, 1, 6)
    assert epiphany in holiday_dates(bavaria, date(2027, 1, 1), date(2027, 1, 31))
    assert epiphany not in holiday_dates(berlin, date(2027, 1, 1), date(2027, 1, 31))
    # The calendar is built once per (country, subdivision, years) and then reused.
    first = holiday_dates(bavaria, date(2027, 2, 1), date(2027, 2, 28))
    assert holiday_dates(bavaria, date(2027, 3, 1), date(2027, 3, 31)) is first
    assert holiday_dates(Settings(holiday_country=""), date(2026, 12, 25), date(2026, 12, 25)) == (
        frozenset()
    )


def test_windows_stay_wall_clock_in_the_autumn_dst_week():
    # Clocks go back on Sunday 2026-10-25: Friday is CEST (+02:00), Monday CET (+01:00).
    availability = hours(friday=[("09:00", "12:00")], monday=[("09:00", "12:00")])
    slots = find(availability, start=at(date(2026, 10, 23), "08:00"), days=4)
    friday, monday = slots[0], next(s for s in slots if s.date == date(2026, 10, 26))
    assert (friday.start, monday.start) == (time(9, 0), time(9, 0))
    assert monday.date - friday.date == timedelta(days=3)
    assert at(friday.date, "09:00").astimezone(UTC).hour == 7
    assert at(monday.date, "09:00").astimezone(UTC).hour == 8
    assert slots[-1] == FreeSlot(date(2026, 10, 26), time(11, 55), time(12, 0))


def test_windows_stay_wall_clock_in_the_spring_dst_week():
    # Clocks go forward on Sunday 2027-03-28 (Monday 2027-03-29 is Easter Monday).
    availability = hours(thursday=[("09:00", "12:00")], tuesday=[("09:00", "12:00")])
    slots = find(availability, start=at(date(2027, 3, 25), "08:00"), days=6, limit=1000)
    by_day = {slot.date: slot for slot in reversed(slots)}
    assert by_day[date(2027, 3, 25)].start == time(9, 0)
    assert by_day[date(2027, 3, 30)].start == time(9, 0)
    assert len([s for s in slots if s.date == date(2027, 3, 30)]) == 36


def test_wall_clock_times_skipped_by_the_spring_switch_are_never_offered():
    slots = find(hours(sunday=[("01:30", "03:30")]), start=at(date(2027, 3, 28), "00:00"))
    assert starts(slots) == [
        "01:30", "01:35", "01:40", "01:45", "01:50",
        "03:00", "03:05", "03:10", "03:15", "03:20", "03:25",
    ]  # fmt: skip


def test_the_past_is_compared_as_instants_not_wall_clock():
    # 2026-10-25 02:30 happens twice; at the second one (CET), 02:35 CEST lies in the past.
    second_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(BERLIN)
    assert second_0230.strftime("%H:%M") == "02:30"
    slots = find(hours(sunday=[("02:30", "04:00")]), start=second_0230)
    assert starts(slots)[0] == "03:00"


def test_no_hours_no_slots_and_malformed_windows_are_ignored():
    assert find(None, start=at(MONDAY, "08:00"), days=7) == []
    assert find({}, start=at(MONDAY, "08:00"), days=7) == []
    broken = {"monday": [{"start": "9"}, "x", {"start": "10:00", "end": "10:05"}], "funday": []}
    assert starts(find(broken, start=at(MONDAY, "08:00"))) == ["10:00"]


def test_a_call_is_within_availability_when_one_window_holds_all_of_it():
    availability = hours(monday=[("09:00", "12:00")])
    assert containing_window(availability, MONDAY, time(11, 55), 5) == (time(9), time(12))
    assert containing_window(availability, MONDAY, time(11, 55), 10) is None
    assert containing_window(availability, MONDAY, time(8, 55), 5) is None
    assert containing_window(None, MONDAY, time(9, 0), 5) is None


def test_merge_intervals():
    a, b, c = (datetime(2026, 1, 1, h) for h in (9, 10, 11))
    assert merge_intervals([(b, c), (a, b)]) == [(a, c)]
    assert merge_intervals([(a, c), (a, b)]) == [(a, c)]


def test_busy_intervals_are_jumped_over_across_days():
    availability = hours(**{day: [("09:00", "12:00")] for day in ("monday", "wednesday")})
    booked = [
        (datetime(2026, 11, 30, 9, 0), datetime(2026, 12, 2, 10, 2)),
        (datetime(2026, 12, 2, 10, 10), datetime(2026, 12, 2, 10, 20)),
    ]
    slots = find(availability, start=at(MONDAY, "08:00"), booked=booked, days=3, limit=3)
    assert [(s.date, s.start) for s in slots] == [
        (date(2026, 12, 2), time(10, 5)),
        (date(2026, 12, 2), time(10, 20)),
        (date(2026, 12, 2), time(10, 25)),
    ]


def test_many_booked_slots_give_the_same_answer_as_one_interval():
    # 300 back-to-back calls and their union must leave the same first free slot.
    first = datetime(2026, 11, 30, 0, 0)
    calls = [
        (first + timedelta(minutes=5 * i), first + timedelta(minutes=5 * i + 5)) for i in range(300)
    ]
    everyday = hours(**{day: [("00:00", "23:55")] for day in ("monday", "tuesday")})
    one = find(everyday, start=at(MONDAY, "00:00"), booked=[(first, calls[-1][1])], days=2, limit=1)
    many = find(everyday, start=at(MONDAY, "00:00"), booked=calls, days=2, limit=1)
    assert one == many == [FreeSlot(date(2026, 12, 1), time(1, 0), time(1, 5))]


def test_telephone_hours_are_shown_as_the_rules_read_them():
    """What other services stored directly is shown in the API's shape: windows the slot finder
    uses, sorted and zero-padded; the rest (and days without a usable window) left out."""
    stored = {
        "tuesday": [{"start": "14:00", "end": "15:30"}, {"start": "9:0", "end": "10:00"}],
        "monday": [{"start": "10:00", "end": "09:00"}, {"start": "x"}, "09:00-10:00"],
        "funday": [{"start": "09:00", "end": "10:00"}],
        "friday": "mornings",
        "sunday": [],
    }
    assert telephone_hours(stored) == {
        "tuesday": [{"start": "09:00", "end": "10:00"}, {"start": "14:00", "end": "15:30"}]
    }
    assert telephone_hours(hours(monday=[("09:00", "12:00")])) == hours(monday=[("09:00", "12:00")])
    assert telephone_hours({}) == telephone_hours([]) == telephone_hours("none") == {}
