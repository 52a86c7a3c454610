"""The contact rules hold whatever the order of events (rules 7, 9 and 10).

Each test drives one order of events through the public surface: HTTP, the ``comm`` jobs as
the CLI runs them, and SQL for the rows other services write. Races are forced with the
booking lock held from outside, so both orders of commit are run, not hoped for.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import time as datetime_time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from communication_service.extensions import db
from communication_service.models import (
    Email,
    EmailBatch,
    PhoneCall,
    Therapist,
)
from communication_service.services.batching import batch_emails
from communication_service.services.contact_rules import UNSENT
from communication_service.services.follow_ups import schedule_follow_ups
from communication_service.services.scheduling import ALL_LINES_LOCK_KEY, BOOKING_LOCK_NAMESPACE
from tests.conftest import DEFAULT_NOW
from tests.factories import (
    make_email,
    make_patient,
    make_phone_call,
    make_placement_request,
    make_therapist,
)
from tests.services.test_follow_ups import sent_days_ago

TODAY = DEFAULT_NOW.date()  # Monday 2026-11-30, 08:00 in Berlin


def run_job(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["comm", *args])
    assert result.exit_code == 0, result.output
    return result.output


def calls_of(client, therapist_id: int) -> list[dict]:
    body = client.get(f"/api/phone-calls?therapist_id={therapist_id}&per_page=100").get_json()
    return body["data"]


def call(client, call_id: int) -> dict:
    response = client.get(f"/api/phone-calls/{call_id}")
    assert response.status_code == 200
    return response.get_json()


def put(client, path: str, body: dict) -> dict:
    response = client.put(path, json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def book(client, **body) -> dict:
    response = client.post("/api/phone-calls", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sent_email_with_requests(session, therapist_id: int, days_ago: int = 7) -> tuple[int, int]:
    request_id = make_placement_request(session, therapist_id=therapist_id)
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        sent_at=sent_days_ago(days_ago),
        placement_request_ids=(request_id,),
    )
    return email_id, request_id


# --- rule 9: a rejection stops automatic contact, whenever it arrives -------------------------


def test_a_rejection_by_phone_cancels_the_automatic_calls_and_keeps_the_staff_calls(
    app, client, session
):
    therapist = make_therapist(session, email=None)  # rule 6: batch-emails books a call
    for _ in range(2):
        make_placement_request(session, therapist_id=therapist)
    run_job(app, "batch-emails")
    [automatic] = calls_of(client, therapist)
    assert automatic["booked_by"] == "automatic"

    discussed = make_placement_request(session, therapist_id=therapist)
    staff_call = book(
        client,
        therapist_id=therapist,
        scheduled_date=str(TODAY),
        scheduled_time="11:00",
        placement_request_ids=[discussed],
    )
    later_staff_call = book(client, therapist_id=therapist)  # a slot of the engine's choice
    assert staff_call["booked_by"] == later_staff_call["booked_by"] == "staff"
    put(client, f"/api/phone-calls/{staff_call['id']}", {"status": "completed"})

    effects = put(
        client,
        f"/api/phone-call-batches/{staff_call['batches'][0]['id']}",
        {"outcome": "rejected"},
    )

    assert effects["canceled_call_ids"] == [automatic["id"]]
    assert effects["kept_staff_call_ids"] == [later_staff_call["id"]]
    canceled = call(client, automatic["id"])
    assert canceled["status"] == "canceled" and "Regel 9" in canceled["notes"]
    assert call(client, later_staff_call["id"])["status"] == "scheduled"
    # The requests of the canceled call are free again, but the therapist is cooling.
    assert "0 calls scheduled" in run_job(app, "batch-emails")
    assert [c["status"] for c in calls_of(client, therapist)].count("scheduled") == 1


def test_a_rejection_by_email_cancels_the_replans_inside_the_cooling_period_only(
    app, client, session
):
    therapist = make_therapist(session)
    email_id, rejected = sent_email_with_requests(session, therapist, days_ago=12)
    first = book(client, therapist_id=therapist, scheduled_date=str(TODAY), scheduled_time="09:00")
    second = book(client, therapist_id=therapist, scheduled_date=str(TODAY), scheduled_time="10:00")
    soon = put(client, f"/api/phone-calls/{first['id']}", {"status": "failed"})
    cooling_ends = TODAY + timedelta(days=18)  # 28 days after the reply ten days ago
    late = put(
        client,
        f"/api/phone-calls/{second['id']}",
        {"status": "failed", "retry_after": str(cooling_ends + timedelta(days=1))},
    )
    replanned_soon = call(client, soon["replanned_call_id"])
    replanned_late = call(client, late["replanned_call_id"])
    assert replanned_soon["booked_by"] == replanned_late["booked_by"] == "automatic"

    effects = put(
        client,
        f"/api/emails/{email_id}/response",
        {
            "response_date": f"{TODAY - timedelta(days=10)}T16:00:00+01:00",
            "outcomes": {str(rejected): "rejected"},
        },
    )

    assert effects["canceled_call_ids"] == [replanned_soon["id"]]
    assert effects["kept_staff_call_ids"] == []
    assert call(client, replanned_late["id"])["status"] == "scheduled"  # after the cooling


def test_the_cooling_period_counts_from_the_day_the_therapist_answered(app, client, session):
    therapist = make_therapist(session)
    email_id, rejected = sent_email_with_requests(session, therapist, days_ago=12)
    put(
        client,
        f"/api/emails/{email_id}/response",
        {
            "response_date": f"{TODAY - timedelta(days=10)}T16:00:00+01:00",
            "outcomes": {str(rejected): "rejected"},
        },
    )
    stored = session.execute(
        sa.text(
            "SELECT response_date, next_contact_after FROM matching_service.placement_requests"
            " WHERE id = :id"
        ),
        {"id": rejected},
    ).one()
    assert stored == (TODAY - timedelta(days=10), TODAY + timedelta(days=18))

    make_placement_request(session, therapist_id=therapist)
    on = TODAY + timedelta(days=17)
    assert "0 emails queued" in run_job(app, "batch-emails", "--now", f"{on}T08:00:00")
    on = TODAY + timedelta(days=18)
    assert "1 emails queued" in run_job(app, "batch-emails", "--now", f"{on}T08:00:00")


def test_a_rejection_dates_its_cooling_on_the_call_it_was_given_on(app, client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    staff_call = book(
        client,
        therapist_id=therapist,
        scheduled_date=str(TODAY),
        scheduled_time="09:00",
        placement_request_ids=[request],
    )
    called_on = TODAY - timedelta(days=3)  # typed in three days late
    put(
        client,
        f"/api/phone-calls/{staff_call['id']}",
        {"status": "completed", "actual_date": str(called_on), "actual_time": "09:00"},
    )
    put(
        client,
        f"/api/phone-call-batches/{staff_call['batches'][0]['id']}",
        {"outcome": "rejected"},
    )
    stored = session.execute(
        sa.text(
            "SELECT response_date, next_contact_after FROM matching_service.placement_requests"
            " WHERE id = :id"
        ),
        {"id": request},
    ).one()
    assert stored == (called_on, called_on + timedelta(days=28))


# --- rule 10: a reply cancels every follow-up of that email -----------------------------------


def test_a_reply_cancels_the_replans_of_a_failed_follow_up_at_any_depth(app, client, session):
    therapist = make_therapist(session)
    email_id, _ = sent_email_with_requests(session, therapist)
    run_job(app, "schedule-follow-ups")
    [follow_up] = calls_of(client, therapist)
    assert (follow_up["follow_up_email_id"], follow_up["booked_by"]) == (email_id, "automatic")
    second = put(client, f"/api/phone-calls/{follow_up['id']}", {"status": "failed"})
    third = put(client, f"/api/phone-calls/{second['replanned_call_id']}", {"status": "failed"})
    last = call(client, third["replanned_call_id"])
    assert (last["attempt"], last["follow_up_email_id"]) == (3, email_id)

    effects = put(client, f"/api/emails/{email_id}/response", {"response_content": "Leider nein"})

    assert effects["canceled_follow_up_call_ids"] == [last["id"]]
    assert effects["canceled_call_ids"] == [last["id"]]
    assert call(client, last["id"])["status"] == "canceled"
    assert "0 follow-up calls scheduled" in run_job(app, "schedule-follow-ups")


class BookingLockHeld:
    """The booking lock (one phone line: one global key) held from another connection, and
    a way to wait until ``n`` sessions queue behind it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.connection = engine.connect()
        self.engine = engine
        self.keys = {"ns": BOOKING_LOCK_NAMESPACE, "key": ALL_LINES_LOCK_KEY}
        self.connection.execute(sa.text("SELECT pg_advisory_lock(:ns, :key)"), self.keys)

    def wait_for_waiters(self, n: int, unless_done: threading.Thread) -> None:
        """Until ``n`` sessions wait for the lock (or ``unless_done`` finished without it)."""
        deadline = time.monotonic() + 20
        with self.engine.connect() as probe:
            while time.monotonic() < deadline:
                waiting = probe.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted AND classid = :ns AND objid = :key"
                        # the server is shared by the parallel test workers' databases
                        " AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())"
                    ),
                    self.keys,
                ).scalar()
                if waiting >= n or not unless_done.is_alive():
                    return
                probe.rollback()
                time.sleep(0.01)
        raise AssertionError(f"fewer than {n} sessions wait for the booking lock")

    def release(self) -> None:
        self.connection.execute(sa.text("SELECT pg_advisory_unlock(:ns, :key)"), self.keys)
        self.connection.close()


