"""The ``send-emails`` job: queued emails over SMTP, at least once, never under a new id.

- Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and marked ``sending`` (with
  ``sending_started_at``) in a committed transaction *before* SMTP is spoken, so several
  workers never send the same email and a crash leaves a trace.
- Queued batching emails to a therapist who has since rejected a request (cooling period,
  rule 9) or is no longer active are withdrawn (deleted, never sent) before claiming.
- Rows left in ``sending`` longer than ``SENDING_STALE_AFTER_SECONDS`` (a crashed worker)
  go back to ``queued``; they are resent with the same ``Message-ID``, which the receiving
  side uses to drop a duplicate.
- Emails are claimed CLAIM_CHUNK at a time; each SMTP answer is committed before the next
  email goes out: ``sent`` (+ rule 11 contact dates), a temporary failure (4xx,
  connection refused/reset/timeout) → ``queued`` again with ``next_attempt_at`` = now +
  EMAIL_RETRY_BASE_SECONDS · 2^(retries - 1), ``failed`` once the retries exceed
  MAX_EMAIL_RETRIES; a permanent failure (5xx) → ``failed`` at once. Claims run ahead in a
  background thread on a second database connection (``DatabaseWorker``); only outcomes
  the server has answered are stored, so a crash can repeat at most the one email in
  flight, with the same Message-ID. If storing fails, sending stops.
- One SMTP connection per run, re-opened once if the server drops it. When the server cannot
  be reached the run stops: the email in hand counts a temporary failure, the rest of the
  claimed rows go back to ``queued`` untouched. Nothing is lost.
- Emails carry health data, so the connection is encrypted (``SMTP_SECURITY``): ``starttls``
  requires STARTTLS (a server that does not offer it, or whose certificate does not verify,
  counts as unreachable: the run stops, nothing goes out in clear text), ``tls`` speaks TLS
  from the first byte; the certificate and host name are always verified
  (``ssl.create_default_context``, trusting ``SMTP_CA_FILE`` instead of the system's CAs
  when set). ``none`` (clear text) is accepted only for a server on the loopback
  (``config.py`` refuses anything else at start).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import smtplib
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg2 import dialect as psycopg2_dialect
from sqlalchemy.orm import Session

from communication_service.clock import Clock, utc_naive
from communication_service.config import Settings
from communication_service.context import Context
from communication_service.models import EmailStatus
from communication_service.reads import constant
from communication_service.services import contact_rules as rules
from communication_service.services.email_content import (
    UnsendableEmail,
    build_message,
    message_bytes,
    message_id_domain,
)
from communication_service.services.outcomes import withdraw_from_unsent_emails
from communication_service.services.reasons import Tally

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)

emails = rules.emails
email_batches = rules.email_batches
placement_requests = rules.placement_requests
therapists = rules.therapists

CLAIM_CHUNK = 100  # emails claimed (marked 'sending') per statement
ERROR_MESSAGE_MAX = 1000
# SET LOCAL synchronous_commit = off, as a column: written into the SQL, no parameters.
ASYNC_COMMIT = sa.func.set_config(
    sa.literal_column("'synchronous_commit'"), sa.literal_column("'off'"), sa.true()
)


class Delivery(Enum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx, dropped connection: retry later
    PERMANENT = "permanent"  # 5xx: give up now
    UNREACHABLE = "unreachable"  # no connection could be made: stop the run


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Delivery
    message: str = ""


@dataclass
class SendResult:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    recovered: int = 0
    withdrawn: Tally = dataclasses.field(default_factory=lambda: Tally("emails"))
    undeliverable: list[int] = dataclasses.field(default_factory=list)  # failed unsent
    smtp_unavailable: bool = False
    smtp_error: str = ""  # why the server was unavailable (no patient data)
    left_queued: int = 0

    def summary(self) -> str:
        text = (
            f"send-emails: {self.sent} sent, {self.retry_later} to retry later, "
            f"{self.failed} failed, {self.recovered} recovered from a stale 'sending'"
        )
        if self.withdrawn.total():
            text += (
                f", {self.withdrawn.total()} queued batching emails withdrawn "
                f"({self.withdrawn.describe()})"
            )
        if self.undeliverable:
            text += (
                f", {len(self.undeliverable)} failed unsent (address undeliverable since they "
                "were queued)"
            )
        if self.smtp_unavailable:
            text += (
                f"; SMTP server unavailable ({self.smtp_error}), run stopped "
                f"({self.left_queued} left queued)"
            )
        return text

    def details(self) -> list[str]:
        """The ids behind the summary's reasons (``--verbose``)."""
        lines = self.withdrawn.lines("send-emails: withdrawn")
        if self.undeliverable:
            ids = ", ".join(map(str, self.undeliverable))
            lines.append(f"send-emails: failed unsent, address undeliverable: emails {ids}")
        return lines


