"""Inbound email: replies, auto-replies and bounces read from the mailbox (docs/rules.md,
"Inbound email").

Two ways in, one path. ``POST /api/inbound-emails`` (one message) and ``comm import-mail``
(a Maildir) parse with ``inbound_mail.parse_message`` and then:

1. ``store_messages`` matches each message to the email it answers, inserts it with
   ``ON CONFLICT (message_id) DO NOTHING`` (a second delivery stores nothing; the stored row
   answers) and applies what a new permanent bounce means (the email ``failed``, the
   therapist's address undeliverable), all in one transaction.
2. ``record_replies`` records the stored, matched replies as their emails' responses
   through ``emails.record_responses`` (the code ``PUT /api/emails/{id}/response`` runs,
   rules 9-10), all of them in one transaction. A reply is recorded once, and only on a
   sent email that has no response yet. The step reads what to do from the rows, so a
   crash between 1 and 2 is repaired by the next delivery of the same message (or the
   next import of the file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from communication_service.clock import utc_naive
from communication_service.context import Context
from communication_service.errors import Conflict, NotFound, Unprocessable
from communication_service.models import EmailStatus, InboundEmailKind, MatchedBy
from communication_service.services import contact_rules as rules
from communication_service.services.emails import record_responses
from communication_service.services.inbound_mail import (
    Automatic,
    ParsedMessage,
    ReadChunk,
    read_chunk,
    strip_quoted_history,
)
from communication_service.services.listing import SelectListing

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (done, total)

inbound_emails = rules.inbound_emails
undeliverable_addresses = rules.undeliverable_addresses
emails = rules.emails
therapists = rules.therapists

# A message without In-Reply-To/References is matched by its sender to the one unanswered
# email sent to that address in the 30 days before it (an hour's grace for a slow clock).
SENDER_MATCH_DAYS = 30
CLOCK_SKEW = timedelta(hours=1)
IMPORT_CHUNK = 200  # messages per transaction of import-mail
SUMMARY_COLUMNS = [c for c in inbound_emails.c if c.name != "body_text"]
_MATCH_COLUMNS = (emails.c.id, emails.c.status, emails.c.therapist_id, emails.c.recipient_email)


@dataclass(frozen=True, slots=True)
class Stored:
    """One message after ``store_messages``: its row, and what storing it did."""

    id: int
    created: bool  # False: it was stored before (a second delivery)
    kind: InboundEmailKind
    matched_by: MatchedBy | None
    email_failed: bool = False
    address_marked: bool = False


# --- one message over HTTP ----------------------------------------------------------------


def receive_message(ctx: Context, message: ParsedMessage) -> tuple[dict[str, Any], int]:
    """Store one message (``POST /api/inbound-emails``): the row, and 201 when it is new or
    200 when it was stored before."""
    [stored] = store_messages(ctx, [message])
    record_replies(ctx, _matched_replies([stored]))
    return get_inbound_email(ctx, stored.id), 201 if stored.created else 200


def _matched_replies(stored: Iterable[Stored]) -> list[int]:
    """The rows ``record_replies`` may have work for (stored now or before: a crash)."""
    return [s.id for s in stored if s.kind == InboundEmailKind.REPLY and s.matched_by]


# --- storing and matching -----------------------------------------------------------------


def store_messages(ctx: Context, messages: Sequence[ParsedMessage]) -> list[Stored]:
    """Match, insert (once per Message-ID) and apply new bounces; one transaction, a fixed
    number of statements."""
    session, now = ctx.session, utc_naive(ctx.clock)
    matches = _match(session, messages, now)
    rows = [
        _row(message, email, matched_by, now)
        for message, (email, matched_by) in zip(messages, matches, strict=True)
    ]
    inserted = dict(
        session.execute(
            pg_insert(inbound_emails)
            .on_conflict_do_nothing(index_elements=["message_id"])
            .returning(inbound_emails.c.message_id, inbound_emails.c.id),
            rows,
        ).all()
    )
    earlier = _stored_before(
        session, [row["message_id"] for row in rows if row["message_id"] not in inserted]
    )
    results: list[Stored] = []
    bounces: list[Bounce] = []
    unclaimed = dict(inserted)
    for message, row, (email, matched_by) in zip(messages, rows, matches, strict=True):
        message_id = row["message_id"]
        if message_id in unclaimed:
            row_id = unclaimed.pop(message_id)
        else:  # stored before, or a second copy of a message in this run
            known = earlier.get(message_id) or {
                "id": inserted[message_id],
                "kind": row["kind"],
                "matched_by": matched_by,
            }
            results.append(Stored(known["id"], False, known["kind"], known["matched_by"]))
            continue
        if email is not None and message.delivery_status and message.delivery_status.permanent:
            bounces.append(Bounce(email, row_id, row["delivery_status"]))
        results.append(Stored(row_id, True, row["kind"], matched_by))
    failed, marked = _apply_bounces(session, bounces, now)
    session.commit()
    return [
        dataclasses.replace(item, email_failed=item.id in failed, address_marked=item.id in marked)
        if item.created and (item.id in failed or item.id in marked)
        else item
        for item in results
    ]


Match = tuple[sa.RowMapping | None, MatchedBy | None]


def _match(session: Session, messages: Sequence[ParsedMessage], now: datetime) -> list[Match]:
    """The email each message answers: by its headers (a bounce: the returned message's
    Message-ID), else — not for bounces — by its sender. Two reads for all of them."""
    by_message_id = _emails_by_message_id(
        session, {mid for message in messages for mid in message.answered_ids()}
    )
    matches: list[Match] = []
    by_sender: dict[int, tuple[str, datetime]] = {}
    for position, message in enumerate(messages):
        found = next((by_message_id[m] for m in message.answered_ids() if m in by_message_id), None)
        matches.append((found, MatchedBy.MESSAGE_ID) if found is not None else (None, None))
        if found is None and message.automatic is not Automatic.BOUNCE and message.sender:
            by_sender[position] = (message.sender.strip().lower(), _reference_time(message, now))
    for position, email in _match_by_sender(session, by_sender).items():
        matches[position] = (email, MatchedBy.SENDER)
    return matches


def _emails_by_message_id(session: Session, message_ids: set[str]) -> dict[str, sa.RowMapping]:
    if not message_ids:
        return {}
    rows = session.execute(
        sa.select(emails.c.message_id, *_MATCH_COLUMNS).where(
            emails.c.message_id.in_(sorted(message_ids))
        )
    ).mappings()
    return {row["message_id"]: row for row in rows}


def _match_by_sender(
    session: Session, wanted: Mapping[int, tuple[str, datetime]]
) -> dict[int, sa.RowMapping]:
    """For each (position: (sender, when written)): the one sent, unanswered email to that
    address of the 30 days before; left out when there is none or more than one (a person
    decides then)."""
    if not wanted:
        return {}
    positions = list(wanted)
    pairs = (
        sa.func.unnest(
            sa.bindparam("positions", positions, type_=ARRAY(sa.Integer)),
            sa.bindparam("senders", [wanted[p][0] for p in positions], type_=ARRAY(sa.Text)),
            sa.bindparam("written", [wanted[p][1] for p in positions], type_=ARRAY(sa.DateTime)),
        )
        .table_valued("position", "sender", "written")
        .render_derived(name="wanted")
    )
    candidates = (
        sa.select(*_MATCH_COLUMNS)
        .where(
            emails.c.status == EmailStatus.SENT,
            sa.func.lower(emails.c.recipient_email) == pairs.c.sender,
            emails.c.sent_at >= pairs.c.written - timedelta(days=SENDER_MATCH_DAYS),
            emails.c.sent_at <= pairs.c.written + CLOCK_SKEW,
            emails.c.response_received.is_not(True),
        )
        .limit(2)
        .lateral("candidate")
    )
    found: dict[int, list[sa.RowMapping]] = {}
    for row in session.execute(
        sa.select(pairs.c.position, candidates).join(candidates, sa.true())
    ).mappings():
        found.setdefault(row["position"], []).append(row)
    return {position: rows[0] for position, rows in found.items() if len(rows) == 1}


def _reference_time(message: ParsedMessage, now: datetime) -> datetime:
    """When the message was written (its Date, never later than now), else now."""
    written = _naive_utc(message.date)
    return min(written, now) if written is not None else now


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):  # a Date near year 1 or 9999
        return None


def _row(
    message: ParsedMessage,
    email: Mapping[str, Any] | None,
    matched_by: MatchedBy | None,
    now: datetime,
) -> dict[str, Any]:
    if message.automatic is Automatic.BOUNCE:
        kind = InboundEmailKind.BOUNCE
    elif message.automatic is Automatic.AUTO_REPLY:
        kind = InboundEmailKind.AUTO_REPLY
    elif message.looks_like_reply or email is not None:
        kind = InboundEmailKind.REPLY
    else:
        kind = InboundEmailKind.UNKNOWN
    status = message.delivery_status
    return {
        "message_id": message.message_id,
        "kind": kind,
        "sender": message.sender,
        "sender_name": message.sender_name,
        "recipients": message.recipients,
        "subject": message.subject,
        "date": _naive_utc(message.date),
        "in_reply_to": " ".join(message.in_reply_to) or None,
        "references": message.references,
        "email_id": email["id"] if email is not None else None,
        "matched_by": matched_by,
        "body_text": message.body_text,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments
        ],
        "delivery_status": status.as_dict() if status else None,
        "permanent_failure": bool(status and status.permanent),
        "size_bytes": message.size,
        "created_at": now,
        "updated_at": now,
    }


def _stored_before(session: Session, message_ids: list[str]) -> dict[str, sa.RowMapping]:
    if not message_ids:
        return {}
    rows = session.execute(
        sa.select(
            inbound_emails.c.message_id,
            inbound_emails.c.id,
            inbound_emails.c.kind,
            inbound_emails.c.matched_by,
        ).where(inbound_emails.c.message_id.in_(message_ids))
    ).mappings()
    return {row["message_id"]: row for row in rows}


@dataclass(frozen=True, slots=True)
class Bounce:
    """A new permanent bounce matched to the email it returns."""

    email: Mapping[str, Any]  # _MATCH_COLUMNS
    inbound_id: int
    delivery_status: Mapping[str, Any]


def _apply_bounces(
    session: Session, bounces: Sequence[Bounce], now: datetime
) -> tuple[set[int], set[int]]:
    """Permanent failures: each email ``failed`` with the diagnostic (only a ``sent`` one: a
    re-queued email is on its next attempt), and the address it went to undeliverable for
    its therapist (rule 6). Three statements for all of them. The inbound ids whose bounce
    (the first one, when an email or address bounced twice) failed the email, and those
    whose bounce marked the address."""
    if not bounces:
        return set(), set()
    given = (
        sa.func.unnest(
            sa.bindparam("positions", list(range(len(bounces))), type_=ARRAY(sa.Integer)),
            sa.bindparam("inbound_ids", [b.inbound_id for b in bounces], type_=ARRAY(sa.Integer)),
            sa.bindparam("email_ids", [b.email["id"] for b in bounces], type_=ARRAY(sa.Integer)),
            sa.bindparam(
                "therapist_ids", [b.email["therapist_id"] for b in bounces], type_=ARRAY(sa.Integer)
            ),
            sa.bindparam(
                "addresses",
                [b.email["recipient_email"] for b in bounces],
                type_=ARRAY(sa.Text),
            ),
            sa.bindparam(
                "diagnostics",
                [bounce_diagnostic(b.delivery_status) for b in bounces],
                type_=ARRAY(sa.Text),
            ),
        )
        .table_valued("position", "inbound_id", "email_id", "therapist_id", "address", "diagnostic")
        .render_derived(name="bounce")
    )
    # The emails locked in id order first, as recording replies locks them: two importers,
    # one failing emails that the other records replies on, never wait for each other.
    session.execute(
        sa.select(emails.c.id)
        .where(emails.c.id.in_(sorted({b.email["id"] for b in bounces})))
        .order_by(emails.c.id)
        .with_for_update()
    )
    # Of several bounces of one email in a chunk, the first one is the one that failed it.
    first = (
        sa.select(given)
        .ext(distinct_on(given.c.email_id))
        .order_by(given.c.email_id, given.c.position)
        .subquery("first_bounce")
    )
    failed_emails = set(
        session.scalars(
            sa.update(emails)
            .where(emails.c.id == first.c.email_id, emails.c.status == EmailStatus.SENT)
            .values(status=EmailStatus.FAILED, error_message=first.c.diagnostic, updated_at=now)
            .returning(first.c.inbound_id)
        )
    )
    # The email's therapist may be gone (emails have no foreign key): mark only a therapist
    # that exists. Inserted in the order the bounces came: the first one marks.
    marked = set(
        session.scalars(
            pg_insert(undeliverable_addresses)
            .from_select(
                ["therapist_id", "address", "since", "email_id", "inbound_email_id", "diagnostic"],
                sa.select(
                    therapists.c.id,
                    rules.comparable_address(given.c.address),
                    sa.literal(now, sa.DateTime),
                    given.c.email_id,
                    given.c.inbound_id,
                    given.c.diagnostic,
                )
                .join(therapists, therapists.c.id == given.c.therapist_id)
                .order_by(given.c.position),
            )
            .on_conflict_do_nothing(index_elements=["therapist_id", "address"])
            .returning(undeliverable_addresses.c.inbound_email_id)
        )
    )
    return failed_emails, marked


def bounce_diagnostic(delivery_status: Mapping[str, Any]) -> str:
    """``error_message`` of a bounced email: the status and the receiving server's words."""
    status = delivery_status.get("status") or "5.0.0"
    said = delivery_status.get("diagnostic_code") or delivery_status.get("action") or "failed"
    return f"Bounced ({status}): {said}"


