"""``therapist_service.therapists`` with the seed's availability fields and helpers."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.extensions import db
from communication_service.models.base import created_at_column, pg_enum, updated_at_column


class TherapistStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    INACTIVE = "inactive"


def _hhmm(value: str | time) -> str:
    return value.strftime("%H:%M") if isinstance(value, time) else value


class Therapist(db.Model):
    __tablename__ = "therapists"
    __table_args__ = {"schema": "therapist_service"}

    id: Mapped[int] = mapped_column(primary_key=True)
    anrede: Mapped[str | None] = mapped_column(sa.String(10))
    titel: Mapped[str | None] = mapped_column(sa.String(20))
    vorname: Mapped[str | None] = mapped_column(sa.String(100))
    nachname: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    email: Mapped[str | None] = mapped_column(sa.String(255))
    telefon: Mapped[str | None] = mapped_column(sa.String(50))
    telefonische_erreichbarkeit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[TherapistStatus] = mapped_column(
        pg_enum(TherapistStatus, "therapiststatus"),
        nullable=False,
        server_default=TherapistStatus.ACTIVE.value,
    )
    letzter_kontakt_email: Mapped[date | None] = mapped_column(sa.Date())
    letzter_kontakt_telefon: Mapped[date | None] = mapped_column(sa.Date())
    potentially_available: Mapped[bool | None] = mapped_column(
        sa.Boolean(), server_default=sa.text("false")
    )
    potentially_available_notes: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[datetime | None] = created_at_column()
    updated_at: Mapped[datetime | None] = updated_at_column()

    def get_available_slots(self, date: date | None = None) -> dict[str, list[dict[str, str]]]:
        """Telephone hours: all of them, or ``{weekday: slots}`` for one date."""
        availability = self.telefonische_erreichbarkeit or {}
        if date is None:
            return availability
        day_name = date.strftime("%A").lower()
        return {day_name: availability.get(day_name, [])}

    def is_available_at(self, date: date, time: str | time) -> bool:
        """True when ``time`` ("HH:MM") on ``date`` falls inside a telephone-hours window.

        NULL-safe: a therapist without telephone hours is never available.
        """
        at = _hhmm(time)
        slots = self.get_available_slots(date)[date.strftime("%A").lower()]
        return any(slot["start"] <= at < slot["end"] for slot in slots)

    def __repr__(self) -> str:
        return f"<Therapist id={self.id} status={self.status}>"
