"""Drill: the database is stopped and started again while gunicorn serves requests.

    .venv/bin/python -m benchmarks.drills.db_restart [--outage 5] [--clients 3] ...

A private embedded PostgreSQL (its own temporary directory, never the test server), migrated
with the real migrations; gunicorn with the project's settings; client processes hammer
``GET /api/therapists/{id}``, ``PUT /api/therapists/{id}/availability`` and ``/health``.
The server is stopped with ``pg_ctl stop -m fast`` (``--mode immediate``: like a crash) and
started again.

Checked: during the outage every API answer is 503 with the JSON error
``database_unavailable`` and ``/health`` says ``unavailable``; nothing else but 200/503 is ever
answered; gunicorn (master and workers) keeps running and serves again by itself once the
database is back; and, with SQL, no write was half-applied: an audit trigger (installed by
the drill only) records every committed update, every acknowledged write is there, every
stored row carries all three fields of one single write, and each therapist's final row is
its last committed write.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from collections.abc import Callable

import psycopg2

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.client import ClientRun, Record, WeightedOperation, latency_summary
from benchmarks.drills.operations import (
    Health,
    ReadTherapist,
    UpdateAvailability,
    parse_write_key,
    row_matches_its_write,
)
from benchmarks.drills.report import Checks
from benchmarks.infra import EmbeddedDatabase, Gunicorn, libpq_dsn, migrate

THERAPISTS = 50
WRITERS_FIRST_ID = 1  # client process i writes therapist 1 + i

AUDIT_SQL = """
CREATE TABLE public.drill_audit (
    id bigserial PRIMARY KEY,
    therapist_id integer NOT NULL,
    notes text,
    potentially_available boolean,
    hours jsonb
);
CREATE FUNCTION public.drill_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.drill_audit (therapist_id, notes, potentially_available, hours)
    VALUES (NEW.id, NEW.potentially_available_notes, NEW.potentially_available,
            NEW.telefonische_erreichbarkeit);
    RETURN NEW;
END $$;
CREATE TRIGGER drill_audit AFTER UPDATE ON therapist_service.therapists
    FOR EACH ROW EXECUTE FUNCTION public.drill_audit_row();
