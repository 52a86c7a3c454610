"""Therapist absences (docs/rules.md rule 13): recording them, and what they do to the calls
already planned.

The days themselves are closed by the one rule ``contact_rules.absent_on``: the booking
engine loads them with its context and the slot finder skips them like holidays, batching
sends no email on them, and every call read shows ``absent``. This module records and
deletes absences, and moves the automatic calls a new absence covers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from communication_service.context import Context
from communication_service.errors import Conflict, NotFound
from communication_service.models import (
    CallBookedBy,
    PhoneCall,
    PhoneCallStatus,
    Therapist,
    TherapistAbsence,
    TherapistStatus,
)
from communication_service.services.listing import SelectListing
from communication_service.services.outcomes import appended_note
from communication_service.services.phone_calls import flag_for_staff
from communication_service.services.scheduling import (
    first_free_slot,
    load_booking_context,
    lock_bookings,
    raise_for_integrity_error,
)
from communication_service.services.slots import search_start

log = logging.getLogger(__name__)

absences = TherapistAbsence.__table__
calls = PhoneCall.__table__
therapists = Therapist.__table__

NO_OVERLAP = "therapist_absences_no_overlap"


@dataclass
class AbsenceEffects:
    """What recording an absence did to the calls it covers: automatic calls moved after it
    (or canceled and flagged for staff when no slot was free), staff calls only listed."""

    moved_call_ids: list[int] = field(default_factory=list)
    canceled_call_ids: list[int] = field(default_factory=list)
    kept_staff_call_ids: list[int] = field(default_factory=list)


def _therapist_not_found(therapist_id: int) -> NotFound:
    return NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})


def list_absences(ctx: Context, therapist_id: int) -> SelectListing:
    """The therapist's absences by first day (404 when the therapist does not exist)."""
    session = ctx.session
    if session.execute(sa.select(therapists.c.id).where(therapists.c.id == therapist_id)).first():
        return SelectListing(
            session,
            sa.select(absences)
            .where(absences.c.therapist_id == therapist_id)
            .order_by(absences.c.starts_on, absences.c.id),
        )
    raise _therapist_not_found(therapist_id)


