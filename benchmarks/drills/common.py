"""What the drills share: a checking load client, the operations it sends, the checks, and the
command line.

wrk gives the benchmark figures; the drills must *judge* each answer (bodies, which write was
acknowledged), so they drive the service with ``harness.Client``: several processes, a fixed
deadline, every request recorded. An operation is a picklable callable ``(client, rng, client
index, sequence number) -> Record`` (the clients run in spawned processes); a drill lists them
with their weights.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from benchmarks.harness import Checks, Client, one, sql

JOB_NOW = datetime(2026, 12, 1, 7, 0)  # a Tuesday morning, no holiday
Operations = list[tuple[int, Callable]]  # (weight, operation)


def later(days: float = 0, minutes: float = 0) -> str:
    """``--now`` of a job run, ``days``/``minutes`` after ``JOB_NOW``."""
    return (JOB_NOW + timedelta(days=days, minutes=minutes)).isoformat(timespec="seconds")


def cli(run: Callable[..., Checks]) -> None:
    """A drill's command line: ``--name value`` for each keyword of ``run`` with a number or
    text default; prints the checks and exits 1 when one failed."""
    parser = argparse.ArgumentParser(description=sys.modules[run.__module__].__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for name, parameter in inspect.signature(run).parameters.items():
        if type(parameter.default) in (int, float, str):
            kind = type(parameter.default)
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=parameter.default)
    checks = run(**vars(parser.parse_args()))
    print(checks.render())
    sys.exit(0 if checks.passed else 1)


@dataclass(frozen=True)
class Record:
    op: str
    started: float  # time.time() when the request was sent
    latency_ms: float
    status: int  # 0: no HTTP answer came back at all
    body_ok: bool  # the body had the shape the status promises (JSON error format, ...)
    key: str | None = None  # what a write carried ("client:seq"), to check acknowledgements


def _client_process(port, operations, seconds, start, stop, results, index) -> None:
    client, rng, records, seq = Client(port), random.Random(index * 7919 + 1), [], 0
    weights, runs = zip(*operations, strict=True)
    start.wait()  # all clients start together, after every process has started up
    deadline = time.time() + seconds
    while time.time() < deadline and not stop.is_set():
        seq += 1
        records.append(rng.choices(runs, weights=weights)[0](client, rng, index, seq))
    results.put(records)


class ClientRun:
    """Client processes running in the background until ``stop()`` or their deadline."""

    def __init__(self, port: int, operations: Operations, *, processes: int, seconds: float):
        context = multiprocessing.get_context("spawn")
        self._results, self._stop = context.Queue(), context.Event()
        start = context.Barrier(processes + 1)
        args = (port, operations, seconds, start, self._stop, self._results)
        self._workers = [
            context.Process(target=_client_process, args=(*args, i), daemon=True)
            for i in range(processes)
        ]
        for worker in self._workers:
            worker.start()
        start.wait(timeout=120)
        self.deadline = time.time() + seconds

    def stop(self) -> None:
        self._stop.set()

    def collect(self) -> list[Record]:
        """Every client's records (read before join: a full pipe would block the children)."""
        timeout = max(self.deadline - time.time(), 0) + 120
        records = [r for _ in self._workers for r in self._results.get(timeout=timeout)]
        for worker in self._workers:
            worker.join(timeout=30)
        return records


def check_answers(checks: Checks, records: list[Record], seconds: float, allowed=None) -> None:
    """What every load drill checks: each request got an answer, with a status in ``allowed``
    (default: below 500) and a body in the shape its status promises. Figures: the number of
    requests, and per operation its count, p50 and p99 in ms and how often each status came."""
    checks.figures["requests"] = f"{len(records)} ({len(records) / seconds:,.0f}/s)"
    for op in sorted({r.op for r in records}):
        latencies = sorted(r.latency_ms for r in records if r.op == op)
        checks.figures[op] = json.dumps({
            "count": len(latencies),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "statuses": dict(Counter(str(r.status) for r in records if r.op == op)),
        })  # fmt: skip
    statuses = sorted({r.status for r in records})
    checks.check("every request got an answer", 0 not in statuses, f"statuses {statuses}")
    wrong = [r for r in records if r.status and r.status not in (allowed or range(500))]
    name = f"only {sorted(allowed)} were answered" if allowed else "zero 5xx"
    checks.check(name, not wrong, f"{len(wrong)} of {len(records)}; statuses {statuses}")
    bad = [r for r in records if not r.body_ok]
    checks.check(
        "every body in the shape its status promises (503: the error database_unavailable)",
        not bad,
        f"{len(bad)} bad, e.g. {bad[:3]}" if bad else "",
    )