class SmtpConnection:
    """One SMTP session for a run, opened lazily and re-opened once when dropped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def _connect(self) -> None:
        s = self.settings
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=tls_context(s)
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        try:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                # Raises SMTPNotSupportedError when the server does not offer STARTTLS: never
                # a fallback to clear text.
                smtp.starttls(context=tls_context(s))
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp

    def deliver(self, message: bytes, sender: str, recipient: str) -> DeliveryResult:
        """Send ``message`` (``message_bytes``: CRLF line ends) to one recipient."""
        for attempt in (1, 2):
            if self._smtp is None:
                try:
                    self._connect()
                except (OSError, smtplib.SMTPException) as exc:
                    return DeliveryResult(Delivery.UNREACHABLE, _describe(exc))
            try:
                self._smtp.sendmail(sender, [recipient], message)  # type: ignore[union-attr]
                return DeliveryResult(Delivery.SENT)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(recipient, (450, b"recipient refused"))
                return _by_code(code, text)
            except smtplib.SMTPServerDisconnected as exc:
                # Dropped (idle timeout, server restart): one fresh connection, same message.
                self._drop()
                if attempt == 2:
                    return DeliveryResult(Delivery.TEMPORARY, _describe(exc))
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421:  # the server is closing this connection
                    self._drop()
                return _by_code(exc.smtp_code, exc.smtp_error)
            except (OSError, smtplib.SMTPException) as exc:  # reset, timeout, broken pipe
                self._drop()
                if attempt == 2:
                    return DeliveryResult(Delivery.TEMPORARY, _describe(exc))
        raise AssertionError("unreachable")  # pragma: no cover


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name verified; ``SMTP_CA_FILE`` replaces the system's CAs."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


def _by_code(code: int, text: bytes | str) -> DeliveryResult:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    outcome = Delivery.PERMANENT if 500 <= code < 600 else Delivery.TEMPORARY
    return DeliveryResult(outcome, f"{code} {text}"[:ERROR_MESSAGE_MAX])


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MESSAGE_MAX]


# --- the job ----------------------------------------------------------------------------------


def send_emails(
    ctx: Context, *, progress: Progress | None = None, limit: int | None = None
) -> SendResult:
    """Deliver the due queued emails (at most ``limit``). Safe to run in several workers."""
    clock, settings = ctx.clock, ctx.settings
    result = SendResult(
        recovered=recover_stale(ctx),
        withdrawn=withdraw_blocked_batch_emails(ctx),
        undeliverable=fail_emails_to_dead_addresses(ctx),
    )
    total = _count_due(ctx.session, clock) if progress is not None else 0
    if limit is not None:
        total = min(total, limit)
    done = 0
    # Rows in hand (the rest of this chunk and the next, claimed ahead) get a fresh
    # sending_started_at at a recording point once this long has passed since they were
    # claimed or last refreshed (``held_since``, never later than that), so a slow server does
    # not make them look crashed. A fast run never needs it, and rewriting the rows at every
    # recording point was a large share of the database's work (BENCHMARKS.md).
    keep_alive_after = timedelta(seconds=settings.sending_stale_after_seconds / 10)
    held_since = utc_naive(clock)
    with (
        SmtpConnection(settings) as smtp,
        DatabaseWorker(ctx) as database,
        DeliveryLedger(ctx) as ledger,
    ):
        next_chunk = database.claim(_chunk_size(limit, done))
        while claimed := next_chunk.result():
            # Claimed ahead: the next chunk is ready when this one is through.
            next_chunk = database.claim(_chunk_size(limit, done + len(claimed)))
            for index, row in enumerate(claimed):
                delivery = _deliver(smtp, row, settings, clock)
                _count(result, row, delivery, settings)
                done += 1
                if progress is not None:
                    progress(done, max(total, done))
                if delivery.outcome is Delivery.UNREACHABLE:
                    untried = [r["id"] for r in claimed[index + 1 :] + next_chunk.result()]
                    database.record(row, delivery, release_ids=untried)
                    result.smtp_unavailable = True
                    result.smtp_error = delivery.message
                    result.left_queued = len(untried)
                    log.warning(
                        "SMTP server unreachable; send-emails stopped (%s)", result.smtp_error
                    )
                    return result
                in_hand: list[int] = []
                if utc_naive(clock) - held_since >= keep_alive_after:  # a slow server
                    in_hand = [r["id"] for r in claimed[index + 1 :] + next_chunk.result()]
                    held_since = utc_naive(clock)
                # Stored before the next email goes out: a crash repeats at most this one.
                if delivery.outcome is Delivery.SENT and not in_hand:
                    ledger.sent(row["id"])
                else:
                    database.record(row, delivery, keep_alive_ids=in_hand)
    return result


UNSENDABLE_ADDRESS = (
    "The sender or recipient address cannot be sent over SMTP (addresses must be ASCII)."
)


def _deliver(
    smtp: SmtpConnection, row: sa.RowMapping, settings: Settings, clock: Clock
) -> DeliveryResult:
    """One email over ``smtp``. A value that cannot become a valid message (a line break in a
    header value, an address SMTP cannot carry: ``UnsendableEmail``) fails that email at once,
    like a 5xx, with the reason (naming the field, never its value), instead of stopping every
    run that claims it."""
    try:
        message = message_bytes(build_message(row, settings, clock.now()))
    except UnsendableEmail as error:
        return DeliveryResult(Delivery.PERMANENT, str(error)[:ERROR_MESSAGE_MAX])
    except UnicodeError:
        return DeliveryResult(Delivery.PERMANENT, UNSENDABLE_ADDRESS)
    return smtp.deliver(
        message, row["sender_email"] or settings.email_sender, row["recipient_email"]
    )


def _chunk_size(limit: int | None, planned: int) -> int:
    return CLAIM_CHUNK if limit is None else max(0, min(CLAIM_CHUNK, limit - planned))


class DatabaseWorker:
    """The run's database work on a session of its own, in one background thread: the next
    chunk is claimed while the emails in hand go out (the thread waits for the database with
    the GIL released, so the send loop does not). An accepted email is stored by the run's
    ``DeliveryLedger``; every other outcome (failures, releases, keep-alives) through this
    thread. Either way the send loop waits until it is committed before the next email goes
    out: emails accepted but not stored can only be the one in flight when a crash comes
    (it stays ``sending``, is recovered and resent with its Message-ID). When a task fails,
    the worker runs no further tasks and the error is raised in the send loop.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = dataclasses.replace(ctx, session=Session(bind=ctx.session.get_bind()))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send-emails-db")
        self._error: BaseException | None = None
        self._due = DueQueue()  # the run's order, read once (see DueQueue)

    def claim(self, size: int) -> Future[list[sa.RowMapping]]:
        """The run's next claim (``DueQueue.claim``) in the background (nothing when ``size``
        is 0)."""
        if size == 0:
            nothing: Future[list[sa.RowMapping]] = Future()
            nothing.set_result([])
            return nothing
        return self._executor.submit(self._run, self._due.claim, size)

    def record(
        self,
        row: sa.RowMapping,
        delivery: DeliveryResult,
        *,
        release_ids: Sequence[int] = (),
        keep_alive_ids: Sequence[int] = (),
    ) -> None:
        """``record_delivery``, committed when this returns (raises its error)."""
        self._executor.submit(
            self._run,
            record_delivery,
            row,
            delivery,
            release_ids=release_ids,
            keep_alive_ids=keep_alive_ids,
        ).result()

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self, task: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.raise_if_failed()  # nothing runs after a failed task
        try:
            return task(self._ctx, *args, **kwargs)
        except BaseException as exc:
            self._error = exc
            with contextlib.suppress(Exception):
                self._ctx.session.rollback()
            raise

    def __enter__(self) -> DatabaseWorker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, *_: Any
    ) -> None:
        self._executor.shutdown(wait=True)
        self._ctx.session.close()
        if exc_type is None:
            self.raise_if_failed()
        elif self._error is not None and self._error is not exc:
            # The type only: a database error's text holds SQL.
            log.error("storing delivery outcomes failed too (%s)", type(self._error).__name__)


