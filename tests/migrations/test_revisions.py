"""The revision chain on real PostgreSQL: up, down, data kept, catalog equal to the seed, no drift."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.command import check as alembic_check
from alembic.script import ScriptDirectory

from communication_service import MIGRATIONS_DIR, create_app
from communication_service.extensions import db
from tests.conftest import API_TOKEN, migrate_to
from tests.pg import drop_database, recreate_database

CHAIN = ["2afc91c5b3e8", "3bfc91c5b4f9", "4cfc91d5b5e9", "5dfc91e6b6f9", "6efc92f7c7g9"]
SEED = "6efc92f7c7g9"


@pytest.fixture
def empty_db(pg_server_url: str, worker_id: str) -> Iterator[str]:
    name = f"cs_migrations_{worker_id}"
    url = recreate_database(pg_server_url, name)
    yield url
    drop_database(pg_server_url, name)


def query(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    rows = query(url, "SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not rows[0][0]:
        return None
    versions = query(url, "SELECT version_num FROM alembic_version")
    return versions[0][0] if versions else None


def test_chain_keeps_the_platform_revision_ids():
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    ordered = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert ordered[: len(CHAIN)] == CHAIN
    assert script.get_revision(SEED).down_revision == "5dfc91e6b6f9"
    assert len(script.get_heads()) == 1


def test_upgrade_empty_database_to_head_then_base_and_again(empty_db):
    migrate_to(empty_db, "head")
    head = current_revision(empty_db)
    assert head is not None and head not in CHAIN
    migrate_to(empty_db, "base", downgrade=True)
    assert current_revision(empty_db) is None
    leftovers = query(
        empty_db,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN ('patient_service','therapist_service','matching_service','communication_service')",
    )
    assert leftovers == []
    assert (
        query(
            empty_db,
            "SELECT typname FROM pg_type WHERE typname IN ('therapiststatus', 'placementrequeststatus', 'emailstatus', 'phonecallstatus')",
        )
        == []
    )
    migrate_to(empty_db, "head")
    assert current_revision(empty_db) == head


def test_downgrade_seed_revision_keeps_existing_rows(empty_db):
    migrate_to(empty_db, SEED)
    execute(
        empty_db,
        "INSERT INTO patient_service.patients (id, vorname, nachname, startdatum, status, created_at) "
        "VALUES (1, 'Lena', 'Meyer', '2026-05-01', 'SEARCHING', '2026-05-01')",
        "INSERT INTO therapist_service.therapists (id, vorname, nachname, email, status, created_at, "
        "potentially_available) VALUES (1, 'Anna', 'Becker', 'b@example.org', 'ACTIVE', '2026-05-01', true)",
        "INSERT INTO matching_service.placement_requests (id, patient_id, therapist_id, status, created_at) "
        "VALUES (1, 1, 1, 'OPEN', '2026-05-01')",
        "INSERT INTO communication_service.emails (id, therapist_id, subject, body_html, body_text, "
        "recipient_email, recipient_name, sender_email, sender_name, status, retry_count, batch_id) "
        "VALUES (1, 1, 'Anfrage', '<p>Text</p>', 'Text', 'b@example.org', 'Anna Becker', "
        "'v@example.org', 'Vermittlung', 'entwurf', 0, 'run-1')",
        "INSERT INTO communication_service.email_batches (email_id, placement_request_id) VALUES (1, 1)",
        "INSERT INTO communication_service.phone_calls (therapist_id, scheduled_date, scheduled_time, status) "
        "VALUES (1, '2026-12-01', '09:00', 'scheduled')",
    )
    migrate_to(empty_db, "5dfc91e6b6f9", downgrade=True)
    assert current_revision(empty_db) == "5dfc91e6b6f9"
    assert query(empty_db, "SELECT id, vorname, nachname FROM patient_service.patients") == [
        (1, "Lena", "Meyer")
    ]
    assert query(empty_db, "SELECT id, nachname, email FROM therapist_service.therapists") == [
        (1, "Becker", "b@example.org")
    ]
    assert query(
        empty_db, "SELECT id, patient_id, therapist_id FROM matching_service.placement_requests"
    ) == [(1, 1, 1)]
    assert query(empty_db, "SELECT id, subject, body_text FROM communication_service.emails") == [
        (1, "Anfrage", "Text")
    ]
    assert query(empty_db, "SELECT to_regclass('communication_service.phone_calls')") == [(None,)]
    assert query(empty_db, "SELECT count(*) FROM pg_type WHERE typname = 'phonecallstatus'") == [
        (0,)
    ]
    # ... and the seed's revision applies again on top of the kept data.
    migrate_to(empty_db, "head")
    assert query(empty_db, "SELECT count(*) FROM communication_service.emails") == [(1,)]


# What the seed's revision 6efc92f7c7g9 creates (docs/data-model.md), read back from the live catalog.
SEED_COLUMNS = {
    ("phone_calls", "id"): ("integer", "NO"),
    ("phone_calls", "therapist_id"): ("integer", "NO", None),
    ("phone_calls", "scheduled_date"): ("date", "NO", None),
    ("phone_calls", "scheduled_time"): ("time without time zone", "NO", None),
    ("phone_calls", "duration_minutes"): ("integer", "YES", "5"),
    ("phone_calls", "actual_date"): ("date", "YES", None),
    ("phone_calls", "actual_time"): ("time without time zone", "YES", None),
    ("phone_calls", "status"): ("USER-DEFINED", "YES", None),
    ("phone_calls", "outcome"): ("text", "YES", None),
    ("phone_calls", "notes"): ("text", "YES", None),
    ("phone_calls", "retry_after"): ("date", "YES", None),
    ("phone_calls", "created_at"): ("timestamp without time zone", "YES", "CURRENT_TIMESTAMP"),
    ("phone_calls", "updated_at"): ("timestamp without time zone", "YES", None),
    ("phone_call_batches", "id"): ("integer", "NO"),
    ("phone_call_batches", "phone_call_id"): ("integer", "NO", None),
    ("phone_call_batches", "placement_request_id"): ("integer", "NO", None),
    ("phone_call_batches", "priority"): ("integer", "YES", "1"),
    ("phone_call_batches", "discussed"): ("boolean", "YES", "false"),
    ("phone_call_batches", "outcome"): ("character varying(50)", "YES", None),
    ("phone_call_batches", "follow_up_required"): ("boolean", "YES", "false"),
    ("phone_call_batches", "follow_up_notes"): ("text", "YES", None),
    ("phone_call_batches", "created_at"): (
        "timestamp without time zone",
        "YES",
        "CURRENT_TIMESTAMP",
    ),
    ("email_batches", "id"): ("integer", "NO"),
    ("email_batches", "email_id"): ("integer", "NO", None),
    ("email_batches", "placement_request_id"): ("integer", "NO", None),
    ("email_batches", "priority"): ("integer", "YES", "1"),
    ("email_batches", "created_at"): ("timestamp without time zone", "YES", "CURRENT_TIMESTAMP"),
    ("emails", "batch_id"): ("character varying(50)", "YES", None),
    ("emails", "response_received"): ("boolean", "YES", "false"),
    ("emails", "response_date"): ("timestamp without time zone", "YES", None),
    ("emails", "response_content"): ("text", "YES", None),
    ("emails", "follow_up_required"): ("boolean", "YES", "false"),
    ("emails", "follow_up_notes"): ("text", "YES", None),
    ("therapists", "potentially_available"): ("boolean", "YES", "false"),
    ("therapists", "potentially_available_notes"): ("text", "YES", None),
}
SEED_INDEXES = {
    ("phone_calls", "idx_phone_calls_therapist_id", "(therapist_id)"),
    ("phone_calls", "idx_phone_calls_scheduled_date", "(scheduled_date)"),
    ("phone_calls", "idx_phone_calls_status", "(status)"),
    ("phone_call_batches", "idx_phone_call_batches_phone_call_id", "(phone_call_id)"),
    ("phone_call_batches", "idx_phone_call_batches_placement_request_id", "(placement_request_id)"),
    ("email_batches", "idx_email_batches_email_id", "(email_id)"),
    ("email_batches", "idx_email_batches_placement_request_id", "(placement_request_id)"),
}
SEED_UNIQUES = {
    ("phone_call_batches", "phone_call_id,placement_request_id"),
    ("email_batches", "email_id,placement_request_id"),
}
SEED_FOREIGN_KEYS = {
    ("phone_call_batches", "phone_call_id", "communication_service.phone_calls", "c"),
    ("phone_call_batches", "placement_request_id", "matching_service.placement_requests", "c"),
    ("email_batches", "email_id", "communication_service.emails", "c"),
    ("email_batches", "placement_request_id", "matching_service.placement_requests", "c"),
}


def test_seed_revision_catalog_matches_the_seed_document(empty_db):
    migrate_to(empty_db, SEED)
    columns = {
        (table, column): (data_type, nullable, default)
        for table, column, data_type, nullable, default in query(
            empty_db,
            "SELECT table_name, column_name, "
            "CASE WHEN data_type = 'character varying' "
            "THEN 'character varying(' || character_maximum_length || ')' ELSE data_type END, "
            "is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema IN ('communication_service', 'therapist_service')",
        )
    }
    for key, expected in SEED_COLUMNS.items():
        assert key in columns, key
        if len(expected) == 2:  # serial primary keys
            assert columns[key][:2] == expected and columns[key][2].startswith("nextval("), key
        else:
            assert columns[key] == expected, key
    tables = {"phone_calls", "phone_call_batches", "email_batches"}
    assert {k for k in columns if k[0] in tables} == {k for k in SEED_COLUMNS if k[0] in tables}

    indexes = {
        (table, name, definition[definition.rindex("(") :])
        for table, name, definition in query(
            empty_db,
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'communication_service' AND indexname LIKE 'idx_%'",
        )
    }
    assert indexes == SEED_INDEXES

    uniques = set(
        query(
            empty_db,
            "SELECT c.conrelid::regclass::text, string_agg(a.attname, ',' ORDER BY a.attnum) "
            "FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.contype = 'u' AND c.connamespace = 'communication_service'::regnamespace "
            "GROUP BY c.oid, c.conrelid",
        )
    )
    assert uniques == {(f"communication_service.{t}", cols) for t, cols in SEED_UNIQUES}

    foreign_keys = set(
        query(
            empty_db,
            "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, c.confdeltype "
            "FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND c.conrelid::regclass::text IN "
            "('communication_service.phone_call_batches', 'communication_service.email_batches')",
        )
    )
    assert foreign_keys == {(f"communication_service.{t}", *rest) for t, *rest in SEED_FOREIGN_KEYS}

    labels = query(
        empty_db,
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "WHERE t.typname = 'phonecallstatus' ORDER BY e.enumsortorder",
    )
    assert [label for (label,) in labels] == ["scheduled", "completed", "failed", "canceled"]


def test_models_and_migrations_do_not_drift(empty_db):
    """What ``flask db check`` runs: autogenerate against the migrated database finds nothing."""
    migrate_to(empty_db, "head")
    app = create_app({"database_url": empty_db, "api_tokens": API_TOKEN})
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
        alembic_check(config)  # raises AutogenerateDiffsDetected on any difference
        db.engine.dispose()


def test_flask_db_check_command_reports_no_drift(empty_db):
    migrate_to(empty_db, "head")
    app = create_app({"database_url": empty_db, "api_tokens": API_TOKEN})
    result = app.test_cli_runner().invoke(args=["db", "check"])
    with app.app_context():
        db.engine.dispose()
    assert result.exit_code == 0, result.output


KEPT_COUNTS = (
    "SELECT therapist_id, status::text, calls FROM communication_service.phone_call_counts "
    "WHERE calls <> 0 ORDER BY 1, 2"
)


def test_the_migration_counts_the_calls_already_there(empty_db):
    migrate_to(empty_db, "7a3e1c5b9d20")
    execute(
        empty_db,
        "INSERT INTO therapist_service.therapists (id, vorname, nachname, status) "
        "VALUES (1, 'Anna', 'Becker', 'ACTIVE'), (2, 'Jin', 'Kim', 'ACTIVE')",
        "INSERT INTO communication_service.phone_calls (therapist_id, scheduled_date, scheduled_time, status) "
        "VALUES (1, '2026-12-01', '09:00', 'scheduled'), (1, '2026-12-01', '10:00', 'failed'), "
        "(1, '2026-12-02', '09:00', 'failed'), (2, '2026-12-01', '09:00', 'completed')",
    )
    migrate_to(empty_db, "8b4d2e6f0a31")
    assert query(empty_db, KEPT_COUNTS) == [
        (1, "failed", 2),
        (1, "scheduled", 1),
        (2, "completed", 1),
    ]
    execute(
        empty_db,
        "UPDATE communication_service.phone_calls SET status = 'canceled' WHERE therapist_id = 1",
    )
    assert query(empty_db, KEPT_COUNTS) == [(1, "canceled", 3), (2, "completed", 1)]
    migrate_to(empty_db, "7a3e1c5b9d20", downgrade=True)
    assert query(empty_db, "SELECT to_regclass('communication_service.phone_call_counts')") == [
        (None,)
    ]
    assert query(empty_db, "SELECT count(*) FROM communication_service.phone_calls") == [(4,)]
