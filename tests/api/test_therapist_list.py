"""``GET /api/therapists`` (the list, its name search and filters) and every therapist's
contact state, also on ``GET /api/therapists/{id}``, through the test client (docs/api.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from communication_service.models import Email, PlacementRequest
from communication_service.services.batching import batch_emails
from communication_service.services.listing import EXACT_TOTAL_UP_TO
from tests.api.test_phone_calls import StatementCounter
from tests.conftest import BERLIN
from tests.factories import (
    make_email,
    make_phone_call,
    make_placement_request,
    make_therapist,
)

MONDAY = date(2026, 11, 30)  # DEFAULT_NOW: Monday 08:00 in Berlin


def listed(client, query: str = "") -> dict:
    response = client.get(f"/api/therapists?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def names(body: dict) -> list[str]:
    return [f"{t['nachname']} {t['vorname']}" for t in body["data"]]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------- list and search


def test_the_list_pages_by_name_in_phone_book_order(client, session):
    for nachname in ("Zander", "Özdemir", "Becker", "Müller", "Mueller", "Muster"):
        make_therapist(session, nachname=nachname, vorname="Eva")
    first = listed(client, "per_page=4")
    # ä, ö, ü as ae, oe, ue (DIN 5007-2): Müller and Mueller side by side (the id breaks the
    # tie), Özdemir before Zander.
    assert names(first) == ["Becker Eva", "Müller Eva", "Mueller Eva", "Muster Eva"]
    assert (first["page"], first["per_page"], first["total"]) == (1, 4, 6)
    second = listed(client, "per_page=4&page=2")
    assert names(second) == ["Özdemir Eva", "Zander Eva"]
    assert second["total"] == 6
    beyond = listed(client, "per_page=4&page=3")
    assert beyond["data"] == [] and beyond["total"] == 6


@pytest.fixture
def namesakes(session) -> dict[str, int]:
    people = {
        "Anna Müller": ("Anna", "Müller"),
        "Bernd Mueller": ("Bernd", "Mueller"),
        "Chloé Muller": ("Chloé", "Muller"),
        "Jörg Schäfer": ("Jörg", "Schäfer"),
        "Eva Groß-Weiß": ("Eva", "Groß-Weiß"),
        # As some systems write it: u and a combining diaeresis (NFD).
        "Dora Mu\u0308hlbauer": ("Dora", "Mu\u0308hlbauer"),
    }
    return {
        label: make_therapist(session, vorname=vorname, nachname=nachname)
        for label, (vorname, nachname) in people.items()
    }


@pytest.mark.parametrize(
    ("q", "found"),
    [
        # Umlauts both ways: ü, ue and u all find Müller; ue in the query means ü or ue.
        ("mueller", ["Anna Müller", "Bernd Mueller"]),
        ("Müller", ["Anna Müller", "Bernd Mueller", "Chloé Muller"]),
        ("muller", ["Anna Müller", "Bernd Mueller", "Chloé Muller"]),
        ("MÜLLER", ["Anna Müller", "Bernd Mueller", "Chloé Muller"]),
        # Prefix, substring, accents, ß.
        ("mül", ["Anna Müller", "Bernd Mueller", "Chloé Muller"]),
        ("ller", ["Anna Müller", "Bernd Mueller", "Chloé Muller"]),
        ("chloe", ["Chloé Muller"]),
        ("schaefer", ["Jörg Schäfer"]),
        ("schafer", ["Jörg Schäfer"]),
        ("jorg", ["Jörg Schäfer"]),
        ("gross-weiss", ["Eva Groß-Weiß"]),
        ("weiß", ["Eva Groß-Weiß"]),
        ("mühl", ["Dora Mühlbauer"]),
        ("muehlbauer", ["Dora Mühlbauer"]),
        # Every word narrows the search, in any order, commas allowed.
        ("anna müller", ["Anna Müller"]),
        ("Müller, Anna", ["Anna Müller"]),
        ("müller zora", []),
        # Metacharacters of regular expressions are plain text.
        ("m.ller", []),
        ("(", []),
        ("\\", []),
        ("[a-z]*", []),
        # No words: no search.
        ("  ", None),
    ],
)
def test_the_name_search_ignores_case_accents_and_umlauts(client, namesakes, q, found):
    body = listed(client, f"q={q.replace(' ', '%20').replace(',', '%2C')}")
    labels = [f"{t['vorname']} {t['nachname']}".replace("u\u0308", "ü") for t in body["data"]]
    if found is None:
        assert len(labels) == len(namesakes)
    else:
        assert labels == found
        assert body["total"] == len(found)


def test_the_search_finds_names_written_after_the_index(client, session, namesakes):
    """The key is a generated column: the therapist service's writes keep it current."""
    session.execute(
        sa.text("UPDATE therapist_service.therapists SET nachname = 'Özkan' WHERE id = :id"),
        {"id": namesakes["Jörg Schäfer"]},
    )
    session.commit()
    assert names(listed(client, "q=oezkan")) == ["Özkan Jörg"]
    assert listed(client, "q=schaefer")["data"] == []


