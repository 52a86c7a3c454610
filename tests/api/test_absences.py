"""Therapist absences (docs/rules.md rule 13) through the HTTP API and the comm jobs: the
routes, the guards PostgreSQL holds, and every place that plans calls or emails skipping the
absent days."""

from __future__ import annotations

import threading
import time as wall_clock
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from communication_service.extensions import db
from communication_service.models import Email, PhoneCall, Therapist, TherapistAbsence
from communication_service.services.phone_calls import _CALL_BY_ID
from communication_service.services.scheduling import ALL_LINES_LOCK_KEY, BOOKING_LOCK_NAMESPACE
from tests.api.test_phone_calls import book
from tests.conftest import BERLIN, DEFAULT_NOW, ApiClient
from tests.factories import make_email, make_placement_request, make_therapist
from tests.services.test_call_locks import _waits_for_the_lock

MONDAY = DEFAULT_NOW.date()  # 2026-11-30, 08:00 now
NO_EFFECTS = {"moved_call_ids": [], "canceled_call_ids": [], "kept_staff_call_ids": []}


def absences_url(therapist_id: int) -> str:
    return f"/api/therapists/{therapist_id}/absences"


def post_absence(client, therapist_id: int, starts_on: str, ends_on: str, **extra):
    return client.post(
        absences_url(therapist_id), json={"starts_on": starts_on, "ends_on": ends_on, **extra}
    )


def record(client, therapist_id: int, starts_on: str, ends_on: str, **extra) -> dict:
    response = post_absence(client, therapist_id, starts_on, ends_on, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get_call(client, call_id: int) -> dict:
    response = client.get(f"/api/phone-calls/{call_id}")
    assert response.status_code == 200
    return response.get_json()


def when(call: dict) -> tuple[str, str]:
    return call["scheduled_date"], call["scheduled_time"]


def count_absences(session) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(TherapistAbsence)).scalar_one()


def run_job(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["comm", *args])
    assert result.exit_code == 0, result.output
    return result.output


# ---------------------------------------------------------------------------- the routes


def test_record_list_and_delete_absences(client, session):
    therapist, other = make_therapist(session), make_therapist(session)
    later = record(client, therapist, "2027-02-01", "2027-02-01")
    holiday = record(client, therapist, "2026-12-21", "2027-01-03", note="Weihnachtsurlaub")
    assert {key: holiday[key] for key in ("therapist_id", "starts_on", "ends_on", "note")} == {
        "therapist_id": therapist,
        "starts_on": "2026-12-21",
        "ends_on": "2027-01-03",
        "note": "Weihnachtsurlaub",
    }
    assert holiday["created_at"].endswith("+00:00")
    assert {key: holiday[key] for key in NO_EFFECTS} == NO_EFFECTS

    listed = client.get(absences_url(therapist)).get_json()
    assert [a["id"] for a in listed["data"]] == [holiday["id"], later["id"]]  # by first day
    assert listed["total"] == 2 and later["note"] is None
    assert set(listed["data"][0]) == {
        "id",
        "therapist_id",
        "starts_on",
        "ends_on",
        "note",
        "created_at",
    }
    second_page = client.get(absences_url(therapist) + "?per_page=1&page=2").get_json()
    assert ([a["id"] for a in second_page["data"]], second_page["total"]) == ([later["id"]], 2)
    assert client.get(absences_url(other)).get_json()["data"] == []

    assert client.delete(f"/api/therapist-absences/{later['id']}").status_code == 204
    assert [a["id"] for a in client.get(absences_url(therapist)).get_json()["data"]] == [
        holiday["id"]
    ]
    gone = client.delete(f"/api/therapist-absences/{later['id']}")
    assert (gone.status_code, gone.get_json()["error"]["code"]) == (404, "not_found")


def test_an_unknown_therapist_is_404_and_nothing_is_written(client, session):
    assert client.get(absences_url(4242)).status_code == 404
    response = post_absence(client, 4242, "2026-12-21", "2027-01-03")
    assert (response.status_code, response.get_json()["error"]["details"]) == (404, {"id": 4242})
    assert count_absences(session) == 0


