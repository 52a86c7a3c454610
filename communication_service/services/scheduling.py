"""Booking calls (docs/rules.md rules 1-3, 9, 12): locks, the booking context, the inserts.

The slots themselves come from the pure finder (``services/slots.py``); this module feeds it
what the database knows and stores the decision. ``schedule_call`` books one call with a fixed
number of statements, whatever the number of calls already booked: an advisory lock, ONE query
loading the therapist, their booked calls, the moments all phone lines are busy and the
placement requests, and ONE insert of the call with its batches. The decision itself is
computed in Python.

Concurrency is settled by PostgreSQL: every booking takes a transaction-scoped advisory lock
(one global key while ``CALL_LINES`` > 0, because the line limit spans all therapists; one key
per therapist otherwise), so "read the booked calls, pick a slot, insert" cannot interleave
with another booking. The exclusion constraint ``phone_calls_no_overlap`` stays the last guard
for writers that bypass the engine. Nothing here commits: the caller owns the transaction
(the lock is held until it ends), so a job can book many calls and commit once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from communication_service.config import Settings
from communication_service.context import Context
from communication_service.errors import ApiError, Conflict, NotFound, Unprocessable
from communication_service.models import (
    CallBookedBy,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    Therapist,
    TherapistStatus,
)
from communication_service.services import contact_rules
from communication_service.services.slots import (
    FreeSlot,
    Interval,
    availability_windows,
    exists_locally,
    find_free_slots,
    holiday_dates,
    search_start,
    utc_instant,
    weekday_windows,
)

log = logging.getLogger(__name__)

phone_calls = PhoneCall.__table__
phone_call_batches = PhoneCallBatch.__table__
therapists = Therapist.__table__

# classid of the advisory locks that serialise bookings (objid: 0 = all lines, else therapist).
BOOKING_LOCK_NAMESPACE = 0x43_53_50_43  # "CSPC"
ALL_LINES_LOCK_KEY = 0
# The longest call the API accepts; bounds how far a call of the previous day can reach.
MAX_CALL_MINUTES = 8 * 60


def lock_bookings(session: Session, settings: Settings, therapist_ids: Iterable[int]) -> None:
    """Serialise bookings until the transaction ends (ascending keys: no deadlocks).

    With ``CALL_LINES`` > 0 one global key, since a booking for one therapist can take the
    last free line of another's slot; with unlimited lines, one key per therapist.
    """
    keys = [ALL_LINES_LOCK_KEY] if settings.call_lines > 0 else sorted(set(therapist_ids))
    if len(keys) == 1:
        session.execute(
            sa.text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
            {"namespace": BOOKING_LOCK_NAMESPACE, "key": keys[0]},
        )
    elif keys:
        # The aggregate consumes the sorted rows in order, so the locks are taken ascending.
        session.execute(
            sa.text(
                "SELECT count(pg_advisory_xact_lock(:namespace, key)) "
                "FROM (SELECT unnest(CAST(:keys AS integer[])) AS key ORDER BY 1) AS sorted_keys"
            ),
            {"namespace": BOOKING_LOCK_NAMESPACE, "keys": keys},
        )


def lock_bookings_of(
    session: Session, settings: Settings, therapist_ids: sa.Select | sa.CompoundSelect
) -> None:
    """``lock_bookings`` for the therapists a select names (ascending), in one statement.

    For writes that may book or cancel calls (a failed call is re-planned, rule 8; an
    outcome or a reply cancels calls, rules 9 and 10), taken before any row is touched, as
    every writer of calls does: the booking lock first, then the email, then the calls.
    """
    if settings.call_lines > 0:
        lock_bookings(session, settings, ())
        return
    named = therapist_ids.subquery("named")
    key = next(iter(named.c))
    ordered = sa.select(key.label("key")).distinct().order_by(key).subquery("ordered")
    # The aggregate consumes the sorted rows in order, so the locks are taken ascending.
    locks = sa.func.pg_advisory_xact_lock(BOOKING_LOCK_NAMESPACE, ordered.c.key)
    session.execute(sa.select(sa.func.count(locks)))


def lock_bookings_for_call(session: Session, settings: Settings, call_id: int) -> None:
    """``lock_bookings_of`` the therapist of ``call_id``."""
    lock_bookings_of(
        session,
        settings,
        sa.select(phone_calls.c.therapist_id).where(phone_calls.c.id == call_id),
    )


# The scheduled calls of all therapists in the range (none needed with unlimited lines).
_CALLS_IN_RANGE_SQL = """
WITH calls_in_range AS (
    SELECT scheduled_date + scheduled_time AS starts_at,
           scheduled_date + scheduled_time + duration_minutes * interval '1 minute' AS ends_at
    FROM communication_service.phone_calls
    WHERE status = 'scheduled'
      AND scheduled_date BETWEEN :from_date AND :to_date
      AND id <> :exclude_call_id
      AND :call_lines > 0
)"""
# One line: it is busy whenever any call runs (the union of the calls, merged).
_ONE_LINE_BUSY_SQL = """, lines_busy AS (
    SELECT unnest(range_agg(tsrange(starts_at, ends_at))) AS busy FROM calls_in_range
)"""
# N lines: all are busy where at least N calls run; count them between consecutive events.
_N_LINES_BUSY_SQL = """, line_events AS (
    SELECT starts_at AS at, 1 AS delta FROM calls_in_range
    UNION ALL
    SELECT ends_at, -1 FROM calls_in_range
), line_levels AS (
    -- how many calls run from each event instant up to the next one
    SELECT at, lead(at) OVER (ORDER BY at) AS next_at, sum(sum(delta)) OVER (ORDER BY at) AS level
    FROM line_events
    GROUP BY at
), lines_busy AS (
    SELECT unnest(range_agg(tsrange(at, next_at))) AS busy
    FROM line_levels
    WHERE level >= :call_lines AND next_at IS NOT NULL
)"""
# One statement: the therapist, their scheduled calls, the moments every phone line is busy,
# the last rejection (cooling period), the days they are away (rule 13) and which of the
# given placement requests exist. Calls of the day before the range are read too: a long
# call can reach past midnight.
_CONTEXT_SELECT_SQL = """
SELECT t.id,
       t.status,
       t.telefonische_erreichbarkeit AS availability,
       t.potentially_available,
       {cooling_until} AS cooling_until,
       (SELECT array_agg(CAST(g.day AS date))
        FROM generate_series(CAST(:from_date AS date), CAST(:to_date AS date),
                             interval '1 day') AS g(day)
        WHERE {absent_on}) AS absent_dates,
       own.ids AS own_ids,
       own.starts AS own_starts,
       own.ends AS own_ends,
       (SELECT array_agg(lower(busy) ORDER BY busy) FROM lines_busy) AS lines_busy_starts,
       (SELECT array_agg(upper(busy) ORDER BY busy) FROM lines_busy) AS lines_busy_ends,
       requests.found AS found_request_ids,
       requests.of_others AS foreign_request_ids,
       held.request_ids AS held_request_ids,
       held.call_ids AS holding_call_ids
