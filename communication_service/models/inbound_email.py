"""``communication_service.inbound_emails`` (every message received, once) and
``communication_service.undeliverable_addresses`` (therapists' addresses that bounced)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.extensions import db
from communication_service.models.base import created_at_column, pg_enum, updated_at_column


class InboundEmailKind(enum.StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    UNKNOWN = "unknown"


class MatchedBy(enum.StrEnum):
    MESSAGE_ID = "message_id"  # In-Reply-To/References, or a bounce's returned Message-ID
    SENDER = "sender"  # the one unanswered email sent to the sender in the last 30 days
    STAFF = "staff"  # attached by hand (PUT /api/inbound-emails/{id})


class InboundEmail(db.Model):
    __tablename__ = "inbound_emails"
    __table_args__ = (
        sa.UniqueConstraint("message_id", name="inbound_emails_message_id_key"),
        # The staff's inbox (?matched=false), newest first.
        sa.Index(
            "idx_inbound_emails_unmatched", "id", postgresql_where=sa.text("email_id IS NULL")
        ),
        sa.Index("idx_inbound_emails_kind", "kind", "id"),
        sa.Index("idx_inbound_emails_email_id", "email_id"),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    kind: Mapped[InboundEmailKind] = mapped_column(
        pg_enum(InboundEmailKind, "inboundemailkind"), nullable=False
    )
    sender: Mapped[str | None] = mapped_column(sa.String(320))
    sender_name: Mapped[str | None] = mapped_column(sa.Text())
    recipients: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
    )
    subject: Mapped[str | None] = mapped_column(sa.Text())
    date: Mapped[datetime | None] = mapped_column(sa.DateTime())
    in_reply_to: Mapped[str | None] = mapped_column(sa.Text())
    references: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
    )
    email_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("communication_service.emails.id", ondelete="SET NULL")
    )
    matched_by: Mapped[MatchedBy | None] = mapped_column(pg_enum(MatchedBy, "inboundmatch"))
    body_text: Mapped[str] = mapped_column(sa.Text(), nullable=False, server_default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")
    )
    # A bounce: the recipient block of its delivery status notification, and whether it is
    # a permanent failure (status 5.x.x).
    delivery_status: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    permanent_failure: Mapped[bool] = mapped_column(
        sa.Boolean(), nullable=False, server_default=sa.false()
    )
    # A reply recorded as its email's response, and what recording it did besides.
    response_recorded: Mapped[bool] = mapped_column(
        sa.Boolean(), nullable=False, server_default=sa.false()
    )
    response_effects: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    size_bytes: Mapped[int] = mapped_column(sa.Integer(), nullable=False)
    created_at: Mapped[datetime] = created_at_column(nullable=False)
    updated_at: Mapped[datetime] = updated_at_column(nullable=False)

    def __repr__(self) -> str:
        return f"<InboundEmail id={self.id} kind={self.kind} email_id={self.email_id}>"


class UndeliverableAddress(db.Model):
    """A therapist's address that returned a permanent failure. The therapist counts as
    having no email address (rule 6) while ``therapists.email`` is this address."""

    __tablename__ = "undeliverable_addresses"
    __table_args__ = (
        sa.UniqueConstraint(
            "therapist_id", "address", name="undeliverable_addresses_therapist_id_address_key"
        ),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapist_service.therapists.id", ondelete="CASCADE"), nullable=False
    )
    # Lower case, trimmed: compared with lower(btrim(therapists.email)).
    address: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    since: Mapped[datetime] = mapped_column(sa.DateTime(), nullable=False)
    email_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("communication_service.emails.id", ondelete="SET NULL")
    )
    inbound_email_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("communication_service.inbound_emails.id", ondelete="SET NULL")
    )
    diagnostic: Mapped[str | None] = mapped_column(sa.Text())

    def __repr__(self) -> str:
        return f"<UndeliverableAddress therapist_id={self.therapist_id}>"
