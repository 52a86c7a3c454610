"""Therapist absences: the days a therapist is away (docs/rules.md rule 13)

``communication_service.therapist_absences`` (therapist, ``starts_on``, ``ends_on``
inclusive, note, ``created_at``). PostgreSQL holds the rules a writer could break: the end
is not before the start, an absence lasts at most 366 days, and no two absences of one
therapist overlap (an exclusion constraint on the days, ``btree_gist`` from 7a3e1c5b9d20).
The index on (therapist, last day, first day) answers "is the therapist away on day D" for
every call read and every booking.

Revision ID: a2e6c4b8d0f7
Revises: f1d5b3e9a7c6
Create Date: 2026-12-01 04:30:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ExcludeConstraint

revision = "a2e6c4b8d0f7"
down_revision = "f1d5b3e9a7c6"
branch_labels = None
depends_on = None

CS = "communication_service"


def upgrade():
    op.create_table(
        "therapist_absences",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "therapist_id",
            sa.Integer(),
            sa.ForeignKey("therapist_service.therapists.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column(
            "created_at",
            sa.DateTime(),
            nullable=False,
            server_default=sa.text("CURRENT_TIMESTAMP"),
        ),
        ExcludeConstraint(
            ("therapist_id", "="),
            (sa.text("daterange(starts_on, ends_on, '[]')"), "&&"),
            name="therapist_absences_no_overlap",
            using="gist",
        ),
        sa.CheckConstraint("ends_on >= starts_on", name="therapist_absences_in_order"),
        sa.CheckConstraint("ends_on - starts_on < 366", name="therapist_absences_at_most_a_year"),
        schema=CS,
    )
    op.create_index(
        "idx_therapist_absences_therapist_ends",
        "therapist_absences",
        ["therapist_id", "ends_on", "starts_on"],
        schema=CS,
    )


def downgrade():
    op.drop_table("therapist_absences", schema=CS)
