"""Drill: the database is stopped and started again while gunicorn serves requests.

    .venv/bin/python -m benchmarks.drills.db_restart [--outage 5] [--clients 4] [--mode immediate]

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

import functools
import time

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.common import (
    AUDIT_SQL,
    ClientRun,
    check_answers,
    check_writes,
    cli,
    health,
    read_therapist,
    update_availability,
)
from benchmarks.harness import Checks, Database, Gunicorn, get, sql

THERAPISTS = 50


def run(*, warm: float = 5.0, outage: float = 5.0, after: float = 5.0, clients: int = 4,
        workers: int = 0, mode: str = "fast") -> Checks:  # fmt: skip
    """``workers`` 0: as many as ``gunicorn.conf.py`` says."""
    checks = Checks(f"database restarted under load (pg_ctl stop -m {mode})")
    operations = [(4, functools.partial(read_therapist, THERAPISTS)),
                  (3, update_availability), (1, health)]  # fmt: skip
    with Database() as database:
        url = database.create("drill", migrated=True)
        load_people_and_requests(url, DataSize(therapists=THERAPISTS, patients=20, requests=20))
        sql(url, AUDIT_SQL)
        env = {"DATABASE_URL": url, **({"WEB_CONCURRENCY": str(workers)} if workers else {})}
        with Gunicorn("wsgi:app", env=env) as server:
            master, workers_before = server.process.pid, server.worker_pids()
            # A generous deadline; the drill stops the clients once it has seen enough.
            seconds = warm + outage + after + 60
            load = ClientRun(server.port, operations, processes=clients, seconds=seconds)
            t_began = time.time()
            time.sleep(warm)
            print(f"stopping PostgreSQL (pg_ctl stop -m {mode}) after {warm:g} s of load")
            t_stop = time.time()
            database.stop(mode)
            t_stopped = time.time()
            health_down = get(server.port, "/health", auth=False)
            time.sleep(outage)
            print(f"starting PostgreSQL again after {outage:g} s of outage")
            t_start = time.time()
            database.start()
            deadline = time.monotonic() + 20
            while get(server.port, "/health", auth=False)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            recovered = time.monotonic() < deadline
            t_recovered = time.time()
            print(f"/health ok {t_recovered - t_start:.2f} s after the start command")
            time.sleep(after)
            load.stop()
            t_ended, records = time.time(), load.collect()
            master_alive = server.process.poll() is None
            workers_after = server.worker_pids() if master_alive else []
        check_writes(checks, records, url)

    check_answers(checks, records, t_ended - t_began, allowed={200, 503})
    checks.figures["outage"] = f"{t_start - t_stopped:.1f} s (stopping: {t_stopped - t_stop:.2f} s)"
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


if __name__ == "__main__":
    cli(run)
