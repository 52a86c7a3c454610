"""Contact bookkeeping: who booked a call, which email a call follows up, an email's follow-up

- ``phone_calls.booked_by`` (``staff`` | ``automatic``): rule 9 cancels a rejecting therapist's
  automatic calls and leaves staff calls to staff. Existing rows: follow-ups, re-plans and
  the calls ``batch-emails`` booked (their note says so) are automatic; every other call is
  counted as staff's, which is the side that is never canceled by itself.
- ``phone_calls.follow_up_email_id`` is now carried by every re-plan of a follow-up, so rule
  10 (a reply cancels the email's follow-ups) reaches the whole chain. The unique index
  holds for the first attempt only: one follow-up per email, re-plans beside it.
- ``emails.followed_up_at``: rule 7 ("never twice for the same email") is recorded on the
  email, where deleting a call cannot erase it. Existing follow-ups set it from their call.

Revision ID: d4b8f2a6c1e3
Revises: c5e1f3a7b9d2
Create Date: 2026-12-01 04:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d4b8f2a6c1e3"
down_revision = "c5e1f3a7b9d2"
branch_labels = None
depends_on = None

CS = "communication_service"
BOOKED_BY = sa.Enum("staff", "automatic", name="callbookedby")
UNIQUE_FOLLOW_UP = "uq_phone_calls_follow_up_email_id"


def _unique_follow_up(where: str) -> None:
    op.create_index(
        UNIQUE_FOLLOW_UP,
        "phone_calls",
        ["follow_up_email_id"],
        unique=True,
        schema=CS,
        postgresql_where=sa.text(where),
    )


def upgrade():
    BOOKED_BY.create(op.get_bind())
    op.add_column(
        "phone_calls",
        sa.Column("booked_by", BOOKED_BY, nullable=False, server_default="staff"),
        schema=CS,
    )
    op.execute(
        f"""
        UPDATE {CS}.phone_calls SET booked_by = 'automatic'
        WHERE follow_up_email_id IS NOT NULL
           OR previous_call_id IS NOT NULL
           OR notes LIKE 'Automatisch geplant:%'
        """
    )
    # Re-plans inherit the email their chain follows up.
    op.execute(
        f"""
        WITH RECURSIVE chain(id, email_id) AS (
            SELECT id, follow_up_email_id FROM {CS}.phone_calls
            WHERE follow_up_email_id IS NOT NULL
            UNION ALL
            SELECT c.id, chain.email_id
            FROM {CS}.phone_calls c JOIN chain ON c.previous_call_id = chain.id
        )
        UPDATE {CS}.phone_calls c SET follow_up_email_id = chain.email_id
        FROM chain WHERE c.id = chain.id AND c.follow_up_email_id IS NULL
        """
    )
    op.drop_index(UNIQUE_FOLLOW_UP, table_name="phone_calls", schema=CS)
    _unique_follow_up("follow_up_email_id IS NOT NULL AND attempt = 1")
    op.create_index(
        "idx_phone_calls_follow_up_email_id",
        "phone_calls",
        ["follow_up_email_id"],
        schema=CS,
        postgresql_where=sa.text("follow_up_email_id IS NOT NULL"),
    )
    op.add_column("emails", sa.Column("followed_up_at", sa.DateTime()), schema=CS)
    op.execute(
        f"""
        UPDATE {CS}.emails e SET followed_up_at = first_call.created_at
        FROM (
            SELECT follow_up_email_id, min(coalesce(created_at, CURRENT_TIMESTAMP)) AS created_at
            FROM {CS}.phone_calls WHERE follow_up_email_id IS NOT NULL
            GROUP BY follow_up_email_id
        ) first_call
        WHERE e.id = first_call.follow_up_email_id
        """
    )


def downgrade():
    op.drop_column("emails", "followed_up_at", schema=CS)
    op.drop_index("idx_phone_calls_follow_up_email_id", table_name="phone_calls", schema=CS)
    op.drop_index(UNIQUE_FOLLOW_UP, table_name="phone_calls", schema=CS)
    # Before: only the first call of a chain names the email.
    op.execute(f"UPDATE {CS}.phone_calls SET follow_up_email_id = NULL WHERE attempt > 1")
    _unique_follow_up("follow_up_email_id IS NOT NULL")
    op.drop_column("phone_calls", "booked_by", schema=CS)
    BOOKED_BY.drop(op.get_bind())