def in_lock_queue(steps, *, each_waits: bool = False) -> None:
    """Run ``steps`` in threads queued behind the booking lock in the given order, then
    release it: they get it in that order. ``each_waits``: a step that finishes without
    waiting for the lock fails the test."""
    lock = BookingLockHeld(db.engine)
    threads = [threading.Thread(target=step) for step in steps]
    try:
        for waiting, thread in enumerate(threads, start=1):
            thread.start()
            lock.wait_for_waiters(waiting, unless_done=thread)
            assert thread.is_alive() or not each_waits, f"{thread} did not wait for the lock"
    finally:
        lock.release()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(timeout=30)


@pytest.mark.parametrize("first", ["job", "reply"])
def test_a_reply_while_schedule_follow_ups_runs_leaves_no_follow_up_scheduled(
    app, client, session, ctx, first
):
    """The job has read the email as unanswered and waits for the booking lock; the reply
    waits for it too. Whichever gets it first commits first: both orders end with no
    scheduled follow-up for the answered email."""
    therapist = make_therapist(session)
    email_id, _ = sent_email_with_requests(session, therapist)
    results: dict[str, object] = {}

    def job() -> None:
        with app.app_context():
            try:
                results["job"] = schedule_follow_ups(dataclasses.replace(ctx, session=db.session))
            except Exception as error:  # reported below
                results["job"] = error
            db.session.remove()

    def reply() -> None:
        results["reply"] = client.put(
            f"/api/emails/{email_id}/response", json={"response_content": "Ja, gerne"}
        )

    in_lock_queue([job, reply] if first == "job" else [reply, job])

    assert not isinstance(results["job"], Exception), results["job"]
    assert results["reply"].status_code == 200
    calls = calls_of(client, therapist)
    assert [c for c in calls if c["status"] == "scheduled"] == []
    if first == "job":  # booked, then canceled by the reply
        assert [c["status"] for c in calls] == ["canceled"]
        assert results["reply"].get_json()["canceled_follow_up_call_ids"] == [calls[0]["id"]]
    else:  # the job saw the reply under the lock and booked nothing
        assert calls == [] and results["job"].calls_scheduled == 0
        assert results["job"].skipped.ids == {"answered_meanwhile": [email_id]}
        assert results["job"].summary().endswith("; 1 emails skipped (1 answered meanwhile)")


