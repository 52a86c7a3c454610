"""The mapped tables: relationships, enums, defaults, timestamps, the seed's helpers."""

from __future__ import annotations

import warnings
from datetime import date, time

import sqlalchemy as sa
from sqlalchemy.orm import configure_mappers

from communication_service.models import (
    Email,
    EmailBatch,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
    Therapist,
    TherapistStatus,
)
from tests.factories import make_email, make_patient, make_placement_request, make_therapist


def test_mappers_configure_without_warnings(app):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        configure_mappers()
    assert PhoneCall.batches.property.back_populates == "phone_call"
    assert PhoneCallBatch.phone_call.property.back_populates == "batches"
    assert Email.batches.property.back_populates == "email"


def test_enum_values_are_stored_lowercase(session):
    therapist_id = make_therapist(session)
    call = PhoneCall(
        therapist_id=therapist_id,
        scheduled_date=date(2026, 12, 1),
        scheduled_time=time(9, 0),
        status=PhoneCallStatus.COMPLETED,
    )
    session.add(call)
    session.commit()
    raw = session.execute(
        sa.text("SELECT status::text FROM communication_service.phone_calls WHERE id = :id"),
        {"id": call.id},
    ).scalar_one()
    assert raw == "completed"


def test_platform_rows_read_as_the_service_values_and_write_back_as_names(session):
    """The platform's services store enum names; this service sees its lowercase values."""
    session.execute(
        sa.text(
            "INSERT INTO therapist_service.therapists (vorname, nachname, status, created_at) "
            "VALUES ('Rita', 'Roh', 'ACTIVE', '2026-11-02')"
        )
    )
    session.execute(
        sa.text(
            "INSERT INTO patient_service.patients (vorname, nachname, status, created_at) "
            "VALUES ('Rolf', 'Roh', 'SEARCHING', '2026-11-02')"
        )
    )
    session.execute(
        sa.text(
            "INSERT INTO matching_service.placement_requests "
            "(patient_id, therapist_id, status, created_at) "
            "SELECT p.id, t.id, 'OPEN', '2026-11-02' "
            "FROM patient_service.patients p, therapist_service.therapists t"
        )
    )
    session.commit()
    therapist = session.scalars(sa.select(Therapist)).one()
    assert therapist.status is TherapistStatus.ACTIVE and therapist.status == "active"
    assert therapist.created_at == date(2026, 11, 2)
    request = session.scalars(sa.select(PlacementRequest)).one()
    assert request.status is PlacementRequestStatus.OPEN
    request.status = PlacementRequestStatus.REJECTED
    therapist.status = "blocked"  # a value is taken as its member
    session.commit()
    stored = session.execute(
        sa.text(
            "SELECT t.status::text, pr.status::text FROM therapist_service.therapists t "
            "JOIN matching_service.placement_requests pr ON pr.therapist_id = t.id"
        )
    ).one()
    assert tuple(stored) == ("BLOCKED", "REJECTED")


def test_rows_of_this_service_inserted_by_plain_sql_get_database_defaults(session):
    therapist_id = make_therapist(session)
    session.execute(
        sa.text(
            "INSERT INTO communication_service.emails (therapist_id, subject, body_text, recipient_email) "
            "VALUES (:id, 's', 'b', 'r@example.org')"
        ),
        {"id": therapist_id},
    )
    session.execute(
        sa.text(
            "INSERT INTO communication_service.phone_calls (therapist_id, scheduled_date, scheduled_time) "
            "VALUES (:id, '2026-12-01', '09:00')"
        ),
        {"id": therapist_id},
    )
    session.commit()
    assert session.get(Therapist, therapist_id).potentially_available is False
    email = session.scalars(sa.select(Email)).one()
    assert (email.status, email.retry_count, email.response_received) == ("draft", 0, False)
    assert email.created_at is not None and email.updated_at is not None
    assert email.body_html is None and email.placement_request_ids is None
    call = session.scalars(sa.select(PhoneCall)).one()
    assert (call.status, call.duration_minutes, call.attempt) == ("scheduled", 5, 1)


