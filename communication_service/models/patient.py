"""``patient_service.patients`` — owned by the patient service, read here.

Mapped are the columns this service reads, plus those the platform requires of a row
(``vorname``, ``nachname``) and its status and creation date; the other 34 columns (health,
address, insurance) stay unmapped: the service never loads what it does not need. The
batching email reads ``krankenkasse``, ``plz``, ``offen_fuer_gruppentherapie`` and
``zeitliche_verfuegbarkeit`` only when its settings ask for them (rule 5).
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.extensions import db
from communication_service.models.base import platform_enum


class PatientStatus(enum.StrEnum):
    OPEN = "open"
    SEARCHING = "searching"
    IN_THERAPY = "in_therapy"
    THERAPY_COMPLETED = "therapy_completed"
    SEARCH_ABORTED = "search_aborted"
    THERAPY_ABORTED = "therapy_aborted"


class Patient(db.Model):
    __tablename__ = "patients"
    __table_args__ = {"schema": "patient_service"}

    id: Mapped[int] = mapped_column(primary_key=True)
    anrede: Mapped[str | None] = mapped_column(sa.String(10))
    vorname: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    nachname: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    plz: Mapped[str | None] = mapped_column(sa.String(10))
    krankenkasse: Mapped[str | None] = mapped_column(sa.String(100))
    geburtsdatum: Mapped[date | None] = mapped_column(sa.Date())
    diagnose: Mapped[str | None] = mapped_column(sa.String(50))
    startdatum: Mapped[date | None] = mapped_column(sa.Date())
    status: Mapped[PatientStatus | None] = mapped_column(
        platform_enum(PatientStatus, "patientstatus")
    )
    # Weekday → windows, e.g. {"monday": [{"start": "09:00", "end": "12:00"}]}
    zeitliche_verfuegbarkeit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    offen_fuer_gruppentherapie: Mapped[bool | None] = mapped_column(sa.Boolean())
    created_at: Mapped[date | None] = mapped_column(sa.Date())
    updated_at: Mapped[date | None] = mapped_column(sa.Date())

    def __repr__(self) -> str:
        return f"<Patient id={self.id}>"
