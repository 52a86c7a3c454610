"""The ``schedule-follow-ups`` job: docs/rules.md rule 7 (with 9 and 12).

An email sent FOLLOW_UP_AFTER_DAYS calendar days ago or earlier (sent on day D → due on
D + 7) without a recorded response becomes one phone call per therapist, carrying the
email's still-open requests, booked by the scheduling engine (rule 3, potentially available
therapists first). Never twice for the same email: the call stores ``follow_up_email_id``,
whose unique index makes a second one impossible, and an email that has a follow-up call
(in any status, also canceled) is never due again. Rule 10 (a response cancels the
still-scheduled follow-up) lives with the responses in ``services/emails.py``.

Several due emails of one therapist (the job did not run for a while) give one call: it
refers to the oldest of them and carries the open requests of all, in email order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from communication_service.clock import local_date, local_midnight_utc, utc_naive
from communication_service.context import Context
from communication_service.models import EmailStatus, PhoneCallStatus
from communication_service.services import contact_rules as rules
from communication_service.services.reasons import Tally, booking_reason
from communication_service.services.scheduling import (
    CallOrder,
    lock_bookings,
    schedule_calls,
)

Progress = Callable[[int, int], None]  # (done, total)

emails = rules.emails
email_batches = rules.email_batches
placement_requests = rules.placement_requests
phone_calls = rules.phone_calls
phone_call_batches = rules.phone_call_batches
therapists = rules.therapists

LOCK_NAME = "communication_service.schedule-follow-ups"
BOOKING_CHUNK = 25  # bookings between progress updates


@dataclass
class FollowUpResult:
    emails_due: int = 0
    calls_scheduled: int = 0
    requests_called: int = 0
    calls_not_booked: Tally = field(default_factory=lambda: Tally("therapists"))
    # sent, unanswered emails old enough for a follow-up that get none (booking aside)
    skipped: Tally = field(default_factory=lambda: Tally("emails"))

    def summary(self) -> str:
        text = (
            f"schedule-follow-ups: {self.calls_scheduled} follow-up calls scheduled carrying "
            f"{self.requests_called} requests of {self.emails_due} unanswered emails"
        )
        text += self.calls_not_booked.clause("not booked now")
        text += self.skipped.clause("emails skipped")
        return text

    def details(self) -> list[str]:
        """The ids behind the summary's reasons (``--verbose``)."""
        return [
            *self.calls_not_booked.lines("schedule-follow-ups: not booked now"),
            *self.skipped.lines("schedule-follow-ups: skipped"),
        ]


def _email_rules(ctx: Context) -> list[sa.ColumnElement[bool]]:
    """Rule 7: a sent email, FOLLOW_UP_AFTER_DAYS calendar days old or older, unanswered, not
    followed up, and not settled otherwise (``_carries_an_unsettled_request``)."""
    today = ctx.clock.now().date()
    sent_before = local_midnight_utc(
        today - timedelta(days=ctx.settings.follow_up_after_days - 1), ctx.clock
    )
    return [
        emails.c.status == EmailStatus.SENT,
        emails.c.sent_at < sent_before,
        *_still_unanswered(),
        _carries_an_unsettled_request(),
    ]


def _carries_an_unsettled_request() -> sa.ColumnElement[bool]:
    """Something about the email may still need a call: one of its requests is open, its
    patient not placed, and it was not handled on a call made after the email went out that
    has ended (completed or failed: settled by phone). An email whose requests are all
    settled — decided, placed elsewhere, or settled by phone — or that carries none needs no
    follow-up, now or later: it is neither due nor counted as skipped (it would be counted
    again every day)."""
    batch = email_batches.alias("unsettled_batch")
    request = placement_requests.alias("unsettled_request")
    settled = sa.or_(
        rules.request_is_open(request).is_not(True),
        rules.patient_is_placed(request.c.patient_id),
        _handled_by_phone(request, ended_only=True),
    )
    return sa.exists().where(
        batch.c.email_id == emails.c.id, request.c.id == batch.c.placement_request_id, ~settled
    )


