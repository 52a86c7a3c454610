"""schedule-follow-ups (rule 7, with 9, 10 and 12) and run-daily."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from communication_service.models import Email, PhoneCall, PhoneCallBatch, PlacementRequest
from communication_service.services.follow_ups import schedule_follow_ups
from tests.concurrency import at_once
from tests.conftest import BERLIN, DEFAULT_NOW
from tests.factories import make_email, make_patient, make_placement_request, make_therapist
from tests.smtp_sink import free_port

TODAY = DEFAULT_NOW.date()  # Monday 2026-11-30


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def sent_days_ago(days: int, hour: int = 23) -> datetime:
    """A sent_at (stored UTC) on the Berlin calendar day ``days`` before today."""
    day = TODAY - timedelta(days=days)
    return utc(datetime(day.year, day.month, day.day, hour, 30, tzinfo=BERLIN))


def sent_email(session, therapist_id: int, requests: int = 2, days_ago: int = 7, **values):
    request_ids = tuple(
        make_placement_request(session, therapist_id=therapist_id) for _ in range(requests)
    )
    values.setdefault("status", "sent")
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        sent_at=sent_days_ago(days_ago),
        placement_request_ids=request_ids,
        **values,
    )
    return email_id, list(request_ids)


def follow_up_calls(session) -> list[sa.Row]:
    return session.execute(
        sa.select(
            PhoneCall.id,
            PhoneCall.therapist_id,
            PhoneCall.follow_up_email_id,
            PhoneCall.scheduled_date,
            PhoneCall.scheduled_time,
            PhoneCall.status,
            PhoneCall.notes,
        ).order_by(PhoneCall.id)
    ).all()


def carried(session, call_id: int) -> list[int]:
    return session.scalars(
        sa.select(PhoneCallBatch.placement_request_id)
        .where(PhoneCallBatch.phone_call_id == call_id)
        .order_by(PhoneCallBatch.priority)
    ).all()


def test_unanswered_email_becomes_one_call_with_its_open_requests(session, ctx):
    therapist_id = make_therapist(session)
    email_id, (first, second, closed) = sent_email(session, therapist_id, requests=3)
    session.execute(
        sa.update(PlacementRequest).where(PlacementRequest.id == closed).values(status="accepted")
    )
    session.commit()

    result = schedule_follow_ups(ctx)

    assert (result.emails_due, result.calls_scheduled, result.requests_called) == (1, 1, 2)
    [call] = follow_up_calls(session)
    assert (call.therapist_id, call.follow_up_email_id, call.status) == (
        therapist_id,
        email_id,
        "scheduled",
    )
    assert (call.scheduled_date, call.scheduled_time.strftime("%H:%M")) == (TODAY, "09:00")
    assert f"E-Mail {email_id} vom 23.11.2026" in call.notes
    assert carried(session, call.id) == [first, second]


def test_not_before_follow_up_after_days_calendar_days(session, clock, ctx):
    therapist_id = make_therapist(session)
    sent_email(session, therapist_id, days_ago=6)  # Tuesday last week, 23:30
    assert schedule_follow_ups(ctx).calls_scheduled == 0
    clock.instant = DEFAULT_NOW + timedelta(days=1)
    assert schedule_follow_ups(ctx).calls_scheduled == 1


def test_an_answered_email_gets_no_call(session, ctx):
    sent_email(session, make_therapist(session), response_received=True)
    assert schedule_follow_ups(ctx).emails_due == 0
    assert follow_up_calls(session) == []


@pytest.mark.parametrize("status", ["queued", "sending", "failed", "draft"])
def test_only_sent_emails_are_followed_up(session, ctx, status):
    sent_email(session, make_therapist(session), status=status)
    assert schedule_follow_ups(ctx).emails_due == 0


def test_never_twice_for_the_same_email_even_after_the_call_was_canceled(session, clock, ctx):
    sent_email(session, make_therapist(session))
    assert schedule_follow_ups(ctx).calls_scheduled == 1
    again = schedule_follow_ups(ctx)
    assert (again.emails_due, again.calls_scheduled) == (0, 0)
    session.execute(sa.update(PhoneCall).values(status="canceled"))
    session.commit()
    clock.instant = DEFAULT_NOW + timedelta(days=3)
    assert schedule_follow_ups(ctx).calls_scheduled == 0
    assert len(follow_up_calls(session)) == 1


def test_requests_already_on_a_scheduled_call_are_left_out(session, ctx):
    therapist_id = make_therapist(session)
    _, (on_call, waiting) = sent_email(session, therapist_id)
    call_id = session.execute(
        sa.insert(PhoneCall.__table__)
        .values(
            therapist_id=therapist_id,
            scheduled_date=date(2026, 12, 3),
            scheduled_time=datetime(2026, 1, 1, 11, 0).time(),
        )
        .returning(PhoneCall.id)
    ).scalar_one()
    session.execute(
        sa.insert(PhoneCallBatch.__table__).values(
            phone_call_id=call_id, placement_request_id=on_call
        )
    )
    session.commit()
    schedule_follow_ups(ctx)
    follow_up = [c for c in follow_up_calls(session) if c.follow_up_email_id]
    assert len(follow_up) == 1 and carried(session, follow_up[0].id) == [waiting]


def test_several_due_emails_of_one_therapist_give_one_call(session, ctx):
    therapist_id = make_therapist(session)
    older, older_requests = sent_email(session, therapist_id, days_ago=15)
    _, newer_requests = sent_email(session, therapist_id, days_ago=8)

    result = schedule_follow_ups(ctx)

    assert (result.emails_due, result.calls_scheduled) == (2, 1)
    [call] = follow_up_calls(session)
    assert call.follow_up_email_id == older
    assert carried(session, call.id) == older_requests + newer_requests
    assert schedule_follow_ups(ctx).calls_scheduled == 0


def test_no_follow_up_for_blocked_or_cooling_therapists(session, ctx):
    sent_email(session, make_therapist(session, status="blocked"))
    cooling = make_therapist(session)
    sent_email(session, cooling)
    make_placement_request(
        session,
        therapist_id=cooling,
        patient_id=make_patient(session),
        status="rejected",
        response_date=TODAY - timedelta(days=5),
    )
    assert schedule_follow_ups(ctx).emails_due == 0
    assert follow_up_calls(session) == []


def test_emails_settled_otherwise_are_neither_due_nor_skipped_day_after_day(session, clock, ctx):
    """An email whose requests were all decided, placed elsewhere or settled on a call that
    ended after it went out needs no follow-up; it is not counted as skipped either (the
    count grew every day). An email waiting for a request to become due still is."""
    decided, [decided_request] = sent_email(session, make_therapist(session), requests=1)
    by_phone_therapist = make_therapist(session)
    by_phone, by_phone_requests = sent_email(session, by_phone_therapist)
    for request_id, status in zip(by_phone_requests, ("completed", "failed"), strict=True):
        call_id = session.execute(
            sa.insert(PhoneCall.__table__)
            .values(
                therapist_id=by_phone_therapist,
                scheduled_date=TODAY - timedelta(days=2),
                scheduled_time=datetime(2026, 1, 1, 9, 0).time(),
                status=status,
                created_at=utc(DEFAULT_NOW - timedelta(days=3)),
            )
            .returning(PhoneCall.id)
        ).scalar_one()
        session.execute(
            sa.insert(PhoneCallBatch.__table__).values(
                phone_call_id=call_id, placement_request_id=request_id
            )
        )
    blocked, [blocked_request] = sent_email(
        session, make_therapist(session, status="blocked"), requests=1
    )
    without_requests, _ = sent_email(session, make_therapist(session), requests=0)
    not_due, [not_due_request] = sent_email(session, make_therapist(session), requests=1)
    session.execute(
        sa.update(PlacementRequest)
        .where(PlacementRequest.id.in_([decided_request, blocked_request]))
        .values(status="rejected")
    )
    session.execute(
        sa.update(PlacementRequest)
        .where(PlacementRequest.id == not_due_request)
        .values(next_contact_after=TODAY + timedelta(days=3))
    )
    session.commit()

    for day in range(3):
        clock.instant = DEFAULT_NOW + timedelta(days=day)
        result = schedule_follow_ups(ctx)
        assert (result.emails_due, result.calls_scheduled) == (0, 0)
        assert result.skipped.ids == {"no_request_due": [not_due]}
    assert not {decided, by_phone, blocked, without_requests} & {
        call.follow_up_email_id for call in follow_up_calls(session)
    }
    clock.instant = DEFAULT_NOW + timedelta(days=3)
    assert schedule_follow_ups(ctx).calls_scheduled == 1  # its request is due now


def test_potentially_available_therapists_get_the_earlier_slots(session, ctx):
    plain = make_therapist(session)
    flagged = make_therapist(session, potentially_available=True)
    sent_email(session, plain)
    sent_email(session, flagged)
    schedule_follow_ups(ctx)
    times = {c.therapist_id: c.scheduled_time.strftime("%H:%M") for c in follow_up_calls(session)}
    assert times == {flagged: "09:00", plain: "09:05"}


def test_without_a_free_slot_the_email_waits_for_a_later_run(session, ctx):
    therapist_id = make_therapist(session, telefonische_erreichbarkeit={})
    sent_email(session, therapist_id)
    result = schedule_follow_ups(ctx)
    assert (result.calls_scheduled, result.calls_not_booked.counts()) == (
        0,
        {"no_telephone_hours": 1},
    )
    session.execute(
        sa.text(
            "UPDATE therapist_service.therapists SET telefonische_erreichbarkeit = "
            '\'{"friday": [{"start": "14:00", "end": "15:00"}]}\''
        )
    )
    session.commit()
    assert schedule_follow_ups(ctx).calls_scheduled == 1


def test_a_response_cancels_the_scheduled_follow_up_rule_10(client, session, ctx):
    therapist_id = make_therapist(session)
    email_id, _ = sent_email(session, therapist_id)
    schedule_follow_ups(ctx)
    [call] = follow_up_calls(session)
    response = client.put(f"/api/emails/{email_id}/response", json={"response_content": "Nein"})
    assert response.get_json()["canceled_follow_up_call_ids"] == [call.id]
    session.expire_all()
    assert follow_up_calls(session)[0].status == "canceled"
    assert schedule_follow_ups(ctx).calls_scheduled == 0


def test_two_runs_at_once_create_each_follow_up_once(app, session, ctx):
    therapist_ids = [
        make_therapist(
            session,
            telefonische_erreichbarkeit={
                day: [{"start": "08:00", "end": "18:00"}]
                for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
            },
        )
        for _ in range(12)
    ]
    email_ids = [sent_email(session, therapist_id)[0] for therapist_id in therapist_ids]
    results = at_once(app, ctx, schedule_follow_ups)

    assert sorted(r.calls_scheduled for r in results) == [0, 12]
    assert sorted(c.follow_up_email_id for c in follow_up_calls(session)) == email_ids


def test_cli_schedule_follow_ups(app, session):
    sent_email(session, make_therapist(session))
    result = app.test_cli_runner().invoke(
        args=["comm", "schedule-follow-ups", "--now", "2026-12-01T10:00:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "schedule-follow-ups: 1 follow-up calls scheduled carrying 2 requests "
        "of 1 unanswered emails"
    )
    [call] = follow_up_calls(session)
    assert (call.scheduled_date, call.scheduled_time.strftime("%H:%M")) == (
        date(2026, 12, 1),
        "10:00",
    )


def test_cli_run_daily_batches_sends_and_follows_up(app, session, smtp_settings, smtp_sink):
    therapist_id = make_therapist(session)
    request_ids = [make_placement_request(session, therapist_id=therapist_id) for _ in range(2)]
    runner = app.test_cli_runner()

    first = runner.invoke(args=["comm", "run-daily", "--now", "2026-11-30T06:00:00"])
    assert first.exit_code == 0, first.output
    line = first.output.strip()
    assert "\n" not in line and line.startswith("run-daily: batch-emails: 1 emails queued")
    assert "send-emails: 1 sent" in line and "schedule-follow-ups: 0 follow-up" in line
    assert len(smtp_sink.handler.received) == 1

    week_later = runner.invoke(args=["comm", "run-daily", "--now", "2026-12-07T06:00:00"])
    assert week_later.exit_code == 0, week_later.output
    assert "schedule-follow-ups: 1 follow-up calls scheduled carrying 2 requests" in (
        week_later.output
    )
    assert "batch-emails: 0 emails queued" in week_later.output
    [call] = follow_up_calls(session)
    assert carried(session, call.id) == request_ids
    assert call.scheduled_date == date(2026, 12, 7)

    again = runner.invoke(args=["comm", "run-daily", "--now", "2026-12-07T06:05:00"])
    assert "0 emails queued" in again.output and "0 sent" in again.output
    assert "0 follow-up calls" in again.output
    assert len(smtp_sink.handler.received) == 1


def test_cli_run_daily_exits_1_when_smtp_is_down_and_still_follows_up(
    app, session, smtp_settings, monkeypatch
):
    monkeypatch.setitem(app.extensions, "settings", smtp_settings.replace(smtp_port=free_port()))
    sent_email(session, make_therapist(session))
    make_placement_request(session, therapist_id=make_therapist(session))
    result = app.test_cli_runner().invoke(args=["comm", "run-daily"])
    assert result.exit_code == 1
    assert "SMTP server unavailable" in result.output
    assert "1 follow-up calls scheduled" in result.output
    assert session.execute(sa.select(Email.status).where(Email.status == "queued")).first()