# --- rule 7: never twice for the same email ---------------------------------------------------


def test_a_deleted_follow_up_does_not_make_its_email_due_again(app, client, session):
    therapist = make_therapist(session)
    email_id, _ = sent_email_with_requests(session, therapist)
    run_job(app, "schedule-follow-ups")
    [follow_up] = calls_of(client, therapist)
    put(client, f"/api/phone-calls/{follow_up['id']}", {"status": "canceled"})
    assert client.delete(f"/api/phone-calls/{follow_up['id']}").status_code == 204

    assert "0 follow-up calls scheduled" in run_job(app, "schedule-follow-ups")
    assert calls_of(client, therapist) == []
    email = client.get(f"/api/emails/{email_id}").get_json()
    assert email["followed_up_at"] is not None


# --- an acceptance and batch-emails: no email or call offers a placed patient (decision 40) ----


def in_another_thread(step) -> None:
    thread = threading.Thread(target=step)
    thread.start()
    thread.join(timeout=30)


def carried_by_unsent_emails(session, request_id: int) -> list[int]:
    session.rollback()  # a fresh snapshot
    return list(
        session.scalars(
            sa.select(EmailBatch.email_id)
            .join(Email, Email.id == EmailBatch.email_id)
            .where(EmailBatch.placement_request_id == request_id, Email.status.in_(UNSENT))
        )
    )


