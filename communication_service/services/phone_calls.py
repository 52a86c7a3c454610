"""Phone calls beyond booking: reads, status changes (rules 8, 11), outcomes (rule 9), deletes.

Booking and moving calls is the scheduling engine's (``services/scheduling.py``). Reads go
through the reader (``reads.py``): one statement per page, calls joined with their batches.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from communication_service.clock import local_now, today
from communication_service.context import Context
from communication_service.errors import Conflict, NotFound, Unprocessable
from communication_service.models import (
    CallBookedBy,
    Email,
    Patient,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    Therapist,
)
from communication_service.reads import Reader, ReadQuery, prefixed
from communication_service.services import contact_rules
from communication_service.services.contact_rules import (
    call_is_overdue,
    patient_is_placed,
    request_is_open,
)
from communication_service.services.listing import EXACT_TOTAL_UP_TO
from communication_service.services.outcomes import (
    DECISIVE_OUTCOMES,
    OutcomeEffects,
    appended_note,
    record_outcomes,
    therapists_concerned,
)
from communication_service.services.scheduling import (
    free_slots,
    lock_bookings_for_call,
    lock_bookings_of,
    move_call,
    schedule_call,
)
from communication_service.services.slots import (
    containing_window,
    weekday_windows,
    window_holding,
)

log = logging.getLogger(__name__)

calls = PhoneCall.__table__
batches = PhoneCallBatch.__table__
therapists = Therapist.__table__
placement_requests = PlacementRequest.__table__
patients = Patient.__table__
emails = Email.__table__

CALL_ORDER = (calls.c.scheduled_date, calls.c.scheduled_time, calls.c.id)
SCHEDULED = PhoneCallStatus.SCHEDULED.value
# Completed and failed calls are the contact history (rules 8 and 11 build on them).
DELETABLE_STATUSES = (PhoneCallStatus.SCHEDULED.value, PhoneCallStatus.CANCELED.value)


# ---------------------------------------------------------------------------- reads
# Hot reads (get by id, the list, the call sheet) run on the reader (``reads.py``): each
# page is one statement that brings the calls together with their batches (no N+1).


def _therapist_hours() -> sa.Label:
    """The therapist's telephone hours (for ``within_availability``) as a scalar subquery,
    not a join: the list's ``count(*)`` then reads only the calls index. As text: a page of
    one therapist's calls carries the same hours on every row, whose windows are parsed
    once per weekday (``_weekday_windows``)."""
    return (
        sa.select(sa.cast(therapists.c.telefonische_erreichbarkeit, sa.Text))
        .where(therapists.c.id == calls.c.therapist_id)
        .correlate(calls)
        .scalar_subquery()
        .label("availability")
    )


def _absent() -> sa.Label:
    """``absent``: the therapist is away on the call's day (rule 13; staff may book an
    explicit time there). An EXISTS per row: one probe of the absences' B-tree index."""
    return contact_rules.absent_on(calls.c.therapist_id, calls.c.scheduled_date).label("absent")


@functools.lru_cache(maxsize=1024)
def _hours(text: str | None) -> Mapping[str, Any] | None:
    # Shared between rows and requests: read, never changed.
    return None if text is None else json.loads(text)


@functools.lru_cache(maxsize=4096)
def _weekday_windows(hours: str | None, weekday: int) -> list[tuple[int, int]]:
    # Read, never changed; a page of one therapist needs at most seven of them.
    return weekday_windows(_hours(hours), weekday)


def _within_hours(hours: str | None, day: date, start: time, duration_minutes: int) -> bool:
    """``within_availability`` of a call (hours as the JSON text the page selected)."""
    windows = _weekday_windows(hours, day.weekday())
    return window_holding(windows, start, duration_minutes) is not None


def _nested(keys: Sequence[str], nests: Sequence[str]) -> Callable[[Sequence[Any]], dict]:
    """A row as a dict, with the columns selected as ``<nest>_<name>`` also under ``<nest>``
    (``therapist_nachname`` → ``therapist["nachname"]``)."""
    groups = []
    for nest in nests:
        at = [i for i, key in enumerate(keys) if key.startswith(nest + "_")]
        groups.append((nest, [keys[i][len(nest) + 1 :] for i in at], operator.itemgetter(*at)))

    def as_dict(row: Sequence[Any]) -> dict[str, Any]:
        out = dict(zip(keys, row))  # noqa: B905 - the row may go on past ``keys``
        for nest, names, columns in groups:
            out[nest] = dict(zip(names, columns(row), strict=True))
        return out

    if not groups:
        return functools.partial(_as_dict, keys)
    return as_dict


