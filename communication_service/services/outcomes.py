"""Outcomes of a contact on placement requests (docs/rules.md rule 9), whatever the channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from communication_service.context import Context
from communication_service.models import (
    CallBookedBy,
    PhoneCall,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
)
from communication_service.services.contact_rules import cooling_until

placement_requests = PlacementRequest.__table__
calls = PhoneCall.__table__

DECISIVE_OUTCOMES = (PlacementRequestStatus.ACCEPTED, PlacementRequestStatus.REJECTED)


@dataclass
class OutcomeEffects:
    """What recording outcomes did to calls: the rejecting therapists' automatic calls
    inside the cooling period were canceled; their staff calls there were kept (listed)."""

    canceled_call_ids: list[int] = field(default_factory=list)
    kept_staff_call_ids: list[int] = field(default_factory=list)


def appended_note(column: sa.ColumnElement[str], note: str) -> sa.ColumnElement[str]:
    """``column`` with ``note`` on a line of its own after what is there."""
    return sa.case(
        (sa.func.coalesce(column, "") == "", note),
        else_=column + "\n" + note,
    )


def record_outcomes(
    ctx: Context,
    outcomes: Mapping[int, str],
    *,
    via: str,
    day: date,
    current_call_id: int | None = None,
) -> OutcomeEffects:
    """``accepted``/``rejected`` per placement request id → its status, response ("Rejected
    ``via``.") and response date ``day`` (the day the therapist gave the answer, not the day
    it was typed in).

    A rejection also sets ``next_contact_after`` = ``day`` + ``COOLING_PERIOD_DAYS`` and
    cancels the therapist's still-scheduled automatic calls that fall before the end of the
    cooling period (``contact_rules.cooling_until``, the same rule the jobs and the booking
    engine apply); staff calls there stay and are listed. ``current_call_id`` (the call the
    outcome was recorded on) is never touched. Other outcome values change nothing.

    The caller holds the therapist's booking lock (``scheduling.lock_bookings_of``), so no
    automatic booking that has not seen the rejection can commit after it. Does not commit.
    """
    effects = OutcomeEffects()
    for outcome in DECISIVE_OUTCOMES:
        ids = sorted(rid for rid, value in outcomes.items() if value == outcome.value)
        if not ids:
            continue
        values = {
            "status": outcome.value,
            "response": f"{outcome.value.capitalize()} {via}.",
            "response_date": day,
        }
        if outcome is PlacementRequestStatus.REJECTED:
            values["next_contact_after"] = day + timedelta(days=ctx.settings.cooling_period_days)
        ctx.session.execute(
            sa.update(placement_requests).where(placement_requests.c.id.in_(ids)).values(**values)
        )
        if outcome is PlacementRequestStatus.REJECTED:
            _cancel_automatic_calls(ctx, ids, day, current_call_id, effects)
    return effects


def _cancel_automatic_calls(
    ctx: Context,
    rejected_ids: list[int],
    day: date,
    current_call_id: int | None,
    effects: OutcomeEffects,
) -> None:
    rejecting = sa.select(placement_requests.c.therapist_id).where(
        placement_requests.c.id.in_(rejected_ids)
    )
    inside_cooling = sa.and_(
        calls.c.therapist_id.in_(rejecting),
        calls.c.status == PhoneCallStatus.SCHEDULED,
        calls.c.scheduled_date
        < cooling_until(calls.c.therapist_id, ctx.settings.cooling_period_days),
        calls.c.id != (current_call_id or 0),
    )
    note = (
        f"Automatisch abgesagt: am {day:%d.%m.%Y} wurde eine Anfrage abgelehnt; "
        "keine automatische Kontaktaufnahme in der Karenzzeit (Regel 9)."
    )
    effects.canceled_call_ids += ctx.session.scalars(
        sa.update(calls)
        .where(inside_cooling, calls.c.booked_by == CallBookedBy.AUTOMATIC)
        .values(status=PhoneCallStatus.CANCELED, notes=appended_note(calls.c.notes, note))
        .returning(calls.c.id)
    ).all()
    effects.kept_staff_call_ids += ctx.session.scalars(
        sa.select(calls.c.id)
        .where(inside_cooling, calls.c.booked_by == CallBookedBy.STAFF)
        .order_by(calls.c.id)
    ).all()
    effects.canceled_call_ids.sort()
