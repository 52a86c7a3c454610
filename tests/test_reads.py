"""The reader (hot reads): prepared once per connection, survives lost connections, 503 when
the database is gone, re-prepares after a migration changed a table."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from communication_service.reads import ReadQuery, current_reader
from tests.api.test_connection_lost import _terminate
from tests.factories import make_therapist

THERAPIST_NAME = ReadQuery(
    sa.select(sa.column("nachname"), sa.column("id"))
    .select_from(sa.table("therapists", schema="therapist_service"))
    .where(sa.column("id") == sa.bindparam("therapist_id"))
)
BACKEND_PID = ReadQuery(sa.select(sa.func.pg_backend_pid().label("pid")))


def test_a_statement_is_prepared_once_per_connection(app, session):
    therapist = make_therapist(session, nachname="Becker")
    session.commit()
    reader = current_reader()
    statements: list[str] = []
    sa.event.listen(reader.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    reader.close()  # a fresh connection: nothing prepared yet
    for _ in range(3):
        assert reader.first(THERAPIST_NAME, therapist_id=therapist) == {
            "nachname": "Becker",
            "id": therapist,
        }
    assert [s.split()[0] for s in statements] == ["PREPARE", "EXECUTE", "EXECUTE", "EXECUTE"]
    assert reader.all(THERAPIST_NAME, therapist_id=therapist + 1) == []


def test_a_connection_the_server_dropped_is_replaced_and_the_read_retried(
    app, session, database_url
):
    therapist = make_therapist(session, nachname="Kim")
    session.commit()
    reader = current_reader()
    reader.close()
    pid = reader.scalar(BACKEND_PID)
    _terminate(database_url, pid)
    assert reader.first(THERAPIST_NAME, therapist_id=therapist)["nachname"] == "Kim"
    assert reader.scalar(BACKEND_PID) != pid


def test_hot_reads_answer_503_when_the_database_is_unreachable(app_factory):
    app = app_factory(database_url="postgresql://nobody@127.0.0.1:1/none")
    client = app.test_client()
    headers = {"Authorization": "Bearer test-token-7f3a"}
    for path in ("/api/phone-calls/1", "/api/phone-calls", "/api/phone-calls/daily"):
        response = client.get(path, headers=headers)
        assert response.status_code == 503, path
        assert response.get_json()["error"]["code"] == "database_unavailable"


def test_a_statement_prepared_before_a_migration_is_prepared_again(app, session):
    therapist = make_therapist(session, nachname="Weber")
    session.commit()
    reader = current_reader()
    reader.close()
    star = ReadQuery(
        sa.select(sa.literal_column("*"))
        .select_from(sa.table("therapists", schema="therapist_service"))
        .where(sa.column("id") == sa.bindparam("therapist_id"))
    )
    before = reader.tuples(star, {"therapist_id": therapist})
    session.execute(sa.text("ALTER TABLE therapist_service.therapists ADD COLUMN extra int"))
    session.commit()
    try:
        # PostgreSQL refuses the old plan ("cached plan must not change result type").
        after = reader.tuples(star, {"therapist_id": therapist})
        assert len(after[0]) == len(before[0]) + 1
    finally:
        session.execute(sa.text("ALTER TABLE therapist_service.therapists DROP COLUMN extra"))
        session.commit()
        reader.close()


def test_reads_run_read_only_with_generic_plans_in_utc(app, session):
    settings = ReadQuery(
        sa.select(
            sa.literal_column("current_setting('plan_cache_mode')").label("plans"),
            sa.literal_column("current_setting('TimeZone')").label("zone"),
            sa.literal_column("current_setting('transaction_read_only')").label("read_only"),
        )
    )
    row = current_reader().first(settings)
    assert row == {"plans": "force_generic_plan", "zone": "UTC", "read_only": "on"}
    therapist = make_therapist(session)
    session.commit()
    writing = ReadQuery(
        sa.select(sa.column("id"))
        .select_from(sa.table("therapists", schema="therapist_service"))
        .where(sa.column("id") == sa.bindparam("therapist_id"))
        .with_for_update()
    )
    with pytest.raises(sa.exc.DBAPIError) as refused:
        current_reader().all(writing, therapist_id=therapist)
    assert refused.value.orig.pgcode == "25006"  # read_only_sql_transaction


def test_a_thread_keeps_one_connection_for_its_reads_and_threads_do_not_share(app):
    reader = current_reader()
    reader.close()
    mine = {reader.scalar(BACKEND_PID) for _ in range(5)}
    assert len(mine) == 1
    others: list[int] = []
    thread = threading.Thread(target=lambda: others.append(reader.scalar(BACKEND_PID)))
    thread.start()
    thread.join()
    assert others and others[0] not in mine


def test_pages_are_planned_for_their_limit_and_offset(app):
    """A generic plan guesses 10 % of the rows for LIMIT $n: pages are planned by PostgreSQL's
    own choice (custom plans while they are cheaper), single reads once."""
    mode = sa.literal_column("current_setting('plan_cache_mode')").label("plans")
    paged = ReadQuery(sa.select(mode).limit(sa.bindparam("limit", type_=sa.Integer)))
    single = ReadQuery(sa.select(mode))
    reader = current_reader()
    assert (paged.plans, single.plans) == ("auto", "force_generic_plan")
    for _ in range(2):
        assert reader.scalar(paged, limit=1) == "auto"
        assert reader.scalar(single) == "force_generic_plan"