def test_filters_status_flag_and_open_requests(client, session):
    active = make_therapist(session, nachname="Aktiv", potentially_available=True)
    blocked = make_therapist(session, nachname="Gesperrt", status="blocked")
    unflagged = make_therapist(session, nachname="Nullflag", potentially_available=None)
    make_placement_request(session, therapist_id=active)
    make_placement_request(session, therapist_id=blocked, status="accepted")

    def ids(query: str) -> list[int]:
        return [t["id"] for t in listed(client, query)["data"]]

    assert ids("status=active") == [active, unflagged]
    assert ids("status=blocked") == [blocked]
    assert ids("potentially_available=true") == [active]
    # NULL is "not flagged", as rule 12 reads it.
    assert ids("potentially_available=false") == [blocked, unflagged]
    assert ids("has_open_requests=1") == [active]
    assert ids("has_open_requests=0") == [blocked, unflagged]
    assert ids("status=active&has_open_requests=false&q=null") == [unflagged]


@pytest.mark.parametrize(
    "query",
    [
        "status=ACTIVE",
        "status=gone",
        "potentially_available=yes",
        "has_open_requests=2",
        "q=" + "x" * 101,
        "q=a%20b%20c%20d%20e%20f",
        "per_page=201",
        "name=Becker",
    ],
)
def test_invalid_list_queries_are_422(client, query):
    response = client.get(f"/api/therapists?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_a_page_is_one_statement(client, session):
    for _ in range(3):
        make_placement_request(session, therapist_id=make_therapist(session))
    client.get("/api/therapists?q=test")  # prepared on the reader's connection
    with StatementCounter() as counter:
        body = listed(client, "q=test&per_page=2")
    assert len(body["data"]) == 2 and body["total"] == 3
    assert [s.split()[0] for s in counter.statements] == ["EXECUTE"]


def test_past_the_exact_limit_the_total_is_estimated(client, session):
    many = EXACT_TOTAL_UP_TO + 500
    session.execute(
        sa.text(
            "INSERT INTO therapist_service.therapists (vorname, nachname, status, created_at) "
            "SELECT 'Eva', 'Viele' || n, 'ACTIVE', DATE '2026-01-01' "
            "FROM generate_series(1, :many) AS n"
        ),
        {"many": many},
    )
    session.commit()
    session.execute(sa.text("ANALYZE therapist_service.therapists"))
    session.commit()
    first = listed(client, "q=viele")
    assert len(first["data"]) == 50
    assert first["total"] > EXACT_TOTAL_UP_TO
    assert listed(client, "q=viele&page=1000")["total"] == first["total"]
    assert listed(client, "q=viele7")["total"] == 111  # 7, 70-79, 700-799: counted


# ---------------------------------------------------------------------------- contact state


def contact_state(client, therapist_id: int) -> dict:
    response = client.get(f"/api/therapists/{therapist_id}")
    assert response.status_code == 200, response.get_json()
    state = response.get_json()["contact_state"]
    # The list shows the same.
    in_list = [t for t in listed(client, "per_page=200")["data"] if t["id"] == therapist_id]
    assert in_list[0]["contact_state"] == state
    return state


def test_a_new_therapist_may_be_contacted_at_once(client, session):
    therapist = make_therapist(session)
    assert contact_state(client, therapist) == {
        "has_email": True,
        "last_email_contact": None,
        "last_phone_contact": None,
        "next_email_allowed_on": None,
        "cooling_until": None,
        "open_requests": 0,
        "open_requests_not_contacted": 0,
        "next_scheduled_call": None,
    }


def test_contact_state_shows_the_last_contacts_and_the_address(client, session):
    therapist = make_therapist(
        session,
        email="  ",
        letzter_kontakt_email=date(2026, 11, 2),
        letzter_kontakt_telefon=date(2026, 11, 20),
    )
    state = contact_state(client, therapist)
    assert state["has_email"] is False
    assert (state["last_email_contact"], state["last_phone_contact"]) == (
        "2026-11-02",
        "2026-11-20",
    )


@pytest.mark.parametrize(
    ("status", "sent_at", "allowed_on"),
    [
        # Sent on Tuesday 24 November, late evening in Berlin (already the 25th in UTC? no:
        # 22:30 UTC): the next one on 1 December.
        ("sent", datetime(2026, 11, 24, 23, 30, tzinfo=BERLIN), "2026-12-01"),
        # Sent seven days ago: allowed today, so no restriction.
        ("sent", datetime(2026, 11, 23, 23, 30, tzinfo=BERLIN), None),
        # On its way: counts as sent today.
        ("queued", None, "2026-12-07"),
        ("sending", None, "2026-12-07"),
        ("draft", None, None),
        ("failed", None, None),
    ],
)
def test_next_email_allowed_on_follows_rule_4(client, session, status, sent_at, allowed_on):
    therapist = make_therapist(session)
    make_email(
        session,
        therapist_id=therapist,
        status=status,
        sent_at=None if sent_at is None else utc(sent_at),
    )
    assert contact_state(client, therapist)["next_email_allowed_on"] == allowed_on


def test_the_day_shown_is_the_day_the_batching_job_writes_again(client, session, clock, ctx):
    """Rule 4 as the list shows it and as the job applies it: one definition."""
    therapist = make_therapist(session)
    make_email(session, therapist_id=therapist, status="sent", sent_at=utc(clock.now()))
    make_placement_request(session, therapist_id=therapist)
    allowed_on = date.fromisoformat(contact_state(client, therapist)["next_email_allowed_on"])
    assert allowed_on == MONDAY + timedelta(days=7)
    clock.instant = datetime.combine(allowed_on, time(0, 5), tzinfo=BERLIN) - timedelta(days=1)
    assert batch_emails(ctx).emails_queued == 0
    assert contact_state(client, therapist)["next_email_allowed_on"] == allowed_on.isoformat()
    clock.instant += timedelta(days=1)
    assert contact_state(client, therapist)["next_email_allowed_on"] is None
    assert batch_emails(ctx).emails_queued == 1
    # The new email is on its way: counts as sent today.
    state = contact_state(client, therapist)
    assert state["next_email_allowed_on"] == (allowed_on + timedelta(days=7)).isoformat()
    assert state["open_requests_not_contacted"] == 0


def test_cooling_until_is_the_rejection_day_plus_the_cooling_period(client, session, ctx, clock):
    therapist = make_therapist(session)
    make_placement_request(
        session, therapist_id=therapist, status="rejected", response_date=date(2026, 11, 20)
    )
    make_placement_request(
        session, therapist_id=therapist, status="rejected", response_date=date(2026, 9, 1)
    )
    waiting = make_placement_request(session, therapist_id=therapist)
    state = contact_state(client, therapist)
    assert state["cooling_until"] == "2026-12-18"  # 20 November + 28 days
    # The job agrees: nothing before that day, the waiting request on it.
    clock.instant = datetime(2026, 12, 17, 8, 0, tzinfo=BERLIN)
    assert batch_emails(ctx).emails_queued == 0
    clock.instant = datetime(2026, 12, 18, 8, 0, tzinfo=BERLIN)
    assert contact_state(client, therapist)["cooling_until"] is None
    assert batch_emails(ctx).requests_batched == 1
    assert session.get(PlacementRequest, waiting) is not None


def test_cooling_until_follows_a_later_next_contact_after(client, session):
    therapist = make_therapist(session)
    make_placement_request(
        session,
        therapist_id=therapist,
        status="rejected",
        response_date=date(2026, 11, 20),
        next_contact_after=date(2027, 3, 1),
    )
    assert contact_state(client, therapist)["cooling_until"] == "2027-03-01"


def test_open_requests_not_yet_contacted_are_those_batching_would_take(client, session):
    therapist = make_therapist(session)

    def request(**values) -> int:
        return make_placement_request(session, therapist_id=therapist, **values)

    untouched, emailed, on_call, completed_call, canceled_call = (request() for _ in range(5))
    request(status="accepted")
    request(status="in_progress")
    make_email(session, therapist_id=therapist, status="failed", placement_request_ids=(emailed,))
    day = MONDAY + timedelta(days=1)
    make_phone_call(
        session,
        therapist_id=therapist,
        scheduled_date=day,
        scheduled_time=time(9, 0),
        placement_request_ids=(on_call,),
    )
    make_phone_call(
        session,
        therapist_id=therapist,
        scheduled_date=MONDAY - timedelta(days=3),
        scheduled_time=time(9, 0),
        status="completed",
        placement_request_ids=(completed_call,),
    )
    make_phone_call(
        session,
        therapist_id=therapist,
        scheduled_date=day,
        scheduled_time=time(10, 0),
        status="canceled",
        placement_request_ids=(canceled_call,),
    )
    state = contact_state(client, therapist)
    assert (state["open_requests"], state["open_requests_not_contacted"]) == (5, 2)
    waiting = client.get(f"/api/placement-requests?therapist_id={therapist}&contact_state=waiting")
    assert [r["id"] for r in waiting.get_json()["data"]] == [canceled_call, untouched]


def test_next_scheduled_call_is_the_next_one_not_started(client, session, clock):
    therapist = make_therapist(session)

    def call(day: date, at: time, status: str = "scheduled") -> int:
        return make_phone_call(
            session, therapist_id=therapist, scheduled_date=day, scheduled_time=at, status=status
        )

    call(MONDAY - timedelta(days=1), time(11, 0))  # overdue: still scheduled, in the past
    call(MONDAY, time(7, 55))  # started five minutes ago
    call(MONDAY, time(8, 30), status="canceled")
    next_one = call(MONDAY, time(9, 0))
    call(MONDAY + timedelta(days=1), time(8, 0))
    assert contact_state(client, therapist)["next_scheduled_call"] == {
        "id": next_one,
        "scheduled_date": "2026-11-30",
        "scheduled_time": "09:00",
    }
    clock.instant = datetime(2026, 11, 30, 9, 0, 1, tzinfo=BERLIN)
    assert contact_state(client, therapist)["next_scheduled_call"]["scheduled_date"] == (
        "2026-12-01"
    )


def test_availability_answer_keeps_its_shape(client, session):
    therapist = make_therapist(session)
    response = client.put(
        f"/api/therapists/{therapist}/availability", json={"potentially_available": True}
    )
    assert response.status_code == 200
    assert "contact_state" not in response.get_json()
    assert session.execute(sa.select(sa.func.count()).select_from(Email)).scalar_one() == 0
