"""Drop phone_call_counts and its triggers: list totals are counted when they are needed

The trigger-maintained totals made every write of a call also lock its therapist's count
rows, which changed the order in which writers take locks (a booking holds the booking lock
while it waits for those rows). The call list now counts its matches with the page, exactly
up to 1,000 and as PostgreSQL's estimate beyond (``services/phone_calls.py``).

Revision ID: c5e1f3a7b9d2
Revises: 9d6e2a4c8f13
Create Date: 2026-12-01 02:40:00

"""

from alembic import context
from alembic.script import ScriptDirectory

revision = "c5e1f3a7b9d2"
down_revision = "9d6e2a4c8f13"
branch_labels = None
depends_on = None


def _counts_revision():
    """Revision 8b4d2e6f0a31, which knows how to build and remove the counts."""
    return ScriptDirectory.from_config(context.config).get_revision("8b4d2e6f0a31").module


def upgrade():
    _counts_revision().drop_phone_call_counts()


def downgrade():
    _counts_revision().create_phone_call_counts()
