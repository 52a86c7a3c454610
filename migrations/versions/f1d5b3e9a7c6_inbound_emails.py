"""Inbound emails and undeliverable addresses (placeholder)

Revision ID: f1d5b3e9a7c6
Revises: e7c3a9d5f2b4
Create Date: 2026-12-01 04:30:00

"""

revision = "f1d5b3e9a7c6"
down_revision = "e7c3a9d5f2b4"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
