"""send-emails against a real SMTP server (aiosmtpd), including the failure paths."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from communication_service.models import Email, EmailBatch, PlacementRequest, Therapist
from communication_service.services.batching import batch_emails
from communication_service.services.email_content import footer
from communication_service.services.inbound_emails import store_messages
from communication_service.services.inbound_mail import parse_message
from communication_service.services.sending import send_emails
from tests import mail_samples as samples
from tests.conftest import BERLIN, DEFAULT_NOW, with_settings
from tests.factories import make_email, make_patient, make_placement_request, make_therapist
from tests.smtp_sink import free_port

NOW_UTC = DEFAULT_NOW.astimezone(UTC).replace(tzinfo=None)


def email_rows(session):
    session.expire_all()
    return {
        row.id: row
        for row in session.execute(
            sa.select(
                Email.id,
                Email.status,
                Email.retry_count,
                Email.next_attempt_at,
                Email.error_message,
                Email.message_id,
                Email.sent_at,
                Email.sending_started_at,
            )
        )
    }


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def queue_batch_emails(ctx, therapists: int = 3) -> dict[int, list[tuple[str, int]]]:
    """Therapists with requests, batched by the real job; returns each therapist's patients
    (first name, placement request id) in the order they must appear. Diagnoses F40.0-F42.0."""
    session = ctx.session
    expected = {}
    for t in range(therapists):
        therapist_id = make_therapist(session, anrede="Frau", titel="Dr.", nachname=f"Kern{t}")
        names: list[tuple[str, int]] = []
        for i in range(3):
            first_name = f"Pat{t}x{i}"
            patient_id = make_patient(
                session,
                vorname=first_name,
                nachname="Zander",
                startdatum=date(2026, 3, 3 - i),  # the last created waited longest
                geburtsdatum=date(1990, 12, 1),
                diagnose=f"F4{i}.0",
            )
            request_id = make_placement_request(
                session, therapist_id=therapist_id, patient_id=patient_id
            )
            names.insert(0, (first_name, request_id))
        expected[therapist_id] = names
    batch_emails(ctx)
    return expected


def test_delivers_batch_emails_with_headers_parts_and_patients_in_order(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    expected = queue_batch_emails(smtp_ctx)
    stored = {
        row.therapist_id: row
        for row in session.execute(
            sa.select(Email.id, Email.therapist_id, Email.message_id, Email.recipient_email)
        )
    }

    result = send_emails(smtp_ctx)

    assert (result.sent, result.failed, result.retry_later) == (3, 0, 0)
    assert smtp_sink.handler.connections == 1  # one SMTP connection for the whole run
    by_recipient = {item.rcpt_tos[0]: item for item in smtp_sink.handler.received}
    assert len(by_recipient) == 3
    for therapist_id, names in expected.items():
        row = stored[therapist_id]
        item = by_recipient[row.recipient_email]
        assert item.mail_from == smtp_settings.email_sender
        message = item.message
        assert message["Message-ID"] == row.message_id
        assert message["Subject"] == (
            f"Anfrage: Psychotherapieplätze für drei Personen [Vorgang {row.id}]"
        )
        assert message["From"].addresses[0].addr_spec == smtp_settings.email_sender
        assert message["From"].addresses[0].display_name == smtp_settings.organisation_name
        assert message["Reply-To"].addresses[0].addr_spec == smtp_settings.email_reply_to
        assert message["To"].addresses[0].addr_spec == row.recipient_email
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "Sehr geehrte Frau Dr. Kern" in text
        for body in (text, html):
            positions = [body.index(f"{name} Z.") for name, _ in names]
            assert positions == sorted(positions)  # longest waiting first
            assert "Zander" not in body  # only the initial of the last name
            # Rule 5: no diagnosis unless EMAIL_INCLUDE_DIAGNOSIS.
            assert "Diagnose" not in body
            assert not any(code in body for code in ("F40.0", "F41.0", "F42.0"))
        for name, request_id in names:  # age at the job's date, the reference to quote
            assert f"{name} Z., 35 Jahre (Anfrage Nr. {request_id})" in text
            assert f"{name} Z., 35 Jahre (Anfrage&nbsp;Nr.&nbsp;{request_id})</li>" in html
        assert "Mit freundlichen Grüßen\r\nErika Mustermann\r\n" in text
    rows = email_rows(session)
    assert {row.status for row in rows.values()} == {"sent"}
    assert all(row.sent_at == NOW_UTC for row in rows.values())


def test_sent_email_sets_contact_dates_rule_11(session, smtp_ctx, smtp_settings, smtp_sink):
    therapist_id = make_therapist(session, letzter_kontakt_email=date(2026, 1, 1))
    request_ids = [make_placement_request(session, therapist_id=therapist_id) for _ in range(2)]
    other_request = make_placement_request(session, therapist_id=therapist_id)
    make_email(session, therapist_id=therapist_id, placement_request_ids=tuple(request_ids))

    send_emails(smtp_ctx)

    contact = dict(
        session.execute(sa.select(PlacementRequest.id, PlacementRequest.email_contact_date)).all()
    )
    assert contact == {
        request_ids[0]: date(2026, 11, 30),
        request_ids[1]: date(2026, 11, 30),
        other_request: None,
    }
    assert session.execute(
        sa.select(Therapist.letzter_kontakt_email).where(Therapist.id == therapist_id)
    ).scalar_one() == date(2026, 11, 30)


def test_second_run_sends_nothing(session, smtp_ctx, smtp_settings, smtp_sink):
    therapist_id = make_therapist(session)
    make_email(session, therapist_id=therapist_id)
    assert send_emails(smtp_ctx).sent == 1
    again = send_emails(smtp_ctx)
    assert (again.sent, again.failed, again.retry_later) == (0, 0, 0)
    assert len(smtp_sink.handler.received) == 1


def test_server_down_loses_nothing_and_retries_with_the_same_message_id(
    session, clock, ctx, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    ids = [make_email(session, therapist_id=therapist_id) for _ in range(3)]
    before = email_rows(session)
    down = smtp_settings.replace(smtp_port=free_port())  # nothing listens there

    result = send_emails(with_settings(ctx, down))

    assert result.smtp_unavailable and result.sent == 0
    rows = email_rows(session)
    assert {row.status for row in rows.values()} == {"queued"}
    assert [rows[i].message_id for i in ids] == [before[i].message_id for i in ids]
    attempted = [i for i in ids if rows[i].retry_count == 1]
    assert len(attempted) == 1  # the run stopped at the first refused connection
    assert rows[attempted[0]].next_attempt_at == NOW_UTC + timedelta(seconds=60)
    assert "ConnectionRefusedError" in rows[attempted[0]].error_message

    # The server is back: the two untried emails go at once, the tried one after its back-off.
    assert send_emails(smtp_ctx).sent == 2
    clock.instant = DEFAULT_NOW + timedelta(seconds=61)
    assert send_emails(smtp_ctx).sent == 1
    delivered = [m["Message-ID"] for m in smtp_sink.handler.messages()]
    assert sorted(delivered) == sorted(before[i].message_id for i in ids)  # each once, same id
    assert {row.status for row in email_rows(session).values()} == {"sent"}


def test_permanent_refusal_of_one_recipient_fails_only_that_email(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    good = make_therapist(session)
    bad = make_therapist(session)
    first = make_email(session, therapist_id=good, recipient_email="a@example.org")
    refused = make_email(session, therapist_id=bad, recipient_email="nobody@example.org")
    last = make_email(session, therapist_id=good, recipient_email="b@example.org")
    smtp_sink.handler.refuse_recipients["nobody@example.org"] = "550 5.1.1 User unknown"

    result = send_emails(smtp_ctx)

    assert (result.sent, result.failed) == (2, 1)
    rows = email_rows(session)
    assert rows[refused].status == "failed"
    assert rows[refused].error_message.startswith("550 5.1.1 User unknown")
    assert rows[refused].retry_count == 0 and rows[refused].next_attempt_at is None
    assert rows[first].status == rows[last].status == "sent"
    assert smtp_sink.handler.connections == 1
    # A failed email is not picked up again.
    assert send_emails(smtp_ctx).failed == 0


def test_temporary_refusal_backs_off_and_then_delivers(
    session, clock, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    email_id = make_email(
        session, therapist_id=therapist_id, recipient_email="busy@example.org", retry_count=2
    )
    smtp_sink.handler.refuse_recipients["busy@example.org"] = "450 4.2.1 Mailbox busy"

    assert send_emails(smtp_ctx).retry_later == 1
    row = email_rows(session)[email_id]
    assert (row.status, row.retry_count) == ("queued", 3)
    assert row.next_attempt_at == NOW_UTC + timedelta(seconds=60 * 4)  # base · 2^(3-1)
    assert row.error_message.startswith("450 4.2.1")

    del smtp_sink.handler.refuse_recipients["busy@example.org"]
    clock.instant = DEFAULT_NOW + timedelta(seconds=239)
    assert send_emails(smtp_ctx).sent == 0  # still backing off
    clock.instant = DEFAULT_NOW + timedelta(seconds=240)
    assert send_emails(smtp_ctx).sent == 1


def test_temporary_failures_beyond_max_retries_fail_the_email(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        recipient_email="busy@example.org",
        retry_count=smtp_settings.max_email_retries,
    )
    smtp_sink.handler.refuse_recipients["busy@example.org"] = "451 4.3.0 Try again later"

    result = send_emails(smtp_ctx)

    assert result.failed == 1
    row = email_rows(session)[email_id]
    assert (row.status, row.retry_count) == ("failed", smtp_settings.max_email_retries + 1)
    assert row.next_attempt_at is None


def test_connection_dropped_mid_run_reconnects_and_delivers_everything_once(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    ids = [make_email(session, therapist_id=therapist_id) for _ in range(4)]
    smtp_sink.handler.drop_connection_on_data.add(2)

    result = send_emails(smtp_ctx)

    assert result.sent == 4
    assert smtp_sink.handler.connections == 2  # dropped once, reconnected once
    delivered = [m["Message-ID"] for m in smtp_sink.handler.messages()]
    stored = email_rows(session)
    assert sorted(delivered) == sorted(stored[i].message_id for i in ids)


def test_stale_sending_rows_are_recovered_and_sent_with_their_id(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    stale = make_email(
        session,
        therapist_id=therapist_id,
        status="sending",
        sending_started_at=NOW_UTC
        - timedelta(seconds=smtp_settings.sending_stale_after_seconds + 1),
    )
    in_flight = make_email(
        session,
        therapist_id=therapist_id,
        status="sending",
        sending_started_at=NOW_UTC - timedelta(seconds=10),
    )

    result = send_emails(smtp_ctx)

    assert (result.recovered, result.sent) == (1, 1)
    rows = email_rows(session)
    assert rows[stale].status == "sent"
    assert smtp_sink.handler.messages()[0]["Message-ID"] == rows[stale].message_id
    assert rows[in_flight].status == "sending"  # another worker may still be on it


def test_email_queued_without_message_id_gets_one_stored_before_sending(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    email_id = make_email(session, therapist_id=therapist_id, message_id=None)
    send_emails(smtp_ctx)
    stored = email_rows(session)[email_id].message_id
    assert stored and stored.endswith("@example.org>")
    assert smtp_sink.handler.messages()[0]["Message-ID"] == stored


def test_potentially_available_therapists_are_sent_first_rule_12(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    plain = make_therapist(session)
    flagged = make_therapist(session, potentially_available=True)
    make_email(session, therapist_id=plain, recipient_email="plain@example.org")
    make_email(session, therapist_id=flagged, recipient_email="flagged@example.org")
    send_emails(smtp_ctx)
    assert [item.rcpt_tos[0] for item in smtp_sink.handler.received] == [
        "flagged@example.org",
        "plain@example.org",
    ]


def test_rule_12_holds_across_claims_and_a_run_sorts_the_queue_once_per_pass(
    session, smtp_ctx, smtp_settings, smtp_sink, monkeypatch
):
    from communication_service.services import sending

    plain = make_therapist(session)
    flagged = make_therapist(session, potentially_available=True)
    # The plain therapist's emails are the oldest: rule 12 still sends the flagged ones first.
    older = [
        make_email(
            session,
            therapist_id=plain,
            recipient_email=f"plain{n}@example.org",
            next_attempt_at=NOW_UTC - timedelta(hours=2),
        )
        for n in range(15)
    ]
    newer = [
        make_email(session, therapist_id=flagged, recipient_email=f"flagged{n}@example.org")
        for n in range(15)
    ]
    reads = []
    due_in_order = sending._due_in_order
    monkeypatch.setattr(sending, "CLAIM_CHUNK", 4)  # 8 claims for 30 emails
    monkeypatch.setattr(
        sending, "_due_in_order", lambda *args: reads.append(1) or due_in_order(*args)
    )

    assert send_emails(smtp_ctx).sent == 30

    received = [item.rcpt_tos[0] for item in smtp_sink.handler.received]
    assert received == [f"flagged{n}@example.org" for n in range(15)] + [
        f"plain{n}@example.org" for n in range(15)
    ]
    # One ordered read for the whole queue, then the reads that find it empty at the end:
    # not one sort of the whole queue per claim (8 here).
    assert len(reads) <= 3
    assert {email_rows(session)[i].status for i in older + newer} == {"sent"}


def test_a_run_claims_past_ids_other_workers_took_and_reads_again_when_its_list_runs_out(
    session, smtp_ctx, smtp_settings
):
    from communication_service.services.sending import DueQueue

    therapist_id = make_therapist(session)
    first, second, third, fourth = (make_email(session, therapist_id=therapist_id) for _ in "1234")
    slow, fast = DueQueue(), DueQueue()

    assert [row["id"] for row in slow.claim(smtp_ctx, 1)] == [first]
    # Another worker, reading the queue after it, takes the next two.
    assert [row["id"] for row in fast.claim(smtp_ctx, 2)] == [second, third]
    queued_meanwhile = make_email(session, therapist_id=therapist_id)

    # The slow worker's list still starts with the two taken: it skips them, takes the
    # fourth, and reads the queue again for what was queued since.
    taken = slow.claim(smtp_ctx, 5)

    assert [row["id"] for row in taken] == [fourth, queued_meanwhile]
    assert slow.claim(smtp_ctx, 5) == []
    assert {row.status for row in email_rows(session).values()} == {"sending"}


def test_drafts_and_emails_not_yet_due_are_not_sent(session, smtp_ctx, smtp_settings, smtp_sink):
    therapist_id = make_therapist(session)
    make_email(session, therapist_id=therapist_id, status="draft")
    make_email(session, therapist_id=therapist_id, next_attempt_at=NOW_UTC + timedelta(minutes=5))
    assert send_emails(smtp_ctx).sent == 0
    assert smtp_sink.handler.received == []


def test_two_workers_at_once_deliver_each_email_once(app, session, smtp_ctx, smtp_sink):
    from communication_service.extensions import db

    therapist_id = make_therapist(session)
    ids = [make_email(session, therapist_id=therapist_id) for _ in range(120)]
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(send_emails(dataclasses.replace(smtp_ctx, session=db.session)))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.sent for r in results) == 120
    delivered = [m["Message-ID"] for m in smtp_sink.handler.messages()]
    assert len(delivered) == len(set(delivered)) == 120
    stored = email_rows(session)
    assert set(delivered) == {stored[i].message_id for i in ids}


def test_cli_send_emails_prints_a_summary(app, session, smtp_settings, smtp_sink):
    therapist_id = make_therapist(session)
    make_email(session, therapist_id=therapist_id)
    result = app.test_cli_runner().invoke(
        args=["comm", "send-emails", "--now", "2026-12-01T09:00:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("send-emails: 1 sent")
    sent_at = session.execute(sa.select(Email.sent_at)).scalar_one()
    assert sent_at == utc(datetime(2026, 12, 1, 9, 0, tzinfo=BERLIN))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # 127.0.0.1 only
def test_logs_in_when_a_username_is_set(session, clock, ctx, smtp_settings):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.smtp_sink import SmtpSink

    seen = []

    def text(value: str | bytes) -> str:
        return value.decode() if isinstance(value, bytes) else value

    def authenticator(server, smtp_session, envelope, mechanism, data):
        assert isinstance(data, LoginPassword)
        seen.append((text(data.login), text(data.password)))
        # handled=False: aiosmtpd answers "535 … credentials invalid" itself.
        return AuthResult(success=text(data.password) == "geheim", handled=False)

    sink = SmtpSink().start(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    try:
        therapist_id = make_therapist(session)
        email_id = make_email(session, therapist_id=therapist_id)
        login = smtp_settings.replace(
            smtp_port=sink.port, smtp_username="versand", smtp_password="falsch"
        )
        refused = send_emails(with_settings(ctx, login))
        assert refused.smtp_unavailable and refused.sent == 0
        row = email_rows(session)[email_id]
        assert (row.status, row.retry_count) == ("queued", 1)  # kept, retried later
        assert "SMTPAuthenticationError" in row.error_message

        clock.instant = DEFAULT_NOW + timedelta(minutes=5)
        accepted = send_emails(with_settings(ctx, login.replace(smtp_password="geheim")))
        assert accepted.sent == 1
        assert seen[0] == ("versand", "falsch") and seen[-1] == ("versand", "geheim")
        assert len(sink.handler.received) == 1
    finally:
        sink.stop()


def test_queued_batch_email_is_withdrawn_after_a_rejection_rule_9(
    session, clock, smtp_ctx, smtp_settings, smtp_sink
):
    cooling = make_therapist(session)
    rejected = make_placement_request(session, therapist_id=cooling)
    waiting = make_placement_request(session, therapist_id=cooling)
    batch_email = make_email(
        session, therapist_id=cooling, batch_id="B1", placement_request_ids=(rejected, waiting)
    )
    staff_email = make_email(session, therapist_id=cooling)  # no batch_id: staff decided
    blocked = make_therapist(session, status="blocked")
    blocked_email = make_email(session, therapist_id=blocked, batch_id="B1")
    fine = make_therapist(session)
    fine_email = make_email(session, therapist_id=fine, batch_id="B1")
    # The therapist rejects by phone after the email was queued.
    session.execute(
        sa.update(PlacementRequest)
        .where(PlacementRequest.id == rejected)
        .values(status="rejected", response_date=DEFAULT_NOW.date())
    )
    session.commit()

    result = send_emails(smtp_ctx)

    assert (result.withdrawn.total(), result.sent) == (2, 2)
    rows = email_rows(session)
    assert batch_email not in rows and blocked_email not in rows
    assert rows[staff_email].status == rows[fine_email].status == "sent"
    assert "2 queued batching emails withdrawn" in result.summary()
    # The request that was in the withdrawn email waits for a fresh one after the cooling.
    clock.instant = DEFAULT_NOW + timedelta(days=28)
    batch = batch_emails(smtp_ctx)
    assert (batch.emails_queued, batch.requests_batched) == (1, 1)


SUBJECT = "Rückfrage zu Ihren Therapieplätzen: bitte um kurze Antwort, gern auch telefonisch"


def test_non_ascii_names_and_subject_arrive_intact(session, smtp_ctx, smtp_settings, smtp_sink):
    therapist_id = make_therapist(session)
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        recipient_name="Dr. Jörg Müller-Lüdenscheidt",
        recipient_email="mueller@example.org",
        subject=SUBJECT,
        body_text="Grüße",
    )
    send_emails(smtp_ctx)
    [message] = smtp_sink.handler.messages()
    assert message["To"].addresses[0].display_name == "Dr. Jörg Müller-Lüdenscheidt"
    assert message["Subject"] == f"{SUBJECT} [Vorgang {email_id}]"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().startswith("Grüße\r\n\r\n-- \r\n")
    assert all(
        len(line) <= 78
        for line in smtp_sink.handler.received[0].content.split(b"\r\n")
        if line[:1].isalpha() or line[:1] == b" "
    )  # folded headers and QP lines


def test_a_long_run_keeps_its_claimed_rows_from_looking_stale(
    session, clock, smtp_ctx, smtp_settings
):
    from communication_service.services.sending import (
        Delivery,
        DeliveryResult,
        DueQueue,
        record_delivery,
        recover_stale,
    )

    therapist_id = make_therapist(session)
    ids = [make_email(session, therapist_id=therapist_id) for _ in range(3)]
    first, *waiting = DueQueue().claim(smtp_ctx, 3)
    # Much later (a slow server), the first answer is stored; the others are still in hand.
    clock.instant = DEFAULT_NOW + timedelta(seconds=smtp_settings.sending_stale_after_seconds)
    record_delivery(
        smtp_ctx,
        first,
        DeliveryResult(Delivery.SENT),
        keep_alive_ids=[row["id"] for row in waiting],
    )
    clock.instant += timedelta(seconds=60)
    assert recover_stale(smtp_ctx) == 0  # not taken from this worker
    rows = email_rows(session)
    assert rows[first["id"]].status == "sent"
    assert {rows[i].status for i in ids if i != first["id"]} == {"sending"}


TRICKY_BODY = (
    "trailing blanks  \n"
    "tab\tand trailing tab\t\n"
    ".\n"
    "..\n"
    "From the first line of a paragraph (no '>' added)\n"
    "= signs =3D stay = signs\n" + "lang " * 60 + "\n" + "Grüße äöüß " * 20 + "\n\n"
)


def test_bodies_arrive_exactly_as_written(session, smtp_ctx, smtp_settings, smtp_sink):
    """As written, followed by the sender's footer (the HTML fragment in the document)."""
    text_footer, html_footer = footer(smtp_settings.sender)
    therapist_id = make_therapist(session)
    make_email(
        session,
        therapist_id=therapist_id,
        body_text=TRICKY_BODY,
        body_html=f"<p>{TRICKY_BODY}</p>",
    )
    send_emails(smtp_ctx)
    [message] = smtp_sink.handler.messages()
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.replace("\r\n", "\n") == f"{TRICKY_BODY}\n{text_footer}"
    html = html.replace("\r\n", "\n")
    assert html.index(f"<p>{TRICKY_BODY}</p>") < html.index(html_footer)
    raw = smtp_sink.handler.received[0].content
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78  # QP soft line breaks


