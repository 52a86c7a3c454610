"""Inbound emails and undeliverable addresses

- inbound_emails: every message received (POST /api/inbound-emails, comm import-mail), once
  per Message-ID: headers, kind (reply, auto_reply, bounce, unknown), the email it answers,
  its readable text, attachment names and sizes, a bounce's delivery status, and whether it
  was recorded as its email's response.
- undeliverable_addresses: a therapist's address that returned a permanent failure; the
  therapist counts as having no email address (rule 6) while therapists.email is that address.
- emails: an index for matching a message by its sender (sent emails by recipient).

Revision ID: f1d5b3e9a7c6
Revises: e7c3a9d5f2b4
Create Date: 2026-12-01 04:30:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "f1d5b3e9a7c6"
down_revision = "e7c3a9d5f2b4"
branch_labels = None
depends_on = None

CS = "communication_service"
KIND = postgresql.ENUM(
    "reply", "auto_reply", "bounce", "unknown", name="inboundemailkind", create_type=False
)
MATCH = postgresql.ENUM("message_id", "sender", "staff", name="inboundmatch", create_type=False)
EMPTY_LIST = sa.text("'[]'::jsonb")


def upgrade():
    KIND.create(op.get_bind(), checkfirst=True)
    MATCH.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "inbound_emails",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("kind", KIND, nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("sender_name", sa.Text(), nullable=True),
        sa.Column("recipients", postgresql.JSONB(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("date", sa.DateTime(), nullable=True),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("references", postgresql.JSONB(), nullable=False, server_default=EMPTY_LIST),
        sa.Column(
            "email_id",
            sa.Integer(),
            sa.ForeignKey(f"{CS}.emails.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("matched_by", MATCH, nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False, server_default=""),
        sa.Column("attachments", postgresql.JSONB(), nullable=False, server_default=EMPTY_LIST),
        sa.Column("delivery_status", postgresql.JSONB(), nullable=True),
        sa.Column("permanent_failure", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("response_recorded", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("response_effects", postgresql.JSONB(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.Column(
            "updated_at", sa.DateTime(), nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.UniqueConstraint("message_id", name="inbound_emails_message_id_key"),
        schema=CS,
    )
    op.create_index(
        "idx_inbound_emails_unmatched",
        "inbound_emails",
        ["id"],
        schema=CS,
        postgresql_where=sa.text("email_id IS NULL"),
    )
    op.create_index("idx_inbound_emails_kind", "inbound_emails", ["kind", "id"], schema=CS)
    op.create_index("idx_inbound_emails_email_id", "inbound_emails", ["email_id"], schema=CS)

    op.create_table(
        "undeliverable_addresses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "therapist_id",
            sa.Integer(),
            sa.ForeignKey("therapist_service.therapists.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column(
            "email_id",
            sa.Integer(),
            sa.ForeignKey(f"{CS}.emails.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "inbound_email_id",
            sa.Integer(),
            sa.ForeignKey(f"{CS}.inbound_emails.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.UniqueConstraint(
            "therapist_id", "address", name="undeliverable_addresses_therapist_id_address_key"
        ),
        schema=CS,
    )

    op.create_index(
        "idx_emails_sent_recipient",
        "emails",
        [sa.text("lower(recipient_email)"), "sent_at"],
        schema=CS,
        postgresql_where=sa.text("status = 'sent'"),
    )


def downgrade():
    op.drop_index("idx_emails_sent_recipient", table_name="emails", schema=CS)
    op.drop_table("undeliverable_addresses", schema=CS)
    op.drop_index("idx_inbound_emails_email_id", table_name="inbound_emails", schema=CS)
    op.drop_index("idx_inbound_emails_kind", table_name="inbound_emails", schema=CS)
    op.drop_index("idx_inbound_emails_unmatched", table_name="inbound_emails", schema=CS)
    op.drop_table("inbound_emails", schema=CS)
    MATCH.drop(op.get_bind(), checkfirst=True)
    KIND.drop(op.get_bind(), checkfirst=True)