def _count(
    result: SendResult, row: sa.RowMapping, delivery: DeliveryResult, settings: Settings
) -> None:
    if delivery.outcome is Delivery.SENT:
        result.sent += 1
    elif delivery.outcome is Delivery.PERMANENT or (
        row["retry_count"] + 1 > settings.max_email_retries
    ):
        result.failed += 1
    else:
        result.retry_later += 1


def withdraw_blocked_batch_emails(ctx: Context) -> Tally:
    """Rule 9 and 3 up to the last moment: a queued *batching* email (it has a ``batch_id``;
    staff emails are staff's decision) is not sent to a therapist who rejected a request
    since it was queued, or who is no longer active. It was never sent, so it is deleted:
    its requests go back to the pool and a fresh email lists them when contact is allowed.
    No queued email offers a placed patient: such a request leaves it as an acceptance takes
    it off (``outcomes.withdraw_from_unsent_emails``: a batching email is deleted, a staff
    email goes back to draft with a note, one left empty is deleted)."""
    session = ctx.session
    today = ctx.clock.now().date()
    # Each with the reason it is withdrawn for; NULL passes nothing (a NULL status is not
    # active).
    fails = [
        ("not_active", rules.therapist_is_active().is_not(True)),
        ("cooling_period", rules.in_cooling_period(therapists.c.id, today, ctx.settings)),
    ]
    withdrawn = session.execute(
        sa.delete(emails)
        .where(
            emails.c.status == EmailStatus.QUEUED,
            emails.c.batch_id.is_not(None),
            therapists.c.id == emails.c.therapist_id,
            sa.or_(*(failed for _, failed in fails)),
        )
        .returning(emails.c.id, sa.case(*((failed, name) for name, failed in fails)))
    ).all()
    # An acceptance takes a placed patient's requests off unsent emails under the booking
    # lock; one that slipped past (written by another service, a race) is caught here.
    request = placement_requests.alias("queued_request")
    placed_patient = sa.exists().where(
        request.c.id == email_batches.c.placement_request_id,
        rules.patient_is_placed(request.c.patient_id),
    )
    placed, _ = withdraw_from_unsent_emails(ctx, placed_patient, (EmailStatus.QUEUED,))
    session.commit()
    tally = Tally("emails")
    for email_id, reason in [*withdrawn, *((email_id, "patient_placed") for email_id in placed)]:
        tally.add(reason, [email_id], ctx.settings)
    if withdrawn:
        log.info("withdrew %d queued batching emails (%s)", len(withdrawn), tally.describe())
    return tally


