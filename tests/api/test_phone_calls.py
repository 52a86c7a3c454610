"""The phone-call routes (docs/api.md) with rules 1-3, 8, 9 and 11 (docs/rules.md), through
the test client."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from communication_service.extensions import db
from communication_service.models import PhoneCall, PhoneCallBatch, PlacementRequest, Therapist
from communication_service.reads import current_reader
from communication_service.schemas.common import TIME_RULE
from communication_service.services.phone_calls import EXACT_TOTAL_UP_TO
from tests.conftest import BERLIN
from tests.factories import make_patient, make_placement_request, make_therapist

MONDAY = date(2026, 11, 30)  # DEFAULT_NOW: Monday 08:00
TUESDAY = MONDAY + timedelta(days=1)


def post_call(client, **body):
    return client.post("/api/phone-calls", json=body)


def book(client, **body) -> dict:
    response = post_call(client, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def count(session, model) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def error_of(response) -> dict:
    return response.get_json()["error"]


class StatementCounter:
    """Statements sent through the session's engine and the reader's (``reads.py``)."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.engines = (db.engine, current_reader().engine)

    def __call__(self, conn, cursor, statement, *args) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        for engine in self.engines:
            sa.event.listen(engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc) -> None:
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self)


# ---------------------------------------------------------------------------- slots


def test_slots_lists_free_slots_by_the_rules(client, session):
    therapist = make_therapist(session)
    book(client, therapist_id=therapist)  # takes Monday 09:00
    response = client.get(f"/api/therapists/{therapist}/slots?days=2&duration=15")
    assert response.status_code == 200
    slots = response.get_json()
    assert slots[0] == {"date": "2026-11-30", "start": "09:05", "end": "09:20"}
    assert {s["date"] for s in slots} == {"2026-11-30", "2026-12-01"}
    assert slots[-1] == {"date": "2026-12-01", "start": "11:45", "end": "12:00"}
    later = client.get(f"/api/therapists/{therapist}/slots?from=2026-12-24&days=3").get_json()
    assert {s["date"] for s in later} == {"2026-12-24"}  # 25th holiday, 26th Saturday


def test_slots_errors(client, session):
    blocked = make_therapist(session, status="blocked")
    assert client.get("/api/therapists/4242/slots").status_code == 404
    response = client.get(f"/api/therapists/{blocked}/slots")
    assert response.status_code == 409 and error_of(response)["code"] == "therapist_not_active"
    for query, field in [
        ("from=2027-02-30", "from"),
        ("days=0", "days"),
        ("days=93", "days"),
        ("duration=abc", "duration"),
        ("duration=481", "duration"),
        ("color=red", "color"),
    ]:
        response = client.get(f"/api/therapists/{blocked}/slots?{query}")
        assert response.status_code == 422, query
        assert field in error_of(response)["details"], query


# ---------------------------------------------------------------------------- POST


def test_post_automatic_call_with_batches(client, session):
    therapist = make_therapist(session)
    requests = [make_placement_request(session, therapist_id=therapist) for _ in range(3)]
    order = [requests[2], requests[0], requests[1]]
    body = book(client, therapist_id=therapist, placement_request_ids=order, notes="Bitte Dr. B.")
    assert body["scheduled_date"] == "2026-11-30" and body["scheduled_time"] == "09:00"
    assert body["within_availability"] is True
    assert body["status"] == "scheduled" and body["attempt"] == 1
    assert body["notes"] == "Bitte Dr. B."
    assert [(b["placement_request_id"], b["priority"]) for b in body["batches"]] == [
        (order[0], 1),
        (order[1], 2),
        (order[2], 3),
    ]
    batch = body["batches"][0]
    assert set(batch) >= {
        "id",
        "placement_request_id",
        "priority",
        "discussed",
        "outcome",
        "follow_up_required",
        "follow_up_notes",
    }
    assert body.pop("notice") is None  # the requests were given
    assert client.get(f"/api/phone-calls/{body['id']}").get_json() == body


def test_post_not_before(client, session):
    therapist = make_therapist(session)
    body = book(client, therapist_id=therapist, not_before="2026-12-02")
    assert (body["scheduled_date"], body["scheduled_time"]) == ("2026-12-02", "09:00")


def test_post_explicit_time_outside_the_hours(client, session):
    therapist = make_therapist(session)
    body = book(
        client,
        therapist_id=therapist,
        scheduled_date="2026-12-01",
        scheduled_time="17:30",
        duration_minutes=20,
    )
    assert (body["scheduled_time"], body["duration_minutes"]) == ("17:30", 20)
    assert body["within_availability"] is False


