"""Trust the call sheet (issue 13): overdue calls, one live contact per request, what a call
booked without requests carries, a placed patient offered no more, plausible outcomes."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from communication_service.services.phone_calls import CHOSEN_FOR_THE_CALL, NOTHING_TO_DISCUSS
from tests.conftest import DEFAULT_NOW
from tests.factories import make_email, make_patient, make_placement_request, make_therapist
from tests.services.test_follow_ups import sent_days_ago

TODAY = DEFAULT_NOW.date()  # Monday 2026-11-30, 08:00 in Berlin


def run_job(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["comm", *args])
    assert result.exit_code == 0, result.output
    return result.output


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def error(response, status: int) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


# --- overdue calls ----------------------------------------------------------------------------


def test_a_forgotten_call_is_overdue_listed_counted_and_blocks_nothing(app, client, session, clock):
    therapist = make_therapist(session, email=None)  # rule 6: batch-emails books its calls
    make_placement_request(session, therapist_id=therapist)
    run_job(app, "batch-emails")
    [forgotten] = ok(client.get("/api/phone-calls"))["data"]
    assert forgotten["overdue"] is False  # Monday 09:00, and it is 08:00

    clock.instant = DEFAULT_NOW + timedelta(days=1)  # Tuesday 08:00: nobody closed it
    today_call = ok(
        client.post(
            "/api/phone-calls",
            json={
                "therapist_id": make_therapist(session),
                "scheduled_date": "2026-12-01",
                "scheduled_time": "10:00",
                "placement_request_ids": [],
            },
        ),
        201,
    )

    overdue = ok(client.get("/api/phone-calls?overdue=true"))["data"]
    assert [call["id"] for call in overdue] == [forgotten["id"]]
    not_overdue = ok(client.get("/api/phone-calls?overdue=false"))["data"]
    assert [call["id"] for call in not_overdue] == [today_call["id"]]
    assert ok(client.get(f"/api/phone-calls/{forgotten['id']}"))["overdue"] is True
    sheet = ok(client.get("/api/phone-calls/daily"))
    assert [call["id"] for call in sheet["data"]] == [today_call["id"]]
    assert [call["id"] for call in sheet["overdue"]] == [forgotten["id"]]
    assert sheet["overdue"][0]["therapist"]["id"] == therapist
    assert ok(client.get("/api/phone-calls/daily?date=2026-12-02"))["overdue"] == []

    # The overdue call no longer stops batch-emails from calling about new requests.
    make_placement_request(session, therapist_id=therapist)
    assert "1 calls scheduled" in run_job(app, "batch-emails", "--now", "2026-12-01T08:00:00")
    assert "1 overdue calls not closed" in run_job(app, "run-daily", "--now", "2026-12-01T08:00:00")


# --- one live contact per request -------------------------------------------------------------


def test_a_request_is_on_one_scheduled_call_and_one_unsent_email_at_a_time(client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    first = ok(
        client.post(
            "/api/phone-calls", json={"therapist_id": therapist, "placement_request_ids": [request]}
        ),
        201,
    )
    again = error(
        client.post(
            "/api/phone-calls", json={"therapist_id": therapist, "placement_request_ids": [request]}
        ),
        409,
    )
    assert again["code"] == "request_already_in_contact"
    assert again["details"] == {"placement_request_ids": [request], "phone_call_ids": [first["id"]]}

    email = {"therapist_id": therapist, "subject": "Anfrage", "body_text": "Guten Tag"}
    held = ok(client.post("/api/emails", json={**email, "placement_request_ids": [request]}), 201)
    second = error(
        client.post("/api/emails", json={**email, "placement_request_ids": [request]}), 409
    )
    assert (second["code"], second["details"]["email_ids"]) == (
        "request_already_in_contact",
        [held["id"]],
    )
    other = ok(client.post("/api/emails", json=email), 201)
    added = error(
        client.post(f"/api/emails/{other['id']}/batches", json={"placement_request_id": request}),
        409,
    )
    assert added["details"] == {"placement_request_ids": [request], "email_ids": [held["id"]]}

    # Once the call is over, the request is free for the next call.
    ok(client.put(f"/api/phone-calls/{first['id']}", json={"status": "canceled"}))
    ok(
        client.post(
            "/api/phone-calls", json={"therapist_id": therapist, "placement_request_ids": [request]}
        ),
        201,
    )


def test_a_call_booked_without_requests_carries_the_free_ones_longest_waiting_first(
    client, session
):
    therapist = make_therapist(session)

    def request_waiting_since(day: date) -> int:
        patient = make_patient(session, startdatum=day)
        return make_placement_request(session, therapist_id=therapist, patient_id=patient)

    recent = request_waiting_since(date(2026, 6, 1))
    oldest = request_waiting_since(date(2025, 2, 1))
    on_call = request_waiting_since(date(2024, 1, 1))
    in_draft = request_waiting_since(date(2024, 1, 2))
    placed_patient = make_patient(session, startdatum=date(2024, 1, 3))
    make_placement_request(session, therapist_id=therapist, patient_id=placed_patient)
    make_placement_request(
        session, therapist_id=make_therapist(session), patient_id=placed_patient, status="accepted"
    )
    make_placement_request(session, therapist_id=therapist, status="rejected")
    ok(
        client.post(
            "/api/phone-calls", json={"therapist_id": therapist, "placement_request_ids": [on_call]}
        ),
        201,
    )
    make_email(session, therapist_id=therapist, status="draft", placement_request_ids=(in_draft,))

    chosen = ok(client.post("/api/phone-calls", json={"therapist_id": therapist}), 201)

    assert [b["placement_request_id"] for b in chosen["batches"]] == [oldest, recent]
    assert chosen["notice"] == CHOSEN_FOR_THE_CALL
    nothing_left = ok(client.post("/api/phone-calls", json={"therapist_id": therapist}), 201)
    assert (nothing_left["batches"], nothing_left["notice"]) == ([], NOTHING_TO_DISCUSS)
    capacity = ok(
        client.post(
            "/api/phone-calls", json={"therapist_id": therapist, "placement_request_ids": []}
        ),
        201,
    )
    assert capacity["notice"] == NOTHING_TO_DISCUSS


# --- a placed patient is not offered again ----------------------------------------------------


def test_an_acceptance_withdraws_the_patients_other_requests_everywhere(app, client, session):
    patient = make_patient(session)
    other_patient = make_patient(session)
    accepting, calling, batching, staff = (make_therapist(session) for _ in range(4))
    accepted = make_placement_request(session, therapist_id=accepting, patient_id=patient)
    on_call = make_placement_request(session, therapist_id=calling, patient_id=patient)
    in_batch = make_placement_request(session, therapist_id=batching, patient_id=patient)
    neighbour = make_placement_request(session, therapist_id=batching, patient_id=other_patient)
    in_staff_email = make_placement_request(session, therapist_id=staff, patient_id=patient)
    staff_other = make_placement_request(session, therapist_id=staff, patient_id=other_patient)
    reply_to = make_email(
        session,
        therapist_id=accepting,
        status="sent",
        sent_at=sent_days_ago(2),
        placement_request_ids=(accepted,),
    )
    call = ok(
        client.post(
            "/api/phone-calls", json={"therapist_id": calling, "placement_request_ids": [on_call]}
        ),
        201,
    )
    batching_email = make_email(
        session, therapist_id=batching, batch_id="b-1", placement_request_ids=(in_batch, neighbour)
    )
    staff_email = make_email(
        session, therapist_id=staff, placement_request_ids=(in_staff_email, staff_other)
    )

    answer = ok(
        client.put(
            f"/api/emails/{reply_to}/response", json={"outcomes": {str(accepted): "accepted"}}
        )
    )

    assert answer["withdrawn"] == {
        "email_ids": [batching_email],
        "phone_call_ids": [call["id"]],
        "placement_request_ids": sorted([on_call, in_batch, in_staff_email]),
    }
    canceled = ok(client.get(f"/api/phone-calls/{call['id']}"))
    assert canceled["status"] == "canceled" and "vermittelt" in canceled["notes"]
    assert client.get(f"/api/emails/{batching_email}").status_code == 404
    kept = ok(client.get(f"/api/emails/{staff_email}"))
    assert kept["status"] == "draft" and "Bitte den Text prüfen" in kept["follow_up_notes"]
    assert [b["placement_request_id"] for b in kept["batches"]] == [staff_other]
    # No job offers the placed patient again; the neighbour goes back into the pool.
    run_job(app, "batch-emails")
    batched = set(
        session.scalars(
            sa.text(
                "SELECT b.placement_request_id FROM communication_service.email_batches b"
                " JOIN communication_service.emails e ON e.id = b.email_id"
                " WHERE e.batch_id IS NOT NULL AND e.batch_id <> 'b-1'"
            )
        )
    )
    assert neighbour in batched and not batched & {on_call, in_batch, in_staff_email}


# --- plausible outcomes -----------------------------------------------------------------------


def test_a_call_cannot_have_happened_in_the_future_and_is_dated_now_by_default(client, session):
    therapist = make_therapist(session)
    later = ok(
        client.post(
            "/api/phone-calls",
            json={
                "therapist_id": therapist,
                "scheduled_date": "2026-12-01",
                "scheduled_time": "10:00",
                "placement_request_ids": [],
            },
        ),
        201,
    )
    url = f"/api/phone-calls/{later['id']}"
    tomorrow = error(
        client.put(url, json={"status": "completed", "actual_date": "2026-12-01"}), 422
    )
    assert list(tomorrow["details"]) == ["actual_date"]
    in_an_hour = error(
        client.put(
            url, json={"status": "failed", "actual_date": str(TODAY), "actual_time": "09:00"}
        ),
        422,
    )
    assert list(in_an_hour["details"]) == ["actual_time"]
    assert ok(client.get(url))["status"] == "scheduled"

    early = ok(client.put(url, json={"status": "completed"}))  # staff called a day early
    assert (early["actual_date"], early["actual_time"]) == (str(TODAY), "08:00")