"""


def _get(port: int, path: str) -> tuple[int, object]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, None
    finally:
        connection.close()


def _wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


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
    with EmbeddedDatabase(prefix="cs-drill-") as database:
        url = database.create_database("drill")
        migrate(url)
        load_people_and_requests(url, DataSize(therapists=THERAPISTS, patients=20, requests=20))
        _admin(url, AUDIT_SQL)
        env = {"DATABASE_URL": url}
        if workers:
            env["WEB_CONCURRENCY"] = str(workers)
        with Gunicorn("wsgi:app", env=env) as server:
            master = server.process.pid
            workers_before = server.worker_pids()
            operations = [
                WeightedOperation("read", 4, ReadTherapist(THERAPISTS)),
                WeightedOperation("write", 3, UpdateAvailability(WRITERS_FIRST_ID)),
                WeightedOperation("health", 1, Health()),
            ]
            # Generous deadline; the drill stops the clients itself once it has seen enough.
            run_ = ClientRun(
                server.port, operations, processes=clients, seconds=warm + outage + after + 60
            )
            time.sleep(warm)
            log(f"stopping PostgreSQL (pg_ctl stop -m {mode}) after {warm:g} s of load")
            t_stop = time.time()
            database.stop(mode)
            t_stopped = time.time()
            health_down = _get(server.port, "/health")
            time.sleep(outage)
            log(f"starting PostgreSQL again after {outage:g} s of outage")
            t_start = time.time()
            database.start()
            t_started = time.time()
            recovered = _wait_for(lambda: _get(server.port, "/health")[0] == 200, timeout=20)
            t_recovered = time.time()
            log(f"/health ok {t_recovered - t_started:.2f} s after PostgreSQL was up")
            time.sleep(after)
            run_.stop()
            records = run_.collect()
            master_alive = server.process.poll() is None
            workers_after = server.worker_pids() if master_alive else []
        audit, finals = _read_writes(url)

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
    bad_bodies = [r for r in records if not r.body_ok]
    checks.check(
        "every body had the promised shape (JSON error database_unavailable on 503)",
        not bad_bodies,
        f"{len(bad_bodies)} bad, e.g. {bad_bodies[:3]}" if bad_bodies else "",
    )
    status, body = health_down
    checks.check(
        "/health said unavailable right after the stop",
        status == 503 and body == {"status": "unavailable", "database": "unavailable"},
        f"{status} {body}",
    )
    # Requests sent while the server was certainly down (a margin before the start command).
    down = [r for r in records if t_stopped <= r.started <= t_start - 0.2]
    for op in sorted({r.op for r in records}):
        during = [r for r in down if r.op == op]
        checks.check(
            f"during the outage {op} answered 503",
            bool(during) and all(r.status == 503 for r in during),
            f"{len(during)} requests, statuses {sorted({r.status for r in during})}",
        )
    checks.check("the service recovered within 20 s of the restart", recovered)
    settled = [r for r in records if r.started >= t_recovered + 0.5]
    checks.check(
        "after recovery every request succeeded",
        bool(settled) and all(r.status == 200 for r in settled),
        f"{len(settled)} requests, statuses {sorted({r.status for r in settled})}",
    )
    checks.check("gunicorn master kept running (not restarted)", master_alive, f"pid {master}")
    checks.check(
        "no worker died or was replaced",
        workers_before == workers_after,
        f"{workers_before} -> {workers_after}",
    )
    _check_writes(checks, records, audit, finals)
    return checks


def _admin(url: str, sql: str) -> None:
    connection = psycopg2.connect(libpq_dsn(url))
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def _read_writes(url: str):
    connection = psycopg2.connect(libpq_dsn(url))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, therapist_id, notes, potentially_available, hours "
                "FROM public.drill_audit ORDER BY id"
            )
            audit = cursor.fetchall()
            cursor.execute(
                "SELECT id, potentially_available_notes, potentially_available, "
                "telefonische_erreichbarkeit FROM therapist_service.therapists "
                "WHERE potentially_available_notes IS NOT NULL"
            )
            finals = {row[0]: row[1:] for row in cursor.fetchall()}
    finally:
        connection.close()
    return audit, finals


def _check_writes(checks: Checks, records: list[Record], audit, finals) -> None:
    writes = [r for r in records if r.key is not None]
    acknowledged = {r.key for r in writes if r.status == 200}
    refused = {r.key for r in writes if r.status != 200}
    committed = {}
    for _, therapist_id, notes, available, hours in audit:
        key = parse_write_key(notes)
        committed[f"{key[0]}:{key[1]}" if key else notes] = (therapist_id, notes, available, hours)
    missing = acknowledged - set(committed)
    checks.check(
        "every acknowledged write is in the database",
        bool(acknowledged) and not missing,
        f"{len(acknowledged)} acknowledged, {len(missing)} missing",
    )
    half = [row for row in audit if not row_matches_its_write(row[2], row[3], row[4])]
    checks.check(
        "no write is half-applied (each committed row carries one write's three fields)",
        not half,
        f"{len(audit)} committed rows, {len(half)} mixed",
    )
    unknown = set(committed) - acknowledged - refused
    checks.check("nothing was committed that no client sent", not unknown, f"{len(unknown)}")
    # A write the database committed while the answer was lost (the connection died between
    # COMMIT and its reply) is not an error of the service; it is counted, not hidden.
    checks.figures["committed but answered 503"] = len(set(committed) & refused)
    last_committed: dict[int, tuple] = {}
    for _, therapist_id, notes, available, hours in audit:
        last_committed[therapist_id] = (notes, available, hours)
    stale = {tid for tid, row in last_committed.items() if finals.get(tid) != row}
    checks.check(
        "each therapist's final row is its last committed write",
        bool(last_committed) and not stale,
        f"{len(last_committed)} therapists written, {len(stale)} differ",
    )


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
    checks = run(
        warm=args.warm,
        outage=args.outage,
        after=args.after,
        clients=args.clients,
        workers=args.workers,
        mode=args.mode,
    )
    print(checks.render())
    return 0 if checks.passed else 1


if __name__ == "__main__":
    sys.exit(main())
