"""``matching_service.placement_requests`` — one patient asking one therapist."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from communication_service.extensions import db
from communication_service.models.base import created_at_column, pg_enum

if TYPE_CHECKING:
    from communication_service.models.email import Email, EmailBatch
    from communication_service.models.patient import Patient
    from communication_service.models.phone_call import PhoneCall, PhoneCallBatch
    from communication_service.models.therapist import Therapist


class PlacementRequestStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    REJECTED = "rejected"
    ACCEPTED = "accepted"


class PlacementRequest(db.Model):
    __tablename__ = "placement_requests"
    __table_args__ = (
        sa.Index("idx_placement_requests_therapist_id_status", "therapist_id", "status"),
        sa.Index("idx_placement_requests_patient_id", "patient_id"),
        {"schema": "matching_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        sa.ForeignKey("patient_service.patients.id", ondelete="CASCADE"), nullable=False
    )
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapist_service.therapists.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[PlacementRequestStatus] = mapped_column(
        pg_enum(PlacementRequestStatus, "placementrequeststatus"),
        nullable=False,
        server_default=PlacementRequestStatus.OPEN.value,
    )
    created_at: Mapped[datetime | None] = created_at_column()
    email_contact_date: Mapped[date | None] = mapped_column(sa.Date())
    phone_contact_date: Mapped[date | None] = mapped_column(sa.Date())
    response: Mapped[str | None] = mapped_column(sa.Text())
    response_date: Mapped[date | None] = mapped_column(sa.Date())
    next_contact_after: Mapped[date | None] = mapped_column(sa.Date())
    priority: Mapped[int | None] = mapped_column(sa.Integer())
    notes: Mapped[str | None] = mapped_column(sa.Text())

    patient: Mapped[Patient] = relationship()
    therapist: Mapped[Therapist] = relationship()
    email_batches: Mapped[list[EmailBatch]] = relationship(
        back_populates="placement_request", cascade="all, delete-orphan", passive_deletes=True
    )
    phone_call_batches: Mapped[list[PhoneCallBatch]] = relationship(
        back_populates="placement_request", cascade="all, delete-orphan", passive_deletes=True
    )
    # Read-only shortcuts across the batch tables; writes go through the batches.
    emails: Mapped[list[Email]] = relationship(
        secondary="communication_service.email_batches", viewonly=True
    )
    phone_calls: Mapped[list[PhoneCall]] = relationship(
        secondary="communication_service.phone_call_batches", viewonly=True
    )

    def __repr__(self) -> str:
        return f"<PlacementRequest id={self.id} status={self.status}>"
