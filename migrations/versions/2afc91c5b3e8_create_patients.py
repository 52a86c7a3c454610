"""patient_service.patients (minimal version of the patient service's table)

Revision ID: 2afc91c5b3e8
Revises:
Create Date: 2025-05-01 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "2afc91c5b3e8"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE SCHEMA IF NOT EXISTS patient_service")
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vorname", sa.String(length=100), nullable=True),
        sa.Column("nachname", sa.String(length=100), nullable=False),
        sa.Column("geburtsdatum", sa.Date(), nullable=True),
        sa.Column("diagnose", sa.String(length=50), nullable=True),
        sa.Column("startdatum", sa.Date(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(), nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="patient_service",
    )


def downgrade():
    op.drop_table("patients", schema="patient_service")