def test_post_explicit_overlap_is_409_and_writes_nothing(client, session):
    therapist = make_therapist(session)
    first = book(
        client,
        therapist_id=therapist,
        scheduled_date="2026-12-01",
        scheduled_time="10:00",
        duration_minutes=10,
    )
    response = post_call(
        client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time="10:05"
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_taken"
    assert error_of(response)["details"] == {"conflicting_call_ids": [first["id"]]}
    assert count(session, PhoneCall) == 1


# ------------------------------------------------------------ why no automatic call (409)


def no_slot(client, **body) -> dict:
    response = post_call(client, **body)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "no_slot_available"
    return error


FRIDAY_9 = {"friday": [{"start": "09:00", "end": "09:05"}]}


@pytest.mark.parametrize(
    "hours",
    [{}, None, {"monday": [{"start": "12:00", "end": "09:00"}]}],  # the last one is malformed
    ids=["empty", "null", "no-valid-window"],
)
def test_no_slot_without_telephone_hours_says_so(client, session, hours):
    therapist = make_therapist(session, telefonische_erreichbarkeit=hours)
    error = no_slot(client, therapist_id=therapist)
    assert error["details"] == {
        "therapist_id": therapist,
        "from": "2026-11-30",
        "until": "2026-12-27",
        "days": 28,
        "cause": "no_telephone_hours",
    }
    assert error["message"] == (
        f"No free slot for therapist {therapist} from 2026-11-30 until 2026-12-27: "
        "the therapist has no telephone hours."
    )
    assert count(session, PhoneCall) == 0
    # The free-slot list stays a list: empty (docs/decisions.md).
    assert client.get(f"/api/therapists/{therapist}/slots").get_json() == []


def test_no_slot_when_every_window_is_taken_names_the_horizon_end(client, session):
    therapist = make_therapist(session, telefonische_erreichbarkeit=FRIDAY_9)
    booked = [book(client, therapist_id=therapist)["scheduled_date"] for _ in range(3)]
    assert booked == ["2026-12-04", "2026-12-11", "2026-12-18"]  # the 25th is Christmas
    error = no_slot(client, therapist_id=therapist)
    assert (error["details"]["cause"], error["details"]["until"]) == (
        "all_windows_full",
        "2026-12-27",
    )
    assert "until 2026-12-27: every telephone-hours window is taken" in error["message"]


def test_no_slot_for_a_call_longer_than_every_window(client, session):
    therapist = make_therapist(session, telefonische_erreichbarkeit=FRIDAY_9)
    error = no_slot(client, therapist_id=therapist, duration_minutes=10)
    assert error["details"]["cause"] == "windows_too_short"
    assert error["message"].endswith(
        ": no telephone-hours window is 10 minutes long (the longest has 5)."
    )


def test_no_slot_on_holidays_or_days_without_hours(app, client, session, clock, monkeypatch):
    therapist = make_therapist(session, telefonische_erreichbarkeit=FRIDAY_9)
    settings = app.extensions["settings"]
    monkeypatch.setitem(app.extensions, "settings", settings.replace(scheduling_horizon_days=7))
    clock.instant = datetime(2026, 12, 21, 8, 0, tzinfo=BERLIN)  # Monday; Friday is Christmas
    error = no_slot(client, therapist_id=therapist)
    assert error["details"] | {"therapist_id": 0} == {
        "therapist_id": 0,
        "from": "2026-12-21",
        "until": "2026-12-27",
        "days": 7,
        "cause": "holidays",
    }
    assert error["message"].endswith(": every day with telephone hours is a public holiday.")
    monkeypatch.setitem(app.extensions, "settings", settings.replace(scheduling_horizon_days=3))
    error = no_slot(client, therapist_id=therapist)  # Monday to Wednesday: no hours
    assert error["details"]["cause"] == "no_telephone_hours"
    assert error["message"].endswith(": the therapist has no telephone hours on these days.")


def test_no_slot_while_the_therapist_is_absent(client, session):
    therapist = make_therapist(session, telefonische_erreichbarkeit=FRIDAY_9)
    away = {"starts_on": "2026-12-01", "ends_on": "2026-12-31"}  # every Friday in the horizon
    assert client.post(f"/api/therapists/{therapist}/absences", json=away).status_code == 201
    error = no_slot(client, therapist_id=therapist)
    assert (error["details"]["cause"], error["details"]["until"]) == ("absent", "2026-12-27")
    assert error["message"].endswith(": the therapist is absent on every day with telephone hours.")


@pytest.mark.parametrize(
    ("status", "said"),
    [("blocked", "blocked"), ("inactive", "inactive"), (None, "without a status")],
)
def test_post_therapist_not_active_says_why(client, session, status, said):
    therapist = make_therapist(session, status=status)
    response = post_call(client, therapist_id=therapist)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "therapist_not_active"
    assert error["message"] == (
        f"No automatic call for therapist {therapist}: the therapist is {said}, not active."
    )
    assert error["details"] == {"therapist_id": therapist, "status": status, "cause": "not_active"}
    assert count(session, PhoneCall) == 0


def test_post_unknown_therapist_or_requests_writes_nothing(client, session):
    therapist = make_therapist(session)
    other = make_therapist(session)
    foreign = make_placement_request(session, therapist_id=other)
    response = post_call(client, therapist_id=99999)
    assert response.status_code == 404
    response = post_call(client, therapist_id=therapist, placement_request_ids=[12345])
    assert response.status_code == 422
    assert error_of(response)["details"] == {"placement_request_ids": ["Unknown ids: 12345."]}
    response = post_call(client, therapist_id=therapist, placement_request_ids=[foreign])
    assert response.status_code == 422
    assert str(foreign) in error_of(response)["details"]["placement_request_ids"][0]
    assert count(session, PhoneCall) == 0
    assert count(session, PhoneCallBatch) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"therapist_id": None}, "therapist_id"),
        ({"therapist_id": "1"}, "therapist_id"),
        ({"scheduled_date": "2027-02-30", "scheduled_time": "10:00"}, "scheduled_date"),
        ({"scheduled_date": "2026-12-01", "scheduled_time": "25:00"}, "scheduled_time"),
        ({"scheduled_date": "2026-12-01"}, "scheduled_time"),
        ({"scheduled_time": "10:00"}, "scheduled_date"),
        (
            {"scheduled_date": "2026-12-01", "scheduled_time": "10:00", "not_before": "2026-12-01"},
            "not_before",
        ),
        ({"scheduled_date": "2026-12-01", "scheduled_time": "10:03"}, "scheduled_time"),
        ({"scheduled_date": "2026-11-30", "scheduled_time": "07:00"}, "scheduled_time"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"placement_request_ids": [1, 1]}, "placement_request_ids"),
        ({"placement_request_ids": ["x"]}, "placement_request_ids.0"),
        ({"not_before": "tomorrow"}, "not_before"),
        ({"status": "completed"}, "status"),
    ],
)
def test_post_validation(client, session, body, field):
    therapist = make_therapist(session)
    response = post_call(client, **{"therapist_id": therapist, **body})
    assert response.status_code == 422, response.get_json()
    assert field in error_of(response)["details"]
    assert count(session, PhoneCall) == 0


