"""Therapist absences (placeholder)

Revision ID: a2e6c4b8d0f7
Revises: f1d5b3e9a7c6
Create Date: 2026-12-01 04:30:00

"""

revision = "a2e6c4b8d0f7"
down_revision = "f1d5b3e9a7c6"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
