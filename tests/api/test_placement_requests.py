"""``GET /api/placement-requests`` and ``GET /api/placement-requests/{id}``: the requests with
their patient as the emails show them, their therapist and where they stand (docs/api.md)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from communication_service.models import Email, PlacementRequest
from communication_service.services.batching import batch_emails
from communication_service.services.listing import EXACT_TOTAL_UP_TO
from tests.api.test_phone_calls import StatementCounter
from tests.factories import (
    make_email,
    make_patient,
    make_phone_call,
    make_placement_request,
    make_therapist,
)

MONDAY = date(2026, 11, 30)  # DEFAULT_NOW: Monday 08:00 in Berlin
STATES = ("waiting", "emailed", "on_call", "needs_staff")


def listed(client, query: str = "") -> dict:
    response = client.get(f"/api/placement-requests?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(client, query: str = "") -> list[int]:
    return [row["id"] for row in listed(client, query)["data"]]


def test_a_request_with_its_patient_as_the_emails_show_them_and_its_therapist(client, session, ctx):
    therapist = make_therapist(session, titel="Dr.", vorname="Eva", nachname="Becker")
    patient = make_patient(session, vorname="Anna", nachname="Meyer")
    request_id = make_placement_request(session, therapist_id=therapist, patient_id=patient)
    response = client.get(f"/api/placement-requests/{request_id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "id": request_id,
        "patient_id": patient,
        "therapist_id": therapist,
        "status": "open",
        "created_at": "2026-11-30",
        "email_contact_date": None,
        "phone_contact_date": None,
        "response": None,
        "response_date": None,
        "next_contact_after": None,
        "priority": 1,
        "notes": None,
        "patient_display_name": "Anna M.",
        "therapist_display_name": "Dr. Eva Becker",
        "contact_states": ["waiting"],
        "unanswered_email_id": None,
        "scheduled_call_id": None,
    }
    assert listed(client)["data"] == [body]
    # The batching email names the patient exactly so.
    batch_emails(ctx)
    assert "Anna M., " in session.scalars(sa.select(Email.body_text)).one()


def test_a_missing_patient_or_therapist_row_shows_no_name(client, session):
    """The platform keeps no foreign keys between its services' tables."""
    request_id = make_placement_request(session, therapist_id=4711, patient_id=4712)
    body = client.get(f"/api/placement-requests/{request_id}").get_json()
    assert (body["patient_display_name"], body["therapist_display_name"]) == (None, None)


def test_unknown_request_is_404(client):
    response = client.get("/api/placement-requests/4711")
    assert response.status_code == 404
    assert response.get_json()["error"]["details"] == {"id": 4711}


def test_the_requests_are_read_only_here(client, session):
    request_id = make_placement_request(session, therapist_id=make_therapist(session))
    assert client.post("/api/placement-requests", json={"therapist_id": 1}).status_code == 405
    assert client.delete(f"/api/placement-requests/{request_id}").status_code == 405
    assert client.put(f"/api/placement-requests/{request_id}", json={}).status_code == 405
    assert session.execute(sa.select(sa.func.count()).select_from(PlacementRequest)).scalar() == 1


def test_the_list_pages_newest_first_and_filters_by_therapist_patient_and_status(client, session):
    eva, ole = make_therapist(session), make_therapist(session)
    anna = make_patient(session)
    first = make_placement_request(session, therapist_id=eva, patient_id=anna)
    second = make_placement_request(session, therapist_id=ole, patient_id=anna)
    third = make_placement_request(session, therapist_id=eva, status="rejected")
    fourth = make_placement_request(session, therapist_id=ole, status="accepted")
    page = listed(client, "per_page=3")  # newest first
    assert [r["id"] for r in page["data"]] == [fourth, third, second]
    assert page["total"] == 4
    assert ids(client, "per_page=3&page=2") == [first]
    assert ids(client, f"therapist_id={eva}") == [third, first]
    assert ids(client, f"patient_id={anna}") == [second, first]
    assert ids(client, "status=rejected") == [third]
    assert ids(client, f"therapist_id={ole}&status=open") == [second]
    assert listed(client, "therapist_id=999")["data"] == []


@pytest.fixture
def every_state(session) -> dict[str, int]:
    """One therapist's requests, each standing somewhere else."""
    therapist = make_therapist(session)

    def request(**values) -> int:
        return make_placement_request(session, therapist_id=therapist, **values)

    made = {name: request() for name in ("waiting", "emailed", "answered", "draft", "on_call")}
    made |= {name: request() for name in ("overdue", "canceled", "completed", "flagged")}
    made["emailed_and_on_call"] = request()
    made["closed"] = request(status="accepted")
    made["emailed_closed"] = request(status="rejected", response_date=MONDAY)
    sent = {"status": "sent", "sent_at": datetime(2026, 11, 20, 9, 0)}
    made["email"] = make_email(
        session,
        therapist_id=therapist,
        placement_request_ids=(made["emailed"], made["emailed_and_on_call"]),
        **sent,
    )
    make_email(
        session, therapist_id=therapist, placement_request_ids=(made["emailed_closed"],), **sent
    )
    make_email(
        session,
        therapist_id=therapist,
        placement_request_ids=(made["answered"],),
        response_received=True,
        **sent,
    )
    make_email(
        session, therapist_id=therapist, status="draft", placement_request_ids=(made["draft"],)
    )

    def call(request_ids: tuple[int, ...], day: date, status: str = "scheduled", **values) -> int:
        return make_phone_call(
            session,
            therapist_id=therapist,
            scheduled_date=day,
            scheduled_time=time(9, 0),
            status=status,
            placement_request_ids=request_ids,
            **values,
        )

    tomorrow = MONDAY + timedelta(days=1)
    made["call"] = call((made["on_call"], made["emailed_and_on_call"]), tomorrow)
    made["overdue_call"] = call((made["overdue"],), MONDAY - timedelta(days=2))
    call((made["canceled"],), tomorrow + timedelta(days=1), status="canceled")
    call((made["completed"],), MONDAY - timedelta(days=3), status="completed")
    call((made["flagged"],), MONDAY - timedelta(days=4), status="failed", follow_up_required=True)
    return made


