"""batch-emails: rules 4, 5, 9 and 12, set-based, idempotent, safe when run twice at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from communication_service.extensions import db
from communication_service.models import Email, EmailBatch, PhoneCall, PhoneCallBatch, Therapist
from communication_service.services.batching import batch_emails
from communication_service.services.inbound_emails import store_messages
from communication_service.services.inbound_mail import parse_message
from tests import mail_samples as samples
from tests.concurrency import at_once
from tests.conftest import BERLIN, DEFAULT_NOW, with_settings
from tests.factories import (
    make_email,
    make_patient,
    make_placement_request,
    make_therapist,
)

TODAY = DEFAULT_NOW.date()


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def batches_by_therapist(session) -> dict[int, list[int]]:
    """therapist_id → placement request ids of its queued emails, in priority order."""
    rows = session.execute(
        sa.select(Email.therapist_id, EmailBatch.placement_request_id)
        .join(EmailBatch, EmailBatch.email_id == Email.id)
        .where(Email.status == "queued")
        .order_by(Email.therapist_id, Email.id, EmailBatch.priority)
    ).all()
    result: dict[int, list[int]] = {}
    for therapist_id, request_id in rows:
        result.setdefault(therapist_id, []).append(request_id)
    return result


def request(session, therapist_id: int, startdatum: date = date(2026, 1, 1), **values) -> int:
    patient_id = make_patient(session, startdatum=startdatum)
    return make_placement_request(
        session, therapist_id=therapist_id, patient_id=patient_id, **values
    )


def test_one_queued_email_per_therapist_ranked_by_startdatum_and_capped(session, ctx, settings):
    therapist_id = make_therapist(session)
    # 12 requests, created in an order that differs from the waiting order.
    starts = [date(2026, 1, 1) + timedelta(days=(i * 7) % 12) for i in range(12)]
    ids = [request(session, therapist_id, start) for start in starts]
    same_day = request(session, therapist_id, date(2026, 1, 1))  # tie → request id decides
    by_wait = sorted(zip([*starts, date(2026, 1, 1)], [*ids, same_day], strict=True))

    result = batch_emails(ctx)

    assert (result.emails_queued, result.requests_batched) == (1, 10)
    email = session.execute(sa.select(Email)).scalar_one()
    assert email.status == "queued"
    assert email.queued_at == utc(DEFAULT_NOW) and email.next_attempt_at == utc(DEFAULT_NOW)
    assert email.message_id and email.batch_id == result.batch_id
    assert email.subject == "Anfrage: Psychotherapieplätze für zehn Personen"
    assert email.sender_email == settings.email_sender
    assert email.sender_name == settings.organisation_name
    priorities = session.execute(
        sa.select(EmailBatch.placement_request_id, EmailBatch.priority).order_by(
            EmailBatch.priority
        )
    ).all()
    assert [p for _, p in priorities] == list(range(1, 11))
    assert [r for r, _ in priorities] == [request_id for _, request_id in by_wait[:10]]


def test_second_run_creates_nothing(session, ctx):
    for _ in range(3):
        therapist_id = make_therapist(session)
        for _ in range(2):
            request(session, therapist_id)
    assert batch_emails(ctx).emails_queued == 3
    again = batch_emails(ctx)
    assert (again.emails_queued, again.requests_batched, again.batch_id) == (0, 0, None)
    assert session.execute(sa.select(sa.func.count()).select_from(Email)).scalar_one() == 3


def test_one_batch_id_per_run_and_distinct_message_ids(session, ctx):
    for _ in range(4):
        request(session, make_therapist(session))
    result = batch_emails(ctx)
    rows = session.execute(sa.select(Email.batch_id, Email.message_id)).all()
    assert {batch for batch, _ in rows} == {result.batch_id}
    assert len({message_id for _, message_id in rows}) == 4


def test_seven_day_rule_counts_sent_emails_by_calendar_day(session, ctx):
    therapist_id = make_therapist(session)
    make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        # Tuesday of last week, late in the evening Berlin time: 6 calendar days ago.
        sent_at=utc(datetime(2026, 11, 24, 23, 30, tzinfo=BERLIN)),
    )
    request(session, therapist_id)
    assert batch_emails(ctx).emails_queued == 0
    # Monday of last week (7 days ago), even later in the day than now: allowed again.
    session.execute(
        sa.update(Email).values(sent_at=utc(datetime(2026, 11, 23, 23, 30, tzinfo=BERLIN)))
    )
    session.commit()
    assert batch_emails(ctx).emails_queued == 1


@pytest.mark.parametrize("status", ["queued", "sending"])
def test_an_email_on_its_way_blocks_the_next_one_whatever_its_age(session, ctx, status):
    therapist_id = make_therapist(session)
    make_email(
        session,
        therapist_id=therapist_id,
        status=status,
        queued_at=utc(DEFAULT_NOW - timedelta(days=30)),
    )
    request(session, therapist_id)
    assert batch_emails(ctx).emails_queued == 0


@pytest.mark.parametrize("status", ["draft", "failed"])
def test_drafts_and_failed_emails_do_not_count_for_the_interval(session, ctx, status):
    therapist_id = make_therapist(session)
    make_email(session, therapist_id=therapist_id, status=status)
    request(session, therapist_id)
    assert batch_emails(ctx).emails_queued == 1


def test_requests_wait_for_the_next_run_after_the_interval(session, clock, ctx):
    therapist_id = make_therapist(session)
    ids = [request(session, therapist_id, date(2026, 1, 1) + timedelta(days=i)) for i in range(13)]
    batch_emails(ctx)
    session.execute(sa.update(Email).values(status="sent", sent_at=utc(DEFAULT_NOW)))
    session.commit()
    clock.instant = DEFAULT_NOW + timedelta(days=6)
    assert batch_emails(ctx).emails_queued == 0
    clock.instant = DEFAULT_NOW + timedelta(days=7)
    result = batch_emails(ctx)
    assert (result.emails_queued, result.requests_batched) == (1, 3)
    first, second = session.scalars(sa.select(Email.id).order_by(Email.id)).all()
    carried = session.execute(
        sa.select(EmailBatch.email_id, EmailBatch.placement_request_id).order_by(
            EmailBatch.email_id, EmailBatch.priority
        )
    ).all()
    assert [r for e, r in carried if e == first] == ids[:10]
    assert [r for e, r in carried if e == second] == ids[10:]


def test_only_open_due_never_emailed_requests_of_active_therapists(session, ctx):
    therapist_id = make_therapist(session)
    due = request(session, therapist_id)
    due_today = request(session, therapist_id, next_contact_after=TODAY)
    request(session, therapist_id, next_contact_after=TODAY + timedelta(days=1))
    request(session, therapist_id, status="in_progress")
    request(session, therapist_id, status="accepted")
    already = request(session, therapist_id)
    make_email(
        session, therapist_id=therapist_id, status="failed", placement_request_ids=(already,)
    )
    blocked = make_therapist(session, status="blocked")
    request(session, blocked)
    inactive = make_therapist(session, status="inactive")
    request(session, inactive)
    no_address = make_therapist(session, email="  ")
    request(session, no_address)

    batch_emails(ctx)

    assert batches_by_therapist(session) == {therapist_id: [due, due_today]}


def test_requests_on_a_live_call_are_not_emailed(session, ctx):
    therapist_id = make_therapist(session)
    on_call = request(session, therapist_id)
    on_canceled_call = request(session, therapist_id)
    for request_id, status in ((on_call, "scheduled"), (on_canceled_call, "canceled")):
        call_id = session.execute(
            sa.text(
                "INSERT INTO communication_service.phone_calls "
                "(therapist_id, scheduled_date, scheduled_time, status) "
                "VALUES (:t, '2026-12-01', '09:00', :s) RETURNING id"
            ),
            {"t": therapist_id, "s": status},
        ).scalar_one()
        session.execute(
            sa.text(
                "INSERT INTO communication_service.phone_call_batches "
                "(phone_call_id, placement_request_id) VALUES (:c, :r)"
            ),
            {"c": call_id, "r": request_id},
        )
    session.commit()
    batch_emails(ctx)
    assert batches_by_therapist(session) == {therapist_id: [on_canceled_call]}


def test_cooling_period_after_a_rejection_rule_9(session, clock, ctx):
    therapist_id = make_therapist(session)
    request(session, therapist_id, status="rejected", response_date=TODAY - timedelta(days=27))
    waiting = request(session, therapist_id)
    assert batch_emails(ctx).emails_queued == 0
    clock.instant = DEFAULT_NOW + timedelta(days=1)  # 28 days after the rejection
    assert batch_emails(ctx).emails_queued == 1
    assert batches_by_therapist(session) == {therapist_id: [waiting]}


def test_cooling_period_also_follows_next_contact_after_of_a_rejection(session, ctx):
    therapist_id = make_therapist(session)
    request(session, therapist_id, status="rejected", next_contact_after=TODAY + timedelta(days=3))
    request(session, therapist_id)
    assert batch_emails(ctx).emails_queued == 0


def test_potentially_available_therapists_come_first_rule_12(session, ctx):
    plain = make_therapist(session)
    flagged = make_therapist(session, potentially_available=True)
    request(session, plain)
    request(session, flagged)
    batch_emails(ctx)
    ordered = session.scalars(sa.select(Email.therapist_id).order_by(Email.id)).all()
    assert ordered == [flagged, plain]


def two_patients_for_dr_roth(session) -> tuple[int, int]:
    """Dr. Roth's requests: (older patient's, younger patient's); the younger waited longer."""
    therapist_id = make_therapist(session, anrede="Herr", titel="Dr.", nachname="Roth")
    older = make_patient(
        session,
        vorname="Eva",
        nachname="Maier",
        geburtsdatum=date(1980, 12, 1),
        diagnose="F33.1",
        startdatum=date(2026, 2, 1),
    )
    younger = make_patient(
        session,
        vorname="<b>Tom</b>",
        nachname="Ötzi",
        geburtsdatum=date(2000, 11, 30),
        diagnose="F41.1",
        startdatum=date(2026, 1, 1),
    )
    return (
        make_placement_request(session, therapist_id=therapist_id, patient_id=older),
        make_placement_request(session, therapist_id=therapist_id, patient_id=younger),
    )


