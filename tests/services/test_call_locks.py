"""Lock order between ending a call and booking: a failed call is re-planned (a booking), so
its transaction takes the booking lock before it changes the call, as every writer of calls
does (lock first, rows second). A writer holding the lock must never wait for rows the
ending call locked; the other order deadlocked (found by the 60 s mixed-load drill: PUT
answered 500 after PostgreSQL's one-second deadlock check)."""

from __future__ import annotations

import threading
import time

import pytest

from communication_service.extensions import db
from communication_service.services.scheduling import ALL_LINES_LOCK_KEY, BOOKING_LOCK_NAMESPACE
from tests.api.test_phone_calls import book
from tests.conftest import ApiClient, truncate_all
from tests.factories import make_placement_request, make_therapist

ALL_DAY = {
    day: [{"start": "08:00", "end": "18:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
WAITING_FOR_THE_LOCK = """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted AND classid = %s
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _insert_booked_call(cursor, therapist: int) -> None:
    """What a booking does once it holds the lock: insert a scheduled call of the therapist."""
    cursor.execute(
        "INSERT INTO communication_service.phone_calls"
        " (therapist_id, scheduled_date, scheduled_time, duration_minutes, status)"
        " VALUES (%s, DATE '2027-06-01', TIME '09:00', 5, 'scheduled')",
        (therapist,),
    )


def _waits_for_the_lock(seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    probe = db.engine.raw_connection()
    try:
        with probe.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(WAITING_FOR_THE_LOCK, (BOOKING_LOCK_NAMESPACE,))
                if cursor.fetchone()[0]:
                    return True
                probe.rollback()
                time.sleep(0.02)
    finally:
        probe.close()
    return False


@pytest.mark.parametrize("call_lines", [1, 0], ids=["one line", "unlimited lines"])
def test_a_failed_call_waits_for_a_booking_in_progress_without_deadlock(app_factory, call_lines):
    app = app_factory(call_lines=call_lines)
    with app.app_context():
        truncate_all()
        therapist = make_therapist(db.session, telefonische_erreichbarkeit=ALL_DAY)
        request_id = make_placement_request(db.session, therapist_id=therapist)
        db.session.commit()
        client = ApiClient(app.test_client())
        call = book(client, therapist_id=therapist, placement_request_ids=[request_id])

        booking = db.engine.raw_connection()  # a booking in progress: it holds the lock
        answers: list[int] = []
        try:
            with booking.cursor() as cursor:
                key = ALL_LINES_LOCK_KEY if call_lines > 0 else therapist
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (BOOKING_LOCK_NAMESPACE, key)
                )

                def fail_the_call() -> None:
                    with app.app_context():
                        response = ApiClient(app.test_client()).put(
                            f"/api/phone-calls/{call['id']}", json={"status": "failed"}
                        )
                        answers.append(response.status_code)

                ending = threading.Thread(target=fail_the_call)
                ending.start()
                assert _waits_for_the_lock(), "ending the call never waited for the booking lock"
                # The booking goes on: it must not wait for rows the ending call locked.
                cursor.execute("SET LOCAL lock_timeout = '3s'")
                _insert_booked_call(cursor, therapist)
            booking.commit()
        finally:
            booking.close()
        ending.join(timeout=30)
        assert answers == [200]
