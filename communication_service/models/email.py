"""``communication_service.emails`` and the requests each email carries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from communication_service.extensions import db
from communication_service.models.base import created_at_column, pg_enum, updated_at_column

if TYPE_CHECKING:
    from communication_service.models.placement_request import PlacementRequest


class EmailStatus(enum.StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Email(db.Model):
    __tablename__ = "emails"
    __table_args__ = (
        # The platform's (5dfc91e6b6f9), then this service's (7a3e1c5b9d20, e7c3a9d5f2b4).
        sa.Index("ix_communication_service_emails_id", "id"),
        sa.Index("ix_communication_service_emails_therapist_id", "therapist_id"),
        # Rule 4 (contact_rules.next_email_allowed_on) reads the last sent email from it.
        sa.Index("idx_emails_therapist_status_sent_at", "therapist_id", "status", "sent_at"),
        sa.Index(
            "idx_emails_queued_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'queued'"),
        ),
        # An inbound message matched by its sender (f1d5b3e9a7c6): sent emails to an address.
        sa.Index(
            "idx_emails_sent_recipient",
            sa.text("lower(recipient_email)"),
            "sent_at",
            postgresql_where=sa.text("status = 'sent'"),
        ),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: the platform's table has none, and its rows may name any therapist.
    therapist_id: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    body_html: Mapped[str | None] = mapped_column(sa.Text())
    body_text: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    recipient_email: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    recipient_name: Mapped[str | None] = mapped_column(sa.String(255))
    sender_email: Mapped[str | None] = mapped_column(sa.String(255))
    sender_name: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[EmailStatus] = mapped_column(
        pg_enum(EmailStatus, "emailstatus"), nullable=False, server_default=EmailStatus.DRAFT.value
    )
    queued_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    error_message: Mapped[str | None] = mapped_column(sa.Text())
    retry_count: Mapped[int] = mapped_column(sa.Integer(), nullable=False, server_default="0")
    created_at: Mapped[datetime] = created_at_column(nullable=False)
    updated_at: Mapped[datetime] = updated_at_column(nullable=False)
    # The platform's list of the requests an email carried, before batches. Revision
    # 6f2a8c4e1b07 moved each list into email_batches; kept unwritten, so nothing is lost.
    placement_request_ids: Mapped[list[int] | None] = mapped_column(JSONB)
    # Added by the seed (6efc92f7c7g9)
    batch_id: Mapped[str | None] = mapped_column(sa.String(50))
    response_received: Mapped[bool | None] = mapped_column(sa.Boolean(), server_default="false")
    response_date: Mapped[datetime | None] = mapped_column(sa.DateTime())
    response_content: Mapped[str | None] = mapped_column(sa.Text())
    follow_up_required: Mapped[bool | None] = mapped_column(sa.Boolean(), server_default="false")
    follow_up_notes: Mapped[str | None] = mapped_column(sa.Text())
    # Added by this project (7a3e1c5b9d20): delivery bookkeeping
    message_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    sending_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime())
    # Added by d4b8f2a6c1e3: rule 7 recorded on the email, where deleting a call cannot erase it.
    followed_up_at: Mapped[datetime | None] = mapped_column(sa.DateTime())

    batches: Mapped[list[EmailBatch]] = relationship(
        back_populates="email",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="EmailBatch.priority",
    )
    placement_requests: Mapped[list[PlacementRequest]] = relationship(
        secondary="communication_service.email_batches", viewonly=True
    )

    def __repr__(self) -> str:
        return f"<Email id={self.id} therapist_id={self.therapist_id} status={self.status}>"


class EmailBatch(db.Model):
    __tablename__ = "email_batches"
    __table_args__ = (
        sa.UniqueConstraint("email_id", "placement_request_id"),
        sa.Index("idx_email_batches_email_id", "email_id"),
        # A request's emails, latest first (revision e7c3a9d5f2b4; the request list).
        sa.Index("idx_email_batches_request_email", "placement_request_id", "email_id"),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(
        sa.ForeignKey("communication_service.emails.id", ondelete="CASCADE"), nullable=False
    )
    placement_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("matching_service.placement_requests.id", ondelete="CASCADE"),
        nullable=False,
    )
    priority: Mapped[int | None] = mapped_column(sa.Integer(), server_default="1")
    created_at: Mapped[datetime | None] = created_at_column()

    email: Mapped[Email] = relationship(back_populates="batches")
    placement_request: Mapped[PlacementRequest] = relationship(back_populates="email_batches")

    def __repr__(self) -> str:
        return (
            f"<EmailBatch id={self.id} email_id={self.email_id} "
            f"placement_request_id={self.placement_request_id}>"
        )