def test_timestamps_are_utc(session):
    email_id = make_email(session, therapist_id=make_therapist(session))
    db_now_utc = session.execute(sa.text("SELECT now() AT TIME ZONE 'UTC'")).scalar_one()
    created = session.execute(sa.select(Email.created_at).where(Email.id == email_id)).scalar_one()
    assert abs((db_now_utc - created).total_seconds()) < 60


def test_updated_at_changes_on_orm_update(session):
    email_id = make_email(session, therapist_id=make_therapist(session))
    session.execute(
        sa.text("UPDATE communication_service.emails SET updated_at = '2020-01-01' WHERE id = :id"),
        {"id": email_id},
    )
    session.commit()
    email = session.get(Email, email_id)
    email.subject = "Neu"
    session.commit()
    assert email.updated_at.year >= 2026


def test_relationships_reach_across_schemas(session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(
        session, therapist_id=therapist_id, patient_id=make_patient(session)
    )
    email = Email(therapist_id=therapist_id, subject="s", body_text="b", recipient_email="a@b.de")
    email.batches.append(EmailBatch(placement_request_id=request_id, priority=1))
    call = PhoneCall(
        therapist_id=therapist_id, scheduled_date=date(2026, 12, 1), scheduled_time=time(9)
    )
    call.batches.append(PhoneCallBatch(placement_request_id=request_id))
    session.add_all([email, call])
    session.commit()
    request = session.get(PlacementRequest, request_id)
    assert [e.id for e in request.emails] == [email.id]
    assert [c.id for c in request.phone_calls] == [call.id]
    assert request.email_batches[0].email is email
    assert request.patient.id and request.therapist.id == therapist_id


def test_deleting_a_therapist_cascades_to_this_services_calls_only(session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    call = PhoneCall(
        therapist_id=therapist_id, scheduled_date=date(2026, 12, 1), scheduled_time=time(9)
    )
    call.batches.append(PhoneCallBatch(placement_request_id=request_id))
    session.add(call)
    session.commit()
    session.expunge_all()
    session.execute(sa.delete(Therapist).where(Therapist.id == therapist_id))
    session.commit()
    for table in ("communication_service.phone_calls", "communication_service.phone_call_batches"):
        assert session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    # The matching service's rows are its own (the platform has no foreign keys between them).
    assert session.get(PlacementRequest, request_id) is not None


class TestAvailabilityHelpers:
    monday = date(2026, 11, 30)

    def test_is_available_at_is_null_safe(self):
        therapist = Therapist(nachname="X", telefonische_erreichbarkeit=None)
        assert therapist.is_available_at(self.monday, "10:00") is False
        assert therapist.get_available_slots() == {}
        assert therapist.get_available_slots(self.monday) == {"monday": []}

    def test_is_available_at_inside_and_outside_windows(self):
        therapist = Therapist(
            nachname="X",
            telefonische_erreichbarkeit={"monday": [{"start": "09:00", "end": "12:00"}]},
        )
        assert therapist.is_available_at(self.monday, "09:00")
        assert therapist.is_available_at(self.monday, time(11, 55))
        assert not therapist.is_available_at(self.monday, "12:00")  # the window has ended
        assert not therapist.is_available_at(self.monday, "08:59")
        assert not therapist.is_available_at(date(2026, 12, 1), "10:00")  # a Tuesday

    def test_get_available_slots_for_a_date(self):
        hours = {"monday": [{"start": "09:00", "end": "12:00"}], "friday": []}
        therapist = Therapist(nachname="X", telefonische_erreichbarkeit=hours)
        assert therapist.get_available_slots() == hours
        assert therapist.get_available_slots(self.monday) == {"monday": hours["monday"]}