def _handled_by_phone(request: sa.FromClause, *, ended_only: bool) -> sa.ColumnElement[bool]:
    """The request (of the email, both from outside) is handled by phone: on a call made
    after the email went out that was not canceled, or — unless ``ended_only`` — on any
    scheduled call. ``ended_only``: only a call that has ended (completed or failed), which
    nothing undoes."""
    call = phone_calls.alias("call")
    call_batch = phone_call_batches.alias("call_batch")
    made_since = sa.and_(
        call.c.status != PhoneCallStatus.CANCELED, call.c.created_at >= emails.c.sent_at
    )
    on_call = (
        sa.and_(made_since, call.c.status != PhoneCallStatus.SCHEDULED)
        if ended_only
        else sa.or_(call.c.status == PhoneCallStatus.SCHEDULED, made_since)
    )
    return (
        sa.exists()
        .where(
            call_batch.c.placement_request_id == request.c.id,
            call.c.id == call_batch.c.phone_call_id,
            on_call,
        )
        .correlate_except(call, call_batch)
    )


def _therapist_rules(ctx: Context, today: date) -> list[tuple[str, sa.ColumnElement[bool]]]:
    """What the email's therapist must pass, in order: ``(reason skipped, passes)``."""
    return [
        ("not_active", rules.therapist_is_active()),
        ("cooling_period", ~rules.in_cooling_period(therapists.c.id, today, ctx.settings)),
    ]


def _request_rules(today: date) -> list[tuple[str, sa.ColumnElement[bool]]]:
    """What a request of the email must pass to be called about, in order: ``(reason the
    email is skipped when none of its requests passes, passes)``. A request already handled
    by phone is not called about again: it is on a scheduled call, or on a call made
    (created) after the email went out and not canceled."""
    return [
        ("no_request_due", rules.request_is_due(today)),
        ("requests_on_call", ~_handled_by_phone(placement_requests, ended_only=False)),
    ]


def due_follow_ups(ctx: Context) -> list[sa.Row]:
    """(therapist_id, email_id, sent_at, placement_request_id) of the still-open requests of
    unanswered emails due for a follow-up, by therapist, email (oldest first), priority."""
    today = ctx.clock.now().date()
    return ctx.session.execute(
        sa.select(
            emails.c.therapist_id,
            emails.c.id.label("email_id"),
            emails.c.sent_at,
            placement_requests.c.id.label("placement_request_id"),
        )
        .join(therapists, therapists.c.id == emails.c.therapist_id)
        .join(email_batches, email_batches.c.email_id == emails.c.id)
        .join(placement_requests, placement_requests.c.id == email_batches.c.placement_request_id)
        .where(
            *_email_rules(ctx),
            *(passes for _, passes in _therapist_rules(ctx, today)),
            *(passes for _, passes in _request_rules(today)),
        )
        .order_by(
            rules.potentially_available_first(),  # rule 12 (the engine keeps this order)
            emails.c.therapist_id,
            emails.c.sent_at,
            emails.c.id,
            email_batches.c.priority,
        )
    ).all()


def skipped_emails(ctx: Context) -> sa.Select:
    """``(reason, email ids)`` of the emails old enough for a follow-up that get none from
    this run, by the first rule they fail: one of ``_therapist_rules``, or one of
    ``_request_rules`` that no request of the email passes together with the rules before it
    (NULL passes nothing)."""
    today = ctx.clock.now().date()
    steps = [(name, passes.is_not(True)) for name, passes in _therapist_rules(ctx, today)]
    passed: list[sa.ColumnElement[bool]] = []
    for name, passes in _request_rules(today):
        passed.append(passes)
        steps.append(
            (
                name,
                ~sa.exists().where(
                    email_batches.c.email_id == emails.c.id,
                    placement_requests.c.id == email_batches.c.placement_request_id,
                    *passed,
                ),
            )
        )
    reason = sa.case(*((fails, name) for name, fails in steps)).label("reason")
    candidates = (
        sa.select(emails.c.id, reason)
        .join(therapists, therapists.c.id == emails.c.therapist_id)
        .where(*_email_rules(ctx))
        .subquery("skipped")
    )
    return (
        sa.select(candidates.c.reason, sa.func.array_agg(candidates.c.id))
        .where(candidates.c.reason.is_not(None))
        .group_by(candidates.c.reason)
    )