def test_post_needs_a_therapist(client, session):
    response = post_call(client, not_before="2026-12-01")
    assert response.status_code == 422
    assert error_of(response)["details"] == {"therapist_id": ["Missing data for required field."]}


def test_post_needs_json(client):
    response = client.post("/api/phone-calls", data="therapist_id=1")
    assert response.status_code == 415


def test_post_books_with_a_constant_number_of_statements(client, session):
    therapist = make_therapist(
        session, telefonische_erreichbarkeit={"monday": [{"start": "00:00", "end": "23:55"}]}
    )
    requests = [make_placement_request(session, therapist_id=therapist) for _ in range(25)]
    counts = []
    for request in requests:  # one request on one scheduled call at a time
        with StatementCounter() as counter:
            book(client, therapist_id=therapist, placement_request_ids=[request])
        counts.append(len(counter.statements))
    # lock, load, insert call + batches, read call with batches (prepared the first time)
    assert counts[0] in (4, 5) and set(counts[1:]) == {4}


# ---------------------------------------------------------------------------- lists


def test_list_filters_orders_and_paginates(client, session):
    first, second = make_therapist(session), make_therapist(session)
    made = [
        book(client, therapist_id=first, scheduled_date="2026-12-02", scheduled_time="10:00"),
        book(client, therapist_id=second, scheduled_date="2026-12-01", scheduled_time="11:00"),
        book(client, therapist_id=first, scheduled_date="2026-12-01", scheduled_time="09:00"),
        book(client, therapist_id=second, scheduled_date="2026-12-03", scheduled_time="09:00"),
    ]
    client.put(f"/api/phone-calls/{made[3]['id']}", json={"status": "canceled"})

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/phone-calls?{query}")
        assert response.status_code == 200
        return [call["id"] for call in response.get_json()["data"]]

    by_time = [made[2]["id"], made[1]["id"], made[0]["id"], made[3]["id"]]
    assert ids("") == by_time
    assert ids(f"therapist_id={first}") == [made[2]["id"], made[0]["id"]]
    assert ids("status=canceled") == [made[3]["id"]]
    assert ids("scheduled_date=2026-12-01") == [made[2]["id"], made[1]["id"]]
    assert ids("date_from=2026-12-02&date_to=2026-12-03") == [made[0]["id"], made[3]["id"]]
    page = client.get("/api/phone-calls?per_page=3&page=2").get_json()
    assert (page["total"], page["page"], page["per_page"]) == (4, 2, 3)
    assert [c["id"] for c in page["data"]] == by_time[3:]
    assert page["data"][0]["batches"] == []
    for bad in ("status=done", "date_to=2026-12-01&date_from=2026-12-02", "per_page=201", "x=1"):
        assert client.get(f"/api/phone-calls?{bad}").status_code == 422, bad


def test_list_reads_batches_in_one_query(client, session):
    therapist = make_therapist(session)
    for hour in (9, 10, 11):
        requests = [make_placement_request(session, therapist_id=therapist) for _ in range(2)]
        book(
            client,
            therapist_id=therapist,
            scheduled_date="2026-12-01",
            scheduled_time=f"{hour:02d}:00",
            placement_request_ids=requests,
        )
    with StatementCounter() as counter:
        data = client.get("/api/phone-calls").get_json()["data"]
    assert [len(call["batches"]) for call in data] == [2, 2, 2]
    # One statement for the page with its batches (a short first page needs no count),
    # prepared on the reader's connection the first time.
    kinds = [s.split()[0] for s in counter.statements]
    assert kinds in (["PREPARE", "EXECUTE"], ["EXECUTE"])