def fail_emails_to_dead_addresses(ctx: Context) -> list[int]:
    """Rule 6 up to the last moment: a queued email whose address a permanent bounce marked
    undeliverable after it was queued (``contact_rules.queued_to_dead_address``) is not
    sent. It fails at once, saying since when the address is undeliverable, and its
    requests go back like a bounced email's (``request_was_emailed``): the next
    ``batch-emails`` puts them on a call. Its ids, ascending."""
    session, now = ctx.session, utc_naive(ctx.clock)
    # One mark per therapist and address (unique): at most one row each.
    mark = rules.undeliverable_mark(emails.c.therapist_id, emails.c.recipient_email).lateral("mark")
    dead = session.execute(
        sa.select(emails.c.id, emails.c.recipient_email, mark.c.since, mark.c.diagnostic)
        .outerjoin(mark, sa.true())
        .where(emails.c.status == EmailStatus.QUEUED, rules.queued_to_dead_address())
        .order_by(emails.c.id)
        # Held until the commit, so each one is still queued when it is failed; one another
        # worker is claiming right now is left to it.
        .with_for_update(of=emails, skip_locked=True)
    ).all()
    if not dead:
        session.commit()
        return []
    session.execute(
        sa.update(emails)
        .where(emails.c.id == sa.bindparam("email_id"), emails.c.status == EmailStatus.QUEUED)
        .values(
            status=EmailStatus.FAILED,
            error_message=sa.bindparam("reason"),
            next_attempt_at=None,
            updated_at=now,
        ),
        [{"email_id": row.id, "reason": _undeliverable_reason(row)} for row in dead],
    )
    session.commit()
    log.warning("%d queued emails failed unsent: address undeliverable", len(dead))
    return [row.id for row in dead]


