"""Emails written by staff, the requests they carry, therapists' replies (rules 9-10).

Reads are Core selects over the tables; each function runs a fixed number of statements.
Writes that depend on an email's status lock the email row first (``FOR UPDATE``), so a
status check and the change it guards cannot be separated by the sender claiming the row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from communication_service.clock import Clock, local_date, to_utc_naive, utc_naive
from communication_service.config import Settings
from communication_service.context import Context
from communication_service.errors import ApiError, Conflict, NotFound, Unprocessable
from communication_service.models import (
    Email,
    EmailBatch,
    EmailStatus,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    Therapist,
)
from communication_service.reads import ReadQuery, prefixed
from communication_service.services.contact_rules import (
    has_email_address,
    requests_on_unsent_emails,
)
from communication_service.services.email_content import new_message_id, recipient_name
from communication_service.services.listing import ReaderListing, SelectListing
from communication_service.services.outcomes import (
    OutcomeEffects,
    appended_note,
    record_outcomes,
    therapists_concerned,
)
from communication_service.services.scheduling import lock_bookings, lock_bookings_of

emails = Email.__table__
email_batches = EmailBatch.__table__
placement_requests = PlacementRequest.__table__
phone_calls = PhoneCall.__table__
phone_call_batches = PhoneCallBatch.__table__
therapists = Therapist.__table__

EDITABLE = (EmailStatus.DRAFT, EmailStatus.QUEUED)
DELETABLE = (EmailStatus.DRAFT, EmailStatus.QUEUED, EmailStatus.FAILED)
SUMMARY_COLUMNS = [c for c in emails.c if c.name not in ("body_text", "body_html")]


def queue_values(clock: Clock, settings: Settings, message_id: str | None) -> dict[str, Any]:
    """Columns of an email entering ``queued``: due now, with its one Message-ID."""
    now = utc_naive(clock)
    return {
        "status": EmailStatus.QUEUED,
        "queued_at": now,
        "next_attempt_at": now,
        "message_id": message_id or new_message_id(settings),
    }


# --- reading ----------------------------------------------------------------------------------


_LIST_FILTERS = ("therapist_id", "status", "batch_id")


@functools.cache
def _email_list_queries(shape: tuple[str, ...], received: bool | None) -> tuple[ReadQuery, ...]:
    """Page and count statements for one combination of filters, prepared once each."""
    conditions = [emails.c[name] == sa.bindparam(name) for name in shape]
    if received is not None:
        flag = emails.c.response_received.is_(True)
        conditions.append(flag if received else sa.not_(flag))
    page = (
        sa.select(*SUMMARY_COLUMNS)
        .where(*conditions)
        .order_by(emails.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )
    count = sa.select(sa.func.count()).select_from(emails).where(*conditions)
    return ReadQuery(page), ReadQuery(count)


def list_emails(ctx: Context, filters: Mapping[str, Any]) -> ReaderListing:
    """Emails without their bodies, newest first, filtered by the given columns."""
    params = {name: filters[name] for name in _LIST_FILTERS if name in filters}
    pages, count = _email_list_queries(tuple(params), filters.get("response_received"))
    return ReaderListing(ctx.reader, pages, count, params)


_EMAIL_WITH_BATCHES = ReadQuery(
    # "carried_": emails have a column named batch_id of their own.
    sa.select(emails, *prefixed(email_batches, "carried_"))
    .select_from(emails.outerjoin(email_batches, email_batches.c.email_id == emails.c.id))
    .where(emails.c.id == sa.bindparam("email_id"))
    .order_by(email_batches.c.priority, email_batches.c.id)
)
_EMAIL_COLUMNS = len(emails.c)
_BATCH_KEYS = [key.removeprefix("carried_") for key in _EMAIL_WITH_BATCHES.keys[_EMAIL_COLUMNS:]]


def get_email(ctx: Context, email_id: int) -> dict[str, Any]:
    """The email with the requests it carries (``batches``, by priority), in one read."""
    rows = ctx.reader.tuples(_EMAIL_WITH_BATCHES, {"email_id": email_id})
    if not rows:
        raise _email_not_found(email_id)
    email = dict(
        zip(_EMAIL_WITH_BATCHES.keys[:_EMAIL_COLUMNS], rows[0][:_EMAIL_COLUMNS], strict=True)
    )
    email["batches"] = [
        dict(zip(_BATCH_KEYS, row[_EMAIL_COLUMNS:], strict=True))
        for row in rows
        if row[_EMAIL_COLUMNS] is not None
    ]
    return email


def list_email_batches(ctx: Context, email_id: int) -> SelectListing:
    """The requests an email carries, by priority (404 when the email does not exist)."""
    _require_email(ctx.session, email_id)
    return SelectListing(
        ctx.session,
        sa.select(email_batches)
        .where(email_batches.c.email_id == email_id)
        .order_by(email_batches.c.priority, email_batches.c.id),
    )


def list_communications(ctx: Context, placement_request_id: int) -> SelectListing:
    """Every email and call that carried the request, oldest first (by creation)."""
    session = ctx.session
    exists = session.execute(
        sa.select(placement_requests.c.id).where(placement_requests.c.id == placement_request_id)
    ).first()
    if exists is None:
        raise NotFound(
            f"Placement request {placement_request_id} does not exist.",
            details={"id": placement_request_id},
        )

    def null(type_: Any) -> sa.ColumnElement[Any]:
        return sa.cast(sa.null(), type_)

    email_part = (
        sa.select(
            sa.literal("email").label("type"),
            emails.c.id,
            emails.c.therapist_id,
            sa.cast(emails.c.status, sa.String).label("status"),
            email_batches.c.priority,
            emails.c.created_at,
            emails.c.subject,
            emails.c.queued_at,
            emails.c.sent_at,
            emails.c.response_received,
            emails.c.response_date,
            null(sa.Date).label("scheduled_date"),
            null(sa.Time).label("scheduled_time"),
            null(sa.Boolean).label("discussed"),
            null(sa.String).label("outcome"),
        )
        .join(email_batches, email_batches.c.email_id == emails.c.id)
        .where(email_batches.c.placement_request_id == placement_request_id)
    )
    call_part = (
        sa.select(
            sa.literal("phone_call").label("type"),
            phone_calls.c.id,
            phone_calls.c.therapist_id,
            sa.cast(phone_calls.c.status, sa.String).label("status"),
            phone_call_batches.c.priority,
            phone_calls.c.created_at,
            null(sa.String).label("subject"),
            null(sa.DateTime).label("queued_at"),
            null(sa.DateTime).label("sent_at"),
            null(sa.Boolean).label("response_received"),
            null(sa.DateTime).label("response_date"),
            phone_calls.c.scheduled_date,
            phone_calls.c.scheduled_time,
            phone_call_batches.c.discussed,
            phone_call_batches.c.outcome,
        )
        .join(phone_call_batches, phone_call_batches.c.phone_call_id == phone_calls.c.id)
        .where(phone_call_batches.c.placement_request_id == placement_request_id)
    )
    history = sa.union_all(email_part, call_part).subquery("history")
    return SelectListing(
        session, sa.select(history).order_by(history.c.created_at, history.c.type, history.c.id)
    )


# --- writing ----------------------------------------------------------------------------------


def create_email(ctx: Context, data: Mapping[str, Any]) -> dict[str, Any]:
    """A staff email to one therapist, as draft or queued; the recipient is the therapist."""
    session, clock, settings = ctx.session, ctx.clock, ctx.settings
    therapist_id = data["therapist_id"]
    queued = data["status"] == EmailStatus.QUEUED
    recipient = _recipient(session, therapist_id, queued=queued)
    request_ids = list(data["placement_request_ids"])
    _check_requests_of_therapist(session, therapist_id, request_ids, "placement_request_ids")
    _require_not_in_another_unsent_email(ctx, therapist_id, request_ids)

    values: dict[str, Any] = {
        "therapist_id": therapist_id,
        "subject": data["subject"],
        "body_text": data["body_text"],
        "body_html": data.get("body_html"),
        **recipient,
        "sender_email": settings.sender.address,
        "sender_name": settings.sender.display_name,
        "status": EmailStatus.DRAFT,
    }
    if queued:
        values.update(queue_values(clock, settings, None))
    email_id = session.execute(
        sa.insert(emails).values(**values).returning(emails.c.id)
    ).scalar_one()
    if request_ids:
        session.execute(
            sa.insert(email_batches),
            [
                {"email_id": email_id, "placement_request_id": request_id, "priority": rank}
                for rank, request_id in enumerate(request_ids, start=1)
            ],
        )
    session.commit()
    return get_email(ctx, email_id)


def update_email(ctx: Context, email_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Edit content while ``draft``/``queued``; queue, unqueue, or re-queue a failed email.

    A change of status is a move into ``draft`` or ``queued``: under the therapist's booking
    lock (taken before the email, decision 40) its requests must be in no other unsent email
    (409 ``request_already_in_contact``). Into ``queued`` the email goes to the therapist's
    current address, which must be usable (409 ``address_undeliverable``)."""
    session, clock, settings = ctx.session, ctx.clock, ctx.settings
    if "status" in changes:
        lock_bookings_of(
            session, settings, sa.select(emails.c.therapist_id).where(emails.c.id == email_id)
        )
    current = _lock_email(session, email_id)
    status = EmailStatus(current["status"])
    values = {k: changes[k] for k in ("subject", "body_text", "body_html") if k in changes}
    if values and status not in EDITABLE:
        session.rollback()
        raise Conflict(
            f"Email {email_id} is {status}; only draft or queued emails can be edited.",
            code="email_not_editable",
            details={"status": status.value},
        )
    target = changes.get("status")
    if target is not None and target != status:
        allowed = {
            (EmailStatus.DRAFT, EmailStatus.QUEUED),
            (EmailStatus.QUEUED, EmailStatus.DRAFT),
            (EmailStatus.FAILED, EmailStatus.QUEUED),
        }
        if (status, EmailStatus(target)) not in allowed:
            session.rollback()
            raise Conflict(
                f"Email {email_id} cannot change from {status} to {target}.",
                code="illegal_status_change",
                details={"status": status.value, "requested": target},
            )
        carried = list(
            session.scalars(
                sa.select(email_batches.c.placement_request_id).where(
                    email_batches.c.email_id == email_id
                )
            )
        )
        _require_not_in_another_unsent_email(ctx, current["therapist_id"], carried, email_id)
        if target == EmailStatus.QUEUED:
            values.update(_recipient(session, current["therapist_id"], queued=True))
            values.update(queue_values(clock, settings, current["message_id"]))
            # A re-queued failed email starts a fresh round of attempts, same Message-ID.
            values.update(retry_count=0, error_message=None, sending_started_at=None)
        else:
            values.update(status=EmailStatus.DRAFT, queued_at=None, next_attempt_at=None)
    if values:
        session.execute(
            sa.update(emails)
            .where(emails.c.id == email_id)
            .values(**values, updated_at=utc_naive(clock))
        )
    session.commit()
    return get_email(ctx, email_id)


