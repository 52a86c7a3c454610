"""phone_call_counts stays equal to counting the calls, whoever writes and however."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from communication_service.extensions import db
from tests.factories import make_therapist

CS = "communication_service"
COUNTED = (
    f"SELECT therapist_id, status::text, count(*) FROM {CS}.phone_calls "
    "GROUP BY therapist_id, status ORDER BY 1, 2"
)
KEPT = (
    f"SELECT therapist_id, status::text, calls FROM {CS}.phone_call_counts "
    "WHERE calls <> 0 ORDER BY 1, 2"
)


def rows(session, sql: str) -> list[tuple]:
    return [tuple(row) for row in session.execute(sa.text(sql))]


def assert_counts_exact(session) -> None:
    assert rows(session, KEPT) == rows(session, COUNTED)


def insert_calls(session, therapist: int, count: int, status: str = "completed", day=1) -> None:
    session.execute(
        sa.text(
            f"INSERT INTO {CS}.phone_calls (therapist_id, scheduled_date, scheduled_time, status) "
            "SELECT :therapist, date '2026-01-01' + :day, time '00:00' + n * interval '5 min', "
            "CAST(:status AS phonecallstatus) FROM generate_series(0, :count - 1) AS n"
        ),
        {"therapist": therapist, "count": count, "status": status, "day": day},
    )


def test_every_kind_of_write_keeps_the_counts_exact(session):
    first, second = make_therapist(session), make_therapist(session)
    insert_calls(session, first, 30, "scheduled")
    insert_calls(session, second, 12, "scheduled", day=5)
    insert_calls(session, second, 5, "failed", day=2)
    session.commit()
    assert_counts_exact(session)
    assert rows(session, KEPT) == [
        (first, "scheduled", 30),
        (second, "failed", 5),
        (second, "scheduled", 12),
    ]

    steps = [
        # status changes across both therapists in one statement
        f"UPDATE {CS}.phone_calls SET status = 'canceled' WHERE scheduled_time < '00:50'",
        # an update that changes nothing counted
        f"UPDATE {CS}.phone_calls SET notes = 'x'",
        # a call moved to another therapist
        f"UPDATE {CS}.phone_calls SET therapist_id = {second} WHERE id = (SELECT min(id) FROM "
        f"{CS}.phone_calls WHERE therapist_id = {first} AND status = 'scheduled')",
        f"DELETE FROM {CS}.phone_calls WHERE status = 'canceled' AND therapist_id = {first}",
        f"UPDATE {CS}.phone_calls SET status = 'completed' WHERE status = 'scheduled'",
    ]
    for step in steps:
        session.execute(sa.text(step))
        session.commit()
        assert_counts_exact(session)

    # A rolled-back change leaves no trace.
    session.execute(sa.text(f"DELETE FROM {CS}.phone_calls"))
    session.rollback()
    assert_counts_exact(session)

    # Deleting a therapist cascades to the calls, and the counts follow.
    session.execute(sa.text(f"DELETE FROM therapist_service.therapists WHERE id = {first}"))
    session.commit()
    assert_counts_exact(session)
    assert all(therapist == second for therapist, *_ in rows(session, KEPT))

    session.execute(sa.text(f"TRUNCATE {CS}.phone_calls CASCADE"))
    session.commit()
    assert rows(session, f"SELECT count(*) FROM {CS}.phone_call_counts") == [(0,)]


def test_concurrent_writers_keep_the_counts_exact(app, session):
    """Eight connections insert, end and delete calls of the same two therapists at once."""
    therapists = [make_therapist(session), make_therapist(session)]
    session.commit()
    engine = db.engine
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            barrier.wait()
            for round_ in range(15):
                with engine.begin() as connection:
                    for therapist in therapists:
                        connection.execute(
                            sa.text(
                                f"INSERT INTO {CS}.phone_calls (therapist_id, scheduled_date, "
                                "scheduled_time, status) VALUES (:t, date '2026-03-01' + :d, "
                                "'09:00', 'scheduled')"
                            ),
                            {"t": therapist, "d": worker * 100 + round_},
                        )
                with engine.begin() as connection:
                    connection.execute(
                        sa.text(
                            f"UPDATE {CS}.phone_calls SET status = 'completed' WHERE id IN "
                            f"(SELECT id FROM {CS}.phone_calls WHERE status = 'scheduled' "
                            "ORDER BY random() LIMIT 2 FOR UPDATE SKIP LOCKED)"
                        )
                    )
                if round_ % 3 == 0:
                    with engine.begin() as connection:
                        connection.execute(
                            sa.text(
                                f"DELETE FROM {CS}.phone_calls WHERE id IN (SELECT id FROM "
                                f"{CS}.phone_calls ORDER BY random() LIMIT 1 "
                                "FOR UPDATE SKIP LOCKED)"
                            )
                        )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    session.expire_all()
    assert_counts_exact(session)
    assert sum(n for *_, n in rows(session, KEPT)) > 0