def test_an_absence_goes_with_its_therapist(client, session):
    therapist = make_therapist(session)
    record(client, therapist, "2026-12-21", "2027-01-03")
    session.execute(sa.delete(Therapist).where(Therapist.id == therapist))
    session.commit()
    assert count_absences(session) == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"starts_on": "2026-12-10", "ends_on": "2026-12-09"}, "ends_on", "before starts_on"),
        # 2027-01-01 … 2028-01-02 are 367 days (both ends counted)
        ({"starts_on": "2027-01-01", "ends_on": "2028-01-02"}, "ends_on", "at most 366 days"),
        ({"ends_on": "2026-12-09"}, "starts_on", "required"),
        ({"starts_on": "2026-12-09"}, "ends_on", "required"),
        ({"starts_on": "2027-02-30", "ends_on": "2027-03-01"}, "starts_on", "date"),
        ({"starts_on": "2026-12-01", "ends_on": "3000-01-01"}, "ends_on", "2999"),
        ({"starts_on": "2026-12-01", "ends_on": "2026-12-02", "note": "x" * 10_001}, "note", ""),
        ({"starts_on": "2026-12-01", "ends_on": "2026-12-02", "reason": "x"}, "reason", ""),
    ],
)
def test_invalid_ranges_are_422_naming_the_field_and_the_reason(
    client, session, body, field, message
):
    therapist = make_therapist(session)
    response = client.post(absences_url(therapist), json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert message.lower() in " ".join(error["details"][field]).lower()
    assert count_absences(session) == 0


def test_a_year_is_the_longest_absence(client, session):
    therapist = make_therapist(session)
    record(client, therapist, "2027-01-01", "2028-01-01")  # 366 days with both ends
    record(client, therapist, "2028-01-02", "2028-01-02")  # one day


def test_an_overlap_is_409_naming_the_absences_it_overlaps(client, session):
    therapist, other = make_therapist(session), make_therapist(session)
    holiday = record(client, therapist, "2026-12-21", "2027-01-03")
    course = record(client, therapist, "2027-01-20", "2027-01-22")

    touching = post_absence(client, therapist, "2027-01-03", "2027-01-10")  # the last day
    assert touching.status_code == 409
    error = touching.get_json()["error"]
    assert error["code"] == "absence_overlaps"
    assert error["details"] == {"conflicting_absence_ids": [holiday["id"]]}
    assert str(holiday["id"]) in error["message"]
    both = post_absence(client, therapist, "2026-12-01", "2027-02-01").get_json()["error"]
    assert both["details"] == {"conflicting_absence_ids": [holiday["id"], course["id"]]}
    assert count_absences(session) == 2

    record(client, therapist, "2027-01-04", "2027-01-19")  # the days between: no overlap
    record(client, other, "2026-12-21", "2027-01-03")  # another therapist's


def test_postgresql_refuses_an_overlap_from_any_writer(client, session):
    therapist = make_therapist(session)
    record(client, therapist, "2026-12-21", "2027-01-03")
    with pytest.raises(IntegrityError) as refused:
        session.execute(
            sa.insert(TherapistAbsence).values(
                therapist_id=therapist, starts_on=date(2027, 1, 3), ends_on=date(2027, 1, 3)
            )
        )
    session.rollback()
    assert refused.value.orig.diag.constraint_name == "therapist_absences_no_overlap"
    for starts_on, ends_on in ((date(2027, 1, 5), date(2027, 1, 4)), (date(2027, 1, 5), None)):
        with pytest.raises(IntegrityError):
            session.execute(
                sa.insert(TherapistAbsence).values(
                    therapist_id=therapist,
                    starts_on=starts_on,
                    ends_on=ends_on or starts_on + timedelta(days=366),
                )
            )
        session.rollback()


def test_two_simultaneous_posts_give_one_201_and_one_409(app, session):
    therapist = make_therapist(session)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def post(starts_on: str) -> None:
        client = ApiClient(app.test_client())
        start.wait()
        statuses.append(post_absence(client, therapist, starts_on, "2027-01-03").status_code)

    threads = [threading.Thread(target=post, args=(day,)) for day in ("2026-12-21", "2026-12-28")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [201, 409]
    assert count_absences(session) == 1


def test_an_overlap_committed_while_the_post_waits_is_409_not_500(app, client, session):
    """The conflict is caught from PostgreSQL's exclusion constraint, not only looked for
    before: an overlapping row that another writer commits while the request runs (the
    request waits on it inside the INSERT) answers 409 too."""
    therapist = make_therapist(session)
    other_writer = db.engine.connect()
    transaction = other_writer.begin()
    other_writer.execute(
        sa.insert(TherapistAbsence).values(
            therapist_id=therapist, starts_on=date(2026, 12, 24), ends_on=date(2026, 12, 26)
        )
    )
    answers: list = []
    request = threading.Thread(
        target=lambda: answers.append(post_absence(client, therapist, "2026-12-21", "2027-01-03"))
    )
    request.start()
    try:
        deadline = wall_clock.monotonic() + 20
        while not _someone_waits_on_a_lock(session):
            assert wall_clock.monotonic() < deadline, "the POST never waited on the other row"
            wall_clock.sleep(0.05)
        transaction.commit()
        request.join(timeout=30)
    finally:
        other_writer.close()
    [response] = answers
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "absence_overlaps"
    assert count_absences(session) == 1


def _someone_waits_on_a_lock(session) -> bool:
    waiting = session.execute(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    ).scalar_one()
    session.commit()
    return waiting > 0


# ---------------------------------------------------------------------------- calls it covers


def test_recording_an_absence_moves_the_automatic_calls_and_lists_the_staff_calls(
    app, client, session
):
    therapist = make_therapist(session, email=None)
    requests = [make_placement_request(session, therapist_id=therapist) for _ in range(2)]
    run_job(app, "batch-emails")  # rule 6: an automatic call, Monday 09:00
    [job_call] = client.get(f"/api/phone-calls?therapist_id={therapist}").get_json()["data"]
    staff_slot = book(client, therapist_id=therapist)  # staff, first free slot: Monday 09:05
    staff_time = book(
        client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time="10:00"
    )
    failing = book(
        client, therapist_id=therapist, scheduled_date="2026-11-30", scheduled_time="11:00"
    )
    failed = client.put(f"/api/phone-calls/{failing['id']}", json={"status": "failed"})
    replan = get_call(client, failed.get_json()["replanned_call_id"])  # Tuesday 09:00
    assert (job_call["booked_by"], replan["booked_by"], staff_slot["booked_by"]) == (
        "automatic",
        "automatic",
        "staff",
    )
    assert when(replan) == ("2026-12-01", "09:00")

    absence = record(client, therapist, "2026-11-30", "2026-12-04", note="Krank")

    assert absence["moved_call_ids"] == [job_call["id"], replan["id"]]
    assert absence["kept_staff_call_ids"] == [staff_slot["id"], staff_time["id"]]
    assert absence["canceled_call_ids"] == []
    moved_job_call, moved_replan = (get_call(client, c["id"]) for c in (job_call, replan))
    # the first free slots after the absence, in the order the calls had
    assert when(moved_job_call) == ("2026-12-07", "09:00")
    assert when(moved_replan) == ("2026-12-07", "09:05")
    assert (moved_job_call["attempt"], moved_replan["attempt"]) == (1, 2)
    assert moved_replan["previous_call_id"] == failing["id"]
    assert [b["placement_request_id"] for b in moved_job_call["batches"]] == requests
    assert moved_job_call["notes"] == (
        "Automatisch geplant: keine E-Mail-Adresse hinterlegt.\n"
        "Automatisch verschoben: abwesend vom 30.11.2026 bis 04.12.2026 (Regel 13)."
    )
    assert moved_job_call["status"] == moved_replan["status"] == "scheduled"
    assert not moved_job_call["absent"] and not moved_replan["absent"]
    for kept in (staff_slot, staff_time):
        now = get_call(client, kept["id"])
        assert (when(now), now["absent"], now["notes"]) == (when(kept), True, None)


def test_an_absence_waits_for_a_booking_in_progress_and_moves_its_call(client, session):
    """The booking lock first: an automatic booking that has not seen the absence commits
    before it, and its call is then moved like the others."""
    therapist = make_therapist(session)
    booking = db.engine.raw_connection()  # a job booking an automatic call: it holds the lock
    answers: list = []
    try:
        with booking.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                (BOOKING_LOCK_NAMESPACE, ALL_LINES_LOCK_KEY),
            )
            cursor.execute(
                "INSERT INTO communication_service.phone_calls (therapist_id, scheduled_date, "
                "scheduled_time, booked_by) VALUES (%s, DATE '2026-12-01', TIME '09:00', "
                "'automatic') RETURNING id",
                (therapist,),
            )
            [booked] = cursor.fetchone()
            recording = threading.Thread(
                target=lambda: answers.append(
                    post_absence(client, therapist, "2026-12-01", "2026-12-02")
                )
            )
            recording.start()
            assert _waits_for_the_lock(), "recording the absence did not take the booking lock"
        booking.commit()
    finally:
        booking.close()
    recording.join(timeout=30)
    [response] = answers
    assert response.get_json()["moved_call_ids"] == [booked]
    assert when(get_call(client, booked)) == ("2026-12-03", "09:00")


@pytest.mark.parametrize(
    "change",
    [{"telefonische_erreichbarkeit": {}}, {"status": "blocked"}],
    ids=["no_free_slot", "not_active"],
)
def test_an_automatic_call_no_slot_can_take_is_canceled_and_flagged(app, client, session, change):
    therapist = make_therapist(session, email=None)
    request = make_placement_request(session, therapist_id=therapist)
    run_job(app, "batch-emails")
    [call] = client.get(f"/api/phone-calls?therapist_id={therapist}").get_json()["data"]
    session.execute(sa.update(Therapist).where(Therapist.id == therapist).values(**change))
    session.commit()

    absence = record(client, therapist, "2026-11-30", "2026-12-04")

    assert (absence["moved_call_ids"], absence["canceled_call_ids"]) == ([], [call["id"]])
    canceled = get_call(client, call["id"])
    assert (canceled["status"], when(canceled)) == ("canceled", when(call))
    note = canceled["batches"][0]["follow_up_notes"]
    assert note.startswith("Automatisch abgesagt: abwesend vom 30.11.2026 bis 04.12.2026")
    assert note in canceled["notes"]
    assert canceled["batches"][0]["placement_request_id"] == request
    assert canceled["batches"][0]["follow_up_required"] is True
    flagged = client.get("/api/phone-calls?follow_up_required=true").get_json()["data"]
    assert [c["id"] for c in flagged] == [call["id"]]


# ---------------------------------------------------------------------------- absent days


def test_slots_and_automatic_bookings_skip_the_absent_days(client, session):
    therapist = make_therapist(session)
    record(client, therapist, "2026-12-01", "2026-12-02")
    slots = client.get(f"/api/therapists/{therapist}/slots?days=4&duration=60").get_json()
    assert sorted({s["date"] for s in slots}) == ["2026-11-30", "2026-12-03"]
    call = book(client, therapist_id=therapist, not_before="2026-12-01")
    assert (when(call), call["absent"]) == (("2026-12-03", "09:00"), False)


def test_an_explicit_booking_on_an_absent_day_is_allowed_and_flagged(client, session):
    therapist = make_therapist(session)
    record(client, therapist, "2026-12-01", "2026-12-02")
    call = book(client, therapist_id=therapist, scheduled_date="2026-12-02", scheduled_time="09:00")
    assert (call["absent"], call["within_availability"]) == (True, True)
    elsewhere = book(
        client, therapist_id=therapist, scheduled_date="2026-12-03", scheduled_time="09:00"
    )
    assert elsewhere["absent"] is False
    listed = client.get(f"/api/phone-calls?therapist_id={therapist}").get_json()["data"]
    assert [(c["id"], c["absent"]) for c in listed] == [
        (call["id"], True),
        (elsewhere["id"], False),
    ]
    everyone = client.get("/api/phone-calls").get_json()["data"]
    assert [c["absent"] for c in everyone] == [True, False]
    sheet = client.get("/api/phone-calls/daily?date=2026-12-02").get_json()["data"]
    assert [(c["id"], c["absent"]) for c in sheet] == [(call["id"], True)]
    moved = client.put(f"/api/phone-calls/{elsewhere['id']}", json={"scheduled_date": "2026-12-01"})
    assert moved.get_json()["absent"] is True  # moving by hand is staff's decision too


def test_a_moved_replan_takes_its_failed_calls_retry_after_along(client, session):
    """Rule 8: a failed call's ``retry_after`` records its re-plan's date. When an absence
    moves the re-plan, the record follows it: no date points at a day the therapist is away.
    A date staff set by hand (another day) is theirs and stays."""
    therapist = make_therapist(session, email=None)
    failing = book(
        client, therapist_id=therapist, scheduled_date="2026-11-30", scheduled_time="11:00"
    )
    answer = client.put(f"/api/phone-calls/{failing['id']}", json={"status": "failed"})
    replan = get_call(client, answer.get_json()["replanned_call_id"])
    other_failing = book(
        client, therapist_id=therapist, scheduled_date="2026-11-30", scheduled_time="11:30"
    )
    answer = client.put(f"/api/phone-calls/{other_failing['id']}", json={"status": "failed"})
    other_replan = get_call(client, answer.get_json()["replanned_call_id"])
    assert get_call(client, failing["id"])["retry_after"] == replan["scheduled_date"]
    by_hand = {"retry_after": "2026-12-02"}
    assert client.put(f"/api/phone-calls/{other_failing['id']}", json=by_hand).status_code == 200

    absence = record(client, therapist, "2026-12-01", "2026-12-04")

    assert absence["moved_call_ids"] == [replan["id"], other_replan["id"]]
    moved = get_call(client, replan["id"])
    assert moved["scheduled_date"] == "2026-12-07"
    assert get_call(client, failing["id"])["retry_after"] == "2026-12-07"
    assert get_call(client, other_failing["id"])["retry_after"] == "2026-12-02"


def test_a_failed_call_is_replanned_after_the_absence(client, session, clock):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)  # Monday 09:00
    record(client, therapist, "2026-12-01", "2026-12-03")
    clock.instant = datetime(2026, 11, 30, 9, 6, tzinfo=BERLIN)
    failed = client.put(f"/api/phone-calls/{call['id']}", json={"status": "failed"}).get_json()
    replan = get_call(client, failed["replanned_call_id"])
    # not Tuesday, the next window without the absence
    assert (when(replan), replan["attempt"]) == (("2026-12-04", "09:00"), 2)