def _undeliverable_reason(row: sa.Row) -> str:
    if row.since is None:  # blank: no address at all
        return "Not sent: the email has no recipient address (rule 6)."
    return (
        f"Not sent: the address {row.recipient_email} is undeliverable since "
        f"{row.since:%d.%m.%Y %H:%M} UTC ({row.diagnostic}); its requests go by phone (rule 6)."
    )[:ERROR_MESSAGE_MAX]


def recover_stale(ctx: Context) -> int:
    """Rows a crashed worker left in ``sending`` go back to ``queued`` (same Message-ID)."""
    session, clock, settings = ctx.session, ctx.clock, ctx.settings
    stale_before = utc_naive(clock) - timedelta(seconds=settings.sending_stale_after_seconds)
    recovered = session.execute(
        sa.update(emails)
        .where(
            emails.c.status == EmailStatus.SENDING,
            sa.or_(
                emails.c.sending_started_at.is_(None),
                emails.c.sending_started_at < stale_before,
            ),
        )
        .values(status=EmailStatus.QUEUED, sending_started_at=None, updated_at=utc_naive(clock))
        .returning(emails.c.id)
    ).all()
    session.commit()
    if recovered:
        log.warning("recovered %d emails left in 'sending'", len(recovered))
    return len(recovered)


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        emails.c.status == EmailStatus.QUEUED,
        sa.or_(emails.c.next_attempt_at.is_(None), emails.c.next_attempt_at <= now),
    )


def _count_due(session: Session, clock: Clock) -> int:
    return session.execute(
        sa.select(sa.func.count()).select_from(emails).where(_due(utc_naive(clock)))
    ).scalar_one()


class DueQueue:
    """The due emails' ids in rule 12's order, read once and claimed from the front.

    Rule 12: emails to potentially available therapists first, then oldest first. The flag
    lives on ``therapists``, so no index of ``emails`` holds that order: sorting the queue at
    every claim cost each claim a sort of every due email under ``FOR UPDATE`` (no bounded
    top-N sort under a row lock), so O(queue²) for a run (BENCHMARKS.md has the figures).
    Here the order is read once (one unlocked query) and each claim locks its ids
    by primary key. Ids another worker took meanwhile are skipped at the claim (locked, or no
    longer due); when the list runs out it is read again, so emails queued during the run go
    out in the same run.
    """

    def __init__(self) -> None:
        self._ids: deque[int] = deque()

    def claim(self, ctx: Context, size: int) -> list[sa.RowMapping]:
        """Mark up to ``size`` due emails ``sending`` and commit, in rule 12's order; skip
        rows other workers hold."""
        claimed: list[sa.RowMapping] = []
        may_read_again = True  # once per claim: a fresh list that yields nothing ends the run
        while len(claimed) < size:
            if not self._ids:
                if not may_read_again:
                    break
                may_read_again = False
                self._ids.extend(_due_in_order(ctx.session, ctx.clock))
                if not self._ids:
                    break
            wanted = min(size - len(claimed), len(self._ids))
            claimed.extend(_claim_ids(ctx, [self._ids.popleft() for _ in range(wanted)]))
        return claimed


def _due_in_order(session: Session, clock: Clock) -> list[int]:
    ordered = (
        sa.select(emails.c.id)
        .join(therapists, therapists.c.id == emails.c.therapist_id)
        .where(_due(utc_naive(clock)))
        .order_by(rules.potentially_available_first(), emails.c.next_attempt_at, emails.c.id)
    )
    ids = list(session.execute(ordered).scalars())
    session.commit()  # a read: end its transaction before the claims lock anything
    return ids


