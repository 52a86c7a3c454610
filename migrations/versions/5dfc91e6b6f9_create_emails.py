"""communication_service.emails, as the platform's revision 5dfc91e6b6f9 creates it

The platform's own table before batching: German status labels, a JSON list of the
requests each email carried, and no defaults. Revision ``6f2a8c4e1b07`` adopts it.

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

SCHEMA = "communication_service"
email_status = postgresql.ENUM(
    "entwurf", "in_warteschlange", "wird_gesendet", "gesendet", "fehlgeschlagen", name="emailstatus"
)
INDEXES = {
    "ix_communication_service_emails_id": "id",
    "ix_communication_service_emails_therapist_id": "therapist_id",
}


def upgrade():
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("recipient_email", sa.String(length=255), nullable=False),
        sa.Column("recipient_name", sa.String(length=255), nullable=False),
        sa.Column("sender_email", sa.String(length=255), nullable=False),
        sa.Column("sender_name", sa.String(length=255), nullable=False),
        sa.Column("placement_request_ids", postgresql.JSONB(), nullable=True),
        sa.Column("status", email_status, nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    for name, column in INDEXES.items():
        op.create_index(name, "emails", [column], schema=SCHEMA)


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="emails", schema=SCHEMA)
    op.drop_table("emails", schema=SCHEMA)
    email_status.drop(op.get_bind(), checkfirst=True)
