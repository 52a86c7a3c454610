"""Drill: mixed reads and writes from several client processes against 4 gunicorn workers.

    .venv/bin/python -m benchmarks.drills.mixed_load [--seconds 60] [--clients 4] [--workers 4]

Therapist reads, availability writes, /health, bookings, call status changes
(completed/failed/canceled, so re-planning runs too) and the call sheet. Checked: zero 5xx,
zero requests without an answer, every body in its promised shape, zero overlapping
scheduled calls (per therapist, and beyond ``CALL_LINES`` across therapists), every
acknowledged availability write committed whole and each therapist's final row its last
committed write (an audit trigger installed by the drill). p50/p99 per operation are printed.
"""

from __future__ import annotations

import functools

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.common import (
    AUDIT_SQL,
    ClientRun,
    PhoneCalls,
    check_answers,
    check_no_overlapping_calls,
    check_writes,
    cli,
    health,
    read_therapist,
    update_availability,
)
from benchmarks.harness import Checks, Gunicorn, migrated_database, sql

SIZE = DataSize(therapists=200, patients=1_000, requests=2_000)
CALL_LINES = 1  # the service's default (docs/rules.md rule 2)


def run(
    *, seconds: float = 60.0, clients: int = 4, workers: int = 4, database_url: str | None = None
) -> Checks:
    """Against ``database_url`` (migrated, empty), or a private embedded PostgreSQL."""
    checks = Checks(f"mixed load: {clients} clients, {workers} workers, {seconds:g} s")
    with migrated_database(database_url) as url:
        load_people_and_requests(url, SIZE)
        sql(url, AUDIT_SQL)
        env = {"DATABASE_URL": url, "WEB_CONCURRENCY": str(workers)}
        calls = PhoneCalls(SIZE.therapists)
        operations = [(6, functools.partial(read_therapist, SIZE.therapists)),
                      (2, update_availability), (1, health),
                      (3, calls.book), (2, calls.end), (1, calls.sheet)]  # fmt: skip
        with Gunicorn("wsgi:app", env=env) as server:
            records = ClientRun(server.port, operations, processes=clients, seconds=seconds)
            records = records.collect()
        check_answers(checks, records, seconds)
        check_no_overlapping_calls(checks, url, CALL_LINES)
        check_writes(checks, records, url)
    return checks


if __name__ == "__main__":
    cli(run)
