"""SQL predicates of the contact rules (docs/rules.md), shared by the jobs that create contacts
and the lists that show where each therapist and request stands.

Each function returns a Core expression to put in a ``WHERE`` or a ``SELECT``; the jobs combine
them into set-based statements, so a rule is written once and evaluated by PostgreSQL for all
rows. Constants are written into the SQL (``reads.constant``) and values may be given as bind
parameters, so the lists' prepared statements (``reads.ReadQuery``) embed the same expressions.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from communication_service.clock import Clock
from communication_service.config import Settings
from communication_service.models import (
    Email,
    EmailBatch,
    EmailStatus,
    InboundEmail,
    Patient,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
    Therapist,
    TherapistStatus,
    UndeliverableAddress,
)
from communication_service.models.therapist_absence import TherapistAbsence
from communication_service.reads import constant

therapists = Therapist.__table__
placement_requests = PlacementRequest.__table__
patients = Patient.__table__
emails = Email.__table__
email_batches = EmailBatch.__table__
phone_calls = PhoneCall.__table__
phone_call_batches = PhoneCallBatch.__table__
inbound_emails = InboundEmail.__table__
undeliverable_addresses = UndeliverableAddress.__table__

# Written into the statement, not bound: the prepared hot reads (``reads.py``) take no
# constants as parameters.
ONE_MINUTE = sa.literal_column("interval '1 minute'", sa.Interval())
SCHEDULED = constant(phone_calls.c.status, PhoneCallStatus.SCHEDULED)
UNSENT = (EmailStatus.DRAFT, EmailStatus.QUEUED)  # an email that can still change
# A day, or an expression giving one (a bind parameter in a prepared statement).
Day = date | sa.ColumnElement[date]
# Emails that count for rule 4 (decision 11): on their way, or sent.
EMAIL_ON_ITS_WAY = (EmailStatus.QUEUED, EmailStatus.SENDING)


def therapist_is_active(therapist: sa.FromClause = therapists) -> sa.ColumnElement[bool]:
    return therapist.c.status == constant(therapist.c.status, TherapistStatus.ACTIVE)


def comparable_address(address: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """An address as undeliverable addresses are stored: trimmed, lower case."""
    return sa.func.lower(sa.func.btrim(address))


def has_email_address(therapist: sa.FromClause = therapists) -> sa.ColumnElement[bool]:
    """Rule 6: the therapist has a usable address — one is set (not NULL or blank), and it is
    not an address that returned a permanent failure (a bounce, 5.x.x). Changing the address
    in the therapist row makes the therapist reachable by email again."""
    return usable_address(therapist.c.id, therapist.c.email)


def usable_address(
    therapist_id: sa.ColumnElement[int],
    address: sa.ColumnElement[str],
    *,
    marked_after: sa.ColumnElement[datetime] | None = None,
) -> sa.ColumnElement[bool]:
    """Rule 6, the one definition (``has_email_address`` is it for the therapist's current
    address): ``address`` is set (not NULL or blank) and not marked undeliverable for the
    therapist. ``marked_after``: only a mark made at or after that moment counts (an email
    already queued to the address)."""
    return sa.and_(
        sa.func.nullif(sa.func.btrim(address), sa.literal_column("''")).is_not(None),
        ~sa.exists(undeliverable_mark(therapist_id, address, marked_after=marked_after)),
    )


def undeliverable_mark(
    therapist_id: sa.ColumnElement[int],
    address: sa.ColumnElement[str],
    *,
    marked_after: sa.ColumnElement[datetime] | None = None,
) -> sa.Select:
    """The mark that makes ``address`` unusable for the therapist (rule 6): ``since``,
    ``diagnostic``."""
    dead = undeliverable_addresses.alias("dead_address")
    marked = [dead.c.therapist_id == therapist_id, dead.c.address == comparable_address(address)]
    if marked_after is not None:
        marked.append(dead.c.since >= marked_after)
    # The therapist and the address come from outside, however deep this is nested.
    return sa.select(dead.c.since, dead.c.diagnostic).where(*marked).correlate_except(dead)


def queued_to_dead_address(email: sa.FromClause = emails) -> sa.ColumnElement[bool]:
    """Rule 6 for an email already written: its recipient is no usable address of its
    therapist (``usable_address``, as ``has_email_address`` judges the therapist's), counting
    only marks made since the email was queued. ``send-emails`` does not send such an email
    (it fails), and its requests go back like a bounced email's (``request_was_emailed``)."""
    return ~usable_address(
        email.c.therapist_id,
        email.c.recipient_email,
        marked_after=sa.func.coalesce(email.c.queued_at, email.c.created_at),
    )


def still_in_force(day: sa.ColumnElement[date | None], today: Day) -> sa.ColumnElement[date | None]:
    """``day`` — the first day something is allowed again — when it lies after ``today``;
    NULL when the restriction no longer holds (or never did). ``day`` is evaluated once."""
    return sa.func.nullif(sa.func.greatest(day, today), today)


def cooling_until(
    therapist_id: sa.ColumnElement[int], cooling_days: int | sa.ColumnElement[int]
) -> sa.ScalarSelect[date | None]:
    """Rule 9, the one definition: the first day automatic contact with the therapist is
    allowed again, or NULL when none of their requests was rejected.

    A rejection on day R blocks days R … R + ``cooling_days`` - 1; a rejection's
    ``next_contact_after`` (set by whoever recorded it) blocks up to that day too. Used by
    batching, follow-ups, sending and automatic scheduling (``scheduling.py`` embeds it).
    """
    rejected = placement_requests.alias("rejected_request")
    return (
        sa.select(
            sa.func.max(
                sa.func.greatest(
                    rejected.c.response_date + cooling_days, rejected.c.next_contact_after
                )
            )
        )
        .where(
            rejected.c.therapist_id == therapist_id,
            rejected.c.status == constant(rejected.c.status, PlacementRequestStatus.REJECTED),
        )
        .scalar_subquery()
    )


def in_cooling_period(
    therapist_id: sa.ColumnElement[int], today: date, settings: Settings
) -> sa.ColumnElement[bool]:
    """Rule 9: ``today`` lies before ``cooling_until`` (never true without a rejection)."""
    until = cooling_until(therapist_id, settings.cooling_period_days)
    return sa.func.coalesce(until, today) > today


def next_email_allowed_on(
    therapist_id: sa.ColumnElement[int],
    today: Day,
    time_zone: str | sa.ColumnElement[str],
    interval_days: int | sa.ColumnElement[int],
) -> sa.ColumnElement[date | None]:
    """Rule 4, the one definition: the first day a batching email may go out to the therapist
    again, or NULL when no email counts.

    An email sent on day D (the calendar day in ``time_zone``) allows the next one on
    D + ``interval_days``; an email on its way (queued, sending) counts as sent ``today``.
    Drafts and failed emails do not count; any other email does, staff emails included.
    Only the last sent email matters, so each part is one probe of
    ``idx_emails_therapist_status_sent_at`` however many emails the therapist has had.
    """
    waiting, sent = emails.alias("email_on_its_way"), emails.alias("sent_email")
    on_its_way = (
        sa.select(sa.literal_column("1"))
        .where(
            waiting.c.therapist_id == therapist_id,
            waiting.c.status.in_([constant(waiting.c.status, s) for s in EMAIL_ON_ITS_WAY]),
        )
        .limit(sa.literal_column("1"))
        .scalar_subquery()
    )
    last_sent_at = (
        sa.select(sa.func.max(sent.c.sent_at))
        .where(
            sent.c.therapist_id == therapist_id,
            sent.c.status == constant(sent.c.status, EmailStatus.SENT),
        )
        .scalar_subquery()
    )
    utc = sa.literal_column("'UTC'")
    sent_on = sa.cast(sa.func.timezone(time_zone, sa.func.timezone(utc, last_sent_at)), sa.Date)
    # GREATEST skips NULLs; NULL + n is NULL: no email that counts, no restriction.
    return sa.func.greatest(sa.case((on_its_way.is_not(None), today)), sent_on) + interval_days


def emailed_within_interval(
    therapist_id: sa.ColumnElement[int], today: date, clock: Clock, settings: Settings
) -> sa.ColumnElement[bool]:
    """Rule 4: ``today`` lies before ``next_email_allowed_on`` (sent on day D → the next one
    on D + CONTACT_INTERVAL_DAYS; never true without an email that counts)."""
    allowed = next_email_allowed_on(
        therapist_id, today, clock.tz.key, settings.contact_interval_days
    )
    return sa.func.coalesce(allowed, today) > today


def request_is_open(request: sa.FromClause = placement_requests) -> sa.ColumnElement[bool]:
    return request.c.status == constant(request.c.status, PlacementRequestStatus.OPEN)


def patient_is_placed(patient_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """One of the patient's requests was accepted: their other requests are offered no more."""
    accepted = placement_requests.alias("accepted_request")
    return sa.exists().where(
        accepted.c.patient_id == patient_id,
        accepted.c.status == constant(accepted.c.status, PlacementRequestStatus.ACCEPTED),
    )


def request_is_due(today: date, request: sa.FromClause = placement_requests):
    """Open, its ``next_contact_after`` (if any) is today or earlier, and its patient is not
    placed elsewhere."""
    return sa.and_(
        request_is_open(request),
        sa.or_(request.c.next_contact_after.is_(None), request.c.next_contact_after <= today),
        ~patient_is_placed(request.c.patient_id),
    )


def request_awaits_first_contact(
    request: sa.FromClause = placement_requests,
) -> sa.ColumnElement[bool]:
    """Open, its patient not placed, in no email batch and on no live call: what the batching
    job may still take (once due), and what the lists call "not yet contacted" (``waiting``).
    A placed patient's other requests lose their emails and calls (rule 9) but wait for
    nothing: no job offers them again."""
    return sa.and_(
        request_is_open(request),
        ~patient_is_placed(request.c.patient_id),
        sa.not_(request_was_emailed(request.c.id)),
        sa.not_(request_has_live_call(request.c.id)),
    )


def request_was_emailed(request_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The request is in an email batch (whatever the email's status: a failed email stays
    with staff, who can re-queue it; the job does not pick its requests again) — except an
    email that bounced: failed by a permanent delivery failure, or failed unsent because a
    bounce marked its address undeliverable after it was queued (``queued_to_dead_address``),
    it never reached the therapist, and its requests go by phone (rule 6) or to the
    therapist's new address."""
    batch = email_batches.alias("earlier_email_batch")
    bounced_email = emails.alias("bounced_email")
    bounce = inbound_emails.alias("bounce")
    bounced = sa.exists().where(
        bounce.c.email_id == batch.c.email_id,
        bounce.c.permanent_failure.is_(True),
        bounced_email.c.id == batch.c.email_id,
        bounced_email.c.status == constant(bounced_email.c.status, EmailStatus.FAILED),
    )
    # Two separate conditions, not one with an OR: each stays a join the planner can probe
    # per batch (an OR of subqueries made it hash whole tables for a page of the lists).
    unsent_email = emails.alias("unsent_email")
    failed_unsent = sa.exists().where(
        unsent_email.c.id == batch.c.email_id,
        unsent_email.c.status == constant(unsent_email.c.status, EmailStatus.FAILED),
        queued_to_dead_address(unsent_email),
    )
    return sa.exists().where(batch.c.placement_request_id == request_id, ~bounced, ~failed_unsent)


def request_has_live_call(request_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The request is on a phone call that was not canceled (scheduled, completed or failed;
    failed calls are re-planned by rule 8, not by the batching job)."""
    batch = phone_call_batches.alias("earlier_call_batch")
    call = phone_calls.alias("earlier_call")
    return sa.exists().where(
        batch.c.placement_request_id == request_id,
        call.c.id == batch.c.phone_call_id,
        call.c.status != constant(call.c.status, PhoneCallStatus.CANCELED),
    )


def call_ends_at(call: sa.FromClause = phone_calls) -> sa.ColumnElement[datetime]:
    """When a call ends, in local wall-clock time (as calls are stored)."""
    return call.c.scheduled_date + call.c.scheduled_time + call.c.duration_minutes * ONE_MINUTE


def call_is_overdue(
    now_local: datetime | sa.ColumnElement[datetime], call: sa.FromClause = phone_calls
) -> sa.ColumnElement[bool]:
    """A call still ``scheduled`` after its end has passed: nobody closed it. It is shown as
    overdue and no longer counts as pending contact (``has_scheduled_call``)."""
    return sa.and_(call.c.status == SCHEDULED, call_ends_at(call) <= now_local)


def has_scheduled_call(
    therapist_id: sa.ColumnElement[int], now_local: datetime
) -> sa.ColumnElement[bool]:
    """The therapist has a scheduled call that is not overdue (a forgotten call does not block
    automatic contact for ever)."""
    call = phone_calls.alias("pending_call")
    return sa.exists().where(
        call.c.therapist_id == therapist_id,
        call.c.status == constant(call.c.status, PhoneCallStatus.SCHEDULED),
        ~call_is_overdue(now_local, call),
    )


def scheduled_calls_carrying(request_id: sa.ColumnElement[int]) -> sa.Select:
    """The one definition of "on a scheduled call": (placement_request_id, phone_call_id) of
    the scheduled calls carrying the request, earliest first (an overdue call included: it is
    still to be made). ``request_id`` may be ``sa.any_(array)`` for several requests."""
    batch = phone_call_batches.alias("carrying_call_batch")
    call = phone_calls.alias("carrying_call")
    return (
        sa.select(batch.c.placement_request_id, batch.c.phone_call_id)
        .join(call, call.c.id == batch.c.phone_call_id)
        .where(batch.c.placement_request_id == request_id, call.c.status == SCHEDULED)
        .order_by(call.c.scheduled_date, call.c.scheduled_time, call.c.id)
    )


def unsent_emails_carrying(request_id: sa.ColumnElement[int] | int) -> sa.Select:
    """The one definition of "in an unsent email": (placement_request_id, email_id) of the
    draft or queued emails carrying the request. ``request_id`` may be ``sa.any_(array)``."""
    batch = email_batches.alias("carrying_email_batch")
    email = emails.alias("carrying_email")
    return (
        sa.select(batch.c.placement_request_id, batch.c.email_id)
        .join(email, email.c.id == batch.c.email_id)
        .where(
            batch.c.placement_request_id == request_id,
            email.c.status.in_([constant(email.c.status, status) for status in UNSENT]),
        )
        .order_by(batch.c.placement_request_id, batch.c.email_id)
    )


def requests_on_scheduled_calls(
    request_ids: sa.ColumnElement[list[int]], except_call_id: sa.ColumnElement[int]
) -> sa.Select:
    """(placement_request_id, phone_call_id) for those of ``request_ids`` on a scheduled call
    other than ``except_call_id``: a request is on at most one scheduled call at a time."""
    held = scheduled_calls_carrying(sa.any_(request_ids))
    return held.where(held.selected_columns.phone_call_id != except_call_id)


def requests_on_unsent_emails(request_ids: list[int], except_email_id: int) -> sa.Select:
    """(placement_request_id, email_id) for those of ``request_ids`` in a draft or queued email
    other than ``except_email_id``: a request is in at most one unsent email at a time."""
    ids = sa.bindparam("request_ids", request_ids, type_=ARRAY(sa.Integer))
    held = unsent_emails_carrying(sa.any_(ids))
    return held.where(held.selected_columns.email_id != except_email_id)


def on_live_contact(request_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The request is on a scheduled call or in an unsent email (live contacts)."""
    return sa.or_(
        sa.exists(scheduled_calls_carrying(request_id)),
        sa.exists(unsent_emails_carrying(request_id)),
    )


def rank_order(request: sa.FromClause = placement_requests) -> tuple[sa.ColumnElement, ...]:
    """Rule 12 within a therapist: the patient waiting longest first (``startdatum``), then
    the request's id. Needs ``patient_service.patients`` joined."""
    return patients.c.startdatum.asc().nulls_last(), request.c.id


def potentially_available_first(therapist: sa.FromClause = therapists):
    """Rule 12 ordering key: flagged therapists first."""
    return sa.func.coalesce(therapist.c.potentially_available, False).desc()


def absent_on(
    therapist_id: sa.ColumnElement[int], day: date | sa.ColumnElement[date]
) -> sa.ColumnElement[bool]:
    """Rule 13, the one definition: an absence of the therapist covers ``day`` (both ends
    inclusive). Answered from ``idx_therapist_absences_therapist_ends``. Used by batching, by
    every call read (``absent``) and, rendered into the booking context, by the slot finder."""
    absence = TherapistAbsence.__table__.alias("absence")
    return sa.exists().where(
        absence.c.therapist_id == therapist_id,
        absence.c.ends_on >= day,
        absence.c.starts_on <= day,
    )