def record_absence(ctx: Context, therapist_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """Record an absence and move the therapist's automatic calls out of it; commit.

    The booking lock comes first (the lock order of every writer of calls), so an automatic
    booking either committed before (its call is moved now) or sees the absence. An overlap
    with another absence of the therapist is refused by PostgreSQL (the exclusion constraint,
    also between two requests at the same moment): 409 ``absence_overlaps`` naming it.
    """
    session = ctx.session
    try:
        lock_bookings(session, ctx.settings, [therapist_id])
        absence = _insert_absence(ctx, therapist_id, data)
        effects = _clear_calls(ctx, absence)
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return {**absence, **asdict(effects)}


def _insert_absence(ctx: Context, therapist_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
    session = ctx.session
    # One statement: no row inserted means no such therapist.
    values = {
        "therapist_id": therapists.c.id,
        "starts_on": sa.literal(data["starts_on"], sa.Date),
        "ends_on": sa.literal(data["ends_on"], sa.Date),
        "note": sa.literal(data.get("note"), sa.Text),
    }
    try:
        with session.begin_nested():  # on an overlap, the transaction goes on to name it
            row = (
                session.execute(
                    sa.insert(absences)
                    .from_select(
                        list(values),
                        sa.select(*values.values()).where(therapists.c.id == therapist_id),
                    )
                    .returning(*absences.c)
                )
                .mappings()
                .first()
            )
    except IntegrityError as error:
        if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != NO_OVERLAP:
            raise
        raise _overlap(ctx, therapist_id, data["starts_on"], data["ends_on"]) from None
    if row is None:
        raise _therapist_not_found(therapist_id)
    return dict(row)


def _overlap(ctx: Context, therapist_id: int, starts_on: date, ends_on: date) -> Conflict:
    existing = ctx.session.execute(
        sa.select(absences.c.id, absences.c.starts_on, absences.c.ends_on)
        .where(
            absences.c.therapist_id == therapist_id,
            absences.c.ends_on >= starts_on,
            absences.c.starts_on <= ends_on,
        )
        .order_by(absences.c.starts_on)
    ).all()
    named = ", ".join(f"{a.id} ({a.starts_on} to {a.ends_on})" for a in existing)
    return Conflict(
        f"The absence overlaps another absence of therapist {therapist_id}: {named}.",
        code="absence_overlaps",
        details={"conflicting_absence_ids": [a.id for a in existing]},
    )


def _clear_calls(ctx: Context, absence: Mapping[str, Any]) -> AbsenceEffects:
    """The therapist's scheduled calls on the absent days: automatic ones are moved to the
    first free slot after the absence (same attempt, a note why), or canceled and flagged for
    staff when none is free within the horizon or the therapist is no longer active; staff
    calls stay and are listed."""
    session = ctx.session
    inside = session.execute(
        sa.select(
            calls.c.id,
            calls.c.booked_by,
            calls.c.duration_minutes,
            calls.c.scheduled_date,
            calls.c.previous_call_id,
        )
        .where(
            calls.c.therapist_id == absence["therapist_id"],
            calls.c.status == PhoneCallStatus.SCHEDULED,
            calls.c.scheduled_date.between(absence["starts_on"], absence["ends_on"]),
        )
        .order_by(calls.c.scheduled_date, calls.c.scheduled_time, calls.c.id)
    ).all()
    effects = AbsenceEffects()
    period = f"{absence['starts_on']:%d.%m.%Y} bis {absence['ends_on']:%d.%m.%Y}"
    for call in inside:
        if call.booked_by == CallBookedBy.STAFF:
            effects.kept_staff_call_ids.append(call.id)
        elif _move_after(ctx, absence, call, period):
            effects.moved_call_ids.append(call.id)
        else:
            effects.canceled_call_ids.append(call.id)
    return effects


def _move_after(ctx: Context, absence: Mapping[str, Any], call: sa.Row, period: str) -> bool:
    """Move one automatic call to the engine's first free slot after the absence (the
    context is read per call: each move takes a slot, maybe the last free line). False when
    it was canceled and flagged for staff instead (rule 8's way of handing a request over).

    A re-plan's failed predecessor recorded the re-plan's date in ``retry_after`` (rule 8):
    it records the new date (decision 105)."""
    session, settings = ctx.session, ctx.settings
    call_id, duration = call.id, call.duration_minutes
    tz = ZoneInfo(settings.timezone)
    back_on = absence["ends_on"] + timedelta(days=1)
    start = search_start(ctx.clock.now(), datetime.combine(back_on, time(), tzinfo=tz), tz)
    context = load_booking_context(
        session,
        settings,
        absence["therapist_id"],
        first_date=start.date(),
        last_date=start.date() + timedelta(days=max(settings.scheduling_horizon_days - 1, 0)),
        exclude_call_id=call_id,
    )
    assert context is not None  # the new absence's foreign key holds the therapist's row
    if context.status != TherapistStatus.ACTIVE:  # rule 3: no automatic call
        slot, reason = None, f"Therapeut:in ist nicht aktiv ({context.status})"
    else:
        slot = first_free_slot(context, settings, start, duration)
        reason = (
            f"kein freier Termin in {settings.scheduling_horizon_days} Tagen ab "
            f"{start.date():%d.%m.%Y}"
        )
    if slot is None:
        canceled = session.execute(
            sa.update(calls)
            .where(calls.c.id == call_id, calls.c.status == PhoneCallStatus.SCHEDULED)
            .values(status=PhoneCallStatus.CANCELED)
            .returning(calls.c.id)
        ).first()
        if canceled is not None:
            flag_for_staff(
                session,
                call_id,
                f"Automatisch abgesagt: abwesend vom {period} (Regel 13); {reason}.",
            )
        return False
    note = f"Automatisch verschoben: abwesend vom {period} (Regel 13)."
    try:
        session.execute(
            sa.update(calls)
            .where(calls.c.id == call_id, calls.c.status == PhoneCallStatus.SCHEDULED)
            .values(
                scheduled_date=slot.date,
                scheduled_time=slot.start,
                notes=appended_note(calls.c.notes, note),
            )
        )
    except IntegrityError as error:  # a writer beside the engine took the slot meanwhile
        raise_for_integrity_error(error)
        raise
    if call.previous_call_id is not None:
        session.execute(
            sa.update(calls)
            .where(
                calls.c.id == call.previous_call_id,
                calls.c.retry_after == call.scheduled_date,
            )
            .values(retry_after=slot.date)
        )
    log.info("phone call %s moved out of absence %s", call_id, absence["id"])
    return True


def delete_absence(ctx: Context, absence_id: int) -> None:
    """Delete an absence; the calls it moved stay where they are now."""
    session = ctx.session
    deleted = session.execute(
        sa.delete(absences).where(absences.c.id == absence_id).returning(absences.c.id)
    ).first()
    if deleted is None:
        session.rollback()
        raise NotFound(f"Absence {absence_id} does not exist.", details={"id": absence_id})
    session.commit()