def _as_dict(keys: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(keys, row))  # noqa: B905 - the row may go on past ``keys``


class _CallsWithBatches:
    """A statement of calls left-joined with their batches (columns ``batch_*``), one row
    per batch (or one with NULL batch columns), in call order; and how its rows become
    calls, each a dict with ``within_availability``, ``absent`` (selected by the page) and
    its ``batches``. With ``total`` (a
    scalar select), every row also carries the number of matching calls, so a page and its
    total are one round trip.
    """

    def __init__(
        self,
        page: sa.Subquery,
        order: tuple[Any, ...],
        *extra_batch_columns: Any,
        joins: Any = None,
        total: sa.ScalarSelect | None = None,
        call_nests: Sequence[str] = (),
        batch_nests: Sequence[str] = (),
    ) -> None:
        batch_source = batches if joins is None else joins
        total_column = [] if total is None else [total.label("total")]
        self.query = ReadQuery(
            sa.select(page, *prefixed(batches, "batch_"), *extra_batch_columns, *total_column)
            .select_from(page.outerjoin(batch_source, batches.c.phone_call_id == page.c.id))
            .order_by(*order, batches.c.priority, batches.c.id)
        )
        keys = self.query.keys
        split, end = len(page.c), len(keys) - len(total_column)
        self.call_row = _nested(keys[:split], call_nests)
        self.batch_row = _nested(
            [key.removeprefix("batch_") for key in keys[split:end]], batch_nests
        )
        self.split, self.end = split, end
        self.batch_id = keys.index("batch_id")
        self.shown_at = tuple(
            keys.index(name)
            for name in ("availability", "scheduled_date", "scheduled_time", "duration_minutes")
        )
        self.has_total = total is not None

    def fetch(self, reader: Reader, **params: Any) -> tuple[list[dict[str, Any]], int | None]:
        """The calls, and the total if the statement carries it (and found a row)."""
        found: list[dict[str, Any]] = []
        call_row, batch_row, batch_id = self.call_row, self.batch_row, self.batch_id
        split, end = self.split, self.end
        hours, day, start, duration = self.shown_at
        current = None
        rows = reader.tuples(self.query, params)
        for row in rows:
            if row[0] != current:  # the page's first column is the call id
                current = row[0]
                call = call_row(row)
                call["within_availability"] = _within_hours(
                    row[hours], row[day], row[start], row[duration]
                )
                call["batches"] = call_batches = []
                found.append(call)
            if row[batch_id] is not None:
                call_batches.append(batch_row(row[split:end]))
        total = rows[0][-1] if self.has_total and rows else None
        return found, total


@dataclass(frozen=True)
class _ListStatements:
    """A list's page statement (its rows carry the total, counted up to ``count_limit``
    + 1), the same count alone (for a page past the end), and the matching rows, whose
    number PostgreSQL estimates when it is past ``count_limit`` (None: always count)."""

    pages: _CallsWithBatches
    count: ReadQuery
    matching: ReadQuery | None = None
    count_limit: int | None = None