def test_schedule_follow_ups_books_after_the_absence(app, client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    make_email(
        session,
        therapist_id=therapist,
        status="sent",
        sent_at=datetime(2026, 11, 23, 8, 0),
        placement_request_ids=(request,),
    )
    record(client, therapist, "2026-11-30", "2026-12-02")
    assert run_job(app, "schedule-follow-ups").startswith("schedule-follow-ups: 1 follow-up")
    [call] = client.get(f"/api/phone-calls?therapist_id={therapist}").get_json()["data"]
    assert (when(call), call["booked_by"], call["absent"]) == (
        ("2026-12-03", "09:00"),
        "automatic",
        False,
    )


def test_batch_emails_skips_therapists_absent_on_the_day_of_the_run(app, client, session):
    away_today, away_from_tomorrow, no_address = (
        make_therapist(session),
        make_therapist(session),
        make_therapist(session, email=None),
    )
    for therapist in (away_today, away_from_tomorrow, no_address):
        make_placement_request(session, therapist_id=therapist)
    record(client, away_today, "2026-11-23", "2026-12-02")
    record(client, away_from_tomorrow, "2026-12-01", "2026-12-05")
    record(client, no_address, "2026-11-30", "2026-12-02")

    def emailed() -> list[int]:
        return session.scalars(sa.select(Email.therapist_id).order_by(Email.id)).all()

    first = run_job(app, "batch-emails")
    assert first.startswith("batch-emails: 1 emails queued") and emailed() == [away_from_tomorrow]
    # a therapist without an address gets the call, after the absence (the engine skips it)
    [call] = client.get(f"/api/phone-calls?therapist_id={no_address}").get_json()["data"]
    assert (when(call), call["absent"]) == (("2026-12-03", "09:00"), False)

    run_job(app, "batch-emails", "--now", "2026-12-02T07:00")  # the last absent day
    assert emailed() == [away_from_tomorrow]
    run_job(app, "batch-emails", "--now", "2026-12-03T07:00")  # back: the requests go out
    assert emailed() == [away_from_tomorrow, away_today]


# ---------------------------------------------------------------------------- the reads


def test_absent_is_read_from_the_absences_index(app, session):
    """Each call read asks "is the therapist away that day" per row: an EXISTS answered from
    the absences' index, also with many absences and a generic plan."""
    therapists = [make_therapist(session) for _ in range(50)]
    session.execute(
        sa.text(
            "INSERT INTO communication_service.therapist_absences (therapist_id, starts_on, "
            "ends_on) SELECT t, DATE '2020-01-01' + n * 7, DATE '2020-01-01' + n * 7 + 3 "
            "FROM unnest(CAST(:ids AS integer[])) AS t, generate_series(0, 399) AS n"
        ),
        {"ids": therapists},
    )
    session.execute(
        sa.insert(PhoneCall).values(
            therapist_id=therapists[0], scheduled_date=MONDAY, scheduled_time=datetime.min.time()
        )
    )
    session.commit()
    connection = db.engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE communication_service.therapist_absences")
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute(_CALL_BY_ID.query.prepare_sql)
            values = {"call_id": 1, "now_local": datetime(2026, 11, 30, 8, 0)}
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) EXECUTE {_CALL_BY_ID.query.name}"
                f"({', '.join(['%s'] * len(_CALL_BY_ID.query.parameters))})",
                tuple(values[name] for name in _CALL_BY_ID.query.parameters),
            )
            plan = cursor.fetchone()[0][0]["Plan"]
            cursor.execute(f"DEALLOCATE {_CALL_BY_ID.query.name}")
    finally:
        connection.rollback()
        connection.close()
    assert "idx_therapist_absences_therapist_ends" in _index_names(plan)


def _index_names(plan: dict) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", ()):
        found |= _index_names(child)
    return found
