"""Rule 2 under load: many simultaneous bookings against a live multi-worker gunicorn.

Threads open their own connections and fire at once (a barrier releases them together);
afterwards SQL proves that no two scheduled calls of a therapist overlap and that never more
than ``CALL_LINES`` calls run at the same moment.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import API_TOKEN
from tests.factories import make_therapist

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
THERAPISTS = 6
AUTOMATIC_PER_THERAPIST = 9
EXPLICIT_RACERS = 8
ALL_DAY = {
    day: [{"start": "00:00", "end": "23:55"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture
def live_server(database_url: str, tmp_path: Path, call_lines: int) -> Iterator[int]:
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "API_TOKENS": API_TOKEN,
        "CALL_LINES": str(call_lines),
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            # --preload: import the app once, then fork (start-up in CI seconds, not tens)
            [
                str(gunicorn),
                "-c",
                "gunicorn.conf.py",
                "-w",
                str(WORKERS),
                "--preload",
                "--bind",
                f"127.0.0.1:{port}",
                "--no-control-socket",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: master and workers end together
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.1)
        yield port
    finally:
        # The workers are idle by now; a graceful stop would only cost CI seconds.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("call_lines", [2, 0])
def test_simultaneous_bookings_never_overlap(app, session, live_server, call_lines):
    port = live_server
    therapists = [make_therapist(session, telefonische_erreichbarkeit=ALL_DAY) for _ in range(6)]
    # An explicit time the automatic bookings do not reach: the day after tomorrow, 12:00.
    racer = therapists[0]
    contested_day = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=2)).date()
    bodies = [
        # No requests: one request can be on one scheduled call only.
        {"therapist_id": t, "placement_request_ids": []}
        for t in therapists
        for _ in range(AUTOMATIC_PER_THERAPIST)
    ] + [
        {
            "therapist_id": racer,
            "scheduled_date": contested_day.isoformat(),
            "scheduled_time": "12:00",
            "duration_minutes": 10,
        }
        for _ in range(EXPLICIT_RACERS)
    ]
    assert len(bodies) >= 50
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, dict] | Exception] = [None] * len(bodies)  # type: ignore[list-item]

    def fire(index: int) -> None:
        barrier.wait()
        try:
            results[index] = request(port, "POST", "/api/phone-calls", bodies[index])
        except Exception as error:  # reported below, with the others
            results[index] = error

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(r[0] if isinstance(r, tuple) else repr(r) for r in results)
    automatic = results[: THERAPISTS * AUTOMATIC_PER_THERAPIST]
    explicit = results[THERAPISTS * AUTOMATIC_PER_THERAPIST :]
    assert all(isinstance(r, tuple) and r[0] == 201 for r in automatic), statuses
    explicit_statuses = sorted(r[0] for r in explicit)
    assert explicit_statuses == [201] + [409] * (EXPLICIT_RACERS - 1), statuses
    assert {r[1]["error"]["code"] for r in explicit if r[0] == 409} == {"slot_taken"}

    session.rollback()
    period = (
        "tsrange({t}.scheduled_date + {t}.scheduled_time, {t}.scheduled_date + "
        "{t}.scheduled_time + {t}.duration_minutes * interval '1 minute')"
    )
    a, b = period.format(t="a"), period.format(t="b")
    stored = session.execute(
        sa.text("SELECT count(*) FROM communication_service.phone_calls WHERE status = 'scheduled'")
    ).scalar_one()
    assert stored == len(automatic) + 1
    same_therapist_overlaps = session.execute(
        sa.text(
            f"""
            SELECT count(*) FROM communication_service.phone_calls a
            JOIN communication_service.phone_calls b
              ON a.therapist_id = b.therapist_id AND a.id < b.id
            WHERE a.status = 'scheduled' AND b.status = 'scheduled' AND {a} && {b}
            """
        )
    ).scalar_one()
    assert same_therapist_overlaps == 0
    # The most calls running at once is reached at some call's start.
    most_at_once = session.execute(
        sa.text(
            f"""
            SELECT max(running) FROM (
                SELECT count(*) AS running
                FROM communication_service.phone_calls a
                JOIN communication_service.phone_calls b ON {b} @> lower({a})
                WHERE a.status = 'scheduled' AND b.status = 'scheduled'
                GROUP BY a.id
            ) per_start
            """
        )
    ).scalar_one()
    if call_lines:
        assert most_at_once == call_lines  # packed, and never more
    else:
        assert most_at_once == THERAPISTS  # unlimited lines: every therapist at once
    off_grid = session.execute(
        sa.text(
            "SELECT count(*) FROM communication_service.phone_calls "
            "WHERE extract(minute FROM scheduled_time)::int % 5 <> 0"
        )
    ).scalar_one()
    assert off_grid == 0
