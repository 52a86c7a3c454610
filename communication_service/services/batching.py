"""The ``batch-emails`` job: rules 4-6, 9, 12 and 13 (docs/rules.md).

Set-based: the eligible requests are ranked per therapist by one ``INSERT … SELECT`` with
``row_number() OVER (PARTITION BY therapist_id …)`` into a temporary table; their data is
streamed (server-side cursor) into the Jinja2 templates, the rendered emails are loaded with
one ``COPY``, and one ``INSERT … SELECT`` creates the emails and their batches together.
The number of statements does not depend on the number of requests or therapists, and
memory stays flat (rendered bodies go to a temporary file, not a list).

Two runs at the same time: a transaction-scoped advisory lock serialises them, and the
second one then sees the first one's queued emails (rule 4) and finds nothing to do.
"""

from __future__ import annotations

import csv
import itertools
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import IO

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from communication_service.clock import Clock, local_now, utc_naive
from communication_service.config import Settings
from communication_service.context import Context
from communication_service.models import EmailStatus, Patient
from communication_service.services import contact_rules as rules
from communication_service.services.email_content import (
    PatientLine,
    new_message_id,
    recipient_name,
    render_batch_email,
)
from communication_service.services.reasons import Tally, booking_reason
from communication_service.services.scheduling import (
    CallOrder,
    lock_bookings,
    lock_bookings_of,
    schedule_calls,
)

Progress = Callable[[int, int], None]  # (done, total)

patients = Patient.__table__
therapists = rules.therapists
placement_requests = rules.placement_requests
emails = rules.emails
email_batches = rules.email_batches

STREAM_CHUNK_ROWS = 2_000
LOCK_NAME = "communication_service.batch-emails"