def batch_job_and_acceptance(app, client, ctx, ids: dict[str, int], results: dict) -> tuple:
    """Two steps for threads: ``batch-emails`` on a session of its own, and the acceptance
    of ``placed_elsewhere``; each stores what it returned in ``results``."""

    def job() -> None:
        with app.app_context():
            results["job"] = batch_emails(dataclasses.replace(ctx, session=db.session))
            db.session.remove()

    def acceptance() -> None:
        results["acceptance"] = accept(client, ids)

    return job, acceptance


def placed_elsewhere(session) -> dict[str, int]:
    """A patient offered to therapist ``t1`` (request ``offered``, next to ``waiting`` of
    another patient) and to ``t2`` in a sent email (``e2``, request ``r2``) that accepts."""
    patient = make_patient(session, vorname="Placida")
    t1, t2 = make_therapist(session), make_therapist(session)
    ids = {
        "patient": patient,
        "t1": t1,
        "offered": make_placement_request(session, therapist_id=t1, patient_id=patient),
        "waiting": make_placement_request(
            session, therapist_id=t1, patient_id=make_patient(session, vorname="Quirin")
        ),
        "r2": make_placement_request(session, therapist_id=t2, patient_id=patient),
    }
    ids["e2"] = make_email(
        session,
        therapist_id=t2,
        status="sent",
        sent_at=sent_days_ago(3),
        placement_request_ids=(ids["r2"],),
    )
    return ids


def accept(client, ids: dict[str, int]):
    return client.put(
        f"/api/emails/{ids['e2']}/response",
        json={"response_content": "Ja", "outcomes": {str(ids["r2"]): "accepted"}},
    )


def test_an_acceptance_while_batch_emails_renders_takes_the_patient_out_of_its_email(
    app, client, session, ctx
):
    ids = placed_elsewhere(session)
    answers = []

    def progress(done: int, total: int) -> None:  # the emails are rendered, not yet written
        in_another_thread(lambda: answers.append(accept(client, ids)))

    result = batch_emails(ctx, progress=progress)

    assert answers[0].status_code == 200
    assert carried_by_unsent_emails(session, ids["offered"]) == []
    [email_id] = carried_by_unsent_emails(session, ids["waiting"])
    email = client.get(f"/api/emails/{email_id}").get_json()
    assert [b["placement_request_id"] for b in email["batches"]] == [ids["waiting"]]
    assert [b["priority"] for b in email["batches"]] == [1]
    assert "Quirin" in email["body_text"] and "Placida" not in email["body_text"]
    assert (result.emails_queued, result.requests_batched) == (1, 1)


def test_a_staff_email_written_while_batch_emails_renders_keeps_its_request(
    app, client, session, ctx
):
    therapist = make_therapist(session)
    taken, left = (make_placement_request(session, therapist_id=therapist) for _ in range(2))
    answers = []

    def write_staff_email() -> None:
        answers.append(
            client.post(
                "/api/emails",
                json={
                    "therapist_id": therapist,
                    "subject": "Rückfrage",
                    "body_text": "Guten Tag",
                    "placement_request_ids": [taken],
                },
            )
        )

    result = batch_emails(ctx, progress=lambda done, total: in_another_thread(write_staff_email))

    assert answers[0].status_code == 201
    assert carried_by_unsent_emails(session, taken) == [answers[0].get_json()["id"]]
    assert len(carried_by_unsent_emails(session, left)) == 1
    assert (result.emails_queued, result.requests_batched) == (1, 1)


