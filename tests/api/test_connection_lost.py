"""The database connection dies between a request's last statement and its end.

Found by the database-restart drill (benchmarks/drills/db_restart.py): the answer was ready,
but the session's clean-up rolled back on the dead connection and the request became a bare
500 from gunicorn (with a traceback in the log) instead of the answer.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
from flask import g
from sqlalchemy import exc as sa_exc

from communication_service.extensions import db
from tests.conftest import API_TOKEN
from tests.factories import make_therapist
from tests.pg import admin_execute


def _terminate(database_url: str, pid: int) -> None:
    admin_execute(database_url, f"SELECT pg_terminate_backend({pid})")
    connection = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for _ in range(100):  # the backend exits asynchronously
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
                if cursor.fetchone() is None:
                    return
                time.sleep(0.02)
    finally:
        connection.close()
    raise AssertionError(f"backend {pid} did not exit")


@pytest.fixture
def app_losing_its_connection(app_factory, database_url, session):
    """An app whose database connection is killed after each response is made."""
    app = app_factory()

    @app.before_request
    def remember_backend() -> None:
        g.backend_pid = db.session.execute(db.text("SELECT pg_backend_pid()")).scalar_one()

    @app.after_request
    def kill_backend(response):
        _terminate(database_url, g.backend_pid)
        return response

    return app


@pytest.mark.parametrize("path", ["/api/therapists/{id}", "/health"])
def test_a_finished_answer_survives_the_connection_dying_before_cleanup(
    app_losing_its_connection, session, path
):
    therapist_id = make_therapist(session)
    client = app_losing_its_connection.test_client()

    response = client.get(
        path.format(id=therapist_id), headers={"Authorization": f"Bearer {API_TOKEN}"}
    )

    assert response.status_code == 200
    # The pool noticed the dead connection: the next request gets a live one.
    with app_losing_its_connection.app_context():
        assert db.session.execute(db.text("SELECT 1")).scalar_one() == 1


def _raising(app, error: Exception):
    @app.get("/api/raises")
    def raises():
        raise error

    with app.app_context():
        return app.test_client().get(
            "/api/raises", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )


def test_a_lost_connection_reported_as_database_error_is_a_503(app_factory):
    # psycopg2 reports some disconnects (e.g. after a crash-like shutdown, seen by the
    # database-restart drill with ``--mode immediate``) as DatabaseError, not OperationalError.
    lost = sa_exc.DatabaseError(
        "COMMIT",
        {},
        psycopg2.DatabaseError("server closed the connection unexpectedly"),
        connection_invalidated=True,
    )

    response = _raising(app_factory(), lost)

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"


def test_other_database_errors_stay_500(app_factory):
    broken = sa_exc.IntegrityError(
        "INSERT", {}, psycopg2.IntegrityError("duplicate key: connection_ref")
    )

    response = _raising(app_factory(), broken)

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