_temp = sa.MetaData()
candidates = sa.Table(
    "batch_candidates",
    _temp,
    sa.Column("placement_request_id", sa.Integer, primary_key=True),
    sa.Column("therapist_id", sa.Integer, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
staged_emails = sa.Table(
    "batch_staged_emails",
    _temp,
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("therapist_id", sa.Integer, nullable=False),
    sa.Column("recipient_email", sa.Text, nullable=False),
    sa.Column("recipient_name", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
STAGED_COLUMNS = [c.name for c in staged_emails.c]


@dataclass
class BatchResult:
    batch_id: str | None = None
    emails_queued: int = 0
    requests_batched: int = 0
    calls_scheduled: int = 0
    requests_called: int = 0
    calls_not_booked: Tally = field(default_factory=lambda: Tally("therapists"))
    # therapists with requests waiting (open, due, never emailed, not on a call) left alone
    skipped: Tally = field(default_factory=lambda: Tally("therapists"))

    def summary(self) -> str:
        text = (
            f"batch-emails: {self.emails_queued} emails queued carrying "
            f"{self.requests_batched} requests"
        )
        if self.batch_id:
            text += f" (batch {self.batch_id})"
        text += (
            f"; {self.calls_scheduled} calls scheduled carrying {self.requests_called} "
            "requests for therapists without an email address"
        )
        text += self.calls_not_booked.clause("not booked now")
        text += self.skipped.clause("therapists skipped")
        return text

    def details(self) -> list[str]:
        """The ids behind the summary's reasons (``--verbose``)."""
        return [
            *self.calls_not_booked.lines("batch-emails: not booked now"),
            *self.skipped.lines("batch-emails: skipped"),
        ]


def new_batch_id(clock: Clock) -> str:
    return f"{clock.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}"


def _waiting(today: date, request: sa.FromClause = placement_requests) -> tuple:
    """A request waits for batching (rule 5): due, never emailed, not on a live call."""
    return (rules.request_is_due(today, request), rules.request_awaits_first_contact(request))


def _therapist_rules(
    today: date, clock: Clock, settings: Settings
) -> list[tuple[str, bool | None, sa.ColumnElement[bool]]]:
    """What a therapist must pass to be contacted by this job, in order: ``(reason skipped,
    channel, passes)``; channel True for therapists with an email address only, False for
    those without (rule 6), None for all."""
    return [
        ("not_active", None, rules.therapist_is_active()),
        (
            "cooling_period",
            None,
            sa.not_(rules.in_cooling_period(therapists.c.id, today, settings)),
        ),
        (
            "contacted_within_interval",
            True,
            sa.not_(rules.emailed_within_interval(therapists.c.id, today, clock, settings)),
        ),
        # Rule 13: an absent therapist's requests wait for the first run after the absence
        # (a call is booked by the engine, which skips the absent days itself).
        ("absent", True, sa.not_(rules.absent_on(therapists.c.id, today))),
        # Rule 6; one pending call at a time: new requests wait while a call is scheduled.
        (
            "call_pending",
            False,
            sa.not_(rules.has_scheduled_call(therapists.c.id, local_now(clock))),
        ),
    ]


def _channel(with_email: bool) -> sa.ColumnElement[bool]:
    return rules.has_email_address() if with_email else sa.not_(rules.has_email_address())


def _only(channel: bool | None) -> tuple[sa.ColumnElement[bool], ...]:
    return () if channel is None else (_channel(channel),)


def _eligible(today: date, clock: Clock, settings: Settings, *, with_email: bool) -> tuple:
    """What a request (``placement_requests`` joined with ``therapists``) must pass to be
    taken by this job now (rules 4, 5, 6, 9, 13): the therapist's rules of its channel and
    ``_waiting``."""
    return (
        _channel(with_email),
        *(
            passes
            for _, channel, passes in _therapist_rules(today, clock, settings)
            if channel in (None, with_email)
        ),
        *_waiting(today),
    )


def eligible_requests(
    today: date, clock: Clock, settings: Settings, *, with_email: bool
) -> sa.Select:
    """Requests a batching job may take now, ranked per therapist (rules 4, 5, 6, 9, 13).

    Open, due (``next_contact_after``), never emailed, not on a live call; therapist active,
    not in a cooling period; with an address (and no email within the interval, not absent
    today) or without.
    Ranked by the patient's ``startdatum`` (oldest first), then request id; capped at
    ``MAX_PATIENTS_PER_EMAIL``.
    """
    ranked = (
        sa.select(
            placement_requests.c.id.label("placement_request_id"),
            placement_requests.c.therapist_id,
            sa.func.row_number()
            .over(
                partition_by=placement_requests.c.therapist_id,
                order_by=(patients.c.startdatum.asc().nulls_last(), placement_requests.c.id),
            )
            .label("rank"),
        )
        .join(therapists, therapists.c.id == placement_requests.c.therapist_id)
        .join(patients, patients.c.id == placement_requests.c.patient_id)
        .where(*_eligible(today, clock, settings, with_email=with_email))
        .subquery("ranked")
    )
    return sa.select(ranked).where(ranked.c.rank <= settings.max_patients_per_email)


def skipped_therapists(today: date, clock: Clock, settings: Settings) -> sa.Select:
    """``(reason, therapist ids)`` of the therapists with waiting requests whom this run leaves
    alone, by the first rule of ``_therapist_rules`` they fail (NULL passes nothing)."""
    reason = sa.case(
        *(
            (sa.and_(*_only(channel), passes.is_not(True)), name)
            for name, channel, passes in _therapist_rules(today, clock, settings)
        ),
    ).label("reason")
    waiting = placement_requests.alias("waiting_request")
    candidates = (
        sa.select(therapists.c.id, reason)
        .where(
            sa.exists().where(waiting.c.therapist_id == therapists.c.id, *_waiting(today, waiting))
        )
        .subquery("skipped")
    )
    return (
        sa.select(candidates.c.reason, sa.func.array_agg(candidates.c.id))
        .where(candidates.c.reason.is_not(None))
        .group_by(candidates.c.reason)
    )


def batch_emails(ctx: Context, *, progress: Progress | None = None) -> BatchResult:
    """Queue one batching email per eligible therapist, and book a call for each eligible
    therapist without an email address; one transaction, committed at the end. Idempotent."""
    session = ctx.session
    result = BatchResult()
    today = ctx.clock.now().date()
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(LOCK_NAME))))
    # Before anything is queued or booked: afterwards the run's own emails and calls would
    # count as contacts.
    skipped = skipped_therapists(today, ctx.clock, ctx.settings)
    for reason, therapist_ids in session.execute(skipped):
        result.skipped.add(reason, therapist_ids, ctx.settings)
    _queue_emails(ctx, today, result, progress)
    _book_calls(ctx, today, result)
    session.commit()
    return result


def _queue_emails(
    ctx: Context, today: date, result: BatchResult, progress: Progress | None
) -> None:
    session, clock, settings = ctx.session, ctx.clock, ctx.settings
    connection = session.connection()
    candidates.create(connection)
    session.execute(
        sa.insert(candidates).from_select(
            ["placement_request_id", "therapist_id", "rank"],
            eligible_requests(today, clock, settings, with_email=True),
        )
    )
    therapist_count = session.execute(
        sa.select(sa.func.count(sa.distinct(candidates.c.therapist_id)))
    ).scalar_one()
    if therapist_count == 0:
        return

    batch_id = new_batch_id(clock)
    staged_emails.create(connection)
    _stage(session, today, settings, therapist_count, progress)
    # Decision 40: the candidates' booking locks before the emails are written, and the
    # candidates checked again under them. An acceptance, a staff email or a call that
    # committed while the emails were rendered is seen now; one that waits for the locks
    # sees this run's emails (and withdraws them, for an acceptance).
    lock_bookings_of(session, settings, sa.select(candidates.c.therapist_id))
    _recheck_candidates(ctx, today)
    result.emails_queued, result.requests_batched = session.execute(
        _insert_emails_and_batches(clock, settings, batch_id)
    ).one()
    result.batch_id = batch_id


def _stage(
    session: Session,
    today: date,
    settings: Settings,
    therapist_count: int,
    progress: Progress | None,
    *,
    positions: dict[int, int] | None = None,
) -> None:
    """Render the emails of the candidates (of the therapists in ``positions`` only, keeping
    their places, when given) into ``staged_emails``."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as staging_file:
        _render_to_file(
            session, today, settings, staging_file, therapist_count, progress, positions
        )
        staging_file.seek(0)
        copy_into(
            session.connection(),
            f"COPY {staged_emails.name} ({', '.join(STAGED_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
            staging_file,
        )


def _recheck_candidates(ctx: Context, today: date) -> None:
    """Under the booking locks: drop the candidates that no longer pass ``_eligible`` (the
    same rules that chose them), and render the emails of the therapists that lost one
    again (a placed patient must not stay in the body); a therapist left without candidates
    gets no email."""
    session, settings = ctx.session, ctx.settings
    still_eligible = sa.exists().where(
        placement_requests.c.id == candidates.c.placement_request_id,
        therapists.c.id == placement_requests.c.therapist_id,
        *_eligible(today, ctx.clock, settings, with_email=True),
    )
    changed = set(
        session.scalars(
            sa.delete(candidates).where(~still_eligible).returning(candidates.c.therapist_id)
        )
    )
    if not changed:
        return
    positions = dict(
        session.execute(
            sa.delete(staged_emails)
            .where(staged_emails.c.therapist_id.in_(changed))
            .returning(staged_emails.c.therapist_id, staged_emails.c.position)
        ).all()
    )
    renumbered = (
        sa.select(
            candidates.c.placement_request_id,
            sa.func.row_number()
            .over(partition_by=candidates.c.therapist_id, order_by=candidates.c.rank)
            .label("rank"),
        )
        .where(candidates.c.therapist_id.in_(changed))
        .subquery("renumbered")
    )
    session.execute(
        sa.update(candidates)
        .where(candidates.c.placement_request_id == renumbered.c.placement_request_id)
        .values(rank=renumbered.c.rank)
    )
    _stage(session, today, settings, len(positions), None, positions=positions)


def _book_calls(ctx: Context, today: date, result: BatchResult) -> None:
    """Rule 6: therapists without an email address get their ranked requests as one call,
    booked by the scheduling engine (rule 3; rule 12 order). A therapist the engine cannot
    book now (no free slot in the horizon, ...) keeps its requests for a later run.

    Decision 40: the requests are read under the therapists' booking locks, so a contact
    or an acceptance committed meanwhile is seen, as the booking itself sees it."""
    settings = ctx.settings
    ranked = eligible_requests(today, ctx.clock, settings, with_email=False).subquery("ranked")
    therapist_ids = ctx.session.scalars(sa.select(ranked.c.therapist_id).distinct()).all()
    if not therapist_ids:
        return
    lock_bookings(ctx.session, settings, therapist_ids)
    rows = ctx.session.execute(
        sa.select(
            ranked.c.therapist_id,
            sa.func.array_agg(aggregate_order_by(ranked.c.placement_request_id, ranked.c.rank)),
            therapists.c.letzter_kontakt_telefon,
        )
        .join(therapists, therapists.c.id == ranked.c.therapist_id)
        .where(ranked.c.therapist_id.in_(therapist_ids))
        .group_by(ranked.c.therapist_id, therapists.c.letzter_kontakt_telefon)
        .order_by(ranked.c.therapist_id)
    ).all()
    orders = [
        CallOrder(
            therapist_id=therapist_id,
            placement_request_ids=request_ids,
            not_before=_not_before(last_call, today, settings),
            notes="Automatisch geplant: keine E-Mail-Adresse hinterlegt.",
        )
        for therapist_id, request_ids, last_call in rows
    ]
    for booking in schedule_calls(ctx, orders):
        if booking.call_id is not None:
            result.calls_scheduled += 1
            result.requests_called += len(booking.order.placement_request_ids)
        else:
            result.calls_not_booked.add(
                booking_reason(booking.error), [booking.order.therapist_id], settings
            )


def _not_before(last_call: date | None, today: date, settings: Settings) -> date | None:
    """Like rule 4 for emails: no new automatic call within CONTACT_INTERVAL_DAYS of the last."""
    if last_call is None:
        return None
    earliest = last_call + timedelta(days=settings.contact_interval_days)
    return earliest if earliest > today else None


def copy_into(connection: sa.Connection, copy_sql: str, source: IO[str]) -> None:
    """``COPY … FROM STDIN`` over the session's own connection (inside its transaction)."""
    with connection.connection.cursor() as cursor:
        cursor.copy_expert(copy_sql, source)


def _render_to_file(
    session: Session,
    today: date,
    settings: Settings,
    out: IO[str],
    therapist_count: int,
    progress: Progress | None,
    positions: dict[int, int] | None = None,
) -> None:
    """Stream the candidates with their patient's data, render one email per therapist (of
    those in ``positions`` only, at their positions, when given)."""
    age = sa.cast(
        sa.extract("year", sa.func.age(sa.cast(today, sa.Date), patients.c.geburtsdatum)),
        sa.Integer,
    )

    def if_shown(shown: bool, column: sa.Column, name: str) -> sa.ColumnElement:
        """Rule 5: what the settings leave out of the email is not even read."""
        return (column if shown else sa.null()).label(name)

    stmt = (
        sa.select(
            candidates.c.therapist_id,
            therapists.c.anrede,
            therapists.c.titel,
            therapists.c.vorname,
            therapists.c.nachname,
            sa.func.btrim(therapists.c.email).label("email"),
            candidates.c.placement_request_id,
            patients.c.vorname.label("patient_vorname"),
            sa.func.left(patients.c.nachname, 1).label("patient_initial"),
            age.label("patient_age"),
            if_shown(settings.email_include_diagnosis, patients.c.diagnose, "diagnose"),
            if_shown(settings.email_include_insurance, patients.c.krankenkasse, "krankenkasse"),
            if_shown(settings.email_include_postcode_area, patients.c.plz, "plz"),
            if_shown(
                settings.email_include_group_therapy,
                patients.c.offen_fuer_gruppentherapie,
                "group_therapy",
            ),
            if_shown(
                settings.email_include_preferred_times,
                patients.c.zeitliche_verfuegbarkeit,
                "availability",
            ),
        )
        .join(therapists, therapists.c.id == candidates.c.therapist_id)
        .join(placement_requests, placement_requests.c.id == candidates.c.placement_request_id)
        .join(patients, patients.c.id == placement_requests.c.patient_id)
        # Rule 12: flagged therapists' emails get the lowest ids, so they are sent first.
        .order_by(rules.potentially_available_first(), candidates.c.therapist_id, candidates.c.rank)
        .execution_options(yield_per=STREAM_CHUNK_ROWS)
    )
    if positions is not None:
        stmt = stmt.where(candidates.c.therapist_id.in_(positions))
    writer = csv.writer(out)
    rows = session.execute(stmt)
    try:
        for position, (therapist_id, group) in enumerate(
            itertools.groupby(rows, key=lambda row: row.therapist_id), start=1
        ):
            lines = list(group)
            first = lines[0]
            rendered = render_batch_email(
                settings,
                anrede=first.anrede,
                titel=first.titel,
                vorname=first.vorname,
                nachname=first.nachname,
                patients=[
                    PatientLine.of(
                        line.placement_request_id,
                        line.patient_vorname,
                        line.patient_initial,
                        line.patient_age,
                        diagnose=line.diagnose,
                        krankenkasse=line.krankenkasse,
                        plz=line.plz,
                        group_therapy=line.group_therapy,
                        availability=line.availability,
                    )
                    for line in lines
                ],
            )
            writer.writerow(
                (
                    position if positions is None else positions[therapist_id],
                    therapist_id,
                    first.email,
                    recipient_name(first.titel, first.vorname, first.nachname),
                    rendered.subject,
                    rendered.body_text,
                    rendered.body_html,
                    new_message_id(settings),
                )
            )
            if progress is not None:
                progress(position, therapist_count)
    finally:
        rows.close()


def _insert_emails_and_batches(clock: Clock, settings: Settings, batch_id: str) -> sa.Select:
    """One statement: the staged emails become queued emails, the candidates their batches."""
    now = utc_naive(clock)
    inserted = (
        sa.insert(emails)
        .from_select(
            [
                "therapist_id",
                "subject",
                "body_text",
                "body_html",
                "recipient_email",
                "recipient_name",
                "sender_email",
                "sender_name",
                "status",
                "queued_at",
                "next_attempt_at",
                "message_id",
                "batch_id",
            ],
            sa.select(
                staged_emails.c.therapist_id,
                staged_emails.c.subject,
                staged_emails.c.body_text,
                staged_emails.c.body_html,
                staged_emails.c.recipient_email,
                sa.func.nullif(staged_emails.c.recipient_name, ""),
                sa.literal(settings.sender.address, sa.String),
                sa.literal(settings.sender.display_name, sa.String),
                sa.literal(EmailStatus.QUEUED, emails.c.status.type),
                sa.literal(now, sa.DateTime),
                sa.literal(now, sa.DateTime),
                staged_emails.c.message_id,
                sa.literal(batch_id, sa.String),
            ).order_by(staged_emails.c.position),
        )
        .returning(emails.c.id, emails.c.therapist_id)
        .cte("inserted_emails")
    )
    linked = (
        sa.insert(email_batches)
        .from_select(
            ["email_id", "placement_request_id", "priority"],
            sa.select(inserted.c.id, candidates.c.placement_request_id, candidates.c.rank).join(
                candidates, candidates.c.therapist_id == inserted.c.therapist_id
            ),
        )
        .returning(email_batches.c.email_id)
        .cte("linked_requests")
    )
    return sa.select(sa.func.count(sa.distinct(linked.c.email_id)), sa.func.count()).select_from(
        linked
    )
