"""The chain on the platform's real database: the same schema as the platform at
5dfc91e6b6f9, the same state at head whichever way it was reached, rows kept both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import migrate_to
from tests.pg import drop_database, recreate_database
from tests.platform_db import (
    PLATFORM_REVISION,
    catalog,
    load_platform_database,
    load_platform_rows,
    run_sql,
)

ROOT = Path(__file__).resolve().parents[2]
OTHER_BRANCH_HEAD = "be3c0220ee8c"  # the platform's own line after 5dfc91e6b6f9


@pytest.fixture
def databases(pg_server_url: str, worker_id: str) -> Iterator[tuple[str, str]]:
    """Two empty databases of this worker: (one for the platform, one for comparison)."""
    names = [f"cs_platform_{worker_id}", f"cs_reference_{worker_id}"]
    yield tuple(recreate_database(pg_server_url, name) for name in names)  # type: ignore[misc]
    for name in names:
        drop_database(pg_server_url, name)


def flask_db(url: str, *args: str) -> subprocess.CompletedProcess:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": plain, "API_TOKENS": "x"}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_first_four_revisions_build_exactly_the_platforms_schema(databases):
    ours, platform = databases
    migrate_to(ours, PLATFORM_REVISION)
    load_platform_database(platform)
    built, reference = catalog(ours), catalog(platform)
    for kind in reference:
        assert built[kind] == reference[kind], kind
    # The facts the service depends on, spelled out (the dump is the authority above).
    enums = {name: labels for _, name, labels in built["enums"]}
    assert enums["therapiststatus"] == "ACTIVE,BLOCKED,INACTIVE"
    assert enums["placementrequeststatus"] == "OPEN,IN_PROGRESS,REJECTED,ACCEPTED"
    assert enums["emailstatus"] == "entwurf,in_warteschlange,wird_gesendet,gesendet,fehlgeschlagen"
    assert not [row for row in built["constraints"] if row[3] == "f"]


def test_upgrade_from_a_platform_database_reaches_the_state_of_a_new_one(databases):
    platform, fresh = databases
    load_platform_database(platform)
    load_platform_rows(platform)
    upgrade = flask_db(platform, "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    migrate_to(fresh, "head")
    reached, expected = catalog(platform), catalog(fresh)
    for kind in expected:
        assert reached[kind] == expected[kind], kind
    check = flask_db(platform, "check")
    assert check.returncode == 0, check.stdout + check.stderr[-3000:]
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_the_platform_rows_survive_upgrade_and_downgrade(databases):
    platform, reference = databases
    load_platform_database(platform)
    load_platform_rows(platform)
    # A legacy email as the platform left it: no status, retry count, or creation time.
    run_sql(
        platform,
        "INSERT INTO communication_service.emails (therapist_id, subject, body_html, body_text, "
        "recipient_email, recipient_name, sender_email, sender_name, placement_request_ids, "
        "status, queued_at) VALUES (1, 'Neu', '<p>n</p>', 'n', 'anna@example.org', 'Anna Müller', "
        "'v@example.org', 'Vermittlung', '[2, 1, 2, 3, 999, \"x\"]', NULL, now())",
    )
    platform_tables = (
        "patient_service.patients",
        "therapist_service.therapists",
        "matching_service.placement_requests",
    )
    before = {
        table: run_sql(platform, f"SELECT * FROM {table} ORDER BY id") for table in platform_tables
    }
    emails_before = run_sql(
        platform,
        "SELECT id, subject, body_html, status::text, placement_request_ids, queued_at, sent_at "
        "FROM communication_service.emails ORDER BY id",
    )

    migrate_to(platform, "head")
    emails = run_sql(
        platform,
        "SELECT id, status::text, retry_count, created_at IS NOT NULL, updated_at IS NOT NULL "
        "FROM communication_service.emails ORDER BY id",
    )
    assert emails == [(1, "sent", 0, True, True), (2, "draft", 0, True, True)]
    batches = run_sql(
        platform,
        "SELECT email_id, placement_request_id, priority FROM communication_service.email_batches "
        "ORDER BY email_id, priority",
    )
    # Email 1 carried request 3 of its therapist; email 2 lists 2 and 1 (3 is Bernd's, 999 is
    # gone, "x" is no id, the second 2 a repeat): only the requests of its therapist, in order.
    assert batches == [(1, 3, 1), (2, 2, 1), (2, 1, 2)]
    # A row this service writes without the columns the platform required.
    run_sql(
        platform,
        "INSERT INTO communication_service.emails (therapist_id, subject, body_text, "
        "recipient_email, status) VALUES (2, 'Ohne HTML', 'a < b & c', 'bernd@example.org', 'queued');"
        "INSERT INTO communication_service.email_batches (email_id, placement_request_id, priority) "
        "VALUES (3, 4, 1), (3, 3, 2)",
    )

    migrate_to(platform, PLATFORM_REVISION, downgrade=True)
    load_platform_database(reference)
    restored, expected = catalog(platform), catalog(reference)
    # The extensions stay (btree_gist: 7a3e1c5b9d20; unaccent, pg_trgm: e7c3a9d5f2b4; other
    # objects may use them); nothing else differs.
    assert restored.pop("extensions") - expected.pop("extensions") == {
        ("btree_gist",),
        ("unaccent",),
        ("pg_trgm",),
    }
    for kind in expected:
        assert restored[kind] == expected[kind], kind
    for table in platform_tables:
        assert run_sql(platform, f"SELECT * FROM {table} ORDER BY id") == before[table], table
    assert run_sql(
        platform,
        "SELECT id, subject, body_html, status::text, placement_request_ids, queued_at, sent_at "
        "FROM communication_service.emails WHERE id <= 2 ORDER BY id",
    ) == [(1, *emails_before[0][1:]), (2, *emails_before[1][1:3], "entwurf", *emails_before[1][4:])]
    assert run_sql(
        platform,
        "SELECT body_html, recipient_name, status::text, placement_request_ids "
        "FROM communication_service.emails WHERE id = 3",
    ) == [("<pre>a &lt; b &amp; c</pre>", "", "in_warteschlange", [4, 3])]


def test_a_database_on_the_platforms_other_branch_is_refused_in_one_line(databases):
    platform, _ = databases
    load_platform_database(platform, stamp=OTHER_BRANCH_HEAD)
    before = catalog(platform)
    upgrade = flask_db(platform, "upgrade")
    assert upgrade.returncode == 1
    assert "Traceback" not in upgrade.stderr
    errors = [line for line in upgrade.stderr.splitlines() if "Error" in line or "error" in line]
    assert len(errors) == 1, upgrade.stderr
    assert OTHER_BRANCH_HEAD in errors[0] and PLATFORM_REVISION in errors[0]
    assert catalog(platform) == before
    assert run_sql(platform, "SELECT version_num FROM alembic_version") == [(OTHER_BRANCH_HEAD,)]
