"""Contact bookkeeping: who booked a call, an email's follow-up, live contacts (placeholder)

Revision ID: d4b8f2a6c1e3
Revises: c5e1f3a7b9d2
Create Date: 2026-12-01 04:30:00

"""

revision = "d4b8f2a6c1e3"
down_revision = "c5e1f3a7b9d2"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
