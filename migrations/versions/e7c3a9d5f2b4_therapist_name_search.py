"""Therapist name search and the indexes of the therapist and placement-request lists

- ``communication_service.name_search_key(text)``: a name as it is searched and sorted:
  composed (NFC), ä/ö/ü transliterated to ae/oe/ue (DIN 5007-2, the phone-book order),
  every other accent removed (``unaccent``: é → e, ß → ss), lower case. IMMUTABLE (the
  dictionary is named with its schema), so a column and an index may use it; ``unaccent``
  itself is only STABLE.
- ``communication_service.name_search_pattern(text)``: a word of a search as a regular
  expression over such keys: unaccented the same way, but ä/ö/ü become a/o/u and every a, o, u
  may be followed by an ``e``, so "müller", "mueller" and "muller" all find Müller (key
  "mueller"); metacharacters are escaped.
- ``therapist_service.therapists.name_search_key``: the key of "nachname vorname", a stored
  generated column (a search rechecks and sorts every match: a stored key costs nothing per
  row, the function ~2 µs each time; BENCHMARKS.md), with a trigram GIN index for the search
  (``pg_trgm``: substring matches) and a btree ``(key, id)`` for the list's order.
- ``matching_service.placement_requests (status, id)``: the request list by status in id
  order; ``communication_service.phone_call_batches (placement_request_id) WHERE
  follow_up_required IS TRUE``: the few requests flagged for staff, without reading every batch;
  ``communication_service.emails (therapist_id, status, sent_at)`` instead of
  ``(therapist_id, status)``: rule 4 reads a therapist's last sent email with one probe;
  ``communication_service.email_batches (placement_request_id, email_id)`` instead of
  ``(placement_request_id)``: a request's latest unanswered email is the first one read.

``unaccent`` and ``pg_trgm`` are trusted extensions (a database owner may create them); like
``btree_gist`` they stay on downgrade (other objects may use them).

Revision ID: e7c3a9d5f2b4
Revises: d4b8f2a6c1e3
Create Date: 2026-12-01 04:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e7c3a9d5f2b4"
down_revision = "d4b8f2a6c1e3"
branch_labels = None
depends_on = None

CS = "communication_service"
THERAPISTS = "therapist_service"
KEY_SOURCE = "nachname || ' ' || vorname"

# {unaccent}: the extension's schema, quoted. Every name is qualified: a restore (pg_dump)
# computes the column with an empty search_path.
KEY_FUNCTION = r"""
CREATE FUNCTION communication_service.name_search_key(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    -- A decomposed umlaut (u + U+0308) is composed first, so it is transliterated like ü.
    IF name IS NOT NFC NORMALIZED THEN
        name := pg_catalog.normalize(name, 'NFC');
    END IF;
    RETURN pg_catalog.lower({unaccent}.unaccent('{unaccent}.unaccent'::regdictionary,
        pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
        pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(name,
            'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'Ä', 'Ae'), 'Ö', 'Oe'), 'Ü', 'Ue')));
END
$$
"""
PATTERN_FUNCTION = r"""
CREATE FUNCTION communication_service.name_search_pattern(word text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    IF word IS NOT NFC NORMALIZED THEN
        word := pg_catalog.normalize(word, 'NFC');
    END IF;
    word := pg_catalog.lower({unaccent}.unaccent('{unaccent}.unaccent'::regdictionary, word));
    word := pg_catalog.regexp_replace(word, '([.^$*+?()\[\]{{}}|\\])', '\\\1', 'g');
    RETURN pg_catalog.regexp_replace(word, '([aou])', '\1e?', 'g');
END
$$
"""


def _extension_schema(name: str) -> str:
    """The schema an extension lives in (``public`` unless the database put it elsewhere),
    quoted for SQL."""
    bind = op.get_bind()
    schema = bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = :name"
        ),
        {"name": name},
    ).scalar_one()
    return bind.dialect.identifier_preparer.quote_schema(schema)


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    unaccent, trgm = _extension_schema("unaccent"), _extension_schema("pg_trgm")
    op.execute(KEY_FUNCTION.format(unaccent=unaccent))
    op.execute(PATTERN_FUNCTION.format(unaccent=unaccent))
    op.add_column(
        "therapists",
        sa.Column(
            "name_search_key",
            sa.Text(),
            sa.Computed(f"{CS}.name_search_key({KEY_SOURCE})", persisted=True),
        ),
        schema=THERAPISTS,
    )
    op.create_index(
        "idx_therapists_name_search",
        "therapists",
        ["name_search_key"],
        schema=THERAPISTS,
        postgresql_using="gin",
        postgresql_ops={"name_search_key": f"{trgm}.gin_trgm_ops"},
    )
    op.create_index(
        "idx_therapists_name_order", "therapists", ["name_search_key", "id"], schema=THERAPISTS
    )
    op.create_index(
        "idx_placement_requests_status_id",
        "placement_requests",
        ["status", "id"],
        schema="matching_service",
    )
    # Rule 4 reads a therapist's last sent email: the index ends with sent_at (and still
    # serves every lookup by therapist and status the shorter one did).
    op.drop_index("idx_emails_therapist_id_status", table_name="emails", schema=CS)
    op.create_index(
        "idx_emails_therapist_status_sent_at",
        "emails",
        ["therapist_id", "status", "sent_at"],
        schema=CS,
    )
    # A request's emails, latest first: the list shows its latest unanswered one.
    op.drop_index("idx_email_batches_placement_request_id", table_name="email_batches", schema=CS)
    op.create_index(
        "idx_email_batches_request_email",
        "email_batches",
        ["placement_request_id", "email_id"],
        schema=CS,
    )
    op.create_index(
        "idx_phone_call_batches_follow_up",
        "phone_call_batches",
        ["placement_request_id"],
        schema=CS,
        postgresql_where=sa.text("follow_up_required IS TRUE"),
    )


def downgrade():
    op.drop_index("idx_phone_call_batches_follow_up", table_name="phone_call_batches", schema=CS)
    op.drop_index("idx_email_batches_request_email", table_name="email_batches", schema=CS)
    op.create_index(
        "idx_email_batches_placement_request_id",
        "email_batches",
        ["placement_request_id"],
        schema=CS,
    )
    op.drop_index("idx_emails_therapist_status_sent_at", table_name="emails", schema=CS)
    op.create_index(
        "idx_emails_therapist_id_status", "emails", ["therapist_id", "status"], schema=CS
    )
    op.drop_index(
        "idx_placement_requests_status_id",
        table_name="placement_requests",
        schema="matching_service",
    )
    op.drop_index("idx_therapists_name_order", table_name="therapists", schema=THERAPISTS)
    op.drop_index("idx_therapists_name_search", table_name="therapists", schema=THERAPISTS)
    op.drop_column("therapists", "name_search_key", schema=THERAPISTS)
    op.execute(f"DROP FUNCTION {CS}.name_search_pattern(text)")
    op.execute(f"DROP FUNCTION {CS}.name_search_key(text)")
