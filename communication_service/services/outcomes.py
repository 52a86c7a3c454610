"""Outcomes of a contact on placement requests (docs/rules.md rule 9), whatever the channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from communication_service.context import Context
from communication_service.models import (
    CallBookedBy,
    Email,
    EmailBatch,
    EmailStatus,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
)
from communication_service.services.contact_rules import UNSENT, cooling_until

placement_requests = PlacementRequest.__table__
calls = PhoneCall.__table__
call_batches = PhoneCallBatch.__table__
emails = Email.__table__
email_batches = EmailBatch.__table__

DECISIVE_OUTCOMES = (PlacementRequestStatus.ACCEPTED, PlacementRequestStatus.REJECTED)


@dataclass
class OutcomeEffects:
    """What recording outcomes did to calls: the rejecting therapists' automatic calls
    inside the cooling period were canceled; their staff calls there were kept (listed)."""

    canceled_call_ids: list[int] = field(default_factory=list)
    kept_staff_call_ids: list[int] = field(default_factory=list)
    # An acceptance takes the patient's other requests off unsent emails and scheduled calls.
    withdrawn: dict[str, list[int]] = field(
        default_factory=lambda: {"email_ids": [], "phone_call_ids": [], "placement_request_ids": []}
    )


def therapists_concerned(request_ids: sa.Select | list[int]) -> sa.Select:
    """The therapists whose calls and emails recording outcomes for ``request_ids`` may
    change: those of every request of the same patients. Their booking locks are taken before
    anything is written (``scheduling.lock_bookings_of``)."""
    patients_of = sa.select(placement_requests.c.patient_id).where(
        placement_requests.c.id.in_(request_ids)
    )
    return sa.select(placement_requests.c.therapist_id).where(
        placement_requests.c.patient_id.in_(patients_of)
    )


def appended_note(
    column: sa.ColumnElement[str], note: str | sa.ColumnElement[str]
) -> sa.ColumnElement[str]:
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
        else:
            _withdraw_placed_patients(ctx, ids, effects)
    return effects


PLACED_NOTE = "Patient/in anderweitig vermittelt: Anfrage {} entfernt."


def _withdraw_placed_patients(
    ctx: Context, accepted_ids: list[int], effects: OutcomeEffects
) -> None:
    """The accepted requests' patients are placed: their other requests leave every unsent
    email (``withdraw_from_unsent_emails``) and every scheduled call; a scheduled call left
    without requests is canceled with a note.

    Decision 40's order: the emails are locked and changed before any call is touched."""
    session = ctx.session
    others = sa.select(placement_requests.c.id).where(
        placement_requests.c.patient_id.in_(
            sa.select(placement_requests.c.patient_id).where(
                placement_requests.c.id.in_(accepted_ids)
            )
        ),
        placement_requests.c.id.not_in(accepted_ids),
    )
    gone, off_emails = withdraw_from_unsent_emails(
        ctx, email_batches.c.placement_request_id.in_(others), UNSENT
    )
    off_calls = session.execute(
        sa.delete(call_batches)
        .where(
            call_batches.c.placement_request_id.in_(others),
            call_batches.c.phone_call_id == calls.c.id,
            calls.c.status == PhoneCallStatus.SCHEDULED,
        )
        .returning(call_batches.c.phone_call_id, call_batches.c.placement_request_id)
    ).all()
    for call_id, request_id in off_calls:
        session.execute(
            sa.update(calls)
            .where(calls.c.id == call_id)
            .values(notes=appended_note(calls.c.notes, PLACED_NOTE.format(request_id)))
        )
    emptied = session.scalars(
        sa.update(calls)
        .where(
            calls.c.id.in_({call_id for call_id, _ in off_calls}),
            calls.c.status == PhoneCallStatus.SCHEDULED,
            ~sa.exists().where(call_batches.c.phone_call_id == calls.c.id),
        )
        .values(status=PhoneCallStatus.CANCELED)
        .returning(calls.c.id)
    ).all()
    withdrawn = effects.withdrawn
    withdrawn["email_ids"] = sorted({*withdrawn["email_ids"], *gone})
    withdrawn["phone_call_ids"] = sorted({*withdrawn["phone_call_ids"], *emptied})
    withdrawn["placement_request_ids"] = sorted(
        {*withdrawn["placement_request_ids"], *(r for _, r in off_calls), *off_emails}
    )


def withdraw_from_unsent_emails(
    ctx: Context, carried: sa.ColumnElement[bool], statuses: tuple[EmailStatus, ...]
) -> tuple[list[int], list[int]]:
    """Take the requests of a placed patient off the emails in ``statuses`` that carry them
    (``carried``: a condition on ``email_batches``). A batching email that named one is
    withdrawn (deleted: its body names the patient, and its other requests go back to the
    pool); a staff email loses the request and goes back to draft with a note (its text is
    staff's to correct); one left empty is withdrawn. Locks the emails (ascending ids) before
    changing them. Returns the withdrawn email ids and the requests taken off, ascending.
    Does not commit."""
    session = ctx.session
    held = session.execute(
        sa.select(email_batches.c.email_id, email_batches.c.placement_request_id, emails.c.batch_id)
        .join(emails, emails.c.id == email_batches.c.email_id)
        .where(carried, emails.c.status.in_(statuses))
        .order_by(email_batches.c.email_id)
        .with_for_update(of=emails)
    ).all()
    batching_emails = sorted({row.email_id for row in held if row.batch_id is not None})
    staff_rows = [row for row in held if row.batch_id is None]
    for row in staff_rows:
        session.execute(
            sa.delete(email_batches).where(
                email_batches.c.email_id == row.email_id,
                email_batches.c.placement_request_id == row.placement_request_id,
            )
        )
        session.execute(
            sa.update(emails)
            .where(emails.c.id == row.email_id)
            .values(
                status=EmailStatus.DRAFT,
                queued_at=None,
                next_attempt_at=None,
                follow_up_notes=appended_note(
                    emails.c.follow_up_notes,
                    PLACED_NOTE.format(row.placement_request_id) + " Bitte den Text prüfen.",
                ),
            )
        )
    empty_staff_emails = session.scalars(
        sa.select(emails.c.id).where(
            emails.c.id.in_({row.email_id for row in staff_rows}),
            ~sa.exists().where(email_batches.c.email_id == emails.c.id),
        )
    ).all()
    gone = sorted({*batching_emails, *empty_staff_emails})
    if gone:
        session.execute(sa.delete(emails).where(emails.c.id.in_(gone)))
    return gone, sorted({row.placement_request_id for row in held})


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
