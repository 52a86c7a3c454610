"""``comm import-mail``: a real Maildir on disk (written as Postfix or Dovecot deliver:
tmp/ then new/), read with the same parser and matching as the HTTP route."""

from __future__ import annotations

import dataclasses
import mailbox
import os
import threading
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from communication_service.extensions import db
from communication_service.models import Email, InboundEmail, PhoneCall, UndeliverableAddress
from communication_service.services.inbound_emails import (
    import_maildir,
    record_replies,
    store_messages,
)
from communication_service.services.inbound_mail import parse_message
from communication_service.services.scheduling import ALL_LINES_LOCK_KEY, BOOKING_LOCK_NAMESPACE
from tests import mail_samples as samples
from tests.api.test_emails import make_call
from tests.concurrency import at_once
from tests.factories import make_email, make_therapist
from tests.services.test_call_locks import _waits_for_the_lock as waits_for_the_booking_lock

SENT_AT = datetime(2026, 11, 23, 7, 0)


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    path = tmp_path / "Maildir"
    mailbox.Maildir(path, create=True)
    return path


def deliver(maildir: Path, *messages: bytes) -> list[str]:
    """Deliver as an MTA does (``mailbox.Maildir.add``: tmp/, then a rename into new/)."""
    box = mailbox.Maildir(maildir, create=False)
    return [box.add(raw) for raw in messages]


def sent_email(session, address: str, **values) -> tuple[int, str]:
    therapist_id = values.pop("therapist_id", None) or make_therapist(session, email=address)
    message_id = samples.new_id("example.org")
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        sent_at=SENT_AT,
        recipient_email=address,
        message_id=message_id,
        **values,
    )
    return email_id, message_id


def rows(session) -> list[InboundEmail]:
    session.expire_all()
    return list(session.execute(sa.select(InboundEmail).order_by(InboundEmail.id)).scalars())


def import_mail(app, maildir: Path, *extra: str):
    return app.test_cli_runner().invoke(
        args=["comm", "import-mail", "--maildir", str(maildir), *extra]
    )


def test_import_stores_matches_and_moves_every_message(app, session, maildir):
    therapist_id = make_therapist(session, email="kontakt@praxis-schulz.de")
    replied, reply_to = sent_email(session, "kontakt@praxis-schulz.de", therapist_id=therapist_id)
    follow_up = make_call(session, therapist_id, follow_up_email_id=replied)
    away, away_to = sent_email(session, "praxis.becker@example.com")
    bounced, bounce_to = sent_email(session, "praxis.alt@example.com")
    keys = deliver(
        maildir,
        samples.thunderbird_reply(reply_to),
        samples.exchange_out_of_office(away_to),
        samples.exim_bounce(bounce_to),
        samples.fresh_email(sender="unbekannt@example.net"),
    )

    result = import_mail(app, maildir, "--now", "2026-11-30T08:30:00")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "import-mail: 4 messages read, 4 stored (auto_reply 1, bounce 1, reply 1, unknown 1), "
        "0 stored before; 3 matched (by message_id 3); 1 responses recorded, 1 emails failed "
        "by a bounce, 1 addresses undeliverable"
    )
    # Files are read in name order, which need not be delivery order (mailbox.Maildir's
    # names carry the microseconds unpadded).
    assert {r.kind: r.email_id for r in rows(session)} == {
        "reply": replied,
        "auto_reply": away,
        "bounce": bounced,
        "unknown": None,
    }
    assert session.get(Email, replied).response_received is True
    assert session.get(PhoneCall, follow_up).status == "canceled"
    assert session.get(Email, away).response_received is False
    assert session.get(Email, bounced).status == "failed"
    assert os.listdir(maildir / "new") == []
    assert sorted(os.listdir(maildir / "cur")) == sorted(f"{key}:2," for key in keys)


def test_a_second_run_and_a_second_delivery_store_nothing_twice(app, session, maildir):
    _, message_id = sent_email(session, "dr.roth.praxis@gmail.com")
    raw = samples.gmail_reply(message_id)
    deliver(maildir, raw)
    assert import_mail(app, maildir).exit_code == 0

    again = import_mail(app, maildir)
    assert again.output.startswith("import-mail: 0 messages read, 0 stored, 0 stored before")
    deliver(maildir, raw)  # delivered once more (a retried delivery, a second alias)
    third = import_mail(app, maildir)
    assert "1 messages read, 0 stored, 1 stored before" in third.output
    assert "0 responses recorded" in third.output
    assert len(rows(session)) == 1
    assert len(os.listdir(maildir / "cur")) == 2