def test_content_lists_first_name_initial_age_and_a_reference_in_rank_order_rule_5(
    session, ctx, settings
):
    eva, tom = two_patients_for_dr_roth(session)

    batch_emails(ctx)

    email = session.execute(sa.select(Email)).scalar_one()
    text, html = email.body_text, email.body_html
    assert text.startswith("Sehr geehrter Herr Dr. Roth,")
    assert (
        f"1. <b>Tom</b> Ö., 26 Jahre (Anfrage Nr. {tom})\n2. Eva M., 45 Jahre (Anfrage Nr. {eva})\n"
    ) in text
    assert (
        f'<li style="margin: 0 0 8px;">&lt;b&gt;Tom&lt;/b&gt; Ö., 26 Jahre '
        f"(Anfrage&nbsp;Nr.&nbsp;{tom})</li>" in html
    )  # escaped
    assert html.index("Tom") < html.index("Eva")
    for body in (text, html):
        assert "Maier" not in body and "Ötzi" not in body and "1980" not in body
        # The diagnosis is health data: not in the email by default (EMAIL_INCLUDE_DIAGNOSIS).
        assert "Diagnose" not in body and "F41.1" not in body and "F33.1" not in body
        assert "Mit freundlichen Grüßen" in body and settings.contact_person in body
    assert email.recipient_name == "Dr. Test Roth"