def test_a_slow_server_does_not_make_the_rows_still_in_hand_look_stale(
    app, session, clock, ctx, smtp_settings, smtp_sink
):
    """130 emails (a chunk of 100 and 30 claimed ahead), each taking the server 10 s, rows
    stale after 300 s: the last ones wait 1290 s in this worker's hand, kept fresh meanwhile."""
    from communication_service.extensions import db

    settings = smtp_settings.replace(sending_stale_after_seconds=300)
    therapist_id = make_therapist(session)
    for _ in range(130):
        make_email(session, therapist_id=therapist_id)
    engine = db.engine
    ages: list[float] = []  # at each DATA: age of the oldest sending_started_at
    handle_data = smtp_sink.handler.handle_DATA

    async def slow_data(server, smtp_session, envelope):
        clock.instant += timedelta(seconds=10)
        with engine.connect() as connection:
            oldest = connection.execute(
                sa.select(sa.func.min(Email.sending_started_at)).where(Email.status == "sending")
            ).scalar_one()
        if oldest is not None:
            ages.append((utc(clock.now()) - oldest).total_seconds())
        return await handle_data(server, smtp_session, envelope)

    smtp_sink.handler.handle_DATA = slow_data

    assert send_emails(with_settings(ctx, settings)).sent == 130
    assert len(ages) == 130
    assert max(ages) < settings.sending_stale_after_seconds  # never recoverable by others


