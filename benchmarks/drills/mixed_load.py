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

import argparse
import json
import sys

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.common import (
    AUDIT_SQL,
    ClientRun,
    Health,
    PhoneCalls,
    ReadTherapist,
    UpdateAvailability,
    WeightedOperation,
    check_no_overlapping_calls,
    check_writes,
    latency_summary,
)
from benchmarks.harness import Checks, Gunicorn, migrated_database, sql

SIZE = DataSize(therapists=200, patients=1_000, requests=2_000)
CALL_LINES = 1  # the service's default (SPEC §5 rule 2)


def operations() -> list[WeightedOperation]:
    calls = PhoneCalls(SIZE.therapists)
    return [
        WeightedOperation("read therapist", 6, ReadTherapist(SIZE.therapists)),
        WeightedOperation("update availability", 2, UpdateAvailability(first_id=1)),
        WeightedOperation("health", 1, Health()),
        WeightedOperation("book call", 3, calls.book),
        WeightedOperation("end call", 2, calls.end),
        WeightedOperation("call sheet", 1, calls.sheet),
    ]


def run(
    *, seconds: float = 60, clients: int = 4, workers: int = 4, database_url: str | None = None
) -> Checks:
    """Against ``database_url`` (migrated, empty), or a private embedded PostgreSQL."""
    checks = Checks(f"mixed load: {clients} clients, {workers} workers, {seconds:g} s")
    with migrated_database(database_url) as url:
        load_people_and_requests(url, SIZE)
        sql(url, AUDIT_SQL)
        env = {"DATABASE_URL": url, "WEB_CONCURRENCY": str(workers)}
        with Gunicorn("wsgi:app", env=env) as server:
            records = ClientRun(
                server.port, operations(), processes=clients, seconds=seconds
            ).collect()
        latencies = sorted(r.latency_ms for r in records)
        checks.figures["requests"] = f"{len(records)} ({len(records) / seconds:,.0f}/s)"
        if latencies:
            checks.figures["p99 overall"] = f"{latencies[int(len(latencies) * 0.99)]:.1f} ms"
        for op, figures in latency_summary(records).items():
            checks.figures[op] = json.dumps(figures)
        statuses = sorted({r.status for r in records})
        checks.check("every request got an answer", 0 not in statuses, f"statuses {statuses}")
        errors = [r for r in records if r.status >= 500]
        checks.check("zero 5xx", not errors, f"{len(errors)} of {len(records)}")
        bad = [r for r in records if not r.body_ok]
        checks.check("every body in its promised shape", not bad, f"{len(bad)} bad")
        check_no_overlapping_calls(checks, url, CALL_LINES)
        check_writes(checks, records, url)
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drills.mixed_load")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    return run(seconds=args.seconds, clients=args.clients, workers=args.workers).exit()


if __name__ == "__main__":
    sys.exit(main())
