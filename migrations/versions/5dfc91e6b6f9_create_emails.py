"""communication_service.emails (the table before the batching work)

Revision ID: 5dfc91e6b6f9
Revises: 4cfc91d5b5e9
Create Date: 2025-05-01 10:30:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "5dfc91e6b6f9"
down_revision = "4cfc91d5b5e9"
branch_labels = None
depends_on = None

email_status = postgresql.ENUM("draft", "queued", "sending", "sent", "failed", name="emailstatus")


def upgrade():
    op.execute("CREATE SCHEMA IF NOT EXISTS communication_service")
    op.create_table(
        "emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("recipient_email", sa.String(length=255), nullable=False),
        sa.Column("recipient_name", sa.String(length=255), nullable=True),
        sa.Column("sender_email", sa.String(length=255), nullable=True),
        sa.Column("sender_name", sa.String(length=255), nullable=True),
        sa.Column("status", email_status, nullable=False, server_default="draft"),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "created_at", sa.DateTime(), nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.Column(
            "updated_at", sa.DateTime(), nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapist_service.therapists.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="communication_service",
    )


def downgrade():
    op.drop_table("emails", schema="communication_service")
    email_status.drop(op.get_bind(), checkfirst=True)