def test_get_unknown_call_is_404(client):
    assert client.get("/api/phone-calls/777").status_code == 404
    assert client.get("/api/phone-calls/0").status_code == 404
    assert client.get("/api/phone-calls/abc").status_code == 404


# ---------------------------------------------------------------------------- call sheet


def test_daily_call_sheet(client, session):
    eager = make_therapist(
        session,
        nachname="Becker",
        telefon="+49 30 1",
        potentially_available=True,
        potentially_available_notes="zwei Plätze",
    )
    other = make_therapist(session, nachname="Hoffmann")
    patient = make_patient(session, vorname="Erika", nachname="Muster")
    request = make_placement_request(session, therapist_id=eager, patient_id=patient)
    late = book(client, therapist_id=other, scheduled_date="2026-12-01", scheduled_time="11:00")
    early = book(
        client,
        therapist_id=eager,
        scheduled_date="2026-12-01",
        scheduled_time="09:30",
        placement_request_ids=[request],
    )
    book(client, therapist_id=other, scheduled_date="2026-12-02", scheduled_time="09:00")
    response = client.get("/api/phone-calls/daily?date=2026-12-01")
    assert response.status_code == 200
    sheet = response.get_json()
    assert sheet["total"] == 2
    assert {call["scheduled_date"] for call in sheet["data"]} == {"2026-12-01"}
    assert [call["id"] for call in sheet["data"]] == [early["id"], late["id"]]
    first = sheet["data"][0]
    assert first["therapist"] == {
        "id": eager,
        "anrede": None,
        "titel": None,
        "vorname": "Test",
        "nachname": "Becker",
        "telefon": "+49 30 1",
        "potentially_available": True,
        "potentially_available_notes": "zwei Plätze",
    }
    assert first["therapist_id"] == eager
    [batch] = first["batches"]
    assert batch["placement_request_id"] == request
    assert batch["placement_request_status"] == "open"
    assert batch["patient"]["id"] == patient
    assert (batch["patient"]["vorname"], batch["patient"]["nachname"]) == ("Erika", "Muster")
    # default day: today (Monday 2026-11-30)
    todays = book(client, therapist_id=other, scheduled_date="2026-11-30", scheduled_time="10:00")
    assert [c["id"] for c in client.get("/api/phone-calls/daily").get_json()["data"]] == [
        todays["id"]
    ]
    assert client.get("/api/phone-calls/daily?date=2026-13-01").status_code == 422


def test_daily_call_sheet_has_a_fixed_number_of_queries(client, session):
    def sheet_queries() -> int:
        with StatementCounter() as counter:
            assert client.get("/api/phone-calls/daily?date=2026-12-01").status_code == 200
        return len(counter.statements)

    therapist = make_therapist(session)
    book(client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time="09:00")
    sheet_queries()  # may prepare the statement on the reader's connection first
    few = sheet_queries()
    for minute in range(5, 60, 5):
        others = make_therapist(session)
        requests = [make_placement_request(session, therapist_id=others) for _ in range(3)]
        book(
            client,
            therapist_id=others,
            scheduled_date="2026-12-01",
            scheduled_time=f"14:{minute:02d}",
            placement_request_ids=requests,
        )
    assert sheet_queries() == few == 1  # the page with its batches and their patients


# ---------------------------------------------------------------------------- PUT


def test_completing_a_call_sets_the_contact_dates(client, session, clock):
    therapist = make_therapist(session)
    requests = [make_placement_request(session, therapist_id=therapist) for _ in range(2)]
    untouched = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=requests)
    clock.instant = datetime(2026, 11, 30, 9, 3, tzinfo=BERLIN)
    response = client.put(
        f"/api/phone-calls/{call['id']}", json={"status": "completed", "outcome": "erreicht"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["outcome"]) == ("completed", "erreicht")
    assert (body["actual_date"], body["actual_time"]) == ("2026-11-30", "09:03")
    assert body["replanned_call_id"] is None
    contact = dict(
        session.execute(sa.select(PlacementRequest.id, PlacementRequest.phone_contact_date)).all()
    )
    assert contact == {requests[0]: MONDAY, requests[1]: MONDAY, untouched: None}
    assert session.get(Therapist, therapist).letzter_kontakt_telefon == MONDAY


def test_completing_with_an_actual_date_uses_it(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    client.put(
        f"/api/phone-calls/{call['id']}",
        json={"status": "completed", "actual_date": "2026-11-29", "actual_time": "18:00"},
    )
    assert session.get(Therapist, therapist).letzter_kontakt_telefon == date(2026, 11, 29)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("completed", "canceled"),
        ("completed", "failed"),
        ("canceled", "completed"),
        ("canceled", "scheduled"),
        ("failed", "completed"),
        ("completed", "completed"),
    ],
)
def test_illegal_status_changes_are_409(client, session, first, then):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    assert client.put(f"/api/phone-calls/{call['id']}", json={"status": first}).status_code == 200
    before = client.get(f"/api/phone-calls/{call['id']}").get_json()
    calls_before = count(session, PhoneCall)
    response = client.put(f"/api/phone-calls/{call['id']}", json={"status": then, "notes": "x"})
    assert response.status_code == 409
    assert error_of(response)["code"] == "illegal_status_change"
    assert error_of(response)["details"] == {"id": call["id"], "from": first, "to": then}
    assert client.get(f"/api/phone-calls/{call['id']}").get_json() == before
    assert count(session, PhoneCall) == calls_before