def test_a_file_that_is_not_a_message_stays_in_new(app, session, maildir):
    (maildir / "new" / "1701335761.M1P2.host").write_bytes(b"")
    (maildir / "new" / "1701335762.M1P2.host").write_bytes(b"not an email at all\n")
    (maildir / "new" / ".hidden").write_bytes(b"From: a@b\n\nx")  # not a Maildir entry
    deliver(maildir, samples.fresh_email(sender="praxis@example.de"))

    result = import_mail(app, maildir)

    assert result.exit_code == 0, result.output
    assert "3 messages read, 1 stored (unknown 1)" in result.output
    assert result.output.strip().endswith("2 files are not messages (left in new/)")
    assert sorted(os.listdir(maildir / "new")) == [
        ".hidden",
        "1701335761.M1P2.host",
        "1701335762.M1P2.host",
    ]


def test_the_maildir_must_exist(app, tmp_path):
    result = import_mail(app, tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "is not a Maildir" in result.output
    (tmp_path / "flat").mkdir()
    assert import_mail(app, tmp_path / "flat").exit_code == 2


def test_two_importers_at_once_store_each_message_once(app, session, ctx, maildir):
    sent = [sent_email(session, f"praxis{n}@example.com") for n in range(12)]
    deliver(
        maildir,
        *(
            samples.outlook_reply(mid, sender=f"praxis{n}@example.com")
            for n, (_, mid) in enumerate(sent)
        ),
    )
    deliver(maildir, *(samples.fresh_email(sender=f"neu{n}@example.net") for n in range(12)))
    results = at_once(app, ctx, lambda own: import_maildir(own, maildir, chunk_size=5))

    assert sum(r.stored.total() for r in results) == 24
    assert sum(r.responses_recorded for r in results) == 12
    assert len(rows(session)) == 24
    assert os.listdir(maildir / "new") == [] and len(os.listdir(maildir / "cur")) == 24
    session.expire_all()
    answered = session.execute(
        sa.select(sa.func.count()).where(Email.response_received.is_(True))
    ).scalar_one()
    assert answered == 12


def test_a_crash_before_the_response_is_repaired_by_the_next_import(app, session, ctx, maildir):
    email_id, message_id = sent_email(session, "praxis.becker@example.com")
    raw = samples.outlook_reply(message_id)
    deliver(maildir, raw)
    store_messages(ctx, [parse_message(raw)])  # stored and committed, then the process died
    assert session.get(Email, email_id).response_received is False

    result = import_mail(app, maildir)

    assert "0 stored, 1 stored before" in result.output
    assert "1 responses recorded" in result.output
    session.expire_all()
    assert session.get(Email, email_id).response_received is True
    assert len(rows(session)) == 1


def test_one_reply_per_email_is_recorded_the_earliest(app, session, ctx):
    others = [sent_email(session, f"praxis{n}@example.com") for n in range(3)]
    email_id, message_id = sent_email(session, "praxis.becker@example.com")
    later = samples.outlook_reply(
        message_id, text="Nachtrag: auch Herr K.", date="Mon, 30 Nov 2026 07:55:00 +0100"
    )
    earlier = samples.outlook_reply(message_id, text="Frau M. kann kommen.")
    more = [
        samples.outlook_reply(mid, sender=f"praxis{n}@example.com")
        for n, (_, mid) in enumerate(others)
    ]
    stored = store_messages(ctx, [parse_message(raw) for raw in (later, earlier, *more)])
    assert record_replies(ctx, [s.id for s in stored]) == 4
    session.expire_all()
    assert session.get(Email, email_id).response_content == "Frau M. kann kommen."
    assert [r.response_recorded for r in rows(session)] == [False, True, True, True, True]
    assert all(session.get(Email, other).response_received for other, _ in others)


def test_a_permanent_bounce_for_a_therapist_who_is_gone_fails_only_the_email(session, ctx):
    therapist_id = make_therapist(session, email="praxis.alt@example.com")
    email_id, message_id = sent_email(session, "praxis.alt@example.com", therapist_id=therapist_id)
    session.execute(
        sa.text("DELETE FROM therapist_service.therapists WHERE id = :id"), {"id": therapist_id}
    )
    session.commit()
    [stored] = store_messages(ctx, [parse_message(samples.postfix_bounce(message_id))])
    assert (stored.email_failed, stored.address_marked) == (True, False)
    assert session.get(Email, email_id).status == "failed"
    assert (
        session.execute(sa.select(sa.func.count()).select_from(UndeliverableAddress)).scalar() == 0
    )


def test_the_same_message_twice_in_one_chunk_is_stored_once(session, ctx):
    email_id, message_id = sent_email(session, "praxis.becker@example.com")
    raw = samples.outlook_reply(message_id)
    first, second = store_messages(ctx, [parse_message(raw), parse_message(raw)])
    assert (first.created, second.created) == (True, False)
    assert first.id == second.id and first.kind == second.kind == "reply"
    assert len(rows(session)) == 1
    assert record_replies(ctx, [first.id, second.id]) == 1
    assert session.get(Email, email_id).response_received is True


def test_recording_a_reply_takes_the_booking_lock_before_the_email(app, session, ctx):
    """The lock order of every writer of calls (booking lock, email, calls): a writer that
    holds the booking lock and then locks the email, as ``schedule-follow-ups`` does, never
    waits for an importer that locked the email first."""
    therapist_id = make_therapist(session, email="praxis.becker@example.com")
    email_id, message_id = sent_email(
        session, "praxis.becker@example.com", therapist_id=therapist_id
    )
    [stored] = store_messages(ctx, [parse_message(samples.outlook_reply(message_id))])
    recorded: list[int] = []

    def record() -> None:
        with app.app_context():
            recorded.append(
                record_replies(dataclasses.replace(ctx, session=db.session), [stored.id])
            )
            db.session.remove()

    holder = db.engine.raw_connection()  # a writer of calls in progress: it holds the lock
    try:
        with holder.cursor() as cursor:
            key = ALL_LINES_LOCK_KEY if ctx.settings.call_lines > 0 else therapist_id
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (BOOKING_LOCK_NAMESPACE, key))
            recording = threading.Thread(target=record)
            recording.start()
            assert waits_for_the_booking_lock(), "recording never waited for the booking lock"
            cursor.execute("SET LOCAL lock_timeout = '3s'")
            cursor.execute(
                "SELECT id FROM communication_service.emails WHERE id = %s FOR UPDATE",
                (email_id,),
            )
        holder.commit()
    finally:
        holder.close()
    recording.join(timeout=30)
    assert recorded == [1]
    session.expire_all()
    assert session.get(Email, email_id).response_received is True