def _claim_ids(ctx: Context, ids: list[int]) -> list[sa.RowMapping]:
    """Claim those of ``ids`` that are still due and not held by another worker, and commit.
    An email queued by another service without a Message-ID gets one now, before it is first
    sent. The rows come back in the order of ``ids``."""
    session = ctx.session
    now = utc_naive(ctx.clock)
    still_due = (
        sa.select(emails.c.id)
        .where(emails.c.id.in_(ids), _due(now))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    generated_id = (
        "<" + sa.cast(sa.func.gen_random_uuid(), sa.String) + f"@{message_id_domain(ctx.settings)}>"
    )
    rows = (
        session.execute(
            sa.update(emails)
            .where(emails.c.id.in_(still_due))
            .values(
                status=EmailStatus.SENDING,
                sending_started_at=now,
                message_id=sa.func.coalesce(emails.c.message_id, generated_id),
                updated_at=now,
            )
            .returning(
                emails.c.id,
                emails.c.therapist_id,
                emails.c.subject,
                emails.c.body_text,
                emails.c.body_html,
                emails.c.recipient_email,
                emails.c.recipient_name,
                emails.c.sender_email,
                emails.c.sender_name,
                emails.c.message_id,
                emails.c.retry_count,
                emails.c.next_attempt_at,
            )
        )
        .mappings()
        .all()
    )
    session.commit()
    position = {email_id: index for index, email_id in enumerate(ids)}
    return sorted(rows, key=lambda row: position[row["id"]])  # RETURNING has no order


def record_delivery(
    ctx: Context,
    row: sa.RowMapping,
    delivery: DeliveryResult,
    *,
    release_ids: Sequence[int] = (),
    keep_alive_ids: Sequence[int] = (),
) -> None:
    """Store one SMTP outcome and commit (only while the row is still ours: ``sending``).

    ``sent`` with rule 11's contact dates; a temporary failure → ``queued`` again after a
    back-off, or ``failed`` once the retries are used up; a permanent one → ``failed``.
    Claimed rows that were not tried (``release_ids``) go back to ``queued`` as they were;
    rows still waiting in this worker's claim (``keep_alive_ids``) get a fresh
    ``sending_started_at``, so a slow run is not mistaken for a crashed one.
    """
    session, clock, settings = ctx.session, ctx.clock, ctx.settings
    now = utc_naive(clock)
    # The commit returns once PostgreSQL has it, without waiting for the disk flush (most of
    # a commit's time): this process dying loses nothing. Only a crash of PostgreSQL
    # itself within a fraction of a second could lose the last outcomes; their emails are
    # then resent with the same Message-ID (docs/decisions.md).
    if delivery.outcome is Delivery.SENT:
        _mark_sent(session, clock, row["id"])  # one statement, with the commit mode
    else:
        session.execute(sa.select(ASYNC_COMMIT))
        if delivery.outcome is Delivery.PERMANENT:
            values: dict[str, Any] = {"status": EmailStatus.FAILED, "next_attempt_at": None}
            log.warning("email %s failed permanently", row["id"])
        else:
            retries = row["retry_count"] + 1
            give_up = retries > settings.max_email_retries
            backoff = timedelta(seconds=settings.email_retry_base_seconds * 2 ** (retries - 1))
            values = {
                "status": EmailStatus.FAILED if give_up else EmailStatus.QUEUED,
                "retry_count": retries,
                "next_attempt_at": None if give_up else now + backoff,
            }
            log.info("email %s: temporary failure %d", row["id"], retries)
        session.execute(
            sa.update(emails)
            .where(emails.c.id == row["id"], emails.c.status == EmailStatus.SENDING)
            .values(
                **values, error_message=delivery.message, sending_started_at=None, updated_at=now
            )
        )
    if keep_alive_ids:
        session.execute(
            sa.update(emails)
            .where(emails.c.id.in_(keep_alive_ids), emails.c.status == EmailStatus.SENDING)
            .values(sending_started_at=now, updated_at=now)
        )
    if release_ids:
        session.execute(
            sa.update(emails)
            .where(emails.c.id.in_(release_ids), emails.c.status == EmailStatus.SENDING)
            .values(status=EmailStatus.QUEUED, sending_started_at=None, updated_at=now)
        )
    session.commit()


def _mark_sent_statement() -> sa.Select:
    """``sent`` and rule 11 (``email_contact_date``, ``letzter_kontakt_email``) in one
    statement, committed without waiting for the disk flush (``ASYNC_COMMIT``); parameters
    ``email_id``, ``now`` (UTC) and ``today`` (local)."""
    now, today = sa.bindparam("now", type_=sa.DateTime()), sa.bindparam("today", type_=sa.Date())
    sent = (
        sa.update(emails)
        .where(
            emails.c.id == sa.bindparam("email_id", type_=sa.Integer()),
            emails.c.status == constant(emails.c.status, EmailStatus.SENDING),
        )
        .values(
            status=constant(emails.c.status, EmailStatus.SENT),
            sent_at=now,
            error_message=sa.null(),
            sending_started_at=sa.null(),
            next_attempt_at=sa.null(),
            updated_at=now,
        )
        .returning(emails.c.id, emails.c.therapist_id)
        .cte("sent_emails")
    )
    requests_contacted = (
        sa.update(placement_requests)
        .where(
            placement_requests.c.id == email_batches.c.placement_request_id,
            email_batches.c.email_id == sent.c.id,
        )
        .values(email_contact_date=sa.func.greatest(placement_requests.c.email_contact_date, today))
        .returning(placement_requests.c.id)
        .cte("requests_contacted")
    )
    therapists_contacted = (
        sa.update(therapists)
        .where(therapists.c.id == sent.c.therapist_id)
        .values(
            letzter_kontakt_email=sa.func.greatest(therapists.c.letzter_kontakt_email, today),
            updated_at=today,  # a date: the therapist service keeps days
        )
        .returning(therapists.c.id)
        .cte("therapists_contacted")
    )
    return (
        sa.select(sa.func.count(), ASYNC_COMMIT)
        .select_from(sent)
        .add_cte(requests_contacted)
        .add_cte(therapists_contacted)
    )


MARK_SENT = _mark_sent_statement()
_MARK_SENT_DOLLAR = MARK_SENT.compile(dialect=psycopg2_dialect(paramstyle="numeric_dollar"))
# The same, prepared once per run (planned once), then each email one round trip on an
# autocommit connection that is its own transaction, committed.
PREPARE_MARK_SENT = "PREPARE {name} AS " + _MARK_SENT_DOLLAR.string
MARK_SENT_TRANSACTION = (
    "BEGIN; EXECUTE {name}("
    + ", ".join(f"%({name})s" for name in _MARK_SENT_DOLLAR.positiontup or ())
    + "); COMMIT"
)


def _sent_parameters(clock: Clock, email_id: int) -> dict[str, Any]:
    return {"email_id": email_id, "now": utc_naive(clock), "today": clock.now().date()}


def _mark_sent(session: Session, clock: Clock, email_id: int) -> None:
    session.execute(MARK_SENT, _sent_parameters(clock, email_id))


class DeliveryLedger:
    """Where a run stores each accepted email before the next one goes out: a connection of
    its own, in autocommit mode, on which one round trip (``MARK_SENT_TRANSACTION``) is the
    whole transaction. Used from the send loop's thread; other outcomes (rare) go through the
    ``DatabaseWorker``."""

    def __init__(self, ctx: Context) -> None:
        self.clock = ctx.clock
        self.connection = (
            ctx.session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT")
        )
        # A name of this run's own: the pooled connection may have served another run.
        self.name = f"mark_sent_{uuid.uuid4().hex}"
        self.connection.exec_driver_sql(PREPARE_MARK_SENT.format(name=self.name))
        self.transaction = MARK_SENT_TRANSACTION.replace("{name}", self.name)

    def sent(self, email_id: int) -> None:
        try:
            self.connection.exec_driver_sql(
                self.transaction, _sent_parameters(self.clock, email_id)
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.connection.exec_driver_sql("ROLLBACK")
            raise

    def __enter__(self) -> DeliveryLedger:
        return self

    def __exit__(self, *_: Any) -> None:
        with contextlib.suppress(Exception):  # the connection goes back to the pool clean
            self.connection.exec_driver_sql(f"DEALLOCATE {self.name}")
        self.connection.close()
