"""Adopt the platform's emails: this service's status values, defaults, legacy request lists

``communication_service.emails`` is this service's own table, created by the platform at
5dfc91e6b6f9 with its rows in place. This revision makes it the table the service expects,
keeping every row:

- the status labels become the service's values (``entwurf`` → ``draft``, ``in_warteschlange``
  → ``queued``, ``wird_gesendet`` → ``sending``, ``gesendet`` → ``sent``, ``fehlgeschlagen`` →
  ``failed``), renamed in place: the rows keep their status;
- ``status``, ``retry_count``, ``created_at`` and ``updated_at`` are backfilled where NULL
  (a NULL status becomes ``sent`` when the email has a ``sent_at``, else ``draft``: nothing the
  staff did not see goes out by itself), then get defaults and NOT NULL;
- ``body_html``, ``recipient_name``, ``sender_email`` and ``sender_name`` become nullable: an
  email written through the API may have no HTML part, a therapist may have no name on
  file, and the sender comes from the settings when the email is sent;
- each email's ``placement_request_ids`` (the platform's list before batches) becomes its
  ``email_batches``, in list order, for the ids that are requests of the email's therapist:
  those requests count as emailed (they are not emailed again) and a sent email gets its
  follow-up call. The column stays, unwritten by this service, so that nothing the
  platform stored is lost; ``downgrade`` fills it from the batches for emails this service
  wrote, so the platform's readers see what each email carried.

Revision ID: 6f2a8c4e1b07
Revises: 6efc92f7c7g9
Create Date: 2026-12-01 02:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "6f2a8c4e1b07"
down_revision = "6efc92f7c7g9"
branch_labels = None
depends_on = None

CS = "communication_service"
LABELS = {
    "entwurf": "draft",
    "in_warteschlange": "queued",
    "wird_gesendet": "sending",
    "gesendet": "sent",
    "fehlgeschlagen": "failed",
}
SOMETIMES_UNKNOWN = ("body_html", "recipient_name", "sender_email", "sender_name")
NOW_UTC = "timezone('UTC', now())"

# The listed ids that are requests of the email's therapist, first mention only, in order.
LEGACY_BATCHES = f"""
INSERT INTO {CS}.email_batches (email_id, placement_request_id, priority, created_at)
SELECT email_id, request_id, row_number() OVER (PARTITION BY email_id ORDER BY position),
       created_at
FROM (
    SELECT DISTINCT ON (e.id, pr.id) e.id AS email_id, pr.id AS request_id, item.position,
           e.created_at
    FROM {CS}.emails e
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(e.placement_request_ids) = 'array'
             THEN e.placement_request_ids ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS item(value, position)
    JOIN matching_service.placement_requests pr
      ON item.value ~ '^[0-9]{{1,9}}$' AND pr.id = item.value::integer
     AND pr.therapist_id = e.therapist_id
    ORDER BY e.id, pr.id, item.position
) AS listed
ON CONFLICT (email_id, placement_request_id) DO NOTHING
"""


def upgrade():
    for old, new in LABELS.items():
        op.execute(f"ALTER TYPE public.emailstatus RENAME VALUE '{old}' TO '{new}'")
    op.execute(
        f"""
        UPDATE {CS}.emails SET
            status = COALESCE(
                status, CASE WHEN sent_at IS NOT NULL THEN 'sent' ELSE 'draft' END::emailstatus
            ),
            retry_count = COALESCE(retry_count, 0),
            created_at = COALESCE(created_at, queued_at, sent_at, updated_at, {NOW_UTC}),
            updated_at = COALESCE(updated_at, sent_at, queued_at, created_at, {NOW_UTC})
        WHERE status IS NULL OR retry_count IS NULL OR created_at IS NULL OR updated_at IS NULL
        """
    )
    op.alter_column("emails", "status", schema=CS, nullable=False, server_default="draft")
    op.alter_column("emails", "retry_count", schema=CS, nullable=False, server_default="0")
    for column in ("created_at", "updated_at"):
        op.alter_column(
            "emails",
            column,
            schema=CS,
            nullable=False,
            server_default=sa.text("CURRENT_TIMESTAMP"),
        )
    for column in SOMETIMES_UNKNOWN:
        op.alter_column("emails", column, schema=CS, nullable=True)
    op.execute(LEGACY_BATCHES)


def downgrade():
    op.execute(
        f"""
        UPDATE {CS}.emails e SET placement_request_ids = (
            SELECT jsonb_agg(b.placement_request_id ORDER BY b.priority, b.id)
            FROM {CS}.email_batches b WHERE b.email_id = e.id)
        WHERE e.placement_request_ids IS NULL
          AND EXISTS (SELECT FROM {CS}.email_batches b WHERE b.email_id = e.id)
        """
    )
    # The platform requires these; an email written here without them gets the plain text
    # as HTML and empty names (the platform shows what it has).
    op.execute(
        f"""
        UPDATE {CS}.emails SET
            body_html = COALESCE(body_html, '<pre>' || replace(replace(replace(
                body_text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') || '</pre>'),
            recipient_name = COALESCE(recipient_name, ''),
            sender_email = COALESCE(sender_email, ''),
            sender_name = COALESCE(sender_name, '')
        WHERE body_html IS NULL OR recipient_name IS NULL
           OR sender_email IS NULL OR sender_name IS NULL
        """
    )
    for column in SOMETIMES_UNKNOWN:
        op.alter_column("emails", column, schema=CS, nullable=False)
    for column in ("status", "retry_count", "created_at", "updated_at"):
        op.alter_column("emails", column, schema=CS, nullable=True, server_default=None)
    for old, new in LABELS.items():
        op.execute(f"ALTER TYPE public.emailstatus RENAME VALUE '{new}' TO '{old}'")
