"""phone_call_counts kept exact by triggers; call indexes in the lists' full order

The call list answers a total with every page (docs/api.md). Counting a therapist's calls reads
every one of them (6.4 ms at 100,000 calls, from the index), so the totals the list asks
for most — a therapist's calls, optionally by status — are kept per (therapist, status) by
statement-level triggers on phone_calls, in the same transaction as the change: exact at
every commit, whoever writes (API, jobs, plain SQL, cascades). TRUNCATE empties them too.

The lists order calls by date, time and id: the two schedule indexes end with ``id`` too, so
a page is read in order from the index (no incremental sort before the LIMIT).

Revision ID: 8b4d2e6f0a31
Revises: 7a3e1c5b9d20
Create Date: 2026-11-26 04:30:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "8b4d2e6f0a31"
down_revision = "7a3e1c5b9d20"
branch_labels = None
depends_on = None

CS = "communication_service"

# One upsert per statement, keys in order (concurrent writers lock count rows in one order).
_UPSERT = f"""
        INSERT INTO {CS}.phone_call_counts AS counts (therapist_id, status, calls)
        SELECT therapist_id, status, sum(delta) FROM (CHANGES) AS changes
        GROUP BY therapist_id, status
        HAVING sum(delta) <> 0
        ORDER BY therapist_id, status
        ON CONFLICT (therapist_id, status) DO UPDATE SET calls = counts.calls + EXCLUDED.calls;
"""
_ADDED = "SELECT therapist_id, status, 1 AS delta FROM new_calls"
_REMOVED = "SELECT therapist_id, status, -1 AS delta FROM old_calls"


# name → columns before (7a3e1c5b9d20) and after this revision
_ORDERED_INDEXES = {
    "idx_phone_calls_schedule": ["scheduled_date", "scheduled_time"],
    "idx_phone_calls_therapist_schedule": ["therapist_id", "scheduled_date", "scheduled_time"],
}


def _replace_indexes(with_id: bool) -> None:
    for name, columns in _ORDERED_INDEXES.items():
        op.drop_index(name, table_name="phone_calls", schema=CS)
        op.create_index(name, "phone_calls", [*columns, "id"] if with_id else columns, schema=CS)


def upgrade():
    _replace_indexes(with_id=True)
    create_phone_call_counts()


def downgrade():
    _replace_indexes(with_id=False)
    drop_phone_call_counts()


def create_phone_call_counts() -> None:
    """The table, its triggers, and the counts of the calls already there (also used by the
    downgrade of revision c5e1f3a7b9d2, which drops them)."""
    op.create_table(
        "phone_call_counts",
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(name="phonecallstatus", create_type=False),
            nullable=False,
        ),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("therapist_id", "status"),
        schema=CS,
    )
    op.execute(
        f"""
        CREATE FUNCTION {CS}.count_phone_calls() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_UPSERT.replace("CHANGES", _ADDED)}
            ELSIF TG_OP = 'DELETE' THEN
                {_UPSERT.replace("CHANGES", _REMOVED)}
            ELSE
                {_UPSERT.replace("CHANGES", _ADDED + " UNION ALL " + _REMOVED)}
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION {CS}.clear_phone_call_counts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE {CS}.phone_call_counts;
            RETURN NULL;
        END $$
        """
    )
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_calls"),
        ("UPDATE", "OLD TABLE AS old_calls NEW TABLE AS new_calls"),
        ("DELETE", "OLD TABLE AS old_calls"),
    ):
        op.execute(
            f"CREATE TRIGGER phone_call_counts_{event.lower()} AFTER {event} ON {CS}.phone_calls "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {CS}.count_phone_calls()"
        )
    op.execute(
        f"CREATE TRIGGER phone_call_counts_truncate AFTER TRUNCATE ON {CS}.phone_calls "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {CS}.clear_phone_call_counts()"
    )
    # The calls that exist already.
    op.execute(
        f"INSERT INTO {CS}.phone_call_counts (therapist_id, status, calls) "
        f"SELECT therapist_id, status, count(*) FROM {CS}.phone_calls "
        "GROUP BY therapist_id, status"
    )


def drop_phone_call_counts() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER phone_call_counts_{event} ON {CS}.phone_calls")
    op.execute(f"DROP FUNCTION {CS}.count_phone_calls()")
    op.execute(f"DROP FUNCTION {CS}.clear_phone_call_counts()")
    op.drop_table("phone_call_counts", schema=CS)
