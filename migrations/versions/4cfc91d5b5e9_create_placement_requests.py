"""matching_service.placement_requests, as the platform's revision 4cfc91d5b5e9 creates it

No foreign keys: the platform keeps none between its services' tables.

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

SCHEMA = "matching_service"
request_status = postgresql.ENUM(
    "OPEN", "IN_PROGRESS", "REJECTED", "ACCEPTED", name="placementrequeststatus"
)
INDEXES = {
    "ix_matching_service_placement_requests_id": "id",
    "ix_matching_service_placement_requests_patient_id": "patient_id",
    "ix_matching_service_placement_requests_therapist_id": "therapist_id",
}


def upgrade():
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "placement_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("status", request_status, nullable=True),
        sa.Column("created_at", sa.Date(), nullable=True),
        sa.Column("email_contact_date", sa.Date(), nullable=True),
        sa.Column("phone_contact_date", sa.Date(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("response_date", sa.Date(), nullable=True),
        sa.Column("next_contact_after", sa.Date(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    for name, column in INDEXES.items():
        op.create_index(name, "placement_requests", [column], schema=SCHEMA)


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="placement_requests", schema=SCHEMA)
    op.drop_table("placement_requests", schema=SCHEMA)
    request_status.drop(op.get_bind(), checkfirst=True)
