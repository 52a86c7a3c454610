"""Booking calls on the database (docs/rules.md rules 1-3, 9, 12), without HTTP."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from communication_service.errors import Conflict, NotFound, Unprocessable
from communication_service.models import Email, PhoneCall, PhoneCallBatch
from communication_service.services import scheduling
from communication_service.services.scheduling import CallOrder, schedule_call, schedule_calls
from tests.conftest import BERLIN, with_settings
from tests.factories import make_placement_request, make_therapist

MONDAY = date(2026, 11, 30)  # DEFAULT_NOW is Monday 08:00
TUESDAY = MONDAY + timedelta(days=1)


def calls(session) -> list[tuple]:
    return session.execute(
        sa.select(
            PhoneCall.therapist_id, PhoneCall.scheduled_date, PhoneCall.scheduled_time
        ).order_by(PhoneCall.id)
    ).all()


def count_calls(session) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(PhoneCall)).scalar_one()


def book(ctx, **kwargs) -> int:
    call_id = schedule_call(ctx, **kwargs)
    ctx.session.commit()
    return call_id


def test_automatic_booking_takes_the_earliest_slot_with_its_batches(session, ctx):
    therapist = make_therapist(session)
    first, second = (make_placement_request(session, therapist_id=therapist) for _ in range(2))
    call_id = book(ctx, therapist_id=therapist, placement_request_ids=[second, first])
    call = session.get(PhoneCall, call_id)
    assert (call.scheduled_date, call.scheduled_time, call.duration_minutes) == (
        MONDAY,
        time(9, 0),
        5,
    )
    assert (call.status, call.attempt) == ("scheduled", 1)
    batches = session.execute(
        sa.select(PhoneCallBatch.placement_request_id, PhoneCallBatch.priority).order_by(
            PhoneCallBatch.priority
        )
    ).all()
    assert batches == [(second, 1), (first, 2)]
    # the next call of that therapist goes right after it
    book(ctx, therapist_id=therapist, duration_minutes=10)
    assert calls(session)[-1] == (therapist, MONDAY, time(9, 5))


def test_not_before_moves_the_search_start(session, ctx):
    therapist = make_therapist(session)
    book(ctx, therapist_id=therapist, not_before=date(2026, 12, 3))
    book(
        ctx,
        therapist_id=therapist,
        not_before=datetime(2026, 12, 3, 10, 2, tzinfo=BERLIN),
    )
    assert calls(session) == [
        (therapist, date(2026, 12, 3), time(9, 0)),
        (therapist, date(2026, 12, 3), time(10, 5)),
    ]


def test_not_before_in_the_past_still_means_not_in_the_past(session, clock, ctx):
    therapist = make_therapist(session)
    clock.instant = datetime(2026, 11, 30, 10, 31, tzinfo=BERLIN)
    book(ctx, therapist_id=therapist, not_before=date(2026, 11, 1))
    assert calls(session) == [(therapist, MONDAY, time(10, 35))]


def test_no_slot_within_the_horizon_is_a_conflict(session, ctx, settings):
    therapist = make_therapist(
        session, telefonische_erreichbarkeit={"friday": [{"start": "09:00", "end": "09:05"}]}
    )
    short = settings.replace(scheduling_horizon_days=4)  # Monday .. Thursday
    with pytest.raises(Conflict) as caught:
        schedule_call(with_settings(ctx, short), therapist_id=therapist)
    assert caught.value.code == "no_slot_available"
    session.rollback()
    assert count_calls(session) == 0
    book(with_settings(ctx, settings.replace(scheduling_horizon_days=5)), therapist_id=therapist)
    assert calls(session) == [(therapist, date(2026, 12, 4), time(9, 0))]


def test_public_holidays_are_skipped(session, clock, settings, ctx):
    therapist = make_therapist(
        session, telefonische_erreichbarkeit={"friday": [{"start": "09:00", "end": "09:05"}]}
    )
    clock.instant = datetime(2026, 12, 21, 8, 0, tzinfo=BERLIN)
    book(ctx, therapist_id=therapist)
    book(ctx, therapist_id=therapist)
    assert [c.scheduled_date for c in session.scalars(sa.select(PhoneCall))] == [
        date(2027, 1, 8),  # not Friday 2026-12-25, not Friday 2027-01-01
        date(2027, 1, 15),
    ]
    # Without a holiday calendar the Christmas Friday is a working day.
    session.execute(sa.delete(PhoneCall))
    book(with_settings(ctx, settings.replace(holiday_country="")), therapist_id=therapist)
    assert calls(session) == [(therapist, date(2026, 12, 25), time(9, 0))]


def test_booking_in_a_dst_week_keeps_local_hours(session, clock, ctx):
    therapist = make_therapist(session)
    clock.instant = datetime(2026, 10, 23, 12, 0, tzinfo=BERLIN)  # Friday, CEST, after hours
    book(ctx, therapist_id=therapist)
    assert calls(session) == [(therapist, date(2026, 10, 26), time(9, 0))]  # Monday, CET


@pytest.mark.parametrize("status", ["blocked", "inactive"])
def test_therapists_who_are_not_active_get_no_automatic_call(session, ctx, status):
    therapist = make_therapist(session, status=status)
    with pytest.raises(Conflict) as caught:
        schedule_call(ctx, therapist_id=therapist)
    assert caught.value.code == "therapist_not_active"
    session.rollback()
    assert count_calls(session) == 0


def test_unknown_therapist_and_bad_placement_requests(session, ctx):
    therapist = make_therapist(session)
    other = make_therapist(session)
    own = make_placement_request(session, therapist_id=therapist)
    foreign = make_placement_request(session, therapist_id=other)
    with pytest.raises(NotFound):
        schedule_call(ctx, therapist_id=9999)
    with pytest.raises(Unprocessable) as unknown:
        schedule_call(ctx, therapist_id=therapist, placement_request_ids=[own, 777])
    assert unknown.value.details == {"placement_request_ids": ["Unknown ids: 777."]}
    with pytest.raises(Unprocessable) as of_other:
        schedule_call(ctx, therapist_id=therapist, placement_request_ids=[foreign])
    assert str(foreign) in of_other.value.details["placement_request_ids"][0]
    with pytest.raises(Unprocessable) as duplicate:
        schedule_call(ctx, therapist_id=therapist, placement_request_ids=[own, own])
    assert "Duplicate" in duplicate.value.details["placement_request_ids"][0]
    session.rollback()
    assert count_calls(session) == 0


def test_an_explicit_time_may_not_overlap_the_therapists_own_call(session, ctx):
    therapist = make_therapist(session)
    first = book(
        ctx,
        therapist_id=therapist,
        scheduled_date=TUESDAY,
        scheduled_time=time(10, 0),
        duration_minutes=15,
    )
    with pytest.raises(Conflict) as caught:
        schedule_call(
            ctx,
            therapist_id=therapist,
            scheduled_date=TUESDAY,
            scheduled_time=time(10, 10),
        )
    assert caught.value.code == "slot_taken"
    assert caught.value.details == {"conflicting_call_ids": [first]}
    session.rollback()
    # Back to back is fine, and so is a time outside the telephone hours (staff decide).
    book(
        ctx,
        therapist_id=therapist,
        scheduled_date=TUESDAY,
        scheduled_time=time(10, 15),
    )
    book(
        ctx,
        therapist_id=therapist,
        scheduled_date=TUESDAY,
        scheduled_time=time(18, 0),
    )
    assert count_calls(session) == 3


def test_explicit_times_must_exist_and_not_be_past(session, ctx):
    therapist = make_therapist(session)
    for when, message in [
        ((MONDAY, time(7, 55)), "Must not be in the past."),
        ((date(2027, 3, 28), time(2, 30)), "Does not exist"),
    ]:
        with pytest.raises(Unprocessable) as caught:
            schedule_call(
                ctx,
                therapist_id=therapist,
                scheduled_date=when[0],
                scheduled_time=when[1],
            )
        assert caught.value.details["scheduled_time"][0].startswith(message)
    with pytest.raises(Unprocessable):
        schedule_call(ctx, therapist_id=therapist, scheduled_date=TUESDAY)
    session.rollback()
    assert count_calls(session) == 0


def test_one_phone_line_serialises_calls_across_therapists(session, ctx, settings):
    assert settings.call_lines == 1
    first, second = make_therapist(session), make_therapist(session)
    book(ctx, therapist_id=first, duration_minutes=10)
    book(ctx, therapist_id=second)
    assert calls(session) == [(first, MONDAY, time(9, 0)), (second, MONDAY, time(9, 10))]
    with pytest.raises(Conflict) as caught:
        schedule_call(
            ctx,
            therapist_id=second,
            scheduled_date=MONDAY,
            scheduled_time=time(9, 5),
        )
    assert caught.value.code == "no_line_available"


def test_two_lines_allow_two_overlapping_calls(session, ctx, settings):
    two_lines = settings.replace(call_lines=2)
    therapists = [make_therapist(session) for _ in range(3)]
    for therapist in therapists:
        book(with_settings(ctx, two_lines), therapist_id=therapist)
    assert [c[2] for c in calls(session)] == [time(9, 0), time(9, 0), time(9, 5)]


def test_zero_lines_means_unlimited(session, ctx, settings):
    unlimited = settings.replace(call_lines=0)
    therapists = [make_therapist(session) for _ in range(5)]
    for therapist in therapists:
        book(with_settings(ctx, unlimited), therapist_id=therapist)
    assert {c[2] for c in calls(session)} == {time(9, 0)}


def test_canceled_calls_free_their_slot(session, ctx):
    therapist = make_therapist(session)
    call_id = book(ctx, therapist_id=therapist)
    session.execute(sa.update(PhoneCall).where(PhoneCall.id == call_id).values(status="canceled"))
    session.commit()
    book(ctx, therapist_id=therapist)
    assert calls(session)[-1] == (therapist, MONDAY, time(9, 0))


def reject(session, therapist: int, on: date) -> None:
    make_placement_request(session, therapist_id=therapist, status="rejected", response_date=on)


def test_cooling_period_after_a_rejection(session, ctx, settings):
    cooling = make_therapist(session)
    reject(session, cooling, MONDAY - timedelta(days=27))
    with pytest.raises(Conflict) as caught:
        schedule_call(ctx, therapist_id=cooling)
    assert caught.value.code == "cooling_period"
    assert caught.value.details["until"] == (MONDAY + timedelta(days=1)).isoformat()
    session.rollback()
    # Staff may still choose a time themselves.
    book(
        ctx,
        therapist_id=cooling,
        scheduled_date=MONDAY,
        scheduled_time=time(9, 0),
    )
    # 28 days after the rejection automatic scheduling resumes.
    cooled = make_therapist(session)
    reject(session, cooled, MONDAY - timedelta(days=28))
    book(with_settings(ctx, settings.replace(call_lines=0)), therapist_id=cooled)
    assert calls(session)[-1][0] == cooled


def test_the_exclusion_constraint_is_the_last_guard(session, ctx):
    # A writer that skips the engine's checks still cannot double-book a therapist.
    therapist = make_therapist(session)
    book(ctx, therapist_id=therapist)
    values = {
        "therapist_id": therapist,
        "scheduled_date": MONDAY,
        "scheduled_time": time(9, 0),
        "duration_minutes": 5,
    }
    with pytest.raises(Conflict) as caught:
        scheduling._insert_call(session, values, [])
    assert caught.value.code == "slot_taken"
    session.rollback()
    assert count_calls(session) == 1


def test_one_follow_up_call_per_email(session, ctx):
    therapist = make_therapist(session)
    email_id = session.execute(
        sa.insert(Email.__table__)
        .values(therapist_id=therapist, subject="s", body_text="b", recipient_email="t@x.org")
        .returning(Email.__table__.c.id)
    ).scalar_one()
    book(ctx, therapist_id=therapist, follow_up_email_id=email_id)
    with pytest.raises(Conflict) as caught:
        schedule_call(ctx, therapist_id=therapist, follow_up_email_id=email_id)
    assert caught.value.code == "follow_up_exists"
    session.rollback()
    assert count_calls(session) == 1


def test_jobs_book_potentially_available_therapists_first(session, ctx):
    plain = [make_therapist(session) for _ in range(2)]
    eager = make_therapist(session, potentially_available=True)
    blocked = make_therapist(session, status="blocked")
    results = schedule_calls(
        ctx,
        [CallOrder(plain[0]), CallOrder(blocked), CallOrder(plain[1]), CallOrder(eager)],
    )
    session.commit()
    assert [r.order.therapist_id for r in results] == [eager, plain[0], blocked, plain[1]]
    assert results[2].call_id is None and results[2].error.code == "therapist_not_active"
    # With one line, booking order is slot order: the eager therapist gets 09:00.
    assert calls(session) == [
        (eager, MONDAY, time(9, 0)),
        (plain[0], MONDAY, time(9, 5)),
        (plain[1], MONDAY, time(9, 10)),
    ]


def test_a_failed_booking_in_a_job_does_not_undo_the_others(session, ctx):
    therapist = make_therapist(session)
    email_id = session.execute(
        sa.insert(Email.__table__)
        .values(therapist_id=therapist, subject="s", body_text="b", recipient_email="t@x.org")
        .returning(Email.__table__.c.id)
    ).scalar_one()
    results = schedule_calls(
        ctx,
        [
            CallOrder(therapist, follow_up_email_id=email_id),
            CallOrder(therapist, follow_up_email_id=email_id),  # the unique index refuses it
            CallOrder(therapist),
        ],
    )
    session.commit()
    assert [r.error.code if r.error else "ok" for r in results] == [
        "ok",
        "follow_up_exists",
        "ok",
    ]
    assert count_calls(session) == 2


def test_statements_per_booking_do_not_grow_with_booked_calls(app, session, ctx):
    from communication_service.extensions import db

    therapist = make_therapist(session)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        counts = []
        for _ in range(30):
            statements.clear()
            schedule_call(ctx, therapist_id=therapist)
            counts.append(len(statements))
            session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert set(counts) == {3}  # lock, load, insert


def test_a_call_running_past_midnight_blocks_the_next_morning(session, ctx):
    therapist, other = make_therapist(session), make_therapist(session)
    late = book(
        ctx,
        therapist_id=therapist,
        scheduled_date=TUESDAY,
        scheduled_time=time(23, 50),
        duration_minutes=20,
    )
    wednesday = TUESDAY + timedelta(days=1)
    for who, code in [(therapist, "slot_taken"), (other, "no_line_available")]:
        with pytest.raises(Conflict) as caught:
            schedule_call(
                ctx,
                therapist_id=who,
                scheduled_date=wednesday,
                scheduled_time=time(0, 5),
            )
        assert caught.value.code == code
        session.rollback()
    assert caught.value.details == {"call_lines": 1}
    with pytest.raises(Conflict) as own:
        schedule_call(
            ctx,
            therapist_id=therapist,
            scheduled_date=wednesday,
            scheduled_time=time(0, 5),
        )
    assert own.value.details == {"conflicting_call_ids": [late]}


def test_cooling_follows_the_rejections_next_contact_after_like_the_jobs(session, clock, ctx):
    """Rule 9 has one definition (``contact_rules.cooling_until``): a rejection long ago whose
    ``next_contact_after`` lies ahead blocks automatic scheduling as it blocks batching."""
    therapist = make_therapist(session)
    make_placement_request(
        session,
        therapist_id=therapist,
        status="rejected",
        response_date=MONDAY - timedelta(days=90),
        next_contact_after=MONDAY + timedelta(days=5),
    )
    with pytest.raises(Conflict) as caught:
        schedule_call(ctx, therapist_id=therapist)
    assert caught.value.code == "cooling_period"
    assert caught.value.details["until"] == (MONDAY + timedelta(days=5)).isoformat()
    session.rollback()
    clock.instant = clock.instant + timedelta(days=5)
    book(ctx, therapist_id=therapist)
    assert calls(session)[-1][0] == therapist
