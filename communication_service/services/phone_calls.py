"""Phone calls beyond booking: reads, status changes (rules 8, 11), outcomes (rule 9), deletes.

Booking and moving calls is the scheduling engine's (``services/scheduling.py``). Reads are
Core selects with a fixed number of queries: one for the calls (joined with what they show),
one for all of their batches.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from marshmallow import Schema
from sqlalchemy.orm import Session

from communication_service.clock import Clock, today
from communication_service.config import Settings
from communication_service.errors import Conflict, NotFound, Unprocessable
from communication_service.models import (
    Patient,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    Therapist,
)
from communication_service.schemas.phone_call import (
    CallSheetBatchSchema,
    CallSheetCallSchema,
    PhoneCallBatchSchema,
    PhoneCallSchema,
)
from communication_service.services.outcomes import DECISIVE_OUTCOMES, record_outcomes
from communication_service.services.scheduling import containing_window, move_call, schedule_call

log = logging.getLogger(__name__)

calls = PhoneCall.__table__
batches = PhoneCallBatch.__table__
therapists = Therapist.__table__
placement_requests = PlacementRequest.__table__
patients = Patient.__table__

call_schema = PhoneCallSchema()
batch_schema = PhoneCallBatchSchema()
call_sheet_schema = CallSheetCallSchema()
call_sheet_batch_schema = CallSheetBatchSchema()

CALL_ORDER = (calls.c.scheduled_date, calls.c.scheduled_time, calls.c.id)
SCHEDULED = PhoneCallStatus.SCHEDULED.value
# Completed and failed calls are the contact history (rules 8 and 11 build on them).
DELETABLE_STATUSES = (PhoneCallStatus.SCHEDULED.value, PhoneCallStatus.CANCELED.value)


# ---------------------------------------------------------------------------- reads


def _calls_select(*extra_columns: Any) -> sa.Select:
    """Calls with the therapist's telephone hours (for ``within_availability``).

    The hours come as a scalar subquery, not a join: the list's ``count(*)`` then reads only
    the calls index (16 ms instead of 27 ms at 100,000 calls of one therapist).
    """
    availability = (
        sa.select(therapists.c.telefonische_erreichbarkeit)
        .where(therapists.c.id == calls.c.therapist_id)
        .correlate(calls)
        .scalar_subquery()
    )
    return sa.select(*calls.c, availability.label("availability"), *extra_columns)


def _attach_batches(
    session: Session, dumped_calls: list[dict[str, Any]], stmt: sa.Select, schema: Schema
) -> None:
    """One query for the batches of all ``dumped_calls`` (no N+1)."""
    ids = [call["id"] for call in dumped_calls]
    by_call: dict[int, list[Any]] = defaultdict(list)
    if ids:
        rows = session.execute(
            stmt.where(batches.c.phone_call_id.in_(ids)).order_by(
                batches.c.phone_call_id, batches.c.priority, batches.c.id
            )
        ).mappings()
        for row in rows:
            by_call[row["phone_call_id"]].append(row)
    for call in dumped_calls:
        call["batches"] = schema.dump(by_call[call["id"]], many=True)


# The hot read by id: statements built once, run on the session's connection (Core, no ORM
# execution path), so a request pays neither statement construction nor ORM overhead.
_CALL_BY_ID = _calls_select().where(calls.c.id == sa.bindparam("call_id"))
_BATCHES_OF_CALL = (
    sa.select(batches)
    .where(batches.c.phone_call_id == sa.bindparam("call_id"))
    .order_by(batches.c.priority, batches.c.id)
)


def get_call(session: Session, call_id: int) -> dict[str, Any]:
    connection = session.connection()
    row = connection.execute(_CALL_BY_ID, {"call_id": call_id}).mappings().first()
    if row is None:
        raise NotFound(f"Phone call {call_id} does not exist.", details={"id": call_id})
    call = call_schema.dump(row)
    call["batches"] = batch_schema.dump(
        connection.execute(_BATCHES_OF_CALL, {"call_id": call_id}).mappings(), many=True
    )
    return call


def calls_query(
    *,
    therapist_id: int | None = None,
    status: str | None = None,
    scheduled_date: date | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    follow_up_required: bool | None = None,
) -> sa.Select:
    """The filtered call list, ordered by date and time (id breaks ties)."""
    stmt = _calls_select()
    if therapist_id is not None:
        stmt = stmt.where(calls.c.therapist_id == therapist_id)
    if status is not None:
        stmt = stmt.where(calls.c.status == status)
    if scheduled_date is not None:
        stmt = stmt.where(calls.c.scheduled_date == scheduled_date)
    if date_from is not None:
        stmt = stmt.where(calls.c.scheduled_date >= date_from)
    if date_to is not None:
        stmt = stmt.where(calls.c.scheduled_date <= date_to)
    if follow_up_required is not None:
        flagged = sa.exists().where(
            batches.c.phone_call_id == calls.c.id, batches.c.follow_up_required.is_(True)
        )
        stmt = stmt.where(flagged if follow_up_required else ~flagged)
    return stmt.order_by(*CALL_ORDER)


def attach_batches(session: Session, dumped_calls: list[dict[str, Any]]) -> None:
    _attach_batches(session, dumped_calls, sa.select(batches), batch_schema)


def call_sheet_query(day: date, status: str | None = None) -> sa.Select:
    """The day's calls by time, each with who to call (therapist columns ``therapist_*``)."""
    therapist_columns = [
        therapists.c[name].label(f"therapist_{name}")
        for name in (
            "anrede",
            "titel",
            "vorname",
            "nachname",
            "telefon",
            "potentially_available",
            "potentially_available_notes",
        )
    ]
    stmt = (
        _calls_select(*therapist_columns)
        .join_from(calls, therapists, therapists.c.id == calls.c.therapist_id)
        .where(calls.c.scheduled_date == day)
    )
    if status is not None:
        stmt = stmt.where(calls.c.status == status)
    return stmt.order_by(*CALL_ORDER)