def test_the_diagnosis_is_in_the_email_only_with_email_include_diagnosis(session, ctx, settings):
    eva, tom = two_patients_for_dr_roth(session)

    batch_emails(with_settings(ctx, settings.replace(email_include_diagnosis="true")))

    email = session.execute(sa.select(Email)).scalar_one()
    assert (
        f"1. <b>Tom</b> Ö., 26 Jahre, Diagnose F41.1 (Anfrage Nr. {tom})\n"
        f"2. Eva M., 45 Jahre, Diagnose F33.1 (Anfrage Nr. {eva})\n"
    ) in email.body_text
    assert (
        f'<li style="margin: 0 0 8px;">&lt;b&gt;Tom&lt;/b&gt; Ö., 26 Jahre, Diagnose F41.1 '
        f"(Anfrage&nbsp;Nr.&nbsp;{tom})</li>"
    ) in email.body_html


def one_patient_with_every_fact(session) -> int:
    therapist_id = make_therapist(session, anrede=None, titel="Dipl.-Psych.", vorname="Kim")
    patient_id = make_patient(
        session,
        vorname="Eva",
        nachname="Maier",
        geburtsdatum=date(1980, 12, 1),
        krankenkasse="AOK Bayern",
        plz="80331",
        offen_fuer_gruppentherapie=True,
        zeitliche_verfuegbarkeit={"tuesday": [{"start": "08:00", "end": "10:00"}]},
    )
    return make_placement_request(session, therapist_id=therapist_id, patient_id=patient_id)