class CallListing:
    """The calls matching one request's filters: pages of them, and how many there are
    (the ``Listing`` a paginated answer asks for)."""

    def __init__(
        self,
        reader: Reader,
        statements: _ListStatements,
        params: dict[str, Any],
        *,
        extras: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.reader, self.statements, self.params = reader, statements, params
        self.extras = dict(extras or {})  # further lists of the answer, beside the page
        self._counted: int | None = None

    def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        calls_found, self._counted = self.statements.pages.fetch(
            self.reader, limit=limit, offset=offset, **self.params
        )
        return calls_found

    def total(self) -> int:
        statements = self.statements
        counted = self._counted
        if counted is None:  # the page was empty
            counted = self.reader.scalar(statements.count, **self.params)
        if statements.count_limit is not None and counted > statements.count_limit:
            assert statements.matching is not None
            estimate = self.reader.estimated_rows(statements.matching, **self.params)
            return max(estimate, counted)
        return counted


# Local "now" for ``overdue`` (``contact_rules.call_is_overdue``), given with every call read.
NOW_LOCAL = sa.bindparam("now_local", type_=sa.DateTime())


def _overdue() -> sa.Label:
    return call_is_overdue(NOW_LOCAL).label("overdue")


_CALL_BY_ID = _CallsWithBatches(
    sa.select(*calls.c, _therapist_hours(), _overdue(), _absent())
    .where(calls.c.id == sa.bindparam("call_id"))
    .subquery("call"),
    (),
)


def get_call(ctx: Context, call_id: int) -> dict[str, Any]:
    """The call with ``within_availability`` and its batches; 404 when unknown."""
    calls_found, _ = _CALL_BY_ID.fetch(ctx.reader, call_id=call_id, now_local=local_now(ctx.clock))
    if not calls_found:
        raise NotFound(f"Phone call {call_id} does not exist.", details={"id": call_id})
    return calls_found[0]


_FLAGGED_FOR_STAFF = sa.exists().where(
    batches.c.phone_call_id == calls.c.id, batches.c.follow_up_required.is_(True)
)
_CALL_FILTERS: dict[str, Callable[[Any], sa.ColumnElement[bool]]] = {
    "therapist_id": lambda _: calls.c.therapist_id == sa.bindparam("therapist_id"),
    "status": lambda _: calls.c.status == sa.bindparam("status"),
    "scheduled_date": lambda _: calls.c.scheduled_date == sa.bindparam("scheduled_date"),
    "date_from": lambda _: calls.c.scheduled_date >= sa.bindparam("date_from"),
    "date_to": lambda _: calls.c.scheduled_date <= sa.bindparam("date_to"),
    # No parameter: the flag picks EXISTS or NOT EXISTS, so it is part of the statement.
    "follow_up_required": lambda flagged: _FLAGGED_FOR_STAFF if flagged else ~_FLAGGED_FOR_STAFF,
    "overdue": lambda overdue: (
        call_is_overdue(NOW_LOCAL) if overdue else sa.not_(call_is_overdue(NOW_LOCAL))
    ),
}
# Filters given as a flag: the value shapes the statement instead of being a parameter.
_FLAG_FILTERS = ("follow_up_required", "overdue")


def _calls_page(stmt: sa.Select) -> tuple[sa.Subquery, tuple[Any, ...]]:
    """``stmt`` (calls and what they show) by date and time, one ``limit``/``offset`` page;
    with the order to keep when joining the page to the batches."""
    page = (
        stmt.order_by(*CALL_ORDER)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .subquery("page")
    )
    return page, (page.c.scheduled_date, page.c.scheduled_time, page.c.id)


@functools.cache
def _call_list_statements(shape: tuple[tuple[str, Any], ...]) -> _ListStatements:
    """The list's statements for one combination of filters, compiled once."""
    conditions = [_CALL_FILTERS[name](value) for name, value in shape]
    hours = _therapist_hours()
    if "therapist_id" in dict(shape):
        # One therapist's calls: their hours are read once (an InitPlan), not once per row.
        hours = (
            sa.select(sa.cast(therapists.c.telefonische_erreichbarkeit, sa.Text))
            .where(therapists.c.id == sa.bindparam("therapist_id"))
            .scalar_subquery()
            .label("availability")
        )
    page, order = _calls_page(sa.select(*calls.c, hours, _overdue(), _absent()).where(*conditions))
    matching = sa.select(calls.c.id).where(*conditions)
    capped = matching.limit(sa.literal_column(str(EXACT_TOTAL_UP_TO + 1))).subquery("capped")
    count = sa.select(sa.func.count()).select_from(capped)
    return _ListStatements(
        _CallsWithBatches(page, order, total=count.scalar_subquery()),
        ReadQuery(count),
        ReadQuery(matching),
        EXACT_TOTAL_UP_TO,
    )


def list_calls(ctx: Context, filters: Mapping[str, Any]) -> CallListing:
    """Filtered calls by date and time (id breaks ties), each with its batches."""
    given = {name: value for name, value in filters.items() if value is not None}
    shape = tuple(
        (name, value if name in _FLAG_FILTERS else None) for name, value in sorted(given.items())
    )
    params = {name: value for name, value in given.items() if name not in _FLAG_FILTERS}
    params["now_local"] = local_now(ctx.clock)
    return CallListing(ctx.reader, _call_list_statements(shape), params)


# ``id`` is the call's ``therapist_id``.
_SHEET_THERAPIST = (
    "anrede",
    "titel",
    "vorname",
    "nachname",
    "telefon",
    "potentially_available",
    "potentially_available_notes",
)
_SHEET_PATIENT = ("id", "vorname", "nachname", "geburtsdatum", "diagnose", "startdatum")


@functools.cache
def _call_sheet_statements(by_status: bool, overdue_before: bool = False) -> _ListStatements:
    """The sheet of ``day`` (optionally one ``status``), or with ``overdue_before`` the calls
    of earlier days still open after their end."""
    if overdue_before:
        conditions = [calls.c.scheduled_date < sa.bindparam("day"), call_is_overdue(NOW_LOCAL)]
    else:
        conditions = [calls.c.scheduled_date == sa.bindparam("day")]
    if by_status:
        conditions.append(calls.c.status == sa.bindparam("status"))
    page, order = _calls_page(
        sa.select(
            *calls.c,
            _therapist_hours(),
            _overdue(),
            _absent(),
            *prefixed(therapists, "therapist_", _SHEET_THERAPIST),
        )
        .join_from(calls, therapists, therapists.c.id == calls.c.therapist_id)
        .where(*conditions)
    )
    # One day's calls: counted from the date index, cheap enough to come with every page.
    count = sa.select(sa.func.count()).select_from(calls).where(*conditions)
    sheet = _CallsWithBatches(
        page,
        order,
        placement_requests.c.status.label("batch_placement_request_status"),
        *prefixed(patients, "batch_patient_", _SHEET_PATIENT),
        joins=batches.join(
            placement_requests, placement_requests.c.id == batches.c.placement_request_id
        ).join(patients, patients.c.id == placement_requests.c.patient_id),
        total=count.scalar_subquery(),
        call_nests=("therapist",),
        batch_nests=("patient",),
    )
    return _ListStatements(sheet, ReadQuery(count))


# The most overdue calls one sheet lists beside the day's calls.
MAX_OVERDUE_ON_SHEET = 1_000


def call_sheet(ctx: Context, query: Mapping[str, Any]) -> CallListing:
    """The day's calls by time (``date``, default today; optional ``status``), each with who
    to call and the requests' patients. Today's sheet also lists, under ``overdue``, the calls
    of earlier days that are still open after their end (oldest first)."""
    day, status = query.get("date") or today(ctx.clock), query.get("status")
    params: dict[str, Any] = {"day": day, "now_local": local_now(ctx.clock)}
    if status is not None:
        params["status"] = status
    overdue: list[dict[str, Any]] = []
    if day == today(ctx.clock):
        overdue_listing = CallListing(
            ctx.reader, _call_sheet_statements(False, overdue_before=True), params
        )
        overdue = overdue_listing.page(MAX_OVERDUE_ON_SHEET, 0)
    return CallListing(
        ctx.reader, _call_sheet_statements(status is not None), params, extras={"overdue": overdue}
    )


def find_free_slots(
    ctx: Context, therapist_id: int, query: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Free call slots of a therapist (rules 1-3): ``from``, ``days``, ``duration``."""
    slots = free_slots(
        ctx,
        therapist_id,
        from_date=query["from_date"],
        days=query["days"],
        duration_minutes=query["duration"],
    )
    return [slot.as_dict() for slot in slots]


# ---------------------------------------------------------------------------- writes


@contextmanager
def _unit_of_work(session: Session) -> Iterator[None]:
    """Commit when the block succeeds; roll back (and so release the booking lock) if not."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


NOTHING_TO_DISCUSS = "No open placement request to discuss: the call is about capacity."
CHOSEN_FOR_THE_CALL = (
    "The therapist's open requests not on another contact were added, longest waiting first."
)


def create_call(ctx: Context, data: Mapping[str, Any]) -> dict[str, Any]:
    """Book a call (automatic slot unless date and time are given), commit, return it.

    Without ``placement_request_ids`` the call carries the therapist's requests that are
    free to discuss (``scheduling.requests_to_discuss``); ``notice`` says what was chosen,
    or that there is nothing to discuss."""
    chosen = "placement_request_ids" not in data
    with _unit_of_work(ctx.session):  # the commit ends the booking lock before the read
        call_id = schedule_call(ctx, **{"placement_request_ids": None, **data})
    call = get_call(ctx, call_id)
    call["notice"] = (
        NOTHING_TO_DISCUSS if not call["batches"] else CHOSEN_FOR_THE_CALL if chosen else None
    )
    return call


def update_call(ctx: Context, call_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Move a call, end it (rules 8, 11) and/or edit its notes; all or nothing.

    Status changes are compare-and-swap on ``status = 'scheduled'``: ``scheduled`` →
    ``completed``/``failed``/``canceled`` only; anything else is 409 ``illegal_status_change``.
    """
    changes = dict(changes)
    _require_not_in_the_future(changes, local_now(ctx.clock))
    moves = {
        key: changes.pop(key)
        for key in ("scheduled_date", "scheduled_time", "duration_minutes")
        if key in changes
    }
    status = changes.pop("status", None)
    replanned_call_id = None
    session = ctx.session
    with _unit_of_work(session):
        if moves:
            move_call(ctx, call_id, **moves)
        if status is not None and status != SCHEDULED:
            if status == PhoneCallStatus.FAILED:  # re-planned: may book (lock order first)
                lock_bookings_for_call(session, ctx.settings, call_id)
                _lock_followed_up_email(session, call_id)
            replanned_call_id = _end_call(ctx, call_id, status, changes)
        else:
            current = _edit_call(session, call_id, changes)
            if status == SCHEDULED and current != SCHEDULED:
                raise _illegal_status_change(call_id, current, status)
    call = get_call(ctx, call_id)
    call["replanned_call_id"] = replanned_call_id
    return call


def _lock_followed_up_email(session: Session, call_id: int) -> None:
    """The email a follow-up call belongs to, locked before the call (the lock order of every
    writer: booking lock, email, calls): a reply to it then waits until the re-plan is
    committed and cancels it too (rule 10), or is seen by the re-plan, which then plans
    nothing."""
    session.execute(
        sa.select(emails.c.id)
        .where(
            emails.c.id
            == sa.select(calls.c.follow_up_email_id).where(calls.c.id == call_id).scalar_subquery()
        )
        .with_for_update()
    )


def _require_not_in_the_future(changes: Mapping[str, Any], now: datetime) -> None:
    """A call's ``actual_date``/``actual_time`` say when it happened: not later than now (a
    time alone is today's)."""
    day, at = changes.get("actual_date"), changes.get("actual_time")
    if day is not None and day > now.date():
        raise Unprocessable(
            "A call cannot have happened in the future.",
            details={"actual_date": [f"Must not be after today ({now.date().isoformat()})."]},
        )
    if at is not None and (day is None or day == now.date()) and at > now.time():
        raise Unprocessable(
            "A call cannot have happened in the future.",
            details={"actual_time": [f"Must not be after now ({now:%H:%M}) today."]},
        )


def _current_status(session: Session, call_id: int) -> str:
    status = session.execute(sa.select(calls.c.status).where(calls.c.id == call_id)).scalar()
    if status is None:
        raise NotFound(f"Phone call {call_id} does not exist.", details={"id": call_id})
    return str(status)


def _illegal_status_change(call_id: int, current: str, wanted: str) -> Conflict:
    return Conflict(
        f"Phone call {call_id} is {current}; it cannot become {wanted}.",
        code="illegal_status_change",
        details={"id": call_id, "from": current, "to": wanted},
    )


def _edit_call(session: Session, call_id: int, changes: dict[str, Any]) -> str:
    """Notes, outcome, actual date/time, retry_after: editable in any status."""
    if not changes:
        return _current_status(session, call_id)
    row = session.execute(
        sa.update(calls).where(calls.c.id == call_id).values(**changes).returning(calls.c.status)
    ).first()
    if row is None:
        raise NotFound(f"Phone call {call_id} does not exist.", details={"id": call_id})
    return str(row.status)


def _end_call(ctx: Context, call_id: int, status: str, changes: dict[str, Any]) -> int | None:
    session, clock = ctx.session, ctx.clock
    values = {**changes, "status": status}
    if status in (PhoneCallStatus.COMPLETED, PhoneCallStatus.FAILED):
        # When it happened: now, unless staff say otherwise.
        now = clock.now()
        values.setdefault("actual_date", now.date())
        values.setdefault("actual_time", time(now.hour, now.minute))
    ended = (
        session.execute(
            sa.update(calls)
            .where(calls.c.id == call_id, calls.c.status == SCHEDULED)
            .values(**values)
            .returning(*calls.c)
        )
        .mappings()
        .first()
    )
    if ended is None:
        raise _illegal_status_change(call_id, _current_status(session, call_id), status)
    if status == PhoneCallStatus.COMPLETED:
        record_phone_contact(session, ended, ended["actual_date"] or today(clock))
    elif status == PhoneCallStatus.FAILED:
        return replan_failed_call(ctx, ended)
    return None


def record_phone_contact(session: Session, call: Any, day: date) -> None:
    """Rule 11: the call's requests and the therapist were contacted by phone on ``day``.

    GREATEST keeps the latest contact when an older call is completed late.
    """
    session.execute(
        sa.update(placement_requests)
        .where(
            placement_requests.c.id.in_(
                sa.select(batches.c.placement_request_id).where(
                    batches.c.phone_call_id == call["id"]
                )
            )
        )
        .values(phone_contact_date=sa.func.greatest(placement_requests.c.phone_contact_date, day))
    )
    session.execute(
        sa.update(therapists)
        .where(therapists.c.id == call["therapist_id"])
        .values(letzter_kontakt_telefon=sa.func.greatest(therapists.c.letzter_kontakt_telefon, day))
    )


def replan_failed_call(ctx: Context, failed: Any) -> int | None:
    """Rule 8: plan the next attempt for the same requests in a later window.

    The new call starts after the end of the availability window that held the failed one
    (after the call itself when it lay outside the hours), never before the failed call's
    ``retry_after``, and is attempt + 1 with ``previous_call_id``; the failed call's
    ``retry_after`` records the new call's date. Only requests still open, of patients not
    placed, are carried over (nothing is planned when none is left). After
    ``MAX_CALL_ATTEMPTS`` failed attempts, or when no call can be planned, the requests are
    flagged for staff instead.
    """
    session, settings = ctx.session, ctx.settings
    attempt = failed["attempt"]
    if attempt >= settings.max_call_attempts:
        flag_for_staff(
            session,
            failed["id"],
            f"Not reached in {attempt} call attempts; no further call is planned "
            f"(MAX_CALL_ATTEMPTS={settings.max_call_attempts}).",
        )
        return None
    carried = session.execute(
        sa.select(
            batches.c.placement_request_id,
            sa.and_(
                request_is_open(placement_requests),
                ~patient_is_placed(placement_requests.c.patient_id),
            ).label("still_open"),
        )
        .select_from(
            batches.join(
                placement_requests, placement_requests.c.id == batches.c.placement_request_id
            )
        )
        .where(batches.c.phone_call_id == failed["id"])
        .order_by(batches.c.priority, batches.c.id)
    ).all()
    open_ids = [row.placement_request_id for row in carried if row.still_open]
    if carried and not open_ids:
        return None  # every request was decided or taken over meanwhile: nothing to call about
    email_id = failed["follow_up_email_id"]
    if (
        email_id is not None
        and session.execute(
            sa.select(emails.c.response_received).where(emails.c.id == email_id)
        ).scalar()
    ):
        return None  # rule 10: the email was answered; its follow-ups end here

    tz = ZoneInfo(settings.timezone)
    availability = session.execute(
        sa.select(therapists.c.telefonische_erreichbarkeit).where(
            therapists.c.id == failed["therapist_id"]
        )
    ).scalar()
    day, start, duration = (
        failed["scheduled_date"],
        failed["scheduled_time"],
        failed["duration_minutes"],
    )
    window = containing_window(availability, day, start, duration)
    not_before = datetime.combine(day, start) + timedelta(minutes=duration)
    if window is not None:
        not_before = datetime.combine(day, window[1])
    if failed["retry_after"] is not None:
        not_before = max(not_before, datetime.combine(failed["retry_after"], time()))
    try:
        with session.begin_nested():
            new_call_id = schedule_call(
                ctx,
                therapist_id=failed["therapist_id"],
                placement_request_ids=open_ids,
                duration_minutes=duration,
                not_before=not_before.replace(tzinfo=tz),
                attempt=attempt + 1,
                previous_call_id=failed["id"],
                follow_up_email_id=email_id,
                booked_by=CallBookedBy.AUTOMATIC,
            )
    except (Conflict, NotFound, Unprocessable) as error:
        flag_for_staff(
            session,
            failed["id"],
            f"Call attempt {attempt} failed and no new call could be planned: {error.message}",
        )
        return None
    session.execute(
        sa.update(calls)
        .where(calls.c.id == failed["id"])
        .values(
            retry_after=sa.select(calls.c.scheduled_date)
            .where(calls.c.id == new_call_id)
            .scalar_subquery()
        )
    )
    return new_call_id


def flag_for_staff(session: Session, call_id: int, note: str) -> None:
    """Flag the call's requests (``follow_up_required`` + a note) and note it on the call.

    The note goes on the call as well, so a call without requests explains itself too.
    """
    log.info("phone call %s flagged for staff", call_id)

    session.execute(
        sa.update(batches)
        .where(batches.c.phone_call_id == call_id)
        .values(
            follow_up_required=True, follow_up_notes=appended_note(batches.c.follow_up_notes, note)
        )
    )
    session.execute(
        sa.update(calls)
        .where(calls.c.id == call_id)
        .values(notes=appended_note(calls.c.notes, note))
    )


def delete_call(ctx: Context, call_id: int) -> None:
    """Delete a scheduled or canceled call (with its batches); completed and failed calls are
    the contact history and stay (409 ``call_is_history``; cancel instead of deleting)."""
    session = ctx.session
    with _unit_of_work(session):
        deleted = session.execute(
            sa.delete(calls)
            .where(calls.c.id == call_id, calls.c.status.in_(DELETABLE_STATUSES))
            .returning(calls.c.id)
        ).first()
        if deleted is None:
            status = _current_status(session, call_id)
            raise Conflict(
                f"Phone call {call_id} is {status}: completed and failed calls are kept as "
                "history.",
                code="call_is_history",
                details={"id": call_id, "status": status},
            )


def update_batch(ctx: Context, batch_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Record what was discussed about one request; ``accepted``/``rejected`` apply rule 9,
    dated on the call's ``actual_date`` (the day it happened) or today when it has none."""
    session = ctx.session
    values = dict(changes)
    if "outcome" in values:
        values.setdefault("discussed", True)  # an outcome was discussed by definition
    effects = OutcomeEffects()
    with _unit_of_work(session):
        outcome = values.get("outcome")
        if outcome in DECISIVE_OUTCOMES:  # may cancel calls: the booking lock first
            request = sa.select(batches.c.placement_request_id).where(batches.c.id == batch_id)
            lock_bookings_of(
                session,
                ctx.settings,
                sa.union(
                    sa.select(calls.c.therapist_id)
                    .join(batches, batches.c.phone_call_id == calls.c.id)
                    .where(batches.c.id == batch_id),
                    therapists_concerned(request),
                ),
            )
        row = (
            session.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id)
                .values(**values)
                .returning(batches)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"Phone call batch {batch_id} does not exist.", details={"id": batch_id})
        if outcome in DECISIVE_OUTCOMES:
            call_id = row["phone_call_id"]
            actual_date = session.execute(
                sa.select(calls.c.actual_date).where(calls.c.id == call_id)
            ).scalar()
            effects = record_outcomes(
                ctx,
                {row["placement_request_id"]: outcome},
                via=f"by phone (call {call_id})",
                day=actual_date or today(ctx.clock),
                current_call_id=call_id,
            )
    return {**row, **dataclasses.asdict(effects)}