# --- operations ------------------------------------------------------------------------------

HEALTH = ({"status": "ok", "database": "ok"}, {"status": "unavailable", "database": "unavailable"})


def send(client: Client, op: str, method: str, path: str, body: Any = None, ok=None, key=None):
    """One request, judged: the body has the shape its status promises (on success: a JSON
    object for which ``ok`` holds; an error: ``{"error": {"code", "message", "details"}}``,
    on 503 with the code ``database_unavailable``). (Record, body)."""
    started = time.time()
    status, data, ms = client.request(method, path, body, auth=path != "/health")
    if path == "/health":
        good = status in (200, 503) and data == HEALTH[status == 503]
    elif status >= 400:
        error = data.get("error") if isinstance(data, dict) and set(data) == {"error"} else None
        good = isinstance(error, dict) and {"code", "message", "details"} <= set(error)
        good = good and (status != 503 or error["code"] == "database_unavailable")
    else:
        good = status != 0 and isinstance(data, dict) and (ok is None or ok(data))
    return Record(op, started, ms, status, good, key), data


def read_therapist(therapists: int, client: Client, rng: random.Random, *_: int) -> Record:
    """``functools.partial(read_therapist, n)``: a random therapist of ids 1..n."""
    tid = rng.randint(1, therapists)
    ok = lambda d: d.get("id") == tid  # noqa: E731
    return send(client, "GET /api/therapists/{id}", "GET", f"/api/therapists/{tid}", ok=ok)[0]


def health(client: Client, *_: Any) -> Record:
    return send(client, "GET /health", "GET", "/health")[0]


# Telephone hours a write picks by its sequence number, so every stored row tells which write
# it came from in all three fields (a half-applied write would not match).
HOURS = ({"monday": [{"start": "09:00", "end": "12:00"}]}, {}, {
    "tuesday": [{"start": "10:00", "end": "11:00"}], "friday": [{"start": "08:00", "end": "09:30"}],
})  # fmt: skip
NOTES_PREFIX = "drill write "


def availability_write(index: int, seq: int) -> dict[str, Any]:
    return {
        "telefonische_erreichbarkeit": HOURS[seq % len(HOURS)],
        "potentially_available": seq % 2 == 1,
        "potentially_available_notes": f"{NOTES_PREFIX}{index}:{seq}",
    }


def write_key(notes: str | None) -> str | None:
    """The ``"client:seq"`` a stored row's notes name, or None when no drill wrote it."""
    return notes[len(NOTES_PREFIX) :] if notes and notes.startswith(NOTES_PREFIX) else None


def is_one_write(notes: str | None, available: bool | None, hours: Any) -> bool:
    """A stored row written by a drill: do all three fields come from the same write?"""
    key = write_key(notes)
    write = availability_write(*map(int, key.split(":"))) if key else {}
    return [hours, available, notes] == list(write.values())


def update_availability(client: Client, rng: random.Random, index: int, seq: int) -> Record:
    """Client process ``index`` writes only therapist ``1 + index``, so the order of its
    acknowledged writes is known."""
    write = availability_write(index, seq)
    notes = write["potentially_available_notes"]
    ok = lambda d: d.get("potentially_available_notes") == notes  # noqa: E731
    path, op = f"/api/therapists/{1 + index}/availability", "PUT /api/therapists/{id}/availability"
    return send(client, op, "PUT", path, write, ok, key=f"{index}:{seq}")[0]


@dataclass
class PhoneCalls:
    """Bookings, status changes and the call sheet. One instance is shared by its operations in
    a client process (pickling keeps shared references), so a status change ends a call this
    client booked. 409 answers (no free slot, call already ended) are legitimate."""

    therapists: int
    booked: list[int] = field(default_factory=list)

    def book(self, client: Client, rng: random.Random, *_: int) -> Record:
        body = {"therapist_id": rng.randint(1, self.therapists)}
        ok = lambda d: isinstance(d.get("id"), int)  # noqa: E731
        record, data = send(client, "POST /api/phone-calls", "POST", "/api/phone-calls", body, ok)
        if record.status == 201 and record.body_ok:
            self.booked.append(data["id"])
        return record

    def end(self, client: Client, rng: random.Random, *_: int) -> Record:
        if not self.booked:
            return self.book(client, rng)
        path = f"/api/phone-calls/{self.booked.pop(rng.randrange(len(self.booked)))}"
        body = {"status": rng.choice(("completed", "failed", "canceled"))}
        return send(client, "PUT /api/phone-calls/{id}", "PUT", path, body)[0]

    def sheet(self, client: Client, *_: Any) -> Record:
        ok = lambda d: isinstance(d.get("data"), list)  # noqa: E731
        path = "/api/phone-calls/daily"
        return send(client, "GET /api/phone-calls/daily", "GET", path, ok=ok)[0]