@pytest.mark.parametrize("first", ["job", "acceptance"])
def test_an_acceptance_and_batch_emails_in_either_order_leave_no_offer_of_the_patient(
    app, client, session, ctx, first
):
    """The job has rendered its emails and waits for the booking lock; the acceptance waits
    too. Whichever commits first, the placed patient is in no unsent email."""
    ids = placed_elsewhere(session)
    results: dict[str, object] = {}

    job, acceptance = batch_job_and_acceptance(app, client, ctx, ids, results)

    in_lock_queue([job, acceptance] if first == "job" else [acceptance, job], each_waits=True)

    assert results["acceptance"].status_code == 200
    assert carried_by_unsent_emails(session, ids["offered"]) == []
    withdrawn = results["acceptance"].get_json()["withdrawn"]
    if first == "job":  # queued with the patient, then withdrawn by the acceptance
        assert results["job"].requests_batched == 2
        assert withdrawn["placement_request_ids"] == [ids["offered"]]
        assert carried_by_unsent_emails(session, ids["waiting"]) == []  # back in the pool
    else:  # the job saw the acceptance under the lock
        assert results["job"].requests_batched == 1
        assert withdrawn["email_ids"] == []
        assert len(carried_by_unsent_emails(session, ids["waiting"])) == 1


def test_batch_emails_books_no_call_for_a_patient_placed_while_it_waited(app, client, session, ctx):
    """The acceptance holds the booking lock first; batch-emails reads the requests of the
    therapist without an address only when it has the lock, so it sees the placement."""
    ids = placed_elsewhere(session)
    session.execute(sa.update(Therapist).where(Therapist.id == ids["t1"]).values(email=None))
    session.commit()
    results: dict[str, object] = {}

    job, acceptance = batch_job_and_acceptance(app, client, ctx, ids, results)

    in_lock_queue([acceptance, job])

    assert results["acceptance"].status_code == 200
    [call] = calls_of(client, ids["t1"])
    assert [b["placement_request_id"] for b in call["batches"]] == [ids["waiting"]]
    assert results["job"].requests_called == 1


def waiting_for_a_row_lock(engine: sa.Engine, unless_done: threading.Thread) -> None:
    """Until a session of this database waits for a row lock (or ``unless_done`` finished)."""
    deadline = time.monotonic() + 20
    with engine.connect() as probe:
        while time.monotonic() < deadline and unless_done.is_alive():
            waiting = probe.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            ).scalar()
            if waiting:
                return
            probe.rollback()
            time.sleep(0.01)


def test_an_acceptance_locks_the_emails_before_it_touches_a_call(app, client, session):
    """Decision 40: booking lock, then email rows, then calls. Another writer holds an email
    the acceptance must withdraw; while the acceptance waits for it, it holds no call, so that
    writer can go on to the call (the reverse order would deadlock)."""
    ids = placed_elsewhere(session)
    emailed = make_placement_request(session, therapist_id=ids["t1"], patient_id=ids["patient"])
    email = make_email(
        session, therapist_id=ids["t1"], batch_id="B1", placement_request_ids=(emailed,)
    )
    call_id = make_phone_call(
        session,
        therapist_id=ids["t1"],
        scheduled_date=TODAY + timedelta(days=2),
        scheduled_time=datetime_time(10, 0),
        placement_request_ids=(ids["offered"],),
    )
    results: dict[str, object] = {}
    other_writer = db.engine.connect()
    try:
        other_writer.execute(sa.select(Email.id).where(Email.id == email).with_for_update())
        thread = threading.Thread(target=lambda: results.update(acceptance=accept(client, ids)))
        thread.start()
        waiting_for_a_row_lock(db.engine, unless_done=thread)
        # NOWAIT: fails at once if the acceptance already holds the call.
        other_writer.execute(
            sa.select(PhoneCall.id).where(PhoneCall.id == call_id).with_for_update(nowait=True)
        )
    finally:
        other_writer.rollback()
        other_writer.close()
        thread.join(timeout=30)

    assert results["acceptance"].status_code == 200
    withdrawn = results["acceptance"].get_json()["withdrawn"]
    assert (withdrawn["email_ids"], withdrawn["phone_call_ids"]) == ([email], [call_id])
