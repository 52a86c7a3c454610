from __future__ import annotations

import pytest
import sqlalchemy as sa

from communication_service.models import Therapist
from communication_service.schemas.common import TIME_RULE
from tests.factories import make_therapist


def test_get_therapist_with_availability_fields(client, session):
    therapist_id = make_therapist(
        session,
        nachname="Becker",
        potentially_available=True,
        potentially_available_notes="ab Januar",
    )
    response = client.get(f"/api/therapists/{therapist_id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == therapist_id
    assert body["nachname"] == "Becker"
    assert body["status"] == "active"
    assert body["potentially_available"] is True
    assert body["potentially_available_notes"] == "ab Januar"
    assert body["telefonische_erreichbarkeit"]["monday"] == [{"start": "09:00", "end": "12:00"}]
    # The therapist service keeps days: the date as it is stored, no invented time of day.
    assert body["created_at"] == "2026-11-30"


def test_platform_status_names_answer_as_the_api_values(client, session):
    """The platform stores ``BLOCKED``; the API has always said ``blocked``."""
    therapist_id = make_therapist(session)
    session.execute(
        sa.text("UPDATE therapist_service.therapists SET status = 'BLOCKED' WHERE id = :id"),
        {"id": therapist_id},
    )
    session.commit()
    assert client.get(f"/api/therapists/{therapist_id}").get_json()["status"] == "blocked"


def test_get_unknown_therapist_is_404(client):
    response = client.get("/api/therapists/4711")
    assert response.status_code == 404
    assert response.get_json()["error"]["details"] == {"id": 4711}


def test_put_availability_stores_and_returns(client, session):
    therapist_id = make_therapist(session)
    hours = {"tuesday": [{"start": "12:05", "end": "12:50"}]}
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        json={"telefonische_erreichbarkeit": hours, "potentially_available": True},
    )
    assert response.status_code == 200
    assert response.get_json()["telefonische_erreichbarkeit"] == hours
    stored = session.execute(
        sa.select(Therapist.telefonische_erreichbarkeit, Therapist.potentially_available).where(
            Therapist.id == therapist_id
        )
    ).one()
    assert stored == (hours, True)


def test_put_availability_changes_updated_at(client, session):
    therapist_id = make_therapist(session)
    session.execute(
        sa.text("UPDATE therapist_service.therapists SET updated_at = '2020-01-01' WHERE id = :id"),
        {"id": therapist_id},
    )
    session.commit()
    client.put(f"/api/therapists/{therapist_id}/availability", json={"potentially_available": True})
    updated_at = session.execute(
        sa.select(Therapist.updated_at).where(Therapist.id == therapist_id)
    ).scalar_one()
    assert updated_at.year >= 2026


def test_put_only_notes_leaves_hours_alone(client, session):
    therapist_id = make_therapist(session)
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        json={"potentially_available_notes": "ruft zurück"},
    )
    assert response.status_code == 200
    assert response.get_json()["telefonische_erreichbarkeit"]["friday"]


def test_put_invalid_availability_names_the_place_and_writes_nothing(client, session):
    therapist_id = make_therapist(session)
    before = client.get(f"/api/therapists/{therapist_id}").get_json()
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        json={"telefonische_erreichbarkeit": {"monday": [{"start": "10:00", "end": "09:00"}]}},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {
        "telefonische_erreichbarkeit.monday.0.end": ["Must be later than start."]
    }
    assert client.get(f"/api/therapists/{therapist_id}").get_json() == before


def test_put_rejects_non_boolean_flag_and_unknown_fields(client, session):
    therapist_id = make_therapist(session)
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        json={"potentially_available": "yes", "nachname": "Hacker"},
    )
    details = response.get_json()["error"]["details"]
    assert response.status_code == 422
    assert set(details) == {"potentially_available", "nachname"}


def test_put_empty_body_is_422(client, session):
    therapist_id = make_therapist(session)
    response = client.put(f"/api/therapists/{therapist_id}/availability", json={})
    assert response.status_code == 422
    assert "_schema" in response.get_json()["error"]["details"]


def test_put_unknown_therapist_is_404(client):
    response = client.put("/api/therapists/999/availability", json={"potentially_available": True})
    assert response.status_code == 404


@pytest.mark.parametrize("flag", [0, 1, 0.0, "true", "false"], ids=repr)
def test_the_flag_is_json_true_or_false_only(client, session, flag):
    """``1 == True`` in Python: a plain truthy/falsy set would let 0 and 1 through."""
    therapist_id = make_therapist(session, potentially_available=True)
    response = client.put(
        f"/api/therapists/{therapist_id}/availability", json={"potentially_available": flag}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {
        "potentially_available": ["Not a valid boolean."]
    }
    assert client.get(f"/api/therapists/{therapist_id}").get_json()["potentially_available"]


def test_telephone_hours_stored_by_others_answer_in_the_documented_shape(client, session):
    """The therapist service may write the column directly; the answer is the ``Availability``
    the update takes, with the hours the slot finder reads (docs/api.md)."""
    therapist_id = make_therapist(
        session,
        telefonische_erreichbarkeit={
            "monday": [{"start": "9:00", "end": "12:00"}, {"start": "x", "end": "y"}],
            "Montag": [{"start": "09:00", "end": "10:00"}],
            "friday": "vormittags",
        },
    )
    body = client.get(f"/api/therapists/{therapist_id}").get_json()
    assert body["telefonische_erreichbarkeit"] == {"monday": [{"start": "09:00", "end": "12:00"}]}
    # NULL stays null: no telephone hours, as {} is.
    no_hours = make_therapist(session, telefonische_erreichbarkeit=None)
    body = client.get(f"/api/therapists/{no_hours}").get_json()
    assert body["telefonische_erreichbarkeit"] is None


@pytest.mark.parametrize("bad", ["7:0", "7:00", "07:0", "24:00", "07:00:00", "0700", " 07:00"])
def test_window_times_are_hh_mm_zero_padded(client, session, bad):
    therapist_id = make_therapist(session)
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        json={"telefonische_erreichbarkeit": {"monday": [{"start": bad, "end": "12:00"}]}},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {
        "telefonische_erreichbarkeit.monday.0.start": [TIME_RULE]
    }