def test_every_request_shows_where_it_stands(client, every_state):
    rows = {row["id"]: row for row in listed(client, "per_page=200")["data"]}

    def states(name: str) -> list[str]:
        return rows[every_state[name]]["contact_states"]

    assert states("waiting") == ["waiting"]
    # A canceled call is no contact: the request waits (as batching sees it).
    assert states("canceled") == ["waiting"]
    assert states("emailed") == ["emailed"]
    assert states("emailed_closed") == ["emailed"]
    assert states("emailed_and_on_call") == ["emailed", "on_call"]
    assert states("on_call") == ["on_call"]
    assert states("overdue") == ["on_call"]
    assert states("flagged") == ["needs_staff"]
    # Contacted, but nothing pending: an answered email, a draft, a completed call.
    for name in ("answered", "draft", "completed", "closed"):
        assert states(name) == [], name
    assert rows[every_state["emailed_and_on_call"]]["unanswered_email_id"] == every_state["email"]
    assert rows[every_state["emailed_and_on_call"]]["scheduled_call_id"] == every_state["call"]
    assert rows[every_state["overdue"]]["scheduled_call_id"] == every_state["overdue_call"]
    assert rows[every_state["waiting"]]["unanswered_email_id"] is None


@pytest.mark.parametrize("state", STATES)
def test_the_contact_state_filter_finds_exactly_the_requests_in_that_state(
    client, every_state, state
):
    everything = listed(client, "per_page=200")["data"]
    expected = [row["id"] for row in everything if state in row["contact_states"]]
    assert expected
    body = listed(client, f"contact_state={state}")
    assert [row["id"] for row in body["data"]] == expected
    assert body["total"] == len(expected)
    assert all(state in row["contact_states"] for row in body["data"])


def test_a_placed_patients_other_requests_wait_for_nothing(client, session):
    """An acceptance takes the patient's other requests off their emails and calls (rule 9);
    they are then in no contact, but no job offers them again: not ``waiting``, and not in
    their therapist's ``open_requests_not_contacted``."""
    patient = make_patient(session)
    placing, other = make_therapist(session), make_therapist(session)
    placed = make_placement_request(session, therapist_id=placing, patient_id=patient)
    elsewhere = make_placement_request(session, therapist_id=other, patient_id=patient)
    make_email(session, therapist_id=other, placement_request_ids=(elsewhere,), status="queued")
    call = make_phone_call(
        session,
        therapist_id=placing,
        scheduled_date=MONDAY,
        scheduled_time=time(7, 0),
        placement_request_ids=(placed,),
        status="completed",
        actual_date=MONDAY,
    )
    session.commit()
    batch = client.get(f"/api/phone-calls/{call}").get_json()["batches"][0]["id"]
    accepted = client.put(f"/api/phone-call-batches/{batch}", json={"outcome": "accepted"})
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["withdrawn"]["placement_request_ids"] == [elsewhere]

    row = client.get(f"/api/placement-requests/{elsewhere}").get_json()
    assert row["status"] == "open" and row["contact_states"] == []
    assert elsewhere not in ids(client, "contact_state=waiting")
    state = client.get(f"/api/therapists/{other}").get_json()["contact_state"]
    assert (state["open_requests"], state["open_requests_not_contacted"]) == (1, 0)


@pytest.mark.parametrize(
    "query",
    [
        "contact_state=answered",
        "contact_state=WAITING",
        "status=OPEN",
        "status=closed",
        "therapist_id=0",
        "therapist_id=abc",
        "patient_id=2147483648",
        "q=anna",
    ],
)
def test_invalid_list_queries_are_422(client, query):
    response = client.get(f"/api/placement-requests?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_a_page_is_one_statement(client, session):
    therapist = make_therapist(session)
    for _ in range(3):
        make_placement_request(session, therapist_id=therapist)
    client.get("/api/placement-requests?per_page=2")  # prepared on the reader's connection
    with StatementCounter() as counter:
        body = listed(client, "per_page=2")
    assert len(body["data"]) == 2 and body["total"] == 3
    assert [s.split()[0] for s in counter.statements] == ["EXECUTE"]


def test_past_the_exact_limit_the_total_is_estimated(client, session):
    therapist = make_therapist(session)
    many = EXACT_TOTAL_UP_TO + 500
    session.execute(
        sa.text(
            "INSERT INTO matching_service.placement_requests "
            "(patient_id, therapist_id, status, created_at) "
            "SELECT n, :therapist, 'OPEN', DATE '2026-01-01' FROM generate_series(1, :many) AS n"
        ),
        {"therapist": therapist, "many": many},
    )
    session.commit()
    session.execute(sa.text("ANALYZE matching_service.placement_requests"))
    session.commit()
    first = listed(client)
    assert len(first["data"]) == 50
    assert first["total"] > EXACT_TOTAL_UP_TO and abs(first["total"] - many) < many * 0.1
    assert listed(client, "page=1000")["total"] == first["total"]
    assert listed(client, "status=accepted")["total"] == 0