# --- checks ----------------------------------------------------------------------------------

# Installed by the drills only: every committed change of a therapist's availability fields.
AUDIT_SQL = """
CREATE TABLE public.drill_audit (id bigserial PRIMARY KEY, therapist_id integer NOT NULL,
                                 notes text, potentially_available boolean, hours jsonb);
CREATE FUNCTION public.drill_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.drill_audit (therapist_id, notes, potentially_available, hours)
    VALUES (NEW.id, NEW.potentially_available_notes, NEW.potentially_available,
            NEW.telefonische_erreichbarkeit);
    RETURN NEW;
END $$;
CREATE TRIGGER drill_audit AFTER UPDATE ON therapist_service.therapists FOR EACH ROW
    WHEN ((OLD.potentially_available_notes, OLD.potentially_available,
           OLD.telefonische_erreichbarkeit) IS DISTINCT FROM (NEW.potentially_available_notes,
           NEW.potentially_available, NEW.telefonische_erreichbarkeit))
    EXECUTE FUNCTION public.drill_audit_row();
"""


def check_writes(checks: Checks, records: list[Record], url: str) -> None:
    """Against the audit trail (``AUDIT_SQL``): every acknowledged write was committed, every
    committed row is one whole write a client sent, each final row is its last committed one."""
    audit = sql(url, "SELECT therapist_id, notes, potentially_available, hours "
                     "FROM public.drill_audit ORDER BY id")  # fmt: skip
    finals = {
        row[0]: row[1:]
        for row in sql(
            url,
            "SELECT id, potentially_available_notes, potentially_available, "
            "telefonische_erreichbarkeit FROM therapist_service.therapists "
            "WHERE potentially_available_notes IS NOT NULL",
        )
    }
    writes = [r for r in records if r.key is not None]
    acknowledged = {r.key for r in writes if r.status == 200}
    refused = {r.key for r in writes if r.status != 200}
    committed = {write_key(notes) or notes for _, notes, _, _ in audit}
    missing = acknowledged - committed
    checks.check(
        "every acknowledged write is in the database",
        bool(acknowledged) and not missing,
        f"{len(acknowledged)} acknowledged, {len(missing)} missing",
    )
    half = [row for row in audit if not is_one_write(*row[1:])]
    checks.check(
        "no write is half-applied (each committed row carries one write's three fields)",
        not half,
        f"{len(audit)} committed rows, {len(half)} mixed",
    )
    unknown = committed - acknowledged - refused
    checks.check("nothing was committed that no client sent", not unknown, f"{len(unknown)}")
    # A write committed while its answer was lost (the connection died between COMMIT and its
    # reply) is not an error of the service; it is counted, not hidden.
    checks.figures["committed but not answered 200"] = len(committed & refused)
    last = {row[0]: row[1:] for row in audit}
    stale = {tid for tid, row in last.items() if finals.get(tid) != row}
    checks.check(
        "each therapist's final row is its last committed write",
        bool(last) and not stale,
        f"{len(last)} therapists written, {len(stale)} differ",
    )


def check_no_overlapping_calls(checks: Checks, url: str, call_lines: int) -> None:
    """No two scheduled calls of one therapist overlap, nor more than ``call_lines`` at once
    (0: unlimited). The most calls running at once is reached at some call's start."""
    period = "tsrange(b.scheduled_date + b.scheduled_time, b.scheduled_date + b.scheduled_time + b.duration_minutes * interval '1 minute') @> (a.scheduled_date + a.scheduled_time)"  # noqa: E501
    calls = one(url, "SELECT count(*) FROM communication_service.phone_calls")
    per_therapist, beyond = sql(
        url,
        f"""SELECT count(*) FILTER (WHERE same > 1), count(*) FILTER (WHERE %(lines)s > 0 AND every > %(lines)s)
        FROM (SELECT (SELECT count(*) FROM communication_service.phone_calls AS b
                      WHERE b.status = 'scheduled' AND b.therapist_id = a.therapist_id AND {period}) AS same,
                     (SELECT count(*) FROM communication_service.phone_calls AS b
                      WHERE b.status = 'scheduled' AND {period}) AS every
              FROM communication_service.phone_calls AS a WHERE a.status = 'scheduled') AS at_starts""",  # noqa: E501
        {"lines": call_lines},
    )[0]
    checks.check(
        "zero overlapping scheduled calls (per therapist and beyond CALL_LINES)",
        per_therapist == 0 and beyond == 0,
        f"{calls} calls; {per_therapist} per-therapist, {beyond} beyond {call_lines} line(s)",
    )
