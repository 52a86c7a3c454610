"""Drill: the database is stopped and started again while gunicorn serves requests.

    .venv/bin/python -m benchmarks.drills.db_restart [--outage 5] [--clients 4] [--mode fast]

A private embedded PostgreSQL (its own temporary directory, never the test server), migrated
with the real migrations; gunicorn with the project's settings; client processes hammer
``GET /api/therapists/{id}``, ``PUT /api/therapists/{id}/availability`` and ``/health``.
The server is stopped with ``pg_ctl stop -m fast`` (``--mode immediate``: like a crash) and
started again.

Checked: during the outage every API answer is 503 with the JSON error
``database_unavailable`` and ``/health`` says ``unavailable``; nothing but 200/503 is ever
answered; gunicorn (master and workers) keeps running and serves again by itself once the
database is back; and no write was half-applied: an audit trigger (installed by the drill)
records every committed update, every acknowledged write is there, every stored row carries
all three fields of one single write, and each therapist's final row is its last committed one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.common import (
    AUDIT_SQL,
    ClientRun,
    Health,
    ReadTherapist,
    UpdateAvailability,
    WeightedOperation,
    check_writes,
    latency_summary,
)
from benchmarks.harness import Checks, Database, Gunicorn, get, migrate, sql

THERAPISTS = 50


def run(
    *,
    warm: float = 3.0,
    outage: float = 3.0,
    after: float = 3.0,
    clients: int = 3,
    workers: int | None = None,
    mode: str = "fast",
    log: Callable[[str], None] = print,
) -> Checks:
    checks = Checks(f"database restarted under load (pg_ctl stop -m {mode})")
    operations = [
        WeightedOperation("read", 4, ReadTherapist(THERAPISTS)),
        WeightedOperation("write", 3, UpdateAvailability(first_id=1)),
        WeightedOperation("health", 1, Health()),
    ]
    with Database(prefix="cs-drill-") as database:
        url = database.create("drill")
        migrate(url)
        load_people_and_requests(url, DataSize(therapists=THERAPISTS, patients=20, requests=20))
        sql(url, AUDIT_SQL)
        env = {"DATABASE_URL": url, **({"WEB_CONCURRENCY": str(workers)} if workers else {})}
        with Gunicorn("wsgi:app", env=env) as server:
            master, workers_before = server.process.pid, server.worker_pids()
            # A generous deadline; the drill stops the clients once it has seen enough.
            load = ClientRun(
                server.port, operations, processes=clients, seconds=warm + outage + after + 60
            )
            time.sleep(warm)
            log(f"stopping PostgreSQL (pg_ctl stop -m {mode}) after {warm:g} s of load")
            t_stop = time.time()
            database.stop(mode)
            t_stopped = time.time()
            health_down = get(server.port, "/health", auth=False)
            time.sleep(outage)
            log(f"starting PostgreSQL again after {outage:g} s of outage")
            t_start = time.time()
            database.start()
            deadline = time.monotonic() + 20
            while get(server.port, "/health", auth=False)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            recovered = time.monotonic() < deadline
            t_recovered = time.time()
            log(f"/health ok {t_recovered - t_start:.2f} s after the start command")
            time.sleep(after)
            load.stop()
            records = load.collect()
            master_alive = server.process.poll() is None
            workers_after = server.worker_pids() if master_alive else []
        check_writes(checks, records, url)

    checks.figures["requests"] = len(records)
    checks.figures["outage"] = (
        f"{t_start - t_stopped:.1f} s (pg_ctl stop took {t_stopped - t_stop:.2f} s)"
    )
    checks.figures["latency by operation"] = json.dumps(latency_summary(records))
    statuses = sorted({r.status for r in records})
    checks.check("gunicorn answered every request", 0 not in statuses, f"statuses {statuses}")
    checks.check(
        "only 200 and 503 were answered (no 500)",
        set(statuses) <= {200, 503},
        f"statuses {statuses}",
    )
    bad = [r for r in records if not r.body_ok]
    checks.check(
        "every body had the promised shape (JSON error database_unavailable on 503)",
        not bad,
        f"{len(bad)} bad, e.g. {bad[:3]}" if bad else "",
    )
    checks.check(
        "/health said unavailable right after the stop",
        health_down == (503, {"status": "unavailable", "database": "unavailable"}),
        str(health_down),
    )
    # Requests sent while the server was certainly down (a margin before the start command).
    down = [r for r in records if t_stopped <= r.started <= t_start - 0.2]
    for op in sorted({r.op for r in records}):
        during = [r.status for r in down if r.op == op]
        checks.check(
            f"during the outage {op} answered 503",
            bool(during) and set(during) == {503},
            f"{len(during)} requests, statuses {sorted(set(during))}",
        )
    checks.check("the service recovered within 20 s of the restart", recovered)
    settled = [r.status for r in records if r.started >= t_recovered + 0.5]
    checks.check(
        "after recovery every request succeeded",
        bool(settled) and set(settled) == {200},
        f"{len(settled)} requests, statuses {sorted(set(settled))}",
    )
    checks.check("gunicorn master kept running (not restarted)", master_alive, f"pid {master}")
    checks.check(
        "no worker died or was replaced",
        workers_before == workers_after,
        f"{workers_before} -> {workers_after}",
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drills.db_restart")
    parser.add_argument("--warm", type=float, default=5)
    parser.add_argument("--outage", type=float, default=5)
    parser.add_argument("--after", type=float, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py")
    parser.add_argument(
        "--mode",
        choices=("fast", "immediate"),
        default="fast",
        help="fast: a clean restart; immediate: like a crash (recovery at start)",
    )
    args = parser.parse_args(argv)
    return run(**{k: v for k, v in vars(args).items()}).exit()


if __name__ == "__main__":
    sys.exit(main())