def attach_call_sheet_batches(session: Session, dumped_calls: list[dict[str, Any]]) -> None:
    """The requests of the sheet's calls with their patients, in one query."""
    patient_columns = [
        patients.c[name].label(f"patient_{name}")
        for name in ("id", "vorname", "nachname", "geburtsdatum", "diagnose", "startdatum")
    ]
    stmt = sa.select(
        batches, placement_requests.c.status.label("placement_request_status"), *patient_columns
    ).select_from(
        batches.join(
            placement_requests, placement_requests.c.id == batches.c.placement_request_id
        ).join(patients, patients.c.id == placement_requests.c.patient_id)
    )
    _attach_batches(session, dumped_calls, stmt, call_sheet_batch_schema)


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


def create_call(
    session: Session, clock: Clock, settings: Settings, data: dict[str, Any]
) -> dict[str, Any]:
    """Book a call (automatic slot unless date and time are given), commit, return it."""
    with _unit_of_work(session):  # the commit ends the booking lock before the read
        call_id = schedule_call(session, clock, settings, **data)
    return get_call(session, call_id)


def update_call(
    session: Session, clock: Clock, settings: Settings, call_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Move a call, end it (rules 8, 11) and/or edit its notes; all or nothing.

    Status changes are compare-and-swap on ``status = 'scheduled'``: ``scheduled`` →
    ``completed``/``failed``/``canceled`` only; anything else is 409 ``illegal_status_change``.
    """
    changes = dict(changes)
    moves = {
        key: changes.pop(key)
        for key in ("scheduled_date", "scheduled_time", "duration_minutes")
        if key in changes
    }
    status = changes.pop("status", None)
    replanned_call_id = None
    with _unit_of_work(session):
        if moves:
            move_call(session, clock, settings, call_id, **moves)
        if status is not None and status != SCHEDULED:
            replanned_call_id = _end_call(session, clock, settings, call_id, status, changes)
        else:
            current = _edit_call(session, call_id, changes)
            if status == SCHEDULED and current != SCHEDULED:
                raise _illegal_status_change(call_id, current, status)
    call = get_call(session, call_id)
    call["replanned_call_id"] = replanned_call_id
    return call


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


def _end_call(
    session: Session,
    clock: Clock,
    settings: Settings,
    call_id: int,
    status: str,
    changes: dict[str, Any],
) -> int | None:
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
        return replan_failed_call(session, clock, settings, ended)
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


def replan_failed_call(
    session: Session, clock: Clock, settings: Settings, failed: Any
) -> int | None:
    """Rule 8: plan the next attempt for the same requests in a later window.

    The new call starts after the end of the availability window that held the failed one
    (after the call itself when it lay outside the hours), never before the failed call's
    ``retry_after``, and is attempt + 1 with ``previous_call_id``; the failed call's
    ``retry_after`` records the new call's date. Requests already accepted or rejected are not
    carried over (nothing is planned when none is left). After ``MAX_CALL_ATTEMPTS`` failed
    attempts, or when no call can be planned, the requests are flagged for staff instead.
    """
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
        sa.select(batches.c.placement_request_id, placement_requests.c.status)
        .select_from(
            batches.join(
                placement_requests, placement_requests.c.id == batches.c.placement_request_id
            )
        )
        .where(batches.c.phone_call_id == failed["id"])
        .order_by(batches.c.priority, batches.c.id)
    ).all()
    open_ids = [row.placement_request_id for row in carried if row.status not in DECISIVE_OUTCOMES]
    if carried and not open_ids:
        return None  # every request was decided meanwhile: nothing left to call about

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
                session,
                clock,
                settings,
                therapist_id=failed["therapist_id"],
                placement_request_ids=open_ids,
                duration_minutes=duration,
                not_before=not_before.replace(tzinfo=tz),
                attempt=attempt + 1,
                previous_call_id=failed["id"],
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

    def appended(column: sa.Column) -> sa.ColumnElement:
        return sa.case(
            (sa.func.coalesce(column, "") == "", note),
            else_=column + "\n" + note,
        )

    session.execute(
        sa.update(batches)
        .where(batches.c.phone_call_id == call_id)
        .values(follow_up_required=True, follow_up_notes=appended(batches.c.follow_up_notes))
    )
    session.execute(
        sa.update(calls).where(calls.c.id == call_id).values(notes=appended(calls.c.notes))
    )


def delete_call(session: Session, call_id: int) -> None:
    """Delete a scheduled or canceled call (with its batches); completed and failed calls are
    the contact history and stay (409 ``call_is_history``; cancel instead of deleting)."""
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


def update_batch(
    session: Session, clock: Clock, settings: Settings, batch_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Record what was discussed about one request; ``accepted``/``rejected`` apply rule 9."""
    values = dict(changes)
    if "outcome" in values:
        values.setdefault("discussed", True)  # an outcome was discussed by definition
    with _unit_of_work(session):
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
        outcome = values.get("outcome")
        if outcome in DECISIVE_OUTCOMES:
            record_outcomes(
                session,
                clock,
                settings,
                {row["placement_request_id"]: outcome},
                response=f"{outcome.capitalize()} by phone (call {row['phone_call_id']}).",
            )
    return batch_schema.dump(row)
