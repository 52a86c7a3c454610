"""Therapist name search (placeholder)

Revision ID: e7c3a9d5f2b4
Revises: d4b8f2a6c1e3
Create Date: 2026-12-01 04:30:00

"""

revision = "e7c3a9d5f2b4"
down_revision = "d4b8f2a6c1e3"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
