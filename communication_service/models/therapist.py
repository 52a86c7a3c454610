"""``therapist_service.therapists`` — owned by the therapist service — with the seed's
availability fields (``potentially_available*``, added by this service) and helpers.

Mapped are the columns this service reads or writes, plus those the platform requires of
a row; the platform's other columns stay unmapped. ``status`` holds the platform's enum
names (``ACTIVE``); ``created_at``/``updated_at`` are dates, as the platform keeps them.
``name_search_key`` is this service's (revision e7c3a9d5f2b4): the generated key the
therapist list searches and sorts by.
"""

from __future__ import annotations

import enum
from datetime import date, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.extensions import db
from communication_service.models.base import platform_enum

# The keys of ``telefonische_erreichbarkeit``, Monday first (``date.weekday()`` order).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class TherapistStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    INACTIVE = "inactive"


def _hhmm(value: str | time) -> str:
    return value.strftime("%H:%M") if isinstance(value, time) else value


# "Müller Anna" → "mueller anna": the SQL function of revision e7c3a9d5f2b4 (docs/api.md).
NAME_SEARCH_KEY_SQL = "communication_service.name_search_key(nachname || ' ' || vorname)"


class Therapist(db.Model):
    __tablename__ = "therapists"
    __table_args__ = (
        # Trigram index for the name search (substrings), btree for the list's order.
        sa.Index(
            "idx_therapists_name_search",
            "name_search_key",
            postgresql_using="gin",
            postgresql_ops={"name_search_key": "gin_trgm_ops"},
        ),
        sa.Index("idx_therapists_name_order", "name_search_key", "id"),
        {"schema": "therapist_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    anrede: Mapped[str | None] = mapped_column(sa.String(10))
    titel: Mapped[str | None] = mapped_column(sa.String(20))
    vorname: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    nachname: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    email: Mapped[str | None] = mapped_column(sa.String(255))
    telefon: Mapped[str | None] = mapped_column(sa.String(50))
    telefonische_erreichbarkeit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # NULL (the platform allows it) is not ACTIVE: nobody is contacted on an unknown status.
    status: Mapped[TherapistStatus | None] = mapped_column(
        platform_enum(TherapistStatus, "therapiststatus")
    )
    letzter_kontakt_email: Mapped[date | None] = mapped_column(sa.Date())
    letzter_kontakt_telefon: Mapped[date | None] = mapped_column(sa.Date())
    potentially_available: Mapped[bool | None] = mapped_column(
        sa.Boolean(), server_default=sa.text("false")
    )
    potentially_available_notes: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[date | None] = mapped_column(sa.Date())
    updated_at: Mapped[date | None] = mapped_column(sa.Date())
    name_search_key: Mapped[str | None] = mapped_column(
        sa.Text(), sa.Computed(NAME_SEARCH_KEY_SQL, persisted=True)
    )

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