# --- recording replies ----------------------------------------------------------------------


def record_replies(ctx: Context, inbound_ids: Iterable[int]) -> int:
    """Record the matched, not yet recorded replies among ``inbound_ids`` as their emails'
    responses (response date = the message's Date, content = its text without the quoted
    history; rule 10 cancels the follow-up), all in one transaction, through
    ``emails.record_responses``: the code of ``PUT /api/emails/{id}/response``. Outcomes per
    request stay a staff decision. Returns how many were recorded.

    Of several replies to one email the earliest is recorded; an email that has a response
    already keeps it. The reply is marked recorded in the same transaction, under its email's
    row lock (taken after the booking locks, the lock order of every writer of calls), so two
    importers never record one reply twice nor two replies over each other. The commit is
    the last step: when this returns the replies are durable (then ``import-mail`` moves the
    files, the HTTP route answers); a crash before leaves the message in ``new/`` or
    unacknowledged, and its next delivery records it.
    """
    session, now = ctx.session, utc_naive(ctx.clock)
    ids = sorted(set(inbound_ids))
    if not ids:
        return 0
    pending = session.execute(
        sa.select(
            inbound_emails.c.id,
            inbound_emails.c.email_id,
            inbound_emails.c.body_text,
            inbound_emails.c.date,
        )
        .join(emails, emails.c.id == inbound_emails.c.email_id)
        .where(
            inbound_emails.c.id.in_(ids),
            inbound_emails.c.kind == InboundEmailKind.REPLY,
            inbound_emails.c.response_recorded.is_(False),
            emails.c.status == EmailStatus.SENT,
            emails.c.response_received.is_not(True),
        )
        .order_by(inbound_emails.c.date.nulls_last(), inbound_emails.c.id)
    ).all()
    earliest: dict[int, sa.Row] = {}
    for reply in pending:
        earliest.setdefault(reply.email_id, reply)
    if not earliest:
        session.rollback()
        return 0
    try:
        recorded = record_responses(
            ctx,
            {email_id: _response(reply, now) for email_id, reply in earliest.items()},
            unanswered_only=True,
        )
        if recorded.effects:
            _mark_recorded(
                session,
                {earliest[email_id].id: done for email_id, done in recorded.effects.items()},
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(recorded.effects)


def _response(reply: sa.Row, now: datetime) -> dict[str, Any]:
    """A reply as ``PUT /api/emails/{id}/response`` takes it."""
    data: dict[str, Any] = {
        "response_content": strip_quoted_history(reply.body_text),
        "outcomes": {},
    }
    if reply.date is not None:
        data["response_date"] = min(reply.date, now).replace(tzinfo=UTC)
    return data


def _mark_recorded(session: Session, effects: Mapping[int, Mapping[str, Any]]) -> None:
    """The replies recorded, each with what recording did besides (one statement)."""
    inbound_ids = list(effects)
    recorded = (
        sa.func.unnest(
            sa.bindparam("inbound_ids", inbound_ids, type_=ARRAY(sa.Integer)),
            sa.bindparam(
                "effects",
                [json.dumps(effects[i], default=str) for i in inbound_ids],
                type_=ARRAY(sa.Text),
            ),
        )
        .table_valued("inbound_id", "effects")
        .render_derived(name="recorded")
    )
    session.execute(
        sa.update(inbound_emails)
        .where(inbound_emails.c.id == recorded.c.inbound_id)
        .values(response_recorded=True, response_effects=sa.cast(recorded.c.effects, JSONB))
    )


# --- staff: the inbox and attaching by hand -----------------------------------------------------


def list_inbound_emails(ctx: Context, filters: Mapping[str, Any]) -> SelectListing:
    """Inbound messages without their text, newest first; ``matched=false`` is the staff's
    inbox of what needs a person."""
    conditions = []
    if "matched" in filters:
        attached = inbound_emails.c.email_id
        conditions.append(attached.is_not(None) if filters["matched"] else attached.is_(None))
    if "kind" in filters:
        conditions.append(inbound_emails.c.kind == filters["kind"])
    if "email_id" in filters:
        conditions.append(inbound_emails.c.email_id == filters["email_id"])
    return SelectListing(
        ctx.session,
        sa.select(*SUMMARY_COLUMNS).where(*conditions).order_by(inbound_emails.c.id.desc()),
    )


def get_inbound_email(ctx: Context, inbound_id: int) -> dict[str, Any]:
    row = (
        ctx.session.execute(sa.select(inbound_emails).where(inbound_emails.c.id == inbound_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"Inbound email {inbound_id} does not exist.", details={"id": inbound_id})
    return dict(row)


def attach_email(ctx: Context, inbound_id: int, email_id: int) -> dict[str, Any]:
    """Attach an unmatched message to the email it answers, by hand: then it does what a
    match would have done (a reply is recorded as the response, a permanent bounce fails the
    email and marks the address). A message of kind ``unknown`` becomes a reply."""
    session, now = ctx.session, utc_naive(ctx.clock)
    row = (
        session.execute(
            sa.select(inbound_emails).where(inbound_emails.c.id == inbound_id).with_for_update()
        )
        .mappings()
        .first()
    )
    if row is None:
        session.rollback()
        raise NotFound(f"Inbound email {inbound_id} does not exist.", details={"id": inbound_id})
    if row["email_id"] == email_id:
        session.rollback()
        return dict(row)
    if row["email_id"] is not None:
        session.rollback()
        raise Conflict(
            f"Inbound email {inbound_id} already answers email {row['email_id']}.",
            code="inbound_email_already_matched",
            details={"email_id": row["email_id"]},
        )
    email = (
        session.execute(sa.select(*_MATCH_COLUMNS).where(emails.c.id == email_id))
        .mappings()
        .first()
    )
    if email is None:
        session.rollback()
        raise Unprocessable(
            "The email does not exist.",
            details={"email_id": [f"Email {email_id} does not exist."]},
        )
    kind = row["kind"]
    if kind == InboundEmailKind.UNKNOWN:
        kind = InboundEmailKind.REPLY
    if kind == InboundEmailKind.REPLY and email["status"] != EmailStatus.SENT:
        session.rollback()
        raise Conflict(
            f"Email {email_id} is {email['status']}; only a sent email can have a reply.",
            code="email_not_sent",
            details={"status": str(email["status"])},
        )
    session.execute(
        sa.update(inbound_emails)
        .where(inbound_emails.c.id == inbound_id)
        .values(email_id=email_id, matched_by=MatchedBy.STAFF, kind=kind, updated_at=now)
    )
    if row["permanent_failure"] and row["delivery_status"]:
        _apply_bounces(session, [Bounce(email, inbound_id, row["delivery_status"])], now)
    session.commit()
    record_replies(ctx, [inbound_id])
    return get_inbound_email(ctx, inbound_id)


# --- comm import-mail: a Maildir ----------------------------------------------------------------


class MaildirError(ValueError):
    """The path is not a Maildir (no ``new/`` and ``cur/``)."""


@dataclass
class ImportResult:
    read: int = 0
    stored: Counter[str] = field(default_factory=Counter)  # kind → new rows
    already_stored: int = 0
    matched: Counter[str] = field(default_factory=Counter)  # matched_by → new rows
    responses_recorded: int = 0
    emails_failed: int = 0
    addresses_undeliverable: int = 0
    not_messages: list[str] = field(default_factory=list)  # file names left in new/

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.stored.items()))
        matched = ", ".join(f"by {how} {count}" for how, count in sorted(self.matched.items()))
        text = (
            f"import-mail: {self.read} messages read, {self.stored.total()} stored"
            + (f" ({kinds})" if kinds else "")
            + f", {self.already_stored} stored before; {self.matched.total()} matched"
            + (f" ({matched})" if matched else "")
            + f"; {self.responses_recorded} responses recorded, {self.emails_failed} emails "
            f"failed by a bounce, {self.addresses_undeliverable} addresses undeliverable"
        )
        if self.not_messages:
            text += f"; {len(self.not_messages)} files are not messages (left in new/)"
        return text


def require_maildir(maildir: Path) -> tuple[Path, Path]:
    """Its ``new/`` and ``cur/``; ``MaildirError`` when it has not both."""
    new, cur = maildir / "new", maildir / "cur"
    if not new.is_dir() or not cur.is_dir():
        raise MaildirError(f"{maildir} is not a Maildir: it needs the folders new/ and cur/")
    return new, cur


def import_maildir(
    ctx: Context, maildir: Path, *, chunk_size: int = IMPORT_CHUNK, progress: Progress | None = None
) -> ImportResult:
    """Store every message in ``maildir/new`` and move each to ``cur/`` once its row (and
    its response) is committed. Safe to run twice or concurrently: a file another importer
    moved first is skipped, and a message stored before is stored once.

    The next chunk is read and parsed in a second thread while this one waits for the
    database with the current chunk (a thread waiting for PostgreSQL does not hold the GIL).
    Parsing is all it does: what a chunk writes, and when its files move, is as without it."""
    new, cur = require_maildir(maildir)
    names = sorted(
        entry.name
        for entry in os.scandir(new)
        if not entry.name.startswith(".") and entry.is_file()
    )
    chunks = [names[start : start + chunk_size] for start in range(0, len(names), chunk_size)]
    with ThreadPoolExecutor(1, thread_name_prefix="import-mail-reader") as reader:
        upcoming = [reader.submit(read_chunk, new, chunk) for chunk in chunks[:1]]
        return _import_chunks(ctx, cur, chunks, upcoming, reader, progress)


def _import_chunks(
    ctx: Context,
    cur: Path,
    chunks: list[list[str]],
    upcoming: list[Future[ReadChunk]],
    reader: ThreadPoolExecutor,
    progress: Progress | None,
) -> ImportResult:
    result = ImportResult()
    new, total, done = cur.parent / "new", sum(map(len, chunks)), 0
    for index, chunk in enumerate(chunks):
        read = upcoming.pop().result()
        if index + 1 < len(chunks):
            upcoming.append(reader.submit(read_chunk, new, chunks[index + 1]))
        result.read += read.count
        for name, reason in read.refused:
            log.warning("import-mail: %s is not a message: %s", name, reason)
            result.not_messages.append(name)
        if read.messages:
            stored = store_messages(ctx, read.messages)
            result.responses_recorded += record_replies(ctx, _matched_replies(stored))
            _count(result, stored)
        for name in read.names:
            _move_to_cur(new / name, cur)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return result


def _count(result: ImportResult, stored: Iterable[Stored]) -> None:
    for item in stored:
        if not item.created:
            result.already_stored += 1
            continue
        result.stored[str(item.kind)] += 1
        if item.matched_by is not None:
            result.matched[str(item.matched_by)] += 1
        result.emails_failed += item.email_failed
        result.addresses_undeliverable += item.address_marked


def _move_to_cur(path: Path, cur: Path) -> None:
    """``new/name`` → ``cur/name:2,`` (Maildir: seen by a program, no flags)."""
    name = path.name if ":2," in path.name else f"{path.name}:2,"
    with contextlib.suppress(FileNotFoundError):  # another importer moved it first
        os.rename(path, cur / name)