def delete_email(ctx: Context, email_id: int) -> None:
    """Delete an email that was never sent (draft, queued, or failed before it went out);
    one that was sent stays as the record (409), a bounced one too: its bounce belongs to it."""
    session = ctx.session
    current = _lock_email(session, email_id)
    if EmailStatus(current["status"]) not in DELETABLE or current["sent_at"] is not None:
        session.rollback()
        sent_at = current["sent_at"]
        raise Conflict(
            f"Email {email_id} is {current['status']}"
            + ("" if sent_at is None else " and was sent")
            + "; it is kept as a record.",
            code="email_not_deletable",
            details={
                "status": current["status"],
                "sent_at": None if sent_at is None else sent_at.isoformat(),
            },
        )
    session.execute(sa.delete(emails).where(emails.c.id == email_id))
    session.commit()


def add_email_batch(ctx: Context, email_id: int, data: Mapping[str, Any]) -> sa.RowMapping:
    """Add a request to a draft/queued email (409 when it is already there or the email left)."""
    session = ctx.session
    # The lock order of every writer: the therapist's booking lock, then the email.
    lock_bookings_of(
        session, ctx.settings, sa.select(emails.c.therapist_id).where(emails.c.id == email_id)
    )
    email = _lock_email(session, email_id)
    _require_editable_requests(session, email_id, email["status"])
    request_id = data["placement_request_id"]
    _check_requests_of_therapist(
        session, email["therapist_id"], [request_id], "placement_request_id", indexed=False
    )
    _require_not_in_another_unsent_email(ctx, email["therapist_id"], [request_id], email_id)
    priority = data.get("priority")
    if priority is None:
        priority = (
            sa.select(sa.func.coalesce(sa.func.max(email_batches.c.priority), 0) + 1)
            .where(email_batches.c.email_id == email_id)
            .scalar_subquery()
        )
    row = (
        session.execute(
            pg_insert(email_batches)
            .values(email_id=email_id, placement_request_id=request_id, priority=priority)
            .on_conflict_do_nothing(index_elements=["email_id", "placement_request_id"])
            .returning(*email_batches.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        session.rollback()
        raise Conflict(
            f"Placement request {request_id} is already in email {email_id}.",
            code="duplicate",
            details={"placement_request_id": request_id},
        )
    session.commit()
    return row


def delete_email_batch(ctx: Context, batch_id: int) -> None:
    session = ctx.session
    row = (
        session.execute(
            sa.select(emails.c.id, emails.c.status)
            .join(email_batches, email_batches.c.email_id == emails.c.id)
            .where(email_batches.c.id == batch_id)
            .with_for_update(of=emails)
        )
        .mappings()
        .first()
    )
    if row is None:
        session.rollback()
        raise NotFound(f"Email batch {batch_id} does not exist.", details={"id": batch_id})
    _require_editable_requests(session, row["id"], row["status"])
    session.execute(sa.delete(email_batches).where(email_batches.c.id == batch_id))
    session.commit()


def record_response(ctx: Context, email_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """Store a therapist's reply; apply per-request outcomes (rule 9, dated on the reply's
    ``response_date``); cancel every call that follows the email up (rule 10: the follow-up
    and its re-plans). ``canceled_call_ids`` lists every call this canceled,
    ``canceled_follow_up_call_ids`` those of rule 10, ``kept_staff_call_ids`` the staff calls
    inside a cooling period it left alone. ``record_responses`` for one email, committed.
    """
    recorded = record_responses(ctx, {email_id: data})
    if email_id in recorded.refused:
        ctx.session.rollback()
        raise recorded.refused[email_id]
    ctx.session.commit()
    return {**get_email(ctx, email_id), **recorded.effects[email_id]}


@dataclass
class RecordedResponses:
    """What ``record_responses`` did: per recorded email, what recording did besides the
    email (the keys ``record_response`` answers with); per refused email, why not."""

    effects: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: dict[int, ApiError] = field(default_factory=dict)


# Fields of a response written only when given (``response_date`` defaults to now).
_OPTIONAL_RESPONSE_FIELDS = (
    ("response_content", sa.Text()),
    ("follow_up_required", sa.Boolean()),
    ("follow_up_notes", sa.Text()),
)


def record_responses(
    ctx: Context, responses: Mapping[int, Mapping[str, Any]], *, unanswered_only: bool = False
) -> RecordedResponses:
    """Rules 9-10 for therapists' replies, one per email (``{email_id: data}``, ``data`` as
    ``PUT /api/emails/{id}/response`` takes it), in a fixed number of statements besides
    one ``record_outcomes`` per email with outcomes. Does not commit.

    An email is refused (nothing written for it) when it does not exist, is not ``sent``,
    names outcomes for requests it does not carry, or — ``unanswered_only`` (replies read
    from the mailbox, which never overwrite a recorded response) — has a response already.

    Lock order, as every writer of calls: the therapists' booking locks (the emails'
    therapists and those ``therapists_concerned`` by the outcomes), then the emails (by id),
    then the calls. ``schedule-follow-ups`` takes the same locks and re-reads the email under
    them, so a reply and the job never leave a scheduled follow-up for an answered email,
    whichever commits first.
    """
    session, clock = ctx.session, ctx.clock
    recorded = RecordedResponses()
    email_ids = sorted(responses)
    request_ids = sorted({rid for data in responses.values() for rid in data.get("outcomes", ())})
    lock_bookings_of(
        session,
        ctx.settings,
        sa.union(
            sa.select(emails.c.therapist_id).where(emails.c.id.in_(email_ids)),
            therapists_concerned(request_ids),
        ),
    )
    locked = {
        row.id: row
        for row in session.execute(
            sa.select(emails.c.id, emails.c.status, emails.c.response_received)
            .where(emails.c.id.in_(email_ids))
            .order_by(emails.c.id)
            .with_for_update()
        )
    }
    for email_id in email_ids:
        row = locked.get(email_id)
        if row is None:
            recorded.refused[email_id] = _email_not_found(email_id)
        elif row.status != EmailStatus.SENT:
            recorded.refused[email_id] = Conflict(
                f"Email {email_id} is {row.status}; only a sent email can have a response.",
                code="email_not_sent",
                details={"status": row.status},
            )
        elif unanswered_only and row.response_received:
            recorded.refused[email_id] = Conflict(
                f"Email {email_id} has a response already.", code="email_already_answered"
            )
    _refuse_unknown_outcomes(session, responses, recorded)
    accepted = [email_id for email_id in email_ids if email_id not in recorded.refused]
    if not accepted:
        return recorded

    now = utc_naive(clock)
    received_at = {
        email_id: to_utc_naive(responses[email_id]["response_date"], clock)
        if responses[email_id].get("response_date")
        else now
        for email_id in accepted
    }
    _write_responses(session, {e: responses[e] for e in accepted}, received_at, now)

    # Rule 10 first: compare-and-swap, so a call already completed or failed stays as it is.
    follow_ups: dict[int, list[int]] = {email_id: [] for email_id in accepted}
    for call_id, email_id in session.execute(
        sa.update(phone_calls)
        .where(
            phone_calls.c.follow_up_email_id.in_(accepted),
            phone_calls.c.status == PhoneCallStatus.SCHEDULED,
        )
        .values(
            status=PhoneCallStatus.CANCELED,
            notes=appended_note(
                phone_calls.c.notes,
                "Automatisch abgesagt: E-Mail "
                + sa.cast(phone_calls.c.follow_up_email_id, sa.Text)
                + " wurde beantwortet (Regel 10).",
            ),
        )
        .returning(phone_calls.c.id, phone_calls.c.follow_up_email_id)
    ):
        follow_ups[email_id].append(call_id)
    for email_id in accepted:
        outcomes: dict[int, str] = dict(responses[email_id].get("outcomes", {}))
        effects = OutcomeEffects()
        if outcomes:  # rule 9, written the same way as for phone calls
            effects = record_outcomes(
                ctx,
                outcomes,
                via=f"by email (email {email_id})",
                day=local_date(received_at[email_id], clock),
            )
        canceled = sorted(follow_ups[email_id])
        recorded.effects[email_id] = {
            "canceled_call_ids": sorted([*canceled, *effects.canceled_call_ids]),
            "canceled_follow_up_call_ids": canceled,
            "kept_staff_call_ids": effects.kept_staff_call_ids,
            "withdrawn": effects.withdrawn,
        }
    return recorded


def _refuse_unknown_outcomes(
    session: Session, responses: Mapping[int, Mapping[str, Any]], recorded: RecordedResponses
) -> None:
    """Refuse each email whose outcomes name requests it does not carry (one read)."""
    named = {
        email_id: set(data["outcomes"])
        for email_id, data in responses.items()
        if data.get("outcomes") and email_id not in recorded.refused
    }
    if not named:
        return
    request_ids = sorted({request_id for ids in named.values() for request_id in ids})
    carried = {
        (email_id, request_id)
        for email_id, request_id in session.execute(
            sa.select(email_batches.c.email_id, email_batches.c.placement_request_id).where(
                email_batches.c.email_id.in_(named),
                email_batches.c.placement_request_id.in_(request_ids),
            )
        )
    }
    for email_id, request_ids in named.items():
        unknown = sorted(r for r in request_ids if (email_id, r) not in carried)
        if unknown:
            recorded.refused[email_id] = Unprocessable(
                "Outcomes name requests this email does not carry.",
                details={
                    f"outcomes.{request_id}": [
                        f"Placement request {request_id} is not in email {email_id}."
                    ]
                    for request_id in unknown
                },
            )


def _write_responses(
    session: Session,
    responses: Mapping[int, Mapping[str, Any]],
    received_at: Mapping[int, datetime],
    now: datetime,
) -> None:
    """The response columns of every email in one statement: the values per email side by
    side (``unnest``); a field an email's data does not give keeps its value."""
    email_ids = list(responses)
    arrays: list[tuple[str, Any, list[Any]]] = [
        ("email_id", sa.Integer(), email_ids),
        ("received_at", sa.DateTime(), [received_at[e] for e in email_ids]),
    ]
    for name, type_ in _OPTIONAL_RESPONSE_FIELDS:
        arrays.append((name, type_, [responses[e].get(name) for e in email_ids]))
        arrays.append((f"{name}_given", sa.Boolean(), [name in responses[e] for e in email_ids]))
    given = (
        sa.func.unnest(
            *(sa.bindparam(name, values, type_=ARRAY(type_)) for name, type_, values in arrays)
        )
        .table_valued(*(name for name, _, _ in arrays))
        .render_derived(name="given_response")
    )
    session.execute(
        sa.update(emails)
        .where(emails.c.id == given.c.email_id)
        .values(
            response_received=True,
            response_date=given.c.received_at,
            updated_at=now,
            **{
                name: sa.case((given.c[f"{name}_given"], given.c[name]), else_=emails.c[name])
                for name, _ in _OPTIONAL_RESPONSE_FIELDS
            },
        )
    )


# --- helpers ----------------------------------------------------------------------------------


def _email_not_found(email_id: int) -> NotFound:
    return NotFound(f"Email {email_id} does not exist.", details={"id": email_id})


def _require_email(session: Session, email_id: int) -> None:
    if session.execute(sa.select(emails.c.id).where(emails.c.id == email_id)).first() is None:
        raise _email_not_found(email_id)


def _lock_email(session: Session, email_id: int) -> sa.RowMapping:
    row = (
        session.execute(
            sa.select(
                emails.c.id,
                emails.c.status,
                emails.c.therapist_id,
                emails.c.message_id,
                emails.c.sent_at,
            )
            .where(emails.c.id == email_id)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if row is None:
        session.rollback()
        raise _email_not_found(email_id)
    return row


def _recipient(session: Session, therapist_id: int, *, queued: bool) -> dict[str, Any]:
    """``recipient_email`` and ``recipient_name`` of an email to the therapist: their current
    address (422 when the therapist or any address is missing). An email entering the queue
    needs a usable one (``contact_rules.has_email_address``, rule 6): an address a bounce
    marked undeliverable is 409 ``address_undeliverable``."""
    therapist = (
        session.execute(
            sa.select(
                therapists.c.titel,
                therapists.c.vorname,
                therapists.c.nachname,
                therapists.c.email,
                has_email_address().label("usable"),
            ).where(therapists.c.id == therapist_id)
        )
        .mappings()
        .first()
    )
    if therapist is None:
        session.rollback()
        raise Unprocessable(
            "The therapist does not exist.",
            details={"therapist_id": [f"Therapist {therapist_id} does not exist."]},
        )
    address = (therapist["email"] or "").strip()
    if not address:
        session.rollback()
        raise Unprocessable(
            "The therapist has no email address.",
            details={"therapist_id": [f"Therapist {therapist_id} has no email address."]},
        )
    if queued and not therapist["usable"]:
        session.rollback()
        raise Conflict(
            f"The address of therapist {therapist_id} is undeliverable (a bounce marked it); "
            "change the therapist's address, or delete the mark to try it again.",
            code="address_undeliverable",
            details={"field": "recipient_email", "therapist_id": therapist_id},
        )
    return {
        "recipient_email": address,
        "recipient_name": recipient_name(
            therapist["titel"], therapist["vorname"], therapist["nachname"]
        ),
    }


def _require_not_in_another_unsent_email(
    ctx: Context, therapist_id: int, request_ids: list[int], email_id: int = 0
) -> None:
    """409 ``request_already_in_contact`` when one of ``request_ids`` is in another draft or
    queued email: a request is in at most one unsent email at a time. Under the therapist's
    booking lock (taken here), so two writers cannot both see it free."""
    if not request_ids:
        return
    lock_bookings(ctx.session, ctx.settings, [therapist_id])
    held = ctx.session.execute(requests_on_unsent_emails(request_ids, email_id)).all()
    if held:
        ctx.session.rollback()
        raise Conflict(
            "Some placement requests are already in another unsent email.",
            code="request_already_in_contact",
            details={
                "placement_request_ids": sorted({row.placement_request_id for row in held}),
                "email_ids": sorted({row.email_id for row in held}),
            },
        )


def _require_editable_requests(session: Session, email_id: int, status: str) -> None:
    if EmailStatus(status) not in EDITABLE:
        session.rollback()
        raise Conflict(
            f"Email {email_id} is {status}; its requests can no longer change.",
            code="email_already_sent",
            details={"status": status},
        )


def _check_requests_of_therapist(
    session: Session,
    therapist_id: int,
    request_ids: list[int],
    field: str,
    *,
    indexed: bool = True,
) -> None:
    """422 naming each request that does not exist or belongs to another therapist."""
    if not request_ids:
        return
    owners = dict(
        session.execute(
            sa.select(placement_requests.c.id, placement_requests.c.therapist_id).where(
                placement_requests.c.id.in_(request_ids)
            )
        ).all()
    )
    errors: dict[str, list[str]] = {}
    for index, request_id in enumerate(request_ids):
        place = f"{field}.{index}" if indexed else field
        if request_id not in owners:
            errors[place] = [f"Placement request {request_id} does not exist."]
        elif owners[request_id] != therapist_id:
            errors[place] = [
                f"Placement request {request_id} belongs to another therapist, not {therapist_id}."
            ]
    if errors:
        session.rollback()
        raise Unprocessable("Some placement requests cannot go into this email.", details=errors)
