"""therapist_service.therapists (minimal version of the therapist service's table)

Revision ID: 3bfc91c5b4f9
Revises: 2afc91c5b3e8
Create Date: 2025-05-01 10:10:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "3bfc91c5b4f9"
down_revision = "2afc91c5b3e8"
branch_labels = None
depends_on = None

therapist_status = postgresql.ENUM("active", "blocked", "inactive", name="therapiststatus")


def upgrade():
    op.execute("CREATE SCHEMA IF NOT EXISTS therapist_service")
    op.create_table(
        "therapists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anrede", sa.String(length=10), nullable=True),
        sa.Column("titel", sa.String(length=20), nullable=True),
        sa.Column("vorname", sa.String(length=100), nullable=True),
        sa.Column("nachname", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("telefon", sa.String(length=50), nullable=True),
        sa.Column("telefonische_erreichbarkeit", postgresql.JSONB(), nullable=True),
        sa.Column("status", therapist_status, nullable=False, server_default="active"),
        sa.Column("letzter_kontakt_email", sa.Date(), nullable=True),
        sa.Column("letzter_kontakt_telefon", sa.Date(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(), nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.Column(
            "updated_at", sa.DateTime(), nullable=True, server_default=sa.text("CURRENT_TIMESTAMP")
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="therapist_service",
    )


def downgrade():
    op.drop_table("therapists", schema="therapist_service")
    therapist_status.drop(op.get_bind(), checkfirst=True)