def _still_unanswered() -> tuple[sa.ColumnElement[bool], ...]:
    return emails.c.response_received.is_not(True), emails.c.followed_up_at.is_(None)


def _lock_unanswered(ctx: Context, email_ids: list[int]) -> set[int]:
    """Those of ``email_ids`` still unanswered and not followed up, locked until the commit
    (after the booking locks: the lock order of every writer of calls)."""
    return set(
        ctx.session.scalars(
            sa.select(emails.c.id)
            .where(emails.c.id.in_(email_ids), *_still_unanswered())
            .order_by(emails.c.id)
            .with_for_update()
        )
    )


def schedule_follow_ups(ctx: Context, *, progress: Progress | None = None) -> FollowUpResult:
    """Book the due follow-up calls in one transaction (serialised across workers by an
    advisory lock; a therapist that cannot be booked now is tried again by the next run)."""
    result = FollowUpResult()
    session = ctx.session
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(LOCK_NAME))))
    rows = due_follow_ups(ctx)
    # Before booking: afterwards the run's own calls would count as handled by phone.
    for reason, email_ids in session.execute(skipped_emails(ctx)):
        result.skipped.add(reason, email_ids, ctx.settings)
    lock_bookings(session, ctx.settings, {row.therapist_id for row in rows})
    unanswered = _lock_unanswered(ctx, sorted({row.email_id for row in rows}))
    orders = []
    emails_of: dict[int, list[int]] = {}  # therapist → the emails their call follows up
    for therapist_id, found in itertools.groupby(rows, key=lambda row: row.therapist_id):
        found = list(found)
        answered = sorted({row.email_id for row in found} - unanswered)
        if answered:
            result.skipped.add("answered_meanwhile", answered, ctx.settings)
        group = [row for row in found if row.email_id in unanswered]
        if not group:
            continue
        request_ids = list(dict.fromkeys(row.placement_request_id for row in group))
        oldest = group[0]
        emails_of[therapist_id] = sorted({row.email_id for row in group})
        result.emails_due += len(emails_of[therapist_id])
        sent_on = local_date(oldest.sent_at, ctx.clock)
        orders.append(
            CallOrder(
                therapist_id=therapist_id,
                placement_request_ids=request_ids,
                follow_up_email_id=oldest.email_id,
                notes=(
                    f"Nachfassen: E-Mail {oldest.email_id} vom {sent_on:%d.%m.%Y} "
                    "ist unbeantwortet."
                ),
            )
        )
    done = 0
    followed_up: list[int] = []
    for start in range(0, len(orders), BOOKING_CHUNK):
        chunk = orders[start : start + BOOKING_CHUNK]
        for booking in schedule_calls(ctx, chunk):
            if booking.call_id is not None:
                result.calls_scheduled += 1
                result.requests_called += len(booking.order.placement_request_ids)
                followed_up.extend(emails_of[booking.order.therapist_id])
            else:
                result.calls_not_booked.add(
                    booking_reason(booking.error), [booking.order.therapist_id], ctx.settings
                )
        done += len(chunk)
        if progress is not None:
            progress(done, len(orders))
    if followed_up:
        session.execute(
            sa.update(emails)
            .where(emails.c.id.in_(followed_up))
            .values(followed_up_at=utc_naive(ctx.clock))
        )
    session.commit()
    return result
