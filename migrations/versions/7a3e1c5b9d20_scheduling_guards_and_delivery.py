"""scheduling guards, delivery bookkeeping and indexes beyond the seed

- phone_calls: defaults in the database (status 'scheduled', duration 5, updated_at),
  a foreign key to the therapist, re-planning (attempt, previous_call_id) and follow-up
  (follow_up_email_id, unique: never two follow-ups for one email) columns, and an
  exclusion constraint: no two scheduled calls of one therapist overlap.
- emails: Message-ID (unique), next_attempt_at (retry back-off), sending_started_at
  (recovering rows a crashed sender left in 'sending').
- indexes for the list filters, the slot finder and the batching job (the one on
  placement_requests, by therapist and status, serves batching; the platform already
  indexes patient_id).

Revision ID: 7a3e1c5b9d20
Revises: 6f2a8c4e1b07
Create Date: 2026-11-26 01:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "7a3e1c5b9d20"
down_revision = "6f2a8c4e1b07"
branch_labels = None
depends_on = None

CS = "communication_service"
CALL_PERIOD_SQL = (
    "tsrange(scheduled_date + scheduled_time, "
    "scheduled_date + scheduled_time + duration_minutes * interval '1 minute')"
)


def upgrade():
    op.execute("CREATE SCHEMA IF NOT EXISTS communication_service")
    # btree_gist is a trusted extension: a database owner may create it without superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    op.execute(f"UPDATE {CS}.phone_calls SET status = 'scheduled' WHERE status IS NULL")
    op.execute(f"UPDATE {CS}.phone_calls SET duration_minutes = 5 WHERE duration_minutes IS NULL")
    op.alter_column("phone_calls", "status", schema=CS, nullable=False, server_default="scheduled")
    op.alter_column("phone_calls", "duration_minutes", schema=CS, nullable=False)
    op.alter_column(
        "phone_calls", "updated_at", schema=CS, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    op.add_column(
        "phone_calls",
        sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"),
        schema=CS,
    )
    op.add_column(
        "phone_calls", sa.Column("previous_call_id", sa.Integer(), nullable=True), schema=CS
    )
    op.add_column(
        "phone_calls", sa.Column("follow_up_email_id", sa.Integer(), nullable=True), schema=CS
    )
    op.create_foreign_key(
        "phone_calls_therapist_id_fkey",
        "phone_calls",
        "therapists",
        ["therapist_id"],
        ["id"],
        source_schema=CS,
        referent_schema="therapist_service",
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "phone_calls_previous_call_id_fkey",
        "phone_calls",
        "phone_calls",
        ["previous_call_id"],
        ["id"],
        source_schema=CS,
        referent_schema=CS,
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "phone_calls_follow_up_email_id_fkey",
        "phone_calls",
        "emails",
        ["follow_up_email_id"],
        ["id"],
        source_schema=CS,
        referent_schema=CS,
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        "phone_calls_duration_positive", "phone_calls", "duration_minutes > 0", schema=CS
    )
    op.create_index(
        "uq_phone_calls_follow_up_email_id",
        "phone_calls",
        ["follow_up_email_id"],
        unique=True,
        schema=CS,
        postgresql_where=sa.text("follow_up_email_id IS NOT NULL"),
    )
    op.create_index(
        "idx_phone_calls_schedule", "phone_calls", ["scheduled_date", "scheduled_time"], schema=CS
    )
    op.create_index(
        "idx_phone_calls_therapist_schedule",
        "phone_calls",
        ["therapist_id", "scheduled_date", "scheduled_time"],
        schema=CS,
    )
    op.execute(
        f"ALTER TABLE {CS}.phone_calls ADD CONSTRAINT phone_calls_no_overlap "
        f"EXCLUDE USING gist (therapist_id WITH =, ({CALL_PERIOD_SQL}) WITH &&) "
        "WHERE (status = 'scheduled')"
    )

    op.add_column(
        "emails", sa.Column("message_id", sa.String(length=255), nullable=True), schema=CS
    )
    op.add_column("emails", sa.Column("next_attempt_at", sa.DateTime(), nullable=True), schema=CS)
    op.add_column(
        "emails", sa.Column("sending_started_at", sa.DateTime(), nullable=True), schema=CS
    )
    op.create_unique_constraint("emails_message_id_key", "emails", ["message_id"], schema=CS)
    op.create_index(
        "idx_emails_therapist_id_status", "emails", ["therapist_id", "status"], schema=CS
    )
    op.create_index(
        "idx_emails_queued_due",
        "emails",
        ["next_attempt_at"],
        schema=CS,
        postgresql_where=sa.text("status = 'queued'"),
    )

    op.create_index(
        "idx_placement_requests_therapist_id_status",
        "placement_requests",
        ["therapist_id", "status"],
        schema="matching_service",
    )


def downgrade():
    op.drop_index(
        "idx_placement_requests_therapist_id_status",
        table_name="placement_requests",
        schema="matching_service",
    )

    op.drop_index("idx_emails_queued_due", table_name="emails", schema=CS)
    op.drop_index("idx_emails_therapist_id_status", table_name="emails", schema=CS)
    op.drop_constraint("emails_message_id_key", "emails", schema=CS, type_="unique")
    op.drop_column("emails", "sending_started_at", schema=CS)
    op.drop_column("emails", "next_attempt_at", schema=CS)
    op.drop_column("emails", "message_id", schema=CS)

    op.execute(f"ALTER TABLE {CS}.phone_calls DROP CONSTRAINT phone_calls_no_overlap")
    op.drop_index("idx_phone_calls_therapist_schedule", table_name="phone_calls", schema=CS)
    op.drop_index("idx_phone_calls_schedule", table_name="phone_calls", schema=CS)
    op.drop_index("uq_phone_calls_follow_up_email_id", table_name="phone_calls", schema=CS)
    op.drop_constraint("phone_calls_duration_positive", "phone_calls", schema=CS, type_="check")
    op.drop_constraint(
        "phone_calls_follow_up_email_id_fkey", "phone_calls", schema=CS, type_="foreignkey"
    )
    op.drop_constraint(
        "phone_calls_previous_call_id_fkey", "phone_calls", schema=CS, type_="foreignkey"
    )
    op.drop_constraint(
        "phone_calls_therapist_id_fkey", "phone_calls", schema=CS, type_="foreignkey"
    )
    op.drop_column("phone_calls", "follow_up_email_id", schema=CS)
    op.drop_column("phone_calls", "previous_call_id", schema=CS)
    op.drop_column("phone_calls", "attempt", schema=CS)
    op.alter_column("phone_calls", "updated_at", schema=CS, server_default=None)
    op.alter_column("phone_calls", "duration_minutes", schema=CS, nullable=True)
    op.alter_column("phone_calls", "status", schema=CS, nullable=True, server_default=None)
    # btree_gist stays: other objects may use it, and it is harmless.