FROM therapist_service.therapists t
CROSS JOIN LATERAL (
    SELECT array_agg(c.id ORDER BY c.starts_at) AS ids,
           array_agg(c.starts_at ORDER BY c.starts_at) AS starts,
           array_agg(c.ends_at ORDER BY c.starts_at) AS ends
    FROM (
        SELECT id,
               scheduled_date + scheduled_time AS starts_at,
               scheduled_date + scheduled_time + duration_minutes * interval '1 minute' AS ends_at
        FROM communication_service.phone_calls
        WHERE therapist_id = t.id
          AND status = 'scheduled'
          AND scheduled_date BETWEEN :from_date AND :to_date
          AND id <> :exclude_call_id
    ) c
) own
CROSS JOIN LATERAL (
    SELECT array_agg(pr.id) AS found,
           array_agg(pr.id) FILTER (WHERE pr.therapist_id <> t.id) AS of_others
    FROM matching_service.placement_requests pr
    WHERE pr.id = ANY(CAST(:request_ids AS integer[]))
) requests
CROSS JOIN LATERAL (
    SELECT array_agg(h.placement_request_id ORDER BY h.placement_request_id) AS request_ids,
           array_agg(DISTINCT h.phone_call_id) AS call_ids
    FROM ({requests_on_scheduled_calls}) h
) held
WHERE t.id = :therapist_id
"""


def _booking_context_sql(busy_sql: str) -> sa.TextClause:
    """The booking context with rule 9 as ``contact_rules.cooling_until``, rule 13 as
    ``contact_rules.absent_on`` and the live-contact rule as
    ``contact_rules.requests_on_scheduled_calls`` define them (rendered into the statement
    once, at import); the therapist's status read through its enum type."""
    therapist_id = sa.literal_column("t.id")
    cooling = _inline(
        contact_rules.cooling_until(
            therapist_id, sa.literal_column("CAST(:cooling_days AS integer)")
        )
    )
    absent = _inline(
        contact_rules.absent_on(therapist_id, sa.literal_column("CAST(g.day AS date)"))
    )
    held = _inline(
        contact_rules.requests_on_scheduled_calls(
            sa.literal_column("CAST(:request_ids AS integer[])"),
            sa.literal_column(":exclude_call_id"),
        )
    )
    select_sql = (
        _CONTEXT_SELECT_SQL.replace("{cooling_until}", f"({cooling})")
        .replace("{absent_on}", absent)
        .replace("{requests_on_scheduled_calls}", held)
    )
    return sa.text(_CALLS_IN_RANGE_SQL + busy_sql + select_sql).columns(
        status=Therapist.__table__.c.status.type
    )


