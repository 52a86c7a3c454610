"""A small, realistic data set for trying the service locally (idempotent: fixed ids)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from communication_service.models import (
    Patient,
    PatientStatus,
    PlacementRequest,
    PlacementRequestStatus,
    Therapist,
    TherapistStatus,
)

WEEKDAY_MORNINGS = [{"start": "09:00", "end": "12:00"}]

THERAPISTS = [
    dict(
        id=1,
        anrede="Frau",
        titel="Dr.",
        vorname="Anna",
        nachname="Becker",
        email="praxis.becker@example.org",
        telefon="+49 30 1234561",
        telefonische_erreichbarkeit={
            "monday": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "16:30"}],
            "wednesday": [{"start": "10:00", "end": "14:00"}],
            "friday": [{"start": "08:30", "end": "11:30"}],
        },
        potentially_available=True,
        potentially_available_notes="Hat im Dezember voraussichtlich zwei Plätze frei.",
    ),
    dict(
        id=2,
        anrede="Herr",
        titel=None,
        vorname="Jonas",
        nachname="Hoffmann",
        email="hoffmann@example.org",
        telefon="+49 30 1234562",
        telefonische_erreichbarkeit={
            "tuesday": [{"start": "12:05", "end": "12:50"}],
            "thursday": [{"start": "16:00", "end": "17:00"}],
        },
    ),
    dict(
        id=3,
        anrede="Frau",
        titel="Dipl.-Psych.",
        vorname="Leonie",
        nachname="Schulz",
        email=None,
        telefon="+49 30 1234563",
        telefonische_erreichbarkeit={
            day: WEEKDAY_MORNINGS
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
        },
    ),
    dict(
        id=4,
        anrede="Herr",
        titel="Dr.",
        vorname="Markus",
        nachname="Wagner",
        email="wagner@example.org",
        telefon="+49 30 1234564",
        telefonische_erreichbarkeit={"monday": [{"start": "08:00", "end": "09:00"}]},
        status=TherapistStatus.BLOCKED,
    ),
    dict(
        id=5,
        anrede="Frau",
        titel=None,
        vorname="Sophie",
        nachname="Richter",
        email="richter@example.org",
        telefon="+49 30 1234565",
        telefonische_erreichbarkeit={},
    ),
]

PATIENTS = [
    dict(
        id=1,
        vorname="Lena",
        nachname="Meyer",
        geburtsdatum=date(1994, 3, 12),
        diagnose="F32.1",
        startdatum=date(2026, 6, 2),
        krankenkasse="AOK Nordost",
        plz="10115",
        offen_fuer_gruppentherapie=True,
        zeitliche_verfuegbarkeit={"monday": [{"start": "08:00", "end": "12:00"}]},
    ),
    dict(
        id=2,
        vorname="Tim",
        nachname="Schneider",
        geburtsdatum=date(1988, 11, 30),
        diagnose="F41.1",
        startdatum=date(2026, 7, 15),
        krankenkasse="Techniker Krankenkasse",
        plz="10247",
        offen_fuer_gruppentherapie=False,
        zeitliche_verfuegbarkeit={"tuesday": [{"start": "17:00", "end": "20:00"}]},
    ),
    dict(
        id=3,
        vorname="Mia",
        nachname="Fischer",
        geburtsdatum=date(2001, 1, 5),
        diagnose="F43.1",
        startdatum=date(2026, 5, 20),
        krankenkasse="Debeka",
        plz="12043",
        offen_fuer_gruppentherapie=None,
        zeitliche_verfuegbarkeit=None,
    ),
    dict(
        id=4,
        vorname="Paul",
        nachname="Weber",
        geburtsdatum=date(1979, 8, 17),
        diagnose="F33.0",
        startdatum=date(2026, 9, 1),
    ),
    dict(
        id=5,
        vorname="Emma",
        nachname="Wolf",
        geburtsdatum=date(1999, 4, 23),
        diagnose="F40.1",
        startdatum=date(2026, 8, 10),
    ),
    dict(
        id=6,
        vorname="Noah",
        nachname="Braun",
        geburtsdatum=date(1992, 12, 2),
        diagnose="F50.2",
        startdatum=date(2026, 10, 3),
    ),
]

PLACEMENT_REQUESTS = [
    dict(id=1, patient_id=1, therapist_id=1),
    dict(id=2, patient_id=2, therapist_id=1),
    dict(id=3, patient_id=3, therapist_id=1),
    dict(id=4, patient_id=4, therapist_id=2),
    dict(id=5, patient_id=5, therapist_id=2),
    dict(id=6, patient_id=1, therapist_id=3),
    dict(id=7, patient_id=6, therapist_id=3),
    dict(id=8, patient_id=2, therapist_id=4),
    dict(id=9, patient_id=3, therapist_id=5),
    dict(id=10, patient_id=5, therapist_id=5),
]


def _insert_missing(session: Session, model: type, rows: list[dict], **written: Any) -> int:
    """Insert the rows not there yet, with what the owning service writes into every row
    (``written``: its status and creation date; the platform's columns have no defaults)."""
    table = model.__table__
    for row in rows:
        values = {**written, **row}
        session.execute(insert(table).values(values).on_conflict_do_nothing(index_elements=["id"]))
    # Ids were given explicitly; move the sequence past them so new rows do not collide.
    session.execute(
        sa.text(
            "SELECT setval(pg_get_serial_sequence(:table, 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table.fullname}))"
        ),
        {"table": table.fullname},
    )
    return session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def load_demo_data(session: Session, today: date) -> dict[str, int]:
    counts = {
        "therapists": _insert_missing(
            session, Therapist, THERAPISTS, status=TherapistStatus.ACTIVE, created_at=today
        ),
        "patients": _insert_missing(
            session, Patient, PATIENTS, status=PatientStatus.SEARCHING, created_at=today
        ),
        "placement_requests": _insert_missing(
            session,
            PlacementRequest,
            PLACEMENT_REQUESTS,
            status=PlacementRequestStatus.OPEN,
            created_at=today,
            priority=1,
        ),
    }
    session.commit()
    return counts
