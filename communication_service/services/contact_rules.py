"""SQL predicates of the contact rules (docs/rules.md), shared by the jobs that create contacts.

Each function returns a Core expression to put in a ``WHERE``; the jobs combine them into
set-based statements, so a rule is written once and evaluated by PostgreSQL for all rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from communication_service.clock import Clock, local_midnight_utc
from communication_service.config import Settings
from communication_service.models import (
    Email,
    EmailBatch,
    EmailStatus,
    InboundEmail,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
    Therapist,
    TherapistStatus,
    UndeliverableAddress,
)

therapists = Therapist.__table__
placement_requests = PlacementRequest.__table__
emails = Email.__table__
email_batches = EmailBatch.__table__
phone_calls = PhoneCall.__table__
phone_call_batches = PhoneCallBatch.__table__
inbound_emails = InboundEmail.__table__
undeliverable_addresses = UndeliverableAddress.__table__


def therapist_is_active(therapist: sa.FromClause = therapists) -> sa.ColumnElement[bool]:
    return therapist.c.status == TherapistStatus.ACTIVE


def comparable_address(address: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """An address as undeliverable addresses are stored: trimmed, lower case."""
    return sa.func.lower(sa.func.btrim(address))


def has_email_address(therapist: sa.FromClause = therapists) -> sa.ColumnElement[bool]:
    """Rule 6: the therapist has a usable address — one is set (not NULL or blank), and it is
    not an address that returned a permanent failure (a bounce, 5.x.x). Changing the address
    in the therapist row makes the therapist reachable by email again."""
    dead = undeliverable_addresses.alias("dead_address")
    return sa.and_(
        sa.func.nullif(sa.func.btrim(therapist.c.email), "").is_not(None),
        ~sa.exists().where(
            dead.c.therapist_id == therapist.c.id,
            dead.c.address == comparable_address(therapist.c.email),
        ),
    )


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
            rejected.c.status == PlacementRequestStatus.REJECTED,
        )
        .scalar_subquery()
    )


def in_cooling_period(
    therapist_id: sa.ColumnElement[int], today: date, settings: Settings
) -> sa.ColumnElement[bool]:
    """Rule 9: ``today`` lies before ``cooling_until`` (never true without a rejection)."""
    until = cooling_until(therapist_id, settings.cooling_period_days)
    return sa.func.coalesce(until, today) > today


def emailed_within_interval(
    therapist_id: sa.ColumnElement[int], today: date, clock: Clock, settings: Settings
) -> sa.ColumnElement[bool]:
    """Rule 4: the therapist has an email on its way (queued, sending) or one sent within the
    last CONTACT_INTERVAL_DAYS calendar days (sent on day D → next one on D + interval)."""
    window_start = local_midnight_utc(
        today - timedelta(days=settings.contact_interval_days - 1), clock
    )
    recent = emails.alias("recent_email")
    return sa.exists().where(
        recent.c.therapist_id == therapist_id,
        sa.or_(
            recent.c.status.in_([EmailStatus.QUEUED, EmailStatus.SENDING]),
            sa.and_(recent.c.status == EmailStatus.SENT, recent.c.sent_at >= window_start),
        ),
    )


def request_is_due(today: date, request: sa.FromClause = placement_requests):
    """Open, and its ``next_contact_after`` (if any) is today or earlier."""
    return sa.and_(
        request.c.status == PlacementRequestStatus.OPEN,
        sa.or_(request.c.next_contact_after.is_(None), request.c.next_contact_after <= today),
    )


def request_was_emailed(request_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The request is in an email batch (whatever the email's status: a failed email stays
    with staff, who can re-queue it; the job does not pick its requests again) — except an
    email that bounced: failed by a permanent delivery failure, it never reached the
    therapist, and its requests go by phone (rule 6) or to the therapist's new address."""
    batch = email_batches.alias("earlier_email_batch")
    bounced_email = emails.alias("bounced_email")
    bounce = inbound_emails.alias("bounce")
    bounced = sa.exists().where(
        bounce.c.email_id == batch.c.email_id,
        bounce.c.permanent_failure.is_(True),
        bounced_email.c.id == batch.c.email_id,
        bounced_email.c.status == EmailStatus.FAILED,
    )
    return sa.exists().where(batch.c.placement_request_id == request_id, ~bounced)


def request_has_live_call(request_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """The request is on a phone call that was not canceled (scheduled, completed or failed;
    failed calls are re-planned by rule 8, not by the batching job)."""
    batch = phone_call_batches.alias("earlier_call_batch")
    call = phone_calls.alias("earlier_call")
    return sa.exists().where(
        batch.c.placement_request_id == request_id,
        call.c.id == batch.c.phone_call_id,
        call.c.status != PhoneCallStatus.CANCELED,
    )


def has_scheduled_call(therapist_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    call = phone_calls.alias("pending_call")
    return sa.exists().where(
        call.c.therapist_id == therapist_id, call.c.status == PhoneCallStatus.SCHEDULED
    )


def potentially_available_first(therapist: sa.FromClause = therapists):
    """Rule 12 ordering key: flagged therapists first."""
    return sa.func.coalesce(therapist.c.potentially_available, False).desc()