def _inline(rule: sa.ClauseElement) -> str:
    return str(rule.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


_BOOKING_CONTEXT_SQL = {
    "one_line": _booking_context_sql(_ONE_LINE_BUSY_SQL),
    "n_lines": _booking_context_sql(_N_LINES_BUSY_SQL),
}


@dataclass(frozen=True)
class BookingContext:
    """Everything one scheduling decision needs, loaded in one statement."""

    therapist_id: int
    status: str | None  # NULL: the platform's "not active"
    availability: Mapping[str, Any] | None
    potentially_available: bool
    cooling_until: date | None  # rule 9 (contact_rules.cooling_until)
    absent_dates: frozenset[date]  # rule 13 (contact_rules.absent_on), in the loaded range
    own_calls: list[tuple[int, datetime, datetime]]  # (call id, start, end), local
    lines_busy: list[Interval]
    found_request_ids: frozenset[int]
    foreign_request_ids: frozenset[int]
    held_request_ids: tuple[int, ...] = ()  # of the given ones, on another scheduled call
    holding_call_ids: tuple[int, ...] = ()

    def own_intervals(self) -> list[Interval]:
        return [(start, end) for _, start, end in self.own_calls]


def load_booking_context(
    session: Session,
    settings: Settings,
    therapist_id: int,
    *,
    first_date: date,
    last_date: date,
    request_ids: Sequence[int] = (),
    exclude_call_id: int | None = None,
) -> BookingContext | None:
    """The therapist and the calls between two local dates; None if the therapist is unknown."""
    row = (
        session.execute(
            _BOOKING_CONTEXT_SQL["one_line" if settings.call_lines == 1 else "n_lines"],
            {
                "therapist_id": therapist_id,
                "from_date": first_date - timedelta(days=1 + MAX_CALL_MINUTES // (24 * 60)),
                "to_date": last_date,
                "exclude_call_id": exclude_call_id or 0,
                "call_lines": settings.call_lines,
                "cooling_days": settings.cooling_period_days,
                "request_ids": list(request_ids),
            },
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return BookingContext(
        therapist_id=row["id"],
        status=None if row["status"] is None else str(row["status"]),
        availability=row["availability"],
        potentially_available=bool(row["potentially_available"]),
        cooling_until=row["cooling_until"],
        absent_dates=frozenset(row["absent_dates"] or ()),
        own_calls=list(
            zip(row["own_ids"] or [], row["own_starts"] or [], row["own_ends"] or [], strict=True)
        ),
        lines_busy=list(
            zip(row["lines_busy_starts"] or [], row["lines_busy_ends"] or [], strict=True)
        ),
        found_request_ids=frozenset(row["found_request_ids"] or ()),
        foreign_request_ids=frozenset(row["foreign_request_ids"] or ()),
        held_request_ids=tuple(row["held_request_ids"] or ()),
        holding_call_ids=tuple(row["holding_call_ids"] or ()),
    )


def _unique_request_ids(placement_request_ids: Sequence[int]) -> list[int]:
    ids = [int(request_id) for request_id in placement_request_ids]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise Unprocessable(
            "A placement request can be discussed only once per call.",
            details={"placement_request_ids": [f"Duplicate ids: {_id_list(duplicates)}."]},
        )
    return ids


def _id_list(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in sorted(ids))


def check_placement_requests(context: BookingContext, request_ids: Sequence[int]) -> None:
    unknown = set(request_ids) - context.found_request_ids
    if unknown:
        raise Unprocessable(
            "Some placement requests do not exist.",
            details={"placement_request_ids": [f"Unknown ids: {_id_list(unknown)}."]},
        )
    if context.foreign_request_ids:
        raise Unprocessable(
            "Some placement requests belong to another therapist.",
            details={
                "placement_request_ids": [
                    f"Not requests to therapist {context.therapist_id}: "
                    f"{_id_list(context.foreign_request_ids)}."
                ]
            },
        )


def requests_to_discuss(session: Session, settings: Settings, therapist_id: int) -> list[int]:
    """What a call booked without requests carries: the therapist's open requests that are
    not on a live contact (a scheduled call, an unsent email) and whose patient is not placed,
    ranked like an email (rule 12), at most ``MAX_PATIENTS_PER_EMAIL``."""
    requests = contact_rules.placement_requests
    return list(
        session.scalars(
            sa.select(requests.c.id)
            .join(contact_rules.patients, contact_rules.patients.c.id == requests.c.patient_id)
            .where(
                requests.c.therapist_id == therapist_id,
                contact_rules.request_is_open(requests),
                ~contact_rules.on_live_contact(requests.c.id),
                ~contact_rules.patient_is_placed(requests.c.patient_id),
            )
            .order_by(*contact_rules.rank_order())
            .limit(settings.max_patients_per_email)
        )
    )


def check_requests_free(context: BookingContext) -> None:
    """A request is on at most one scheduled call at a time."""
    if context.held_request_ids:
        raise Conflict(
            "Some placement requests are already on a scheduled call.",
            code="request_already_in_contact",
            details={
                "placement_request_ids": list(context.held_request_ids),
                "phone_call_ids": list(context.holding_call_ids),
            },
        )


def check_therapist_active(context: BookingContext) -> None:
    """Rule 3: automatic scheduling skips therapists whose status is not ``active``."""
    if context.status != TherapistStatus.ACTIVE:
        status = "without a status" if context.status is None else context.status
        raise Conflict(
            f"No automatic call for therapist {context.therapist_id}: the therapist is "
            f"{status}, not active.",
            code="therapist_not_active",
            details={
                "therapist_id": context.therapist_id,
                "status": context.status,
                "cause": "not_active",
            },
        )


def check_automatic_scheduling_allowed(context: BookingContext, today: date) -> None:
    """Rule 3 (only active therapists) and rule 9 (cooling period) for automatic scheduling.

    Cooling: no automatic call before ``contact_rules.cooling_until``.
    """
    check_therapist_active(context)
    until = context.cooling_until
    if until is not None and today < until:
        raise Conflict(
            f"No automatic call for therapist {context.therapist_id}: cooling period after a "
            f"rejection, no automatic contact before {until.isoformat()}.",
            code="cooling_period",
            details={
                "therapist_id": context.therapist_id,
                "until": until.isoformat(),
                "cause": "cooling_period",
            },
        )


def check_explicit_time(
    context: BookingContext,
    settings: Settings,
    now: datetime,
    scheduled_date: date,
    scheduled_time: time,
    duration_minutes: int,
) -> None:
    """An explicitly chosen time: exists, not in the past, own calls free, a line free."""
    tz = ZoneInfo(settings.timezone)
    start = datetime.combine(scheduled_date, scheduled_time)
    end = start + timedelta(minutes=duration_minutes)
    minute_of_day = scheduled_time.hour * 60 + scheduled_time.minute
    if (
        scheduled_time.second
        or scheduled_time.microsecond
        or (minute_of_day % settings.call_slot_minutes)
    ):
        raise Unprocessable(
            "Calls start on the slot grid.",
            details={
                "scheduled_time": [f"Must be on the {settings.call_slot_minutes}-minute grid."]
            },
        )
    if not exists_locally(start, tz):
        raise Unprocessable(
            "That time does not exist (daylight saving time change).",
            details={"scheduled_time": [f"Does not exist on {scheduled_date} in {tz.key}."]},
        )
    if utc_instant(start, tz) < utc_instant(now, tz):
        raise Unprocessable(
            "A call cannot be scheduled in the past.",
            details={"scheduled_time": ["Must not be in the past."]},
        )
    taken = [call_id for call_id, s, e in context.own_calls if s < end and start < e]
    if taken:
        raise Conflict(
            "The therapist already has a call scheduled at that time.",
            code="slot_taken",
            details={"conflicting_call_ids": taken},
        )
    if any(s < end and start < e for s, e in context.lines_busy):
        raise Conflict(
            f"All {settings.call_lines} phone line(s) are busy at that time.",
            code="no_line_available",
            details={"call_lines": settings.call_lines},
        )


@dataclass(frozen=True)
class Horizon:
    """The local days a slot search covers (rule 3) and the public holidays among them."""

    first: date
    last: date
    holidays: frozenset[date]

    @classmethod
    def of(cls, settings: Settings, start: datetime, days: int) -> Horizon:
        first = start.astimezone(ZoneInfo(settings.timezone)).date()
        last = first + timedelta(days=max(days - 1, 0))
        return cls(first, last, holiday_dates(settings, first, last))

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def context_free_slots(
    context: BookingContext,
    settings: Settings,
    start: datetime,
    duration_minutes: int,
    *,
    days: int | None = None,
    limit: int | None = None,
) -> list[FreeSlot]:
    """The free slots the context leaves from ``start`` on (rules 1-3): the slot finder with
    the therapist's calls and the busy lines taken, and public holidays and the therapist's
    absent days (rule 13) closed, one set of days without calls."""
    days = settings.scheduling_horizon_days if days is None else days
    return find_free_slots(
        context.availability,
        [*context.own_intervals(), *context.lines_busy],
        Horizon.of(settings, start, days).holidays | context.absent_dates,
        start,
        days,
        duration_minutes,
        settings.call_slot_minutes,
        ZoneInfo(settings.timezone),
        limit=limit,
    )


def first_free_slot(
    context: BookingContext,
    settings: Settings,
    start: datetime,
    duration_minutes: int,
    *,
    days: int | None = None,
) -> FreeSlot | None:
    slots = context_free_slots(context, settings, start, duration_minutes, days=days, limit=1)
    return slots[0] if slots else None


def no_slot_cause(
    context: BookingContext, horizon: Horizon, duration_minutes: int
) -> tuple[str, str]:
    """Why the finder found no slot in ``horizon``: ``(cause, the cause in words)``.

    Decided from the booking context already loaded (no second query), by removing the days
    the finder cannot use (the therapist's absent days, rule 13, before public holidays: the
    more particular reason first); the first rule that leaves nothing is the cause. A new
    reason to close a day is one more step here, before the windows are looked at.
    """
    availability = context.availability
    if not any(weekday_windows(availability, weekday) for weekday in range(7)):
        return "no_telephone_hours", "the therapist has no telephone hours"
    days = [day for day in horizon.days() if availability_windows(availability, day)]
    if not days:
        return "no_telephone_hours", "the therapist has no telephone hours on these days"
    days = [day for day in days if day not in context.absent_dates]
    if not days:
        return "absent", "the therapist is absent on every day with telephone hours"
    days = [day for day in days if day not in horizon.holidays]
    if not days:
        return "holidays", "every day with telephone hours is a public holiday"
    longest = max(
        end - start for day in days for start, end in availability_windows(availability, day)
    )
    if longest < duration_minutes:
        return (
            "windows_too_short",
            f"no telephone-hours window is {duration_minutes} minutes long "
            f"(the longest has {longest})",
        )
    return (
        "all_windows_full",
        "every telephone-hours window is taken (by the therapist's calls, or all phone lines "
        "are busy) or already over",
    )


def no_slot_available(
    context: BookingContext, settings: Settings, start: datetime, duration_minutes: int
) -> Conflict:
    """The 409 of an automatic booking that found no slot, naming the cause (``details.cause``)
    and the horizon searched (``details.from`` … ``details.until``)."""
    days = settings.scheduling_horizon_days
    horizon = Horizon.of(settings, start, days)
    cause, why = no_slot_cause(context, horizon, duration_minutes)
    return Conflict(
        f"No free slot for therapist {context.therapist_id} from {horizon.first.isoformat()} "
        f"until {horizon.last.isoformat()}: {why}.",
        code="no_slot_available",
        details={
            "therapist_id": context.therapist_id,
            "from": horizon.first.isoformat(),
            "until": horizon.last.isoformat(),
            "days": days,
            "cause": cause,
        },
    )


def raise_for_integrity_error(error: IntegrityError) -> None:
    """Turn the guards' violations into 409s; anything else stays an error (a bug)."""
    pgcode = getattr(error.orig, "pgcode", None)
    diag = getattr(error.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if pgcode == "23P01":  # exclusion_violation: phone_calls_no_overlap
        raise Conflict(
            "The therapist already has a call scheduled at that time.", code="slot_taken"
        ) from None
    if pgcode == "23505" and constraint == "uq_phone_calls_follow_up_email_id":
        raise Conflict(
            "A follow-up call for this email exists already.", code="follow_up_exists"
        ) from None
    raise error


def _insert_call(session: Session, values: dict[str, Any], request_ids: Sequence[int]) -> int:
    """The call and its batches in one statement (batch priority = position in the list)."""
    new_call = sa.insert(phone_calls).values(**values).returning(phone_calls.c.id).cte("new_call")
    requests = sa.func.unnest(
        sa.cast(sa.bindparam("request_ids", list(request_ids)), postgresql.ARRAY(sa.Integer))
    )
    ranked = requests.table_valued("id", with_ordinality="priority").render_derived("ranked")
    new_batches = sa.insert(phone_call_batches).from_select(
        ["phone_call_id", "placement_request_id", "priority"],
        sa.select(new_call.c.id, ranked.c.id, ranked.c.priority)
        .select_from(new_call)
        .join(ranked, sa.true()),
    )
    statement = sa.select(new_call.c.id).add_cte(new_batches.cte("new_batches"))
    try:
        return session.execute(statement).scalar_one()
    except IntegrityError as error:
        raise_for_integrity_error(error)
        raise


def schedule_call(
    ctx: Context,
    *,
    therapist_id: int,
    placement_request_ids: Sequence[int] | None = (),
    scheduled_date: date | None = None,
    scheduled_time: time | None = None,
    duration_minutes: int | None = None,
    not_before: date | datetime | None = None,
    notes: str | None = None,
    attempt: int = 1,
    previous_call_id: int | None = None,
    follow_up_email_id: int | None = None,
    booked_by: CallBookedBy = CallBookedBy.STAFF,
) -> int:
    """Book one call; return its id. Does not commit (the lock is held until the caller does).

    Without ``scheduled_date``/``scheduled_time`` the earliest free slot is taken (rule 3):
    not in the past, not before ``not_before``, within ``SCHEDULING_HORIZON_DAYS`` of where the
    search starts, no holidays and no day the therapist is away (rule 13), only active
    therapists outside their cooling period, and a free phone line (rule 2). An explicit time
    is checked against the therapist's own calls and the phone lines, but may lie outside the
    telephone hours or on an absent day (staff decide; the call shows it).

    Raises ``NotFound`` (therapist), ``Unprocessable`` (placement requests, times),
    ``Conflict`` (``slot_taken``, ``no_line_available``, ``no_slot_available``,
    ``therapist_not_active``, ``cooling_period``, ``follow_up_exists``).
    """
    session, clock, settings = ctx.session, ctx.clock, ctx.settings
    request_ids = _unique_request_ids(placement_request_ids or ())
    explicit = scheduled_date is not None or scheduled_time is not None
    if explicit and (scheduled_date is None or scheduled_time is None):
        missing = "scheduled_time" if scheduled_time is None else "scheduled_date"
        raise Unprocessable(
            "Give both scheduled_date and scheduled_time, or neither.",
            details={missing: ["Required together with the other one."]},
        )
    duration = duration_minutes or settings.default_call_minutes
    tz = ZoneInfo(settings.timezone)
    now = clock.now().astimezone(tz)

    if explicit:
        # a late call may run past midnight: read the calls of the day it ends on, too
        first_date = scheduled_date
        last_date = (
            datetime.combine(scheduled_date, scheduled_time) + timedelta(minutes=duration)
        ).date()
        start = None
    else:
        start = search_start(now, not_before, tz)
        first_date = start.date()
        last_date = first_date + timedelta(days=max(settings.scheduling_horizon_days - 1, 0))

    lock_bookings(session, settings, [therapist_id])
    if placement_request_ids is None:  # under the lock: no other booking takes them meanwhile
        request_ids = requests_to_discuss(session, settings, therapist_id)
    context = load_booking_context(
        session,
        settings,
        therapist_id,
        first_date=first_date,
        last_date=last_date,
        request_ids=request_ids,
    )
    if context is None:
        raise NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})
    check_placement_requests(context, request_ids)
    check_requests_free(context)

    if explicit:
        check_explicit_time(context, settings, now, scheduled_date, scheduled_time, duration)
        slot_date, slot_time = scheduled_date, scheduled_time
    else:
        check_automatic_scheduling_allowed(context, now.date())
        slot = first_free_slot(context, settings, start, duration)
        if slot is None:
            raise no_slot_available(context, settings, start, duration)
        slot_date, slot_time = slot.date, slot.start

    return _insert_call(
        session,
        {
            "therapist_id": therapist_id,
            "scheduled_date": slot_date,
            "scheduled_time": slot_time,
            "duration_minutes": duration,
            "notes": notes,
            "attempt": attempt,
            "previous_call_id": previous_call_id,
            "follow_up_email_id": follow_up_email_id,
            "booked_by": booked_by,
        },
        request_ids,
    )


def free_slots(
    ctx: Context,
    therapist_id: int,
    *,
    from_date: date | None = None,
    days: int | None = None,
    duration_minutes: int | None = None,
) -> list[FreeSlot]:
    """The therapist's free slots by rules 1-3 (absent days closed, rule 13), as automatic
    scheduling sees them.

    The cooling period (rule 9) is not applied: it restricts automatic contact, while staff
    may still pick one of these slots themselves.
    """
    settings = ctx.settings
    tz = ZoneInfo(settings.timezone)
    days = settings.scheduling_horizon_days if days is None else days
    duration = duration_minutes or settings.default_call_minutes
    start = search_start(ctx.clock.now(), from_date, tz)
    context = load_booking_context(
        ctx.session,
        settings,
        therapist_id,
        first_date=start.date(),
        last_date=start.date() + timedelta(days=max(days - 1, 0)),
    )
    if context is None:
        raise NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})
    check_therapist_active(context)
    return context_free_slots(context, settings, start, duration, days=days)


def move_call(
    ctx: Context,
    call_id: int,
    *,
    scheduled_date: date | None = None,
    scheduled_time: time | None = None,
    duration_minutes: int | None = None,
) -> None:
    """Change a scheduled call's time or length, re-checked like an explicit booking.

    Compare-and-swap: the row changes only while it is still ``scheduled``. Does not commit.
    """
    session, settings = ctx.session, ctx.settings
    current = session.execute(
        sa.select(
            phone_calls.c.therapist_id,
            phone_calls.c.status,
            phone_calls.c.scheduled_date,
            phone_calls.c.scheduled_time,
            phone_calls.c.duration_minutes,
        ).where(phone_calls.c.id == call_id)
    ).first()
    if current is None:
        raise NotFound(f"Phone call {call_id} does not exist.", details={"id": call_id})
    if current.status != PhoneCallStatus.SCHEDULED:
        raise _not_scheduled(call_id, current.status)
    new_date = scheduled_date or current.scheduled_date
    new_time = scheduled_time or current.scheduled_time
    new_duration = duration_minutes or current.duration_minutes

    lock_bookings(session, settings, [current.therapist_id])
    context = load_booking_context(
        session,
        settings,
        current.therapist_id,
        first_date=new_date,
        last_date=(datetime.combine(new_date, new_time) + timedelta(minutes=new_duration)).date(),
        exclude_call_id=call_id,
    )
    if context is None:  # the therapist was deleted meanwhile (and the call with them)
        raise NotFound(f"Phone call {call_id} does not exist.", details={"id": call_id})
    check_explicit_time(context, settings, ctx.clock.now(), new_date, new_time, new_duration)
    try:
        moved = session.execute(
            sa.update(phone_calls)
            .where(
                phone_calls.c.id == call_id,
                phone_calls.c.status == PhoneCallStatus.SCHEDULED.value,
            )
            .values(
                scheduled_date=new_date,
                scheduled_time=new_time,
                duration_minutes=new_duration,
            )
            .returning(phone_calls.c.id)
        ).first()
    except IntegrityError as error:
        raise_for_integrity_error(error)
        raise
    if moved is None:
        raise _not_scheduled(call_id, "changed")


def _not_scheduled(call_id: int, status: str) -> Conflict:
    return Conflict(
        f"Phone call {call_id} is {status}: only a scheduled call can be moved.",
        code="illegal_status_change",
        details={"id": call_id, "status": str(status)},
    )


# --------------------------------------------------------------------------- jobs (rule 12)


@dataclass(frozen=True)
class CallOrder:
    """One call a job wants booked automatically."""

    therapist_id: int
    placement_request_ids: Sequence[int] = ()
    not_before: date | datetime | None = None
    notes: str | None = None
    duration_minutes: int | None = None
    follow_up_email_id: int | None = None


@dataclass(frozen=True)
class BookingResult:
    order: CallOrder
    call_id: int | None = None
    error: ApiError | None = None


def schedule_calls(ctx: Context, orders: Iterable[CallOrder]) -> list[BookingResult]:
    """Book many calls in the caller's transaction, ``potentially_available`` therapists first.

    Rule 12: those therapists get the earliest slots, so they are booked before the others
    (otherwise in the given order). The locks of all therapists are taken up front in
    ascending order, so two jobs never deadlock. Each booking runs in a savepoint: one that
    cannot be booked (no slot, not active, cooling period, ...) is reported in its result and
    the others go on. Results come in booking order. Does not commit.
    """
    orders = list(orders)
    if not orders:
        return []
    session = ctx.session
    therapist_ids = sorted({order.therapist_id for order in orders})
    first_in_line = set(
        session.execute(
            sa.select(therapists.c.id).where(
                therapists.c.id.in_(therapist_ids), therapists.c.potentially_available.is_(True)
            )
        ).scalars()
    )
    ordered = sorted(orders, key=lambda order: order.therapist_id not in first_in_line)
    lock_bookings(session, ctx.settings, therapist_ids)
    results = []
    for order in ordered:
        try:
            with session.begin_nested():
                call_id = schedule_call(
                    ctx,
                    therapist_id=order.therapist_id,
                    placement_request_ids=order.placement_request_ids,
                    not_before=order.not_before,
                    notes=order.notes,
                    duration_minutes=order.duration_minutes,
                    follow_up_email_id=order.follow_up_email_id,
                    booked_by=CallBookedBy.AUTOMATIC,
                )
        except (NotFound, Conflict, Unprocessable) as error:
            log.info("call for therapist %s not booked: %s", order.therapist_id, error.code)
            results.append(BookingResult(order, error=error))
        else:
            results.append(BookingResult(order, call_id=call_id))
    return results
