"""matching_service.placement_requests (minimal version of the matching service's table)

Revision ID: 4cfc91d5b5e9
Revises: 3bfc91c5b4f9
Create Date: 2025-05-01 10:20:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "4cfc91d5b5e9"
down_revision = "3bfc91c5b4f9"
branch_labels = None
depends_on = None

request_status = postgresql.ENUM(
    "open", "in_progress", "rejected", "accepted", name="placementrequeststatus"
)


def upgrade():
    op.execute("CREATE SCHEMA IF NOT EXISTS matching_service")
    op.create_table(
        "placement_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("status", request_status, nullable=False, server_default="open"),
        sa.Column(
            "created_at", sa.DateTime(), nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.Column("email_contact_date", sa.Date(), nullable=True),
        sa.Column("phone_contact_date", sa.Date(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("response_date", sa.Date(), nullable=True),
        sa.Column("next_contact_after", sa.Date(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient_service.patients.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapist_service.therapists.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="matching_service",
    )


def downgrade():
    op.drop_table("placement_requests", schema="matching_service")
    request_status.drop(op.get_bind(), checkfirst=True)
