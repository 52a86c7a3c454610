"""``comm demo-data``: a realistic week around today, the same after every run."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from communication_service.models import Email, PhoneCall, Therapist
from tests.factories import make_therapist

SATURDAY = "2026-12-05T09:00:00"
SUNDAY = "2026-12-06T18:30:00"
HOLIDAY = "2026-12-25T07:00:00"  # Christmas Day (and a Friday)


def run_demo(app, *args: str):
    result = app.test_cli_runner().invoke(args=["comm", "demo-data", *args])
    assert result.exit_code == 0, result.output
    return result


def snapshot(session) -> list[tuple]:
    """Every row the demo writes, as text, in id order (so ids must repeat as well)."""
    rows = []
    for table in (
        "therapist_service.therapists",
        "patient_service.patients",
        "matching_service.placement_requests",
        "communication_service.emails",
        "communication_service.email_batches",
        "communication_service.phone_calls",
        "communication_service.phone_call_batches",
    ):
        rows += [
            (table, *row)
            for row in session.execute(
                sa.text(
                    f"SELECT id, (to_jsonb(t) - 'created_at' - 'updated_at' - 'message_id')::text "
                    f"FROM {table} t ORDER BY id"
                )
            )
        ]
    return rows


def test_twice_gives_the_same_rows_with_the_same_ids(app, session):
    run_demo(app)
    first = snapshot(session)
    run_demo(app)
    assert snapshot(session) == first
    # New rows after the fixed ids get fresh ids (the sequences moved past them).
    assert make_therapist(session) == len(session.scalars(sa.select(Therapist)).all())


def test_refuses_a_database_holding_other_rows(app, session):
    make_therapist(session, vorname="Echte", nachname="Therapeutin")
    result = app.test_cli_runner().invoke(args=["comm", "demo-data"])
    assert result.exit_code == 1
    assert (
        "nothing was changed" in result.output and "therapist_service.therapists" in result.output
    )
    assert session.execute(sa.select(sa.func.count()).select_from(Therapist)).scalar_one() == 1


def test_therapists_of_every_kind(app, session):
    run_demo(app)
    therapists = session.scalars(sa.select(Therapist).order_by(Therapist.id)).all()
    assert any(set(t.nachname) & set("äöüß") for t in therapists)
    assert [t.id for t in therapists if t.email is None] == [3]
    assert [t.id for t in therapists if t.potentially_available] == [1]
    assert [t.id for t in therapists if t.status == "blocked"] == [4]
    assert len({str(t.telefonische_erreichbarkeit) for t in therapists}) >= 4
    # Written as the platform's services write them: enum names, status and date always set.
    for table in (
        "therapist_service.therapists",
        "patient_service.patients",
        "matching_service.placement_requests",
    ):
        labels = session.scalars(sa.text(f"SELECT DISTINCT status::text FROM {table}")).all()
        assert labels and all(label == label.upper() for label in labels), (table, labels)
        nulls = session.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE status IS NULL OR created_at IS NULL")
        ).scalar_one()
        assert nulls == 0


def test_patients_wait_for_different_lengths_of_time(app, session, clock):
    run_demo(app)
    created = session.scalars(
        sa.text("SELECT DISTINCT created_at FROM matching_service.placement_requests")
    ).all()
    waits = {(clock.now().date() - day).days for day in created}
    assert len(waits) >= 8 and min(waits) <= 2 and max(waits) >= 60


def emails_by_state(session) -> dict[str, list[int]]:
    states: dict[str, list[int]] = {}
    for email in session.scalars(sa.select(Email).order_by(Email.id)):
        state = str(email.status)
        if email.status == "sent":
            state += " answered" if email.response_received else " unanswered"
        states.setdefault(state, []).append(email.id)
    return states


def test_emails_in_every_state(app, session):
    run_demo(app)
    assert emails_by_state(session) == {
        "sent answered": [1],
        "sent unanswered": [2],
        "failed": [3],
        "queued": [4],
    }
    answered = session.get(Email, 1)
    assert {r.id: str(r.status) for r in answered.placement_requests} == {
        4: "accepted",
        5: "rejected",
    }
    unanswered = session.get(Email, 2)
    assert unanswered.followed_up_at is not None
    assert session.get(Email, 3).error_message.startswith("550")
    # Rule 11 was applied when the emails went out.
    assert session.get(Therapist, 2).letzter_kontakt_email is not None


def calls_on(session, day: date) -> list[PhoneCall]:
    return session.scalars(
        sa.select(PhoneCall)
        .where(PhoneCall.scheduled_date == day)
        .order_by(PhoneCall.scheduled_time, PhoneCall.id)
    ).all()


@pytest.mark.parametrize("now", [None, SATURDAY, SUNDAY, HOLIDAY])
def test_calls_yesterday_today_and_overdue(app, session, client, clock, now):
    run_demo(app, *(["--now", now] if now else []))
    today = date.fromisoformat(now[:10]) if now else clock.now().date()
    yesterday = today - timedelta(days=1)

    completed, failed = calls_on(session, yesterday)
    assert completed.status == "completed" and completed.batches[0].outcome == "accepted"
    assert failed.status == "failed"
    replan = session.scalars(
        sa.select(PhoneCall).where(PhoneCall.previous_call_id == failed.id)
    ).one()
    assert (replan.attempt, replan.booked_by, replan.status) == (2, "automatic", "scheduled")
    assert replan.scheduled_date >= today and failed.retry_after == replan.scheduled_date

    today_calls = [c for c in calls_on(session, today) if c.status == "scheduled"]
    assert len(today_calls) >= 3
    follow_up = next(c for c in today_calls if c.follow_up_email_id is not None)
    assert (follow_up.follow_up_email_id, follow_up.booked_by) == (2, "automatic")

    overdue = session.scalars(
        sa.select(PhoneCall).where(
            PhoneCall.status == "scheduled", PhoneCall.scheduled_date < today
        )
    ).all()
    assert len(overdue) == 1
    if now is None:  # the app's clock: the service itself shows the sheet
        sheet = client.get("/api/phone-calls/daily").get_json()
        assert sheet["total"] >= 3
        assert [c["id"] for c in sheet["overdue"]] == [overdue[0].id]
        assert all(c["overdue"] for c in sheet["overdue"])


def test_a_request_is_on_one_scheduled_call_and_one_unsent_email_at_most(app, session):
    run_demo(app, "--now", SUNDAY)
    for kind, status in (("phone_call", "'scheduled'"), ("email", "'draft', 'queued'")):
        held = session.execute(
            sa.text(
                f"SELECT b.placement_request_id, count(*) "
                f"FROM communication_service.{kind}_batches b "
                f"JOIN communication_service.{kind}s x ON x.id = b.{kind}_id "
                f"WHERE x.status IN ({status}) GROUP BY 1 HAVING count(*) > 1"
            )
        ).all()
        assert held == [], kind


def test_the_absence_next_week_once_absences_exist(app, session, clock):
    run_demo(app)
    if (
        session.scalar(sa.text("SELECT to_regclass('communication_service.therapist_absences')"))
        is None
    ):
        pytest.skip("therapist absences are not on this branch yet")
    starts_on, ends_on = session.execute(
        sa.text("SELECT starts_on, ends_on FROM communication_service.therapist_absences")
    ).one()
    today = clock.now().date()
    assert starts_on.weekday() == 0 and 0 < (starts_on - today).days <= 7
    assert (ends_on - starts_on).days == 4
