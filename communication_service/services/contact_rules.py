"""SQL predicates of the contact rules (docs/rules.md), shared by the jobs that create contacts
and the lists that show where each therapist and request stands.

Each function returns a Core expression to put in a ``WHERE`` or a ``SELECT``; the jobs combine
them into set-based statements, so a rule is written once and evaluated by PostgreSQL for all
rows. Constants are written into the SQL (``reads.constant``) and values may be given as bind
parameters, so the lists' prepared statements (``reads.ReadQuery``) embed the same expressions.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from communication_service.clock import Clock
from communication_service.config import Settings
from communication_service.models import (
    Email,
    EmailBatch,
    EmailStatus,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
    Therapist,
    TherapistStatus,
)
from communication_service.reads import constant

therapists = Therapist.__table__
placement_requests = PlacementRequest.__table__
emails = Email.__table__
email_batches = EmailBatch.__table__
phone_calls = PhoneCall.__table__
phone_call_batches = PhoneCallBatch.__table__

# A day, or an expression giving one (a bind parameter in a prepared statement).
Day = date | sa.ColumnElement[date]
# Emails that count for rule 4 (decision 11): on their way, or sent.
EMAIL_ON_ITS_WAY = (EmailStatus.QUEUED, EmailStatus.SENDING)


def therapist_is_active(therapist: sa.FromClause = therapists) -> sa.ColumnElement[bool]:
    return therapist.c.status == constant(therapist.c.status, TherapistStatus.ACTIVE)


def has_email_address(therapist: sa.FromClause = therapists) -> sa.ColumnElement[bool]:
    return sa.func.nullif(sa.func.btrim(therapist.c.email), sa.literal_column("''")).is_not(None)


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


def request_is_due(today: date, request: sa.FromClause = placement_requests):
    """Open, and its ``next_contact_after`` (if any) is today or earlier."""
    return sa.and_(
        request_is_open(request),
        sa.or_(request.c.next_contact_after.is_(None), request.c.next_contact_after <= today),
    )


def request_awaits_first_contact(
    request: sa.FromClause = placement_requests,
) -> sa.ColumnElement[bool]:
    """Open, in no email batch and on no live call: what the batching job may still take
    (once due), and what the lists call "not yet contacted" (``waiting``)."""
    return sa.and_(
        request_is_open(request),
        sa.not_(request_was_emailed(request.c.id)),
        sa.not_(request_has_live_call(request.c.id)),
    )


def request_was_emailed(request_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The request is in an email batch (whatever the email's status: a failed email stays
    with staff, who can re-queue it; the job does not pick its requests again)."""
    batch = email_batches.alias("earlier_email_batch")
    return sa.exists().where(batch.c.placement_request_id == request_id)


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


def has_scheduled_call(therapist_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    call = phone_calls.alias("pending_call")
    return sa.exists().where(
        call.c.therapist_id == therapist_id,
        call.c.status == constant(call.c.status, PhoneCallStatus.SCHEDULED),
    )


def potentially_available_first(therapist: sa.FromClause = therapists):
    """Rule 12 ordering key: flagged therapists first."""
    return sa.func.coalesce(therapist.c.potentially_available, False).desc()