def test_a_failure_to_store_an_outcome_stops_the_run_and_loses_nothing(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    """Each outcome is stored before the next email goes out: when storing fails, nothing
    more is sent and the error is raised; the email accepted but not stored stays 'sending'
    with its Message-ID (recovered and resent with it, as after a crash)."""
    therapist_id = make_therapist(session)
    ids = [make_email(session, therapist_id=therapist_id) for _ in range(40)]
    poison = ids[13]
    session.execute(
        sa.text(
            """
            CREATE FUNCTION communication_service.refuse_recording() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'recording refused'; END $$;
            CREATE TRIGGER refuse_recording BEFORE UPDATE ON communication_service.emails
            FOR EACH ROW WHEN (NEW.status = 'sent' AND NEW.id = :poison)
            EXECUTE FUNCTION communication_service.refuse_recording();
            """.replace(":poison", str(poison))
        )
    )
    session.commit()
    try:
        with pytest.raises(sa.exc.DBAPIError, match="recording refused"):
            send_emails(smtp_ctx)
    finally:
        session.rollback()
        session.execute(sa.text("DROP FUNCTION communication_service.refuse_recording CASCADE"))
        session.commit()

    rows = email_rows(session)
    delivered = [m["Message-ID"] for m in smtp_sink.handler.messages()]
    assert {rows[i].status for i in ids[:13]} == {"sent"}
    assert {rows[i].status for i in ids[13:]} == {"sending"}  # recovered later
    # Nothing went out after the email whose outcome could not be stored.
    assert delivered == [rows[i].message_id for i in ids[:14]]


def test_server_gone_mid_run_releases_the_rows_in_hand_including_those_claimed_ahead(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    therapist_id = make_therapist(session)
    ids = [make_email(session, therapist_id=therapist_id) for _ in range(150)]
    before = email_rows(session)
    smtp_sink.handler.go_down_on_data = 11  # 10 accepted, then the port closes

    result = send_emails(smtp_ctx)

    assert result.smtp_unavailable
    assert (result.sent, result.retry_later, result.left_queued) == (10, 1, 139)
    rows = email_rows(session)
    statuses = Counter((row.status, row.retry_count) for row in rows.values())
    assert statuses == {("sent", 0): 10, ("queued", 1): 1, ("queued", 0): 139}
    assert all(rows[i].message_id == before[i].message_id for i in ids)
    assert all(row.sending_started_at is None for row in rows.values())
    delivered = {m["Message-ID"] for m in smtp_sink.handler.messages()}
    assert delivered == {row.message_id for row in rows.values() if row.status == "sent"}


def test_an_address_smtp_cannot_carry_fails_that_email_not_the_run(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    """A non-ASCII address (no SMTPUTF8 here) would stop every run if it raised: it fails."""
    therapist = make_therapist(session)
    first = make_email(session, therapist_id=therapist, recipient_email="a@example.org")
    unsendable = make_email(session, therapist_id=therapist, recipient_email="müller@example.org")
    last = make_email(session, therapist_id=therapist, recipient_email="b@example.org")

    result = send_emails(smtp_ctx)

    assert (result.sent, result.failed) == (2, 1)
    rows = email_rows(session)
    assert rows[unsendable].status == "failed"
    assert "müller@example.org" not in rows[unsendable].error_message  # no address in logs
    assert rows[first].status == rows[last].status == "sent"
    assert send_emails(smtp_ctx).failed == 0


def test_a_line_break_from_an_import_fails_that_email_and_the_others_go_out(
    app, session, smtp_settings, smtp_sink
):
    """A therapist imported with a stray line break in the name and another in the address:
    ``batch-emails`` writes their emails, the real ``comm send-emails`` run fails exactly those
    two with a reason, sends the rest, and no message that arrives has a header block that
    ends early (Subject, Date and Message-ID all in the headers)."""
    make_placement_request(session, therapist_id=make_therapist(session, nachname="Heil\nmann"))
    make_placement_request(
        session, therapist_id=make_therapist(session, email="kurz@example.org\nBcc: x@evil.test")
    )
    fine = [make_therapist(session) for _ in range(2)]
    for therapist in fine:
        make_placement_request(session, therapist_id=therapist)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["comm", "batch-emails"]).exit_code == 0

    result = runner.invoke(args=["comm", "send-emails"])

    assert result.exit_code == 0, result.output
    assert "2 sent" in result.output and "2 failed" in result.output
    rows = list(email_rows(session).values())
    failed = [row for row in rows if row.status == "failed"]
    assert len(failed) == 2 and all("line break" in row.error_message for row in failed)
    assert all(
        "Heil" not in row.error_message and "evil" not in row.error_message for row in failed
    )
    delivered = smtp_sink.handler.messages()
    assert len(delivered) == 2
    for message in delivered:
        assert {"Subject", "Date", "Message-ID", "From", "To"} <= set(message.keys())
        assert "Bcc" not in message and "evil" not in str(message["To"])


def test_every_email_leaves_with_the_senders_footer_from_and_reply_to(
    app, session, smtp_ctx, smtp_settings, smtp_sink
):
    """A batching email and one written by staff (through the API): the footer is added when
    they are sent, to both parts; what is stored stays what was written."""
    from tests.conftest import ApiClient

    queue_batch_emails(smtp_ctx, therapists=1)
    staff_therapist = make_therapist(session, email="staff-written@example.org")
    created = ApiClient(app.test_client()).post(
        "/api/emails",
        json={
            "therapist_id": staff_therapist,
            "subject": "Rückfrage zu Ihrer Antwort",
            "body_text": "Guten Tag,\nkurze Rückfrage.",
            "body_html": "<p>Guten Tag,<br>kurze Rückfrage.</p>",
            "placement_request_ids": [],
            "status": "queued",
        },
    )
    assert created.status_code == 201, created.get_json()
    staff_id = created.get_json()["id"]
    text_footer, html_footer = footer(smtp_settings.sender)

    assert send_emails(smtp_ctx).sent == 2

    received = {item.rcpt_tos[0]: item.message for item in smtp_sink.handler.received}
    staff = received.pop("staff-written@example.org")
    [batching] = received.values()
    for message in (batching, staff):
        assert message["From"].addresses[0].display_name == "Psychotherapie-Vermittlung (Demo)"
        assert message["From"].addresses[0].addr_spec == "vermittlung@example.org"
        assert message["Reply-To"].addresses[0].addr_spec == "antwort@example.org"
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
        assert text.endswith("\n\n" + text_footer)
        assert html_footer in html and 'name="viewport"' in html
        assert "Musterstraße 1, 10115 Berlin" in text and "Erika Mustermann" in text
    assert staff["Subject"] == f"Rückfrage zu Ihrer Antwort [Vorgang {staff_id}]"
    assert staff.get_body(("plain",)).get_content().startswith("Guten Tag,\r\nkurze Rückfrage.")
    stored = session.execute(sa.select(Email.body_text).where(Email.id == staff_id)).scalar_one()
    assert stored == "Guten Tag,\nkurze Rückfrage."


def test_the_subject_carries_the_email_id_next_to_the_stored_message_id(
    session, smtp_ctx, smtp_settings, smtp_sink
):
    queue_batch_emails(smtp_ctx, therapists=2)
    stored = dict(session.execute(sa.select(Email.message_id, Email.id)).all())

    send_emails(smtp_ctx)

    for message in smtp_sink.handler.messages():
        email_id = stored[message["Message-ID"]]
        assert message["Subject"].endswith(f" [Vorgang {email_id}]")


def test_a_queued_email_to_an_address_that_bounced_since_fails_unsent_rule_6(
    session, clock, smtp_ctx, smtp_settings, smtp_sink
):
    """A permanent bounce of an earlier email marks the address undeliverable; an email
    queued to it before the bounce came is not sent: it fails saying since when, and its
    request goes by phone like a bounced email's. One written into the queue after the mark
    (by another service: this one refuses to, decision 103) and one to another address are
    sent."""
    therapist_id = make_therapist(session, email="praxis.alt@example.com")
    request_id = make_placement_request(session, therapist_id=therapist_id)
    make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        sent_at=NOW_UTC - timedelta(days=8),
        recipient_email="praxis.alt@example.com",
        message_id="<first@example.org>",
    )
    before_bounce = make_email(
        session,
        therapist_id=therapist_id,
        batch_id="B1",
        recipient_email="Praxis.Alt@example.com ",
        queued_at=NOW_UTC - timedelta(hours=1),
        placement_request_ids=(request_id,),
    )
    other = make_therapist(session)
    elsewhere = make_email(session, therapist_id=other, queued_at=NOW_UTC - timedelta(hours=1))
    bounce = samples.postfix_bounce("<first@example.org>", recipient="praxis.alt@example.com")
    store_messages(smtp_ctx, [parse_message(bounce)])
    clock.instant = DEFAULT_NOW + timedelta(minutes=5)
    after_bounce = make_email(
        session,
        therapist_id=therapist_id,
        recipient_email="praxis.alt@example.com",
        queued_at=NOW_UTC + timedelta(minutes=5),
    )

    result = send_emails(smtp_ctx)

    assert (result.undeliverable, result.sent, result.failed) == ([before_bounce], 2, 0)
    assert "1 failed unsent (address undeliverable since they were queued)" in result.summary()
    rows = email_rows(session)
    assert rows[before_bounce].status == "failed"
    assert rows[before_bounce].error_message.startswith(
        "Not sent: the address Praxis.Alt@example.com  is undeliverable since 30.11.2026 "
    )
    assert "Bounced (5.1.1)" in rows[before_bounce].error_message
    assert rows[elsewhere].status == rows[after_bounce].status == "sent"
    assert len(smtp_sink.handler.received) == 2
    # Rule 6: the request of the email that never went out goes on a call.
    batch = batch_emails(smtp_ctx)
    assert (batch.emails_queued, batch.calls_scheduled, batch.requests_called) == (0, 1, 1)


def test_no_queued_email_offers_a_placed_patient(session, smtp_ctx, smtp_settings, smtp_sink):
    """An acceptance takes the patient's other requests off unsent emails; one that slipped
    past it (another writer, a race) is taken off before sending, as the acceptance would."""
    placed = make_patient(session)
    accepting = make_therapist(session)
    make_placement_request(session, therapist_id=accepting, patient_id=placed, status="accepted")
    batching, staff, staff_alone = (make_therapist(session) for _ in range(3))
    offered = [
        make_placement_request(session, therapist_id=t, patient_id=placed)
        for t in (batching, staff, staff_alone)
    ]
    waiting = make_placement_request(session, therapist_id=batching)
    other = make_placement_request(session, therapist_id=staff)
    batch_email = make_email(
        session, therapist_id=batching, batch_id="B1", placement_request_ids=(offered[0], waiting)
    )
    staff_email = make_email(session, therapist_id=staff, placement_request_ids=(offered[1], other))
    lone_email = make_email(session, therapist_id=staff_alone, placement_request_ids=(offered[2],))
    fine_email = make_email(session, therapist_id=make_therapist(session))

    result = send_emails(smtp_ctx)

    assert result.sent == 1 and len(smtp_sink.handler.received) == 1
    assert result.withdrawn.ids == {"patient_placed": [batch_email, lone_email]}
    assert "(2 patient placed elsewhere)" in result.summary()
    rows = email_rows(session)
    assert batch_email not in rows and lone_email not in rows
    assert rows[fine_email].status == "sent"
    # The staff email keeps its other request and goes back to staff to correct the text.
    assert rows[staff_email].status == "draft"
    kept = (
        session.execute(
            sa.select(EmailBatch.placement_request_id).where(EmailBatch.email_id == staff_email)
        )
        .scalars()
        .all()
    )
    assert kept == [other]
    notes = session.execute(
        sa.select(Email.follow_up_notes).where(Email.id == staff_email)
    ).scalar_one()
    assert f"Anfrage {offered[1]} entfernt" in notes
    # The batching email's other request waits for a fresh email.
    batch = batch_emails(smtp_ctx)
    assert (batch.emails_queued, batch.requests_batched) == (1, 1)
