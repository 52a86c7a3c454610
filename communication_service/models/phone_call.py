"""``communication_service.phone_calls`` and the requests each call discusses."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from communication_service.extensions import db
from communication_service.models.base import created_at_column, pg_enum, updated_at_column

if TYPE_CHECKING:
    from communication_service.models.placement_request import PlacementRequest


class CallBookedBy(enum.StrEnum):
    """Who put the call on the sheet: staff through the API, or the service by itself
    (``batch-emails``, ``schedule-follow-ups``, re-plans of failed calls)."""

    STAFF = "staff"
    AUTOMATIC = "automatic"


class PhoneCallStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


# The interval a call occupies, as PostgreSQL sees it; used by the exclusion constraint.
CALL_PERIOD_SQL = (
    "tsrange(scheduled_date + scheduled_time, "
    "scheduled_date + scheduled_time + duration_minutes * interval '1 minute')"
)


class PhoneCall(db.Model):
    __tablename__ = "phone_calls"
    __table_args__ = (
        # Each list filter has one index, ending in the lists' order (date, time, id): a page
        # is read from it in order. No shorter index beside it: a plan made without knowing
        # the LIMIT may prefer one and sort every match (migration 9d6e2a4c8f13).
        sa.Index("idx_phone_calls_schedule", "scheduled_date", "scheduled_time", "id"),
        sa.Index(
            "idx_phone_calls_status_schedule", "status", "scheduled_date", "scheduled_time", "id"
        ),
        sa.Index(
            "idx_phone_calls_therapist_schedule",
            "therapist_id",
            "scheduled_date",
            "scheduled_time",
            "id",
        ),
        # One follow-up per email (rule 7); its re-plans name the same email (rule 10).
        sa.Index(
            "uq_phone_calls_follow_up_email_id",
            "follow_up_email_id",
            unique=True,
            postgresql_where=sa.text("follow_up_email_id IS NOT NULL AND attempt = 1"),
        ),
        sa.Index(
            "idx_phone_calls_follow_up_email_id",
            "follow_up_email_id",
            postgresql_where=sa.text("follow_up_email_id IS NOT NULL"),
        ),
        # No two scheduled calls of one therapist overlap, whoever writes (docs/rules.md rule 2).
        ExcludeConstraint(
            ("therapist_id", "="),
            (sa.text(CALL_PERIOD_SQL), "&&"),
            name="phone_calls_no_overlap",
            using="gist",
            where=sa.text("status = 'scheduled'"),
        ),
        sa.CheckConstraint("duration_minutes > 0", name="phone_calls_duration_positive"),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapist_service.therapists.id", ondelete="CASCADE"), nullable=False
    )
    scheduled_date: Mapped[date] = mapped_column(sa.Date(), nullable=False)
    scheduled_time: Mapped[time] = mapped_column(sa.Time(), nullable=False)
    duration_minutes: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default="5")
    actual_date: Mapped[date | None] = mapped_column(sa.Date())
    actual_time: Mapped[time | None] = mapped_column(sa.Time())
    status: Mapped[PhoneCallStatus] = mapped_column(
        pg_enum(PhoneCallStatus, "phonecallstatus"),
        nullable=False,
        server_default=PhoneCallStatus.SCHEDULED.value,
    )
    outcome: Mapped[str | None] = mapped_column(sa.Text())
    notes: Mapped[str | None] = mapped_column(sa.Text())
    retry_after: Mapped[date | None] = mapped_column(sa.Date())
    created_at: Mapped[datetime | None] = created_at_column()
    updated_at: Mapped[datetime | None] = updated_at_column()
    # Added by this project (7a3e1c5b9d20): re-planning and follow-up bookkeeping
    attempt: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default="1")
    previous_call_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("communication_service.phone_calls.id", ondelete="SET NULL")
    )
    follow_up_email_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("communication_service.emails.id", ondelete="SET NULL")
    )
    # Added by d4b8f2a6c1e3: rule 9 cancels automatic calls, never staff's.
    booked_by: Mapped[CallBookedBy] = mapped_column(
        pg_enum(CallBookedBy, "callbookedby"),
        nullable=False,
        server_default=CallBookedBy.STAFF.value,
    )

    batches: Mapped[list[PhoneCallBatch]] = relationship(
        back_populates="phone_call",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PhoneCallBatch.priority",
    )
    placement_requests: Mapped[list[PlacementRequest]] = relationship(
        secondary="communication_service.phone_call_batches", viewonly=True
    )

    def __repr__(self) -> str:
        return (
            f"<PhoneCall id={self.id} therapist_id={self.therapist_id} "
            f"scheduled={self.scheduled_date} {self.scheduled_time} status={self.status}>"
        )


class PhoneCallBatch(db.Model):
    __tablename__ = "phone_call_batches"
    __table_args__ = (
        sa.UniqueConstraint("phone_call_id", "placement_request_id"),
        sa.Index("idx_phone_call_batches_phone_call_id", "phone_call_id"),
        sa.Index("idx_phone_call_batches_placement_request_id", "placement_request_id"),
        # The few requests flagged for staff (rule 8), found without reading every batch.
        sa.Index(
            "idx_phone_call_batches_follow_up",
            "placement_request_id",
            postgresql_where=sa.text("follow_up_required IS TRUE"),
        ),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_call_id: Mapped[int] = mapped_column(
        sa.ForeignKey("communication_service.phone_calls.id", ondelete="CASCADE"), nullable=False
    )
    placement_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("matching_service.placement_requests.id", ondelete="CASCADE"),
        nullable=False,
    )
    priority: Mapped[int | None] = mapped_column(sa.Integer(), server_default="1")
    discussed: Mapped[bool | None] = mapped_column(sa.Boolean(), server_default="false")
    outcome: Mapped[str | None] = mapped_column(sa.String(50))
    follow_up_required: Mapped[bool | None] = mapped_column(sa.Boolean(), server_default="false")
    follow_up_notes: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[datetime | None] = created_at_column()

    phone_call: Mapped[PhoneCall] = relationship(back_populates="batches")
    placement_request: Mapped[PlacementRequest] = relationship(back_populates="phone_call_batches")

    def __repr__(self) -> str:
        return (
            f"<PhoneCallBatch id={self.id} phone_call_id={self.phone_call_id} "
            f"placement_request_id={self.placement_request_id}>"
        )