def batch_reading(ctx) -> tuple[Email, str]:
    """Run the job; the email it queued and every SQL statement it sent."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        batch_emails(ctx)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    ctx.session.expire_all()
    return ctx.session.execute(sa.select(Email)).scalar_one(), "\n".join(statements)


def test_by_default_one_patient_with_insurance_status_and_nothing_more_is_read(session, ctx):
    request_id = one_patient_with_every_fact(session)

    email, sql = batch_reading(ctx)

    assert email.subject == "Anfrage: Psychotherapieplatz für eine Person"
    assert email.body_text.startswith(
        "Guten Tag Kim Therapeut"  # no anrede: neutral; Dipl.-Psych. is no salutation
    )
    assert f"\n\nEva M., 45 Jahre, gesetzlich versichert (Anfrage Nr. {request_id})\n\n" in (
        email.body_text
    )
    for column in ("plz", "offen_fuer_gruppentherapie", "zeitliche_verfuegbarkeit", "diagnose"):
        assert f"patients.{column}" not in sql  # rule 5: left out, so not even read
    assert "patients.krankenkasse" in sql
    assert "-- " not in email.body_text  # the footer is added when the email is sent


def test_every_fact_the_settings_switch_on(session, ctx, settings):
    request_id = one_patient_with_every_fact(session)
    everything = settings.replace(
        email_include_postcode_area="true",
        email_include_group_therapy="true",
        email_include_preferred_times="true",
        email_include_insurance="false",
    )

    email, sql = batch_reading(with_settings(ctx, everything))

    assert (
        f"\n\nEva M., 45 Jahre, PLZ-Bereich 803xx, offen für Gruppentherapie "
        f"(Anfrage Nr. {request_id})\nbevorzugte Zeiten: Di 08:00\u201310:00\n\n"
    ) in email.body_text
    assert "versichert" not in email.body_text and "80331" not in email.body_text
    assert "patients.krankenkasse" not in sql


def test_statement_count_does_not_grow_with_the_data(app, session, ctx):
    def statements_for(therapists: int) -> int:
        for _ in range(therapists):
            therapist_id = make_therapist(session)
            for _ in range(3):
                request(session, therapist_id)
        count = 0

        def count_statement(*args):
            nonlocal count
            count += 1

        sa.event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            assert batch_emails(ctx).emails_queued == therapists
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count_statement)
        return count

    small = statements_for(2)
    large = statements_for(40)
    assert small == large


def test_two_runs_at_once_create_each_email_once(app, session, ctx):
    therapist_ids = [make_therapist(session) for _ in range(30)]
    for therapist_id in therapist_ids:
        for _ in range(4):
            request(session, therapist_id)
    results = at_once(app, ctx, batch_emails)

    assert sorted(r.emails_queued for r in results) == [0, 30]
    per_therapist = session.execute(
        sa.select(Email.therapist_id, sa.func.count()).group_by(Email.therapist_id)
    ).all()
    assert sorted(per_therapist) == [(t, 1) for t in therapist_ids]
    duplicates = session.execute(
        sa.select(EmailBatch.placement_request_id)
        .group_by(EmailBatch.placement_request_id)
        .having(sa.func.count() > 1)
    ).all()
    assert duplicates == []
    assert session.execute(sa.select(sa.func.count()).select_from(EmailBatch)).scalar_one() == 120


def test_cli_batch_emails_prints_a_summary_and_takes_now(app, session):
    therapist_id = make_therapist(session)
    request(session, therapist_id)
    result = app.test_cli_runner().invoke(
        args=["comm", "batch-emails", "--now", "2026-12-02T07:30:00"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batch-emails: 1 emails queued carrying 1")
    queued_at = session.execute(sa.select(Email.queued_at)).scalar_one()
    assert queued_at == utc(datetime(2026, 12, 2, 7, 30, tzinfo=BERLIN))
    again = app.test_cli_runner().invoke(args=["comm", "batch-emails"])
    assert again.output.startswith("batch-emails: 0 emails queued")


# --- rule 6: therapists without an email address get a call -----------------------------------


def calls(session) -> list[tuple]:
    return session.execute(
        sa.select(
            PhoneCall.id,
            PhoneCall.therapist_id,
            PhoneCall.scheduled_date,
            PhoneCall.scheduled_time,
            PhoneCall.status,
        ).order_by(PhoneCall.id)
    ).all()


def call_requests(session, call_id: int) -> list[int]:
    return session.scalars(
        sa.select(PhoneCallBatch.placement_request_id)
        .where(PhoneCallBatch.phone_call_id == call_id)
        .order_by(PhoneCallBatch.priority)
    ).all()


def test_therapist_without_email_gets_one_call_with_ranked_requests(session, ctx):
    therapist_id = make_therapist(session, email=None)
    later = request(session, therapist_id, date(2026, 5, 1))
    earlier = request(session, therapist_id, date(2026, 2, 1))

    result = batch_emails(ctx)

    assert (result.emails_queued, result.calls_scheduled, result.requests_called) == (0, 1, 2)
    [(call_id, owner, day, at, status)] = calls(session)
    # Monday 08:00 now; telephone hours start at 09:00 the same day (rule 3).
    assert (owner, day, at.strftime("%H:%M"), status) == (
        therapist_id,
        date(2026, 11, 30),
        "09:00",
        "scheduled",
    )
    assert call_requests(session, call_id) == [earlier, later]
    assert session.execute(sa.select(sa.func.count()).select_from(Email)).scalar_one() == 0

    again = batch_emails(ctx)
    assert (again.calls_scheduled, again.requests_called) == (0, 0)
    assert len(calls(session)) == 1


def test_new_requests_wait_while_a_call_is_scheduled(session, ctx):
    therapist_id = make_therapist(session, email=None)
    request(session, therapist_id)
    batch_emails(ctx)
    request(session, therapist_id)
    assert batch_emails(ctx).calls_scheduled == 0
    session.execute(sa.update(PhoneCall).values(status="completed"))
    session.commit()
    assert batch_emails(ctx).calls_scheduled == 1


def test_calls_for_potentially_available_therapists_get_the_earlier_slots(session, ctx):
    plain = make_therapist(session, email=None)
    flagged = make_therapist(session, email=None, potentially_available=True)
    request(session, plain)
    request(session, flagged)
    batch_emails(ctx)
    times = {owner: at.strftime("%H:%M") for _, owner, _, at, _ in calls(session)}
    assert times == {flagged: "09:00", plain: "09:05"}  # one phone line (CALL_LINES=1)


def test_no_free_slot_leaves_the_requests_for_a_later_run(session, ctx):
    no_hours = make_therapist(session, email=None, telefonische_erreichbarkeit={})
    waiting = request(session, no_hours)
    fine = make_therapist(session, email=None)
    request(session, fine)

    result = batch_emails(ctx)

    assert result.calls_scheduled == 1
    assert result.calls_not_booked.ids == {"no_telephone_hours": [no_hours]}
    assert "; 1 not booked now (1 no telephone hours)" in result.summary()
    session.execute(
        sa.update(Therapist)
        .where(Therapist.id == no_hours)
        .values(telefonische_erreichbarkeit={"tuesday": [{"start": "10:00", "end": "11:00"}]})
    )
    session.commit()
    assert batch_emails(ctx).calls_scheduled == 1
    call_id = session.scalar(sa.select(PhoneCall.id).where(PhoneCall.therapist_id == no_hours))
    assert call_requests(session, call_id) == [waiting]


def test_no_call_for_blocked_or_cooling_therapists(session, ctx):
    blocked = make_therapist(session, email=None, status="blocked")
    request(session, blocked)
    cooling = make_therapist(session, email=None)
    request(session, cooling, status="rejected", response_date=TODAY - timedelta(days=3))
    request(session, cooling)
    result = batch_emails(ctx)
    assert (result.calls_scheduled, result.calls_not_booked.counts()) == (0, {})
    assert result.skipped.ids == {"not_active": [blocked], "cooling_period": [cooling]}
    assert calls(session) == []


def test_a_recent_phone_contact_pushes_the_next_call_out(session, ctx):
    therapist_id = make_therapist(session, email=None, letzter_kontakt_telefon=TODAY)
    request(session, therapist_id)
    batch_emails(ctx)
    [(_, _, day, at, _)] = calls(session)
    assert (day, at.strftime("%H:%M")) == (TODAY + timedelta(days=7), "09:00")


def sent_to(session, therapist_id: int, address: str, **values) -> int:
    """A batching email sent to ``address`` eight days ago, Message-ID <first@example.org>."""
    return make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        sent_at=utc(DEFAULT_NOW - timedelta(days=8)),
        recipient_email=address,
        message_id="<first@example.org>",
        **values,
    )


def test_a_bounced_address_gets_a_call_until_the_address_changes_rule_6(session, ctx):
    """A permanent bounce makes the therapist one without an email address; the bounced
    email's requests go on the call too (it never arrived). A new address: emails again."""
    therapist_id = make_therapist(session, email=" Praxis.Alt@example.com")
    bounced_request = request(session, therapist_id, date(2026, 1, 1))
    sent_to(
        session, therapist_id, "Praxis.Alt@example.com", placement_request_ids=(bounced_request,)
    )
    bounce = samples.postfix_bounce("<first@example.org>", recipient="praxis.alt@example.com")
    store_messages(ctx, [parse_message(bounce)])
    new_request = request(session, therapist_id, date(2026, 2, 1))

    result = batch_emails(ctx)

    assert (result.emails_queued, result.calls_scheduled) == (0, 1)
    [(call_id, owner, *_)] = calls(session)
    assert owner == therapist_id
    assert call_requests(session, call_id) == [bounced_request, new_request]

    session.execute(
        sa.update(Therapist).where(Therapist.id == therapist_id).values(email="neu@praxis.example")
    )
    session.commit()
    newest = request(session, therapist_id)
    result = batch_emails(ctx)
    assert result.emails_queued == 1
    email = session.execute(sa.select(Email).where(Email.status == "queued")).scalar_one()
    assert email.recipient_email == "neu@praxis.example"
    assert batches_by_therapist(session) == {therapist_id: [newest]}


def test_a_delayed_delivery_leaves_the_address_usable(session, ctx):
    therapist_id = make_therapist(session, email="praxis.alt@example.com")
    sent_to(session, therapist_id, "praxis.alt@example.com")
    store_messages(ctx, [parse_message(samples.delayed_bounce("<first@example.org>"))])
    request(session, therapist_id)
    result = batch_emails(ctx)
    assert (result.emails_queued, result.calls_scheduled) == (1, 0)
