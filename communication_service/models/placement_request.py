"""``matching_service.placement_requests`` — one patient asking one therapist.

Owned by the matching service: ``status`` holds its enum names (``OPEN``, ``REJECTED``),
the dates are dates. Indexes ``idx_*`` are this service's (``therapist_id, status``:
revision 7a3e1c5b9d20, for batching; ``status, id``: e7c3a9d5f2b4, the request list);
``ix_*`` are the platform's.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from communication_service.extensions import db
from communication_service.models.base import platform_enum

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
        sa.Index(
            "idx_placement_requests_therapist_id_status",
            "therapist_id",
            "status",
            postgresql_include=["id"],
        ),
        sa.Index("idx_placement_requests_status_id", "status", "id"),
        {"schema": "matching_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys: the platform keeps none between its services' tables.
    patient_id: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    therapist_id: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    # NULL (the platform allows it) is not OPEN: such a request is never contacted.
    status: Mapped[PlacementRequestStatus | None] = mapped_column(
        platform_enum(PlacementRequestStatus, "placementrequeststatus")
    )
    created_at: Mapped[date | None] = mapped_column(sa.Date())
    email_contact_date: Mapped[date | None] = mapped_column(sa.Date())
    phone_contact_date: Mapped[date | None] = mapped_column(sa.Date())
    response: Mapped[str | None] = mapped_column(sa.Text())
    response_date: Mapped[date | None] = mapped_column(sa.Date())
    next_contact_after: Mapped[date | None] = mapped_column(sa.Date())
    priority: Mapped[int | None] = mapped_column(sa.Integer())
    notes: Mapped[str | None] = mapped_column(sa.Text())

    patient: Mapped[Patient] = relationship(
        primaryjoin="foreign(PlacementRequest.patient_id) == Patient.id"
    )
    therapist: Mapped[Therapist] = relationship(
        primaryjoin="foreign(PlacementRequest.therapist_id) == Therapist.id"
    )
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