def test_put_changes_updated_at_and_notes_in_any_status(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    session.execute(sa.update(PhoneCall).values(updated_at=datetime(2020, 1, 1)))
    session.commit()
    client.put(f"/api/phone-calls/{call['id']}", json={"status": "canceled"})
    body = client.put(f"/api/phone-calls/{call['id']}", json={"notes": "abgesagt"}).get_json()
    assert body["notes"] == "abgesagt" and body["status"] == "canceled"
    assert not body["updated_at"].startswith("2020")


def test_put_moves_a_call_with_rechecks(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    other = book(
        client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time="10:00"
    )
    url = f"/api/phone-calls/{call['id']}"
    overlapping = {
        "scheduled_date": "2026-12-01",
        "scheduled_time": "09:55",
        "duration_minutes": 10,
    }
    response = client.put(url, json=overlapping)
    assert response.status_code == 409 and error_of(response)["code"] == "slot_taken"
    assert error_of(response)["details"] == {"conflicting_call_ids": [other["id"]]}
    response = client.put(url, json={"scheduled_date": "2026-11-30", "scheduled_time": "07:00"})
    assert response.status_code == 422
    # its own old time never blocks the move; duration alone is re-checked too
    body = client.put(url, json={"duration_minutes": 15}).get_json()
    assert (body["scheduled_time"], body["duration_minutes"]) == ("09:00", 15)
    body = client.put(url, json={"scheduled_date": "2026-12-01", "scheduled_time": "10:05"})
    assert body.status_code == 200
    assert body.get_json()["scheduled_date"] == "2026-12-01"
    client.put(url, json={"status": "completed"})
    response = client.put(url, json={"scheduled_time": "11:00"})
    assert response.status_code == 409 and error_of(response)["code"] == "illegal_status_change"


def test_put_validation_and_404(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    url = f"/api/phone-calls/{call['id']}"
    for body, field in [
        ({}, "_schema"),
        ({"status": "done"}, "status"),
        ({"scheduled_time": "10:00", "status": "completed"}, "scheduled_time"),
        ({"actual_date": "2026-02-30"}, "actual_date"),
        ({"retry_after": "soon"}, "retry_after"),
        ({"therapist_id": 2}, "therapist_id"),
    ]:
        response = client.put(url, json=body)
        assert response.status_code == 422, body
        assert field in error_of(response)["details"], body
    assert client.put("/api/phone-calls/999", json={"status": "completed"}).status_code == 404
    assert client.put("/api/phone-calls/999", json={"notes": "x"}).status_code == 404
    assert client.put("/api/phone-calls/999", json={"scheduled_time": "10:00"}).status_code == 404


# ---------------------------------------------------------------------------- rule 8


def fail(client, call_id: int, **extra) -> dict:
    response = client.put(f"/api/phone-calls/{call_id}", json={"status": "failed", **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_failed_call_is_replanned_into_a_later_window(client, session, clock):
    therapist = make_therapist(
        session,
        telefonische_erreichbarkeit={
            "monday": [{"start": "09:00", "end": "10:00"}, {"start": "14:00", "end": "15:00"}],
            "tuesday": [{"start": "09:00", "end": "10:00"}],
        },
    )
    requests = [make_placement_request(session, therapist_id=therapist) for _ in range(2)]
    call = book(client, therapist_id=therapist, placement_request_ids=requests)
    assert call["scheduled_time"] == "09:00"
    clock.instant = datetime(2026, 11, 30, 9, 6, tzinfo=BERLIN)
    failed = fail(client, call["id"])
    new = client.get(f"/api/phone-calls/{failed['replanned_call_id']}").get_json()
    # not 09:10 in the same window: the afternoon window
    assert (new["scheduled_date"], new["scheduled_time"]) == ("2026-11-30", "14:00")
    assert [b["placement_request_id"] for b in new["batches"]] == requests
    assert (new["attempt"], new["previous_call_id"], new["status"]) == (2, call["id"], "scheduled")
    assert failed["retry_after"] == "2026-11-30"
    # the afternoon call fails too: Tuesday's window
    clock.instant = datetime(2026, 11, 30, 14, 10, tzinfo=BERLIN)
    again = fail(client, new["id"])
    third = client.get(f"/api/phone-calls/{again['replanned_call_id']}").get_json()
    assert (third["scheduled_date"], third["scheduled_time"], third["attempt"]) == (
        "2026-12-01",
        "09:00",
        3,
    )
    assert again["retry_after"] == "2026-12-01"


def test_a_failed_call_outside_the_hours_is_replanned_after_it(client, session, clock):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist, scheduled_date="2026-11-30", scheduled_time="08:30")
    clock.instant = datetime(2026, 11, 30, 8, 40, tzinfo=BERLIN)
    new_id = fail(client, call["id"])["replanned_call_id"]
    new = client.get(f"/api/phone-calls/{new_id}").get_json()
    assert (new["scheduled_date"], new["scheduled_time"]) == ("2026-11-30", "09:00")


def test_retry_after_is_respected(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    failed = fail(client, call["id"], retry_after="2026-12-07")
    new = client.get(f"/api/phone-calls/{failed['replanned_call_id']}").get_json()
    assert (new["scheduled_date"], new["scheduled_time"]) == ("2026-12-07", "09:00")
    assert failed["retry_after"] == "2026-12-07"


def test_after_max_attempts_requests_are_flagged_for_staff(client, session, clock):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    for attempt in (1, 2):
        result = fail(client, call["id"])
        assert result["attempt"] == attempt
        call = client.get(f"/api/phone-calls/{result['replanned_call_id']}").get_json()
    assert call["attempt"] == 3
    calls_before = count(session, PhoneCall)
    last = fail(client, call["id"])
    assert last["replanned_call_id"] is None and last["retry_after"] is None
    assert count(session, PhoneCall) == calls_before
    [batch] = last["batches"]
    assert batch["follow_up_required"] is True
    assert "3 call attempts" in batch["follow_up_notes"]
    assert "3 call attempts" in last["notes"]
    flagged = client.get("/api/phone-calls?follow_up_required=true").get_json()["data"]
    assert [c["id"] for c in flagged] == [last["id"]]
    assert session.get(PlacementRequest, request).status == "open"


def test_max_attempts_is_a_setting(app_factory, session):
    from tests.conftest import ApiClient

    app = app_factory(max_call_attempts=1)
    with app.app_context():
        client = ApiClient(app.test_client())
        therapist = make_therapist(db.session)
        call = book(client, therapist_id=therapist)
        assert fail(client, call["id"])["replanned_call_id"] is None
        db.session.remove()


def test_when_no_new_call_fits_the_requests_are_flagged(client, session):
    therapist = make_therapist(
        session, telefonische_erreichbarkeit={"monday": [{"start": "09:00", "end": "09:05"}]}
    )
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    session.execute(sa.update(Therapist).values(telefonische_erreichbarkeit={}))
    session.commit()
    failed = fail(client, call["id"])
    assert failed["replanned_call_id"] is None
    assert failed["batches"][0]["follow_up_required"] is True
    assert "no new call could be planned" in failed["batches"][0]["follow_up_notes"]


def test_decided_requests_are_not_carried_over(client, session):
    therapist = make_therapist(session)
    decided, still_open = (make_placement_request(session, therapist_id=therapist) for _ in "ab")
    call = book(client, therapist_id=therapist, placement_request_ids=[decided, still_open])
    client.put(f"/api/phone-call-batches/{call['batches'][0]['id']}", json={"outcome": "accepted"})
    new_id = fail(client, call["id"])["replanned_call_id"]
    new = client.get(f"/api/phone-calls/{new_id}").get_json()
    assert [b["placement_request_id"] for b in new["batches"]] == [still_open]


@pytest.mark.parametrize("status", ["in_progress", None])
def test_requests_no_longer_open_are_not_carried_over(client, session, status):
    """The matching service took a request over (``IN_PROGRESS``) or closed it (NULL: not
    open on the platform) after the call was booked: the re-plan calls about the open one."""
    therapist = make_therapist(session)
    taken, still_open = (make_placement_request(session, therapist_id=therapist) for _ in "ab")
    call = book(client, therapist_id=therapist, placement_request_ids=[taken, still_open])
    session.get(PlacementRequest, taken).status = status
    session.commit()
    new_id = fail(client, call["id"])["replanned_call_id"]
    new = client.get(f"/api/phone-calls/{new_id}").get_json()
    assert [b["placement_request_id"] for b in new["batches"]] == [still_open]


# ---------------------------------------------------------------------------- rule 9


def test_accepted_outcome_updates_the_request(client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    batch_id = call["batches"][0]["id"]
    response = client.put(
        f"/api/phone-call-batches/{batch_id}",
        json={"outcome": "accepted", "follow_up_notes": "Erstgespräch am 8.12."},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["outcome"], body["discussed"]) == ("accepted", True)
    assert body["follow_up_notes"] == "Erstgespräch am 8.12."
    stored = session.get(PlacementRequest, request)
    assert (stored.status, stored.response_date, stored.next_contact_after) == (
        "accepted",
        MONDAY,
        None,
    )
    assert stored.response == f"Accepted by phone (call {call['id']})."
    assert (body.pop("canceled_call_ids"), body.pop("kept_staff_call_ids")) == ([], [])
    assert body.pop("withdrawn") == {
        "email_ids": [],
        "phone_call_ids": [],
        "placement_request_ids": [],
    }
    assert client.get(f"/api/phone-calls/{call['id']}").get_json()["batches"][0] == body


def test_rejection_starts_the_cooling_period(app_factory, client, session, clock):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    client.put(f"/api/phone-calls/{call['id']}", json={"status": "completed"})
    response = client.put(
        f"/api/phone-call-batches/{call['batches'][0]['id']}", json={"outcome": "rejected"}
    )
    assert response.status_code == 200
    stored = session.get(PlacementRequest, request)
    assert (stored.status, stored.response_date) == ("rejected", MONDAY)
    assert stored.next_contact_after == MONDAY + timedelta(days=28)
    # no automatic call within 28 days of the rejection ...
    clock.instant = datetime(2026, 12, 27, 8, 0, tzinfo=BERLIN)
    response = post_call(client, therapist_id=therapist)
    assert response.status_code == 409
    assert error_of(response) == {
        "code": "cooling_period",
        "message": f"No automatic call for therapist {therapist}: cooling period after a "
        "rejection, no automatic contact before 2026-12-28.",
        "details": {"therapist_id": therapist, "until": "2026-12-28", "cause": "cooling_period"},
    }
    # ... from then on again
    clock.instant = datetime(2026, 12, 28, 8, 0, tzinfo=BERLIN)
    assert post_call(client, therapist_id=therapist).status_code == 201


def test_undecided_outcome_leaves_the_request_alone(client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    batch_id = call["batches"][0]["id"]
    body = client.put(
        f"/api/phone-call-batches/{batch_id}",
        json={"outcome": "undecided", "discussed": False, "follow_up_required": True},
    ).get_json()
    assert (body["outcome"], body["discussed"], body["follow_up_required"]) == (
        "undecided",
        False,
        True,
    )
    assert session.get(PlacementRequest, request).status == "open"


def test_batch_update_errors(client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    url = f"/api/phone-call-batches/{call['batches'][0]['id']}"
    for body, field in [
        ({}, "_schema"),
        ({"outcome": "maybe"}, "outcome"),
        ({"discussed": "yes"}, "discussed"),
        ({"priority": 3}, "priority"),
    ]:
        response = client.put(url, json=body)
        assert response.status_code == 422, body
        assert field in error_of(response)["details"]
    assert client.put("/api/phone-call-batches/999", json={"discussed": True}).status_code == 404
    assert session.get(PlacementRequest, request).status == "open"


# ---------------------------------------------------------------------------- DELETE


def test_delete_a_scheduled_call_and_its_batches(client, session):
    therapist = make_therapist(session)
    request = make_placement_request(session, therapist_id=therapist)
    call = book(client, therapist_id=therapist, placement_request_ids=[request])
    response = client.delete(f"/api/phone-calls/{call['id']}")
    assert response.status_code == 204 and response.data == b""
    assert client.get(f"/api/phone-calls/{call['id']}").status_code == 404
    assert count(session, PhoneCallBatch) == 0
    assert client.delete(f"/api/phone-calls/{call['id']}").status_code == 404
    # its slot is free again
    assert book(client, therapist_id=therapist)["scheduled_time"] == "09:00"


def test_completed_and_failed_calls_are_kept(client, session):
    therapist = make_therapist(session)
    for status in ("completed", "failed"):
        at = "10:00" if status == "completed" else "10:30"
        call = book(client, therapist_id=therapist, scheduled_date="2026-12-07", scheduled_time=at)
        client.put(f"/api/phone-calls/{call['id']}", json={"status": status})
        response = client.delete(f"/api/phone-calls/{call['id']}")
        assert response.status_code == 409
        assert error_of(response)["code"] == "call_is_history"
        assert client.get(f"/api/phone-calls/{call['id']}").status_code == 200
    canceled = book(
        client, therapist_id=therapist, scheduled_date="2026-12-07", scheduled_time="11:00"
    )
    client.put(f"/api/phone-calls/{canceled['id']}", json={"status": "canceled"})
    assert client.delete(f"/api/phone-calls/{canceled['id']}").status_code == 204


def test_routes_need_the_token(client):
    for method, url in [
        ("get", "/api/phone-calls"),
        ("post", "/api/phone-calls"),
        ("get", "/api/phone-calls/daily"),
        ("get", "/api/phone-calls/1"),
        ("put", "/api/phone-call-batches/1"),
        ("get", "/api/therapists/1/slots"),
    ]:
        assert getattr(client.raw, method)(url).status_code == 401


def test_every_phone_resource_method_is_documented(app):
    from communication_service.api import phone_calls

    for resource in (
        phone_calls.TherapistSlotsResource,
        phone_calls.PhoneCallListResource,
        phone_calls.CallSheetResource,
        phone_calls.PhoneCallResource,
        phone_calls.PhoneCallBatchResource,
    ):
        for method in resource.methods:
            assert hasattr(getattr(resource, method.lower()), "__apidoc__"), (resource, method)


def test_time_fields_round_trip(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist)
    stored = session.get(PhoneCall, call["id"])
    assert stored.scheduled_time == time(9, 0)


def test_list_totals_match_the_calls_for_every_filter(client, session):
    """Totals are counted with the page (or alone for a page past the end), for every filter."""
    first, second = make_therapist(session), make_therapist(session)
    for day in range(1, 8):
        for therapist, time_of_day in ((first, "09:00"), (second, "10:00")):
            book(
                client,
                therapist_id=therapist,
                scheduled_date=f"2026-12-{day:02d}",
                scheduled_time=time_of_day,
            )
    calls = client.get("/api/phone-calls?per_page=200").get_json()["data"]
    for call in calls[::3]:
        client.put(f"/api/phone-calls/{call['id']}", json={"status": "canceled"})

    for query in (
        "",
        f"therapist_id={first}",
        "status=canceled",
        f"therapist_id={second}&status=scheduled",
        f"therapist_id={first}&date_from=2026-12-03",
        "scheduled_date=2026-12-02",
    ):
        everything = client.get(f"/api/phone-calls?per_page=200&{query}").get_json()
        page = client.get(f"/api/phone-calls?per_page=2&page=2&{query}").get_json()
        assert page["total"] == everything["total"] == len(everything["data"]), query
        assert page["data"] == everything["data"][2:4], query


def test_list_rows_are_the_calls_as_get_shows_them(client, session):
    """The one-therapist list reads the hours once; each row still equals GET /{id}."""
    hours = {"tuesday": [{"start": "09:00", "end": "10:00"}]}
    therapist = make_therapist(session, telefonische_erreichbarkeit=hours)
    requests = [make_placement_request(session, therapist_id=therapist) for _ in range(2)]
    inside = book(client, therapist_id=therapist, placement_request_ids=requests)
    outside = book(
        client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time="15:00"
    )
    for query in (f"therapist_id={therapist}", "", f"therapist_id={therapist}&status=scheduled"):
        listed = client.get(f"/api/phone-calls?{query}").get_json()["data"]
        assert listed == [
            client.get(f"/api/phone-calls/{call['id']}").get_json() for call in (inside, outside)
        ], query
    assert [call["within_availability"] for call in listed] == [True, False]
    assert len(listed[0]["batches"]) == 2


def test_a_long_list_answers_an_estimated_total_without_counting_it(client, session):
    """Up to EXACT_TOTAL_UP_TO matching calls the total is exact (test above); past it, it is
    PostgreSQL's estimate: the page does not read every matching call to count them."""
    therapist = make_therapist(session)
    many = EXACT_TOTAL_UP_TO + 1_500
    session.execute(
        sa.text(
            "INSERT INTO communication_service.phone_calls "
            "(therapist_id, scheduled_date, scheduled_time, status) "
            "SELECT :therapist, DATE '2020-01-01' + n / 100, TIME '08:00' + (n % 100) * "
            "interval '5 minutes', 'completed' FROM generate_series(1, :many) AS n"
        ),
        {"therapist": therapist, "many": many},
    )
    session.commit()
    session.execute(sa.text("ANALYZE communication_service.phone_calls"))
    session.commit()  # the statistics the reader's planner sees
    first = client.get(f"/api/phone-calls?therapist_id={therapist}").get_json()
    assert len(first["data"]) == 50
    assert first["total"] > EXACT_TOTAL_UP_TO and abs(first["total"] - many) < many * 0.1
    past_the_end = client.get(f"/api/phone-calls?therapist_id={therapist}&page=1000").get_json()
    assert past_the_end["data"] == [] and past_the_end["total"] == first["total"]


UNPADDED_TIMES = ["7:0", "7:00", "07:0", "9:30", "24:00", "07:00:00", "0700", "07.00", 700]


@pytest.mark.parametrize("bad", UNPADDED_TIMES, ids=repr)
def test_times_are_hh_mm_zero_padded_in_every_request(client, session, bad):
    """``strptime("%H:%M")`` reads "7:0" as 07:00: a time is written one way only, and the 422
    names the field and the format."""
    therapist = make_therapist(session)
    expected = [TIME_RULE]
    response = post_call(
        client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time=bad
    )
    assert response.status_code == 422
    assert error_of(response)["details"] == {"scheduled_time": expected}
    assert count(session, PhoneCall) == 0

    call = book(client, therapist_id=therapist)
    assert call.pop("notice") == "No open placement request to discuss: the call is about capacity."
    url = f"/api/phone-calls/{call['id']}"
    for body in (
        {"scheduled_date": "2026-12-01", "scheduled_time": bad},
        {"actual_date": "2026-11-30", "actual_time": bad},
    ):
        response = client.put(url, json=body)
        assert response.status_code == 422, body
        field = next(key for key in body if key.endswith("_time"))
        assert error_of(response)["details"] == {field: expected}
    assert client.get(url).get_json() == call


def test_times_answer_hh_mm(client, session):
    therapist = make_therapist(session)
    call = book(client, therapist_id=therapist, scheduled_date="2026-12-01", scheduled_time="09:05")
    body = client.put(
        f"/api/phone-calls/{call['id']}", json={"actual_date": "2026-11-30", "actual_time": "07:07"}
    ).get_json()
    assert (body["scheduled_time"], body["actual_time"]) == ("09:05", "07:07")
    slots = client.get(f"/api/therapists/{therapist}/slots?from=2026-12-02&days=1").get_json()
    assert (slots[0]["start"], slots[0]["end"]) == ("09:00", "09:05")
