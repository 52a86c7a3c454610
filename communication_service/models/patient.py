"""``patient_service.patients`` — owned by the patient service, mapped read-mostly."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.extensions import db
from communication_service.models.base import created_at_column


class Patient(db.Model):
    __tablename__ = "patients"
    __table_args__ = {"schema": "patient_service"}

    id: Mapped[int] = mapped_column(primary_key=True)
    vorname: Mapped[str | None] = mapped_column(sa.String(100))
    nachname: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    geburtsdatum: Mapped[date | None] = mapped_column(sa.Date())
    diagnose: Mapped[str | None] = mapped_column(sa.String(50))
    startdatum: Mapped[date | None] = mapped_column(sa.Date())
    created_at: Mapped[datetime | None] = created_at_column()

    def __repr__(self) -> str:
        return f"<Patient id={self.id}>"