def test_bounces_in_one_chunk_fail_each_email_once_and_mark_each_address_once(session, ctx):
    """The bounces of a chunk are applied together: an email bounced twice (Postfix and
    Exim both answered) is failed by the first bounce, and an address two emails bounced
    from is marked by the first one."""
    therapist_id = make_therapist(session, email="praxis.alt@example.com")
    first, first_id = sent_email(session, "praxis.alt@example.com", therapist_id=therapist_id)
    second, second_id = sent_email(session, "Praxis.Alt@example.com", therapist_id=therapist_id)
    other, other_id = sent_email(session, "praxis.neu@example.com")
    raw = [
        samples.postfix_bounce(first_id),
        samples.exim_bounce(first_id),
        samples.postfix_bounce(second_id),
        samples.postfix_bounce(other_id, recipient="praxis.neu@example.com"),
    ]
    # Postfix names each bounce anew.
    raw[2:] = [
        message.replace(b"4Rk2Xy3Zz9z9s@", f"{n}.4Rk2Xy3Zz9z9s@".encode())
        for n, message in enumerate(raw[2:])
    ]

    stored = store_messages(ctx, [parse_message(message) for message in raw])

    assert [(s.email_failed, s.address_marked) for s in stored] == [
        (True, True),
        (False, False),
        (True, False),
        (True, True),
    ]
    session.expire_all()
    assert {session.get(Email, e).status for e in (first, second, other)} == {"failed"}
    assert session.get(Email, first).error_message.startswith("Bounced (5.1.1)")
    marks = session.execute(
        sa.select(UndeliverableAddress.address, UndeliverableAddress.inbound_email_id).order_by(
            UndeliverableAddress.id
        )
    ).all()
    assert marks == [
        ("praxis.alt@example.com", stored[0].id),
        ("praxis.neu@example.com", stored[3].id),
    ]


def test_a_chunk_is_stored_and_moved_before_the_next_one_whatever_was_read_ahead(
    app, session, ctx, maildir
):
    """The next chunk is parsed while the current one is stored; nothing of it is stored or
    moved before the current chunk's files are in cur/."""
    deliver(maildir, *(samples.fresh_email(sender=f"neu{n}@example.net") for n in range(5)))
    seen: list[tuple[int, int, int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, len(rows(session)), len(os.listdir(maildir / "cur")), total))

    result = import_maildir(ctx, maildir, chunk_size=2, progress=progress)

    assert result.stored.total() == 5
    assert seen == [(2, 2, 2, 5), (4, 4, 4, 5), (5, 5, 5, 5)]
