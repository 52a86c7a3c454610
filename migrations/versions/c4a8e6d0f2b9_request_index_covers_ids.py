"""The per-therapist request index carries the request's id

``idx_placement_requests_therapist_id_status`` (revision 7a3e1c5b9d20) now includes ``id``:
"the therapist's open requests not yet contacted" (every row of the therapist list, and the
batching job) tests each open request by its id, which the index gives without reading the
table (an index-only scan instead of a heap visit per request).

Revision ID: c4a8e6d0f2b9
Revises: a2e6c4b8d0f7
Create Date: 2026-12-01 08:00:00

"""

from alembic import op

revision = "c4a8e6d0f2b9"
down_revision = "a2e6c4b8d0f7"
branch_labels = None
depends_on = None

NAME = "idx_placement_requests_therapist_id_status"
MS = "matching_service"


def _replace(**include: list[str]) -> None:
    op.drop_index(NAME, table_name="placement_requests", schema=MS)
    op.create_index(NAME, "placement_requests", ["therapist_id", "status"], schema=MS, **include)


def upgrade():
    _replace(postgresql_include=["id"])


def downgrade():
    _replace()
