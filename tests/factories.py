"""Rows for tests, inserted with plain Core statements (as other services would)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from communication_service.models import Email, EmailBatch, Patient, PlacementRequest, Therapist

_sequence = itertools.count(1)

WEEKDAY_MORNINGS = {
    day: [{"start": "09:00", "end": "12:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def _insert(session: Session, model: type, values: dict[str, Any]) -> int:
    row_id = session.execute(
        sa.insert(model.__table__).values(**values).returning(model.__table__.c.id)
    ).scalar_one()
    session.commit()
    return row_id


def make_therapist(session: Session, **values: Any) -> int:
    n = next(_sequence)
    values.setdefault("nachname", f"Therapeut{n}")
    values.setdefault("vorname", "Test")
    values.setdefault("email", f"therapeut{n}@example.org")
    values.setdefault("telefon", f"+49 30 555{n:04d}")
    values.setdefault("telefonische_erreichbarkeit", WEEKDAY_MORNINGS)
    return _insert(session, Therapist, values)


def make_patient(session: Session, **values: Any) -> int:
    n = next(_sequence)
    values.setdefault("vorname", f"Vorname{n}")
    values.setdefault("nachname", f"Nachname{n}")
    values.setdefault("geburtsdatum", date(1990, 1, 1))
    values.setdefault("diagnose", "F32.1")
    values.setdefault("startdatum", date(2026, 1, 1))
    return _insert(session, Patient, values)


def make_placement_request(
    session: Session, *, therapist_id: int, patient_id: int | None = None, **values: Any
) -> int:
    if patient_id is None:
        patient_id = make_patient(session)
    return _insert(
        session,
        PlacementRequest,
        {"therapist_id": therapist_id, "patient_id": patient_id, **values},
    )


def make_email(
    session: Session,
    *,
    therapist_id: int,
    placement_request_ids: tuple[int, ...] = (),
    **values: Any,
) -> int:
    """An email row as another writer would insert it (``queued`` unless told otherwise)."""
    n = next(_sequence)
    values.setdefault("subject", f"Betreff {n}")
    values.setdefault("body_text", f"Text {n}")
    values.setdefault("recipient_email", f"therapeut{n}@example.org")
    values.setdefault("status", "queued")
    values.setdefault("message_id", f"<test-{n}@example.org>")
    email_id = _insert(session, Email, {"therapist_id": therapist_id, **values})
    for priority, request_id in enumerate(placement_request_ids, start=1):
        _insert(
            session,
            EmailBatch,
            {"email_id": email_id, "placement_request_id": request_id, "priority": priority},
        )
    return email_id
