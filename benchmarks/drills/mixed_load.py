"""Drill: mixed reads and writes from several client processes against 4 gunicorn workers.

    .venv/bin/python -m benchmarks.drills.mixed_load [--seconds 60] [--clients 4] [--workers 4]

Checked: zero 5xx, zero requests without an answer, every body in its promised shape, zero
overlapping scheduled calls (per therapist, and beyond ``CALL_LINES`` across therapists),
every therapist's stored availability is one whole write and not older than the last write
its client saw acknowledged. p50/p99 per operation are printed.

Bookings, call status changes (completed/failed/canceled, so re-planning runs too) and the
call sheet join the mix by themselves when the service has ``/api/phone-calls``. To add
traffic: an operation in ``benchmarks/drills/operations.py`` and a line in ``operations()``;
a check in ``CHECKS`` if it brings a new invariant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import psycopg2

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.client import Record, WeightedOperation, latency_summary, run_clients
from benchmarks.drills.operations import (
    Health,
    PhoneCalls,
    ReadTherapist,
    UpdateAvailability,
    parse_write_key,
    row_matches_its_write,
)
from benchmarks.drills.report import Checks
from benchmarks.infra import Gunicorn, libpq_dsn, migrated_database, service_routes

SIZE = DataSize(therapists=200, patients=1_000, requests=2_000)
WRITERS_FIRST_ID = 1  # client process i writes therapist 1 + i
CALL_LINES = 1  # the service's default (SPEC §5 rule 2)


def operations() -> list[WeightedOperation]:
    mix = [
        WeightedOperation("read therapist", 6, ReadTherapist(SIZE.therapists)),
        WeightedOperation("update availability", 2, UpdateAvailability(WRITERS_FIRST_ID)),
        WeightedOperation("health", 1, Health()),
    ]
    # Bookings, call status changes and the call sheet join in once the service has them.
    if service_routes("POST /api/phone-calls", "PUT /api/phone-calls/1"):
        calls = PhoneCalls(SIZE.therapists)
        mix += [
            WeightedOperation("book call", 3, calls.book),
            WeightedOperation("end call", 2, calls.end),
            WeightedOperation("call sheet", 1, calls.sheet),
        ]
    return mix


def check_answers(checks: Checks, records: list[Record], database_url: str) -> None:
    statuses = sorted({r.status for r in records})
    checks.check("every request got an answer", 0 not in statuses, f"statuses {statuses}")
    server_errors = [r for r in records if r.status >= 500]
    checks.check("zero 5xx", not server_errors, f"{len(server_errors)} of {len(records)}")
    bad = [r for r in records if not r.body_ok]
    checks.check("every body in its promised shape", not bad, f"{len(bad)} bad")


def check_no_overlapping_calls(checks: Checks, records: list[Record], database_url: str) -> None:
    period = (
        "tsrange({t}.scheduled_date + {t}.scheduled_time, {t}.scheduled_date + "
        "{t}.scheduled_time + {t}.duration_minutes * interval '1 minute')"
    )
    # The most calls running at once is reached at some call's start: count there.
    sql = f"""
        SELECT count(*) FILTER (WHERE same_therapist > 1),
               count(*) FILTER (WHERE %(lines)s > 0 AND all_therapists > %(lines)s)
        FROM (
            SELECT (SELECT count(*) FROM communication_service.phone_calls AS b
                    WHERE b.status = 'scheduled' AND b.therapist_id = a.therapist_id
                      AND {period.format(t="b")} @> (a.scheduled_date + a.scheduled_time))
                       AS same_therapist,
                   (SELECT count(*) FROM communication_service.phone_calls AS b
                    WHERE b.status = 'scheduled'
                      AND {period.format(t="b")} @> (a.scheduled_date + a.scheduled_time))
                       AS all_therapists
            FROM communication_service.phone_calls AS a
            WHERE a.status = 'scheduled'
        ) AS at_each_start
    """
    with _connection(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM communication_service.phone_calls")
        (calls,) = cursor.fetchone()
        cursor.execute(sql, {"lines": CALL_LINES})
        per_therapist, beyond_lines = cursor.fetchone()
    checks.check(
        "zero overlapping scheduled calls (per therapist and beyond CALL_LINES)",
        per_therapist == 0 and beyond_lines == 0,
        f"{calls} calls; {per_therapist} per-therapist, {beyond_lines} beyond {CALL_LINES} line(s)",
    )


def check_availability_writes(checks: Checks, records: list[Record], database_url: str) -> None:
    last_acknowledged: dict[int, int] = {}
    for r in records:
        if r.key is not None and r.status == 200:
            index, seq = map(int, r.key.split(":"))
            last_acknowledged[index] = max(seq, last_acknowledged.get(index, 0))
    with _connection(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, potentially_available_notes, potentially_available, "
            "telefonische_erreichbarkeit FROM therapist_service.therapists "
            "WHERE id BETWEEN %s AND %s",
            (WRITERS_FIRST_ID, WRITERS_FIRST_ID + max(last_acknowledged, default=0)),
        )
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    problems = []
    for index, seq in last_acknowledged.items():
        notes, available, hours = rows[WRITERS_FIRST_ID + index]
        key = parse_write_key(notes)
        if not row_matches_its_write(notes, available, hours):
            problems.append(f"therapist {WRITERS_FIRST_ID + index}: mixed row")
        elif key is None or key[0] != index or key[1] < seq:
            problems.append(f"therapist {WRITERS_FIRST_ID + index}: {notes!r} older than {seq}")
    checks.check(
        "each written row is one whole write, not older than its last acknowledged one",
        bool(last_acknowledged) and not problems,
        f"{len(last_acknowledged)} writers; {problems[:3]}" if problems else "",
    )


CHECKS: list[Callable[[Checks, list[Record], str], None]] = [
    check_answers,
    check_no_overlapping_calls,
    check_availability_writes,
]


def _connection(database_url: str):
    return psycopg2.connect(libpq_dsn(database_url))


def run(
    *,
    seconds: float = 60,
    clients: int = 4,
    workers: int = 4,
    database_url: str | None = None,
) -> Checks:
    """Against ``database_url`` (migrated, empty), or a private embedded PostgreSQL."""
    with migrated_database(database_url) as url:
        load_people_and_requests(url, SIZE)
        checks = Checks(f"mixed load: {clients} clients, {workers} workers, {seconds:g} s")
        env = {"DATABASE_URL": url, "WEB_CONCURRENCY": str(workers)}
        with Gunicorn("wsgi:app", env=env) as server:
            records = run_clients(server.port, operations(), processes=clients, seconds=seconds)
        summary = latency_summary(records)
        latencies = sorted(r.latency_ms for r in records)
        checks.figures["requests"] = f"{len(records)} ({len(records) / seconds:,.0f}/s)"
        if latencies:
            checks.figures["p99 overall"] = f"{latencies[int(len(latencies) * 0.99)]:.1f} ms"
        for op, figures in summary.items():
            checks.figures[op] = json.dumps(figures)
        for check in CHECKS:
            check(checks, records, url)
        return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drills.mixed_load")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    checks = run(seconds=args.seconds, clients=args.clients, workers=args.workers)
    print(checks.render())
    return 0 if checks.passed else 1


if __name__ == "__main__":
    sys.exit(main())
