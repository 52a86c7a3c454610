"""The reader (hot reads): prepared once per connection, survives lost connections, 503 when
the database is gone, re-prepares after a migration changed a table."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from benchmarks.data import load_phone_calls
from communication_service.extensions import db
from communication_service.reads import ReadQuery, current_reader
from communication_service.services import phone_calls
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


# Each list shape (as the services build it) and the index that must deliver its page in order.
_PAGE_SHAPES = {
    "therapist": (
        lambda: phone_calls._call_list_statements((("therapist_id", None),)).pages.query,
        {"therapist_id": 1},
        "idx_phone_calls_therapist_schedule",
    ),
    "status": (
        lambda: phone_calls._call_list_statements((("status", None),)).pages.query,
        {"status": "completed"},
        "idx_phone_calls_status_schedule",
    ),
    "call sheet": (
        lambda: phone_calls._call_sheet_statements(False).pages.query,
        {"day": date(2030, 1, 1)},
        "idx_phone_calls_schedule",
    ),
}


NOW_LOCAL = datetime(2029, 12, 1, 8, 0)


def _page_scan(plan: dict) -> dict | None:
    """The scan feeding the page's LIMIT (InitPlans aside; through order-keeping joins)."""
    if plan["Node Type"] == "Limit":
        node = next(p for p in plan["Plans"] if p.get("Parent Relationship") == "Outer")
        while node["Node Type"] == "Nested Loop":  # the call sheet joins each call's therapist
            node = next(p for p in node["Plans"] if p.get("Parent Relationship") == "Outer")
        return node
    for child in plan.get("Plans", ()):
        if child.get("Parent Relationship") in ("InitPlan", "SubPlan"):
            continue  # the total's count, the therapist's hours: not the page
        found = _page_scan(child)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("shape", _PAGE_SHAPES, ids=str)
def test_a_page_is_read_from_its_index_in_order_whatever_the_statistics(app, database_url, shape):
    """Pages are planned once, without knowing the LIMIT (10 % of the rows assumed). With one
    therapist holding nearly all calls and ANALYZE guessing few distinct therapists, a
    ``(therapist_id)`` index beside the ordered one made "fetch 20,000 calls, sort, keep 50"
    the cheaper-looking plan. Each filter's page must come from its ordered index, no sort."""
    query_of, values, index = _PAGE_SHAPES[shape]
    therapists = [make_therapist(db.session) for _ in range(22)]
    db.session.commit()
    load_phone_calls(
        database_url,
        count=20_000,
        first_day=date(2030, 1, 1),
        therapist_ids=(therapists[0], therapists[0]),
    )
    load_phone_calls(
        database_url,
        count=21,
        first_day=date(2031, 1, 1),
        therapist_ids=(therapists[1], therapists[-1]),
    )
    query = query_of()
    values = {"therapist_id": therapists[0], **values} if "therapist_id" in values else values
    arguments = ", ".join(["%s"] * len(query.parameters))
    connection = db.engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE communication_service.phone_calls"
                " ALTER COLUMN therapist_id SET (n_distinct = 22)"
            )
            cursor.execute("ANALYZE communication_service.phone_calls")
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute(query.prepare_sql)
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) EXECUTE {query.name}({arguments})",
                tuple(
                    {"limit": 50, "offset": 0, "now_local": NOW_LOCAL, **values}[name]
                    for name in query.parameters
                ),
            )
            scan = _page_scan(cursor.fetchone()[0][0]["Plan"])
            cursor.execute(f"DEALLOCATE {query.name}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE communication_service.phone_calls"
                " ALTER COLUMN therapist_id RESET (n_distinct)"
            )
        connection.commit()
        connection.close()
    assert scan is not None
    assert (scan["Node Type"], scan.get("Index Name")) == ("Index Scan", index)
    assert scan.get("Scan Direction") == "Forward"


def _hashed_tables(plan: dict) -> set[str]:
    """The tables a Hash node of the page's part of ``plan`` reads (each one in full, before a
    row is out; the total's count, an InitPlan, aside)."""
    found: set[str] = set()
    for child in plan.get("Plans", ()):
        if child.get("Parent Relationship") == "InitPlan":
            continue
        if plan["Node Type"] == "Hash" and "Relation Name" in child:
            found.add(child["Relation Name"])
        found |= _hashed_tables(child)
    return found


def test_a_page_filtered_by_another_table_is_planned_for_its_values_never_prepared(
    app, database_url
):
    """The "waiting" page of the request list: a plan made once assumes a page is 10 % of the
    matches and hashes whole tables to find them (270 ms at 200,000 email batches). Planned
    for its values, the page tests its rows one by one; no statement of it is prepared."""
    from benchmarks.data import DataSize, load_emails, load_people_and_requests
    from communication_service.services.placement_requests import _request_list_statements

    size = DataSize().scaled(0.05)  # 500 therapists, 5,000 requests
    load_people_and_requests(database_url, size)
    load_emails(database_url, count=5_000, therapists=size.therapists)
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    statements = _request_list_statements((), "waiting")
    values = {"limit": 50, "offset": 0}
    reader = current_reader()
    executed: list[str] = []
    sa.event.listen(reader.engine, "before_cursor_execute", lambda *a: executed.append(a[2]))
    reader.close()
    rows = reader.tuples(statements.page, values)
    assert len(rows) == 50
    assert not any(sql.split()[0] in ("PREPARE", "EXECUTE") for sql in executed)
    connection = db.engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute(statements.page.explain_sql, values)
            planned_for_page = cursor.fetchone()[0][0]["Plan"]
            # The wrong order, shown possible: the same statement prepared hashes the batches.
            prepared = ReadQuery(statements.page.select)
            cursor.execute(prepared.prepare_sql)
            arguments = tuple(values[name] for name in prepared.parameters)
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {prepared.name}(%s, %s)", arguments)
            planned_once = cursor.fetchone()[0][0]["Plan"]
    finally:
        connection.rollback()
        connection.close()
    assert _hashed_tables(planned_for_page) == set()
    assert _hashed_tables(planned_once)
