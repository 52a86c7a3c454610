"""What the drills share: a checking load client, the operations it sends, and the checks.

wrk gives the benchmark figures; the drills must *judge* each answer (bodies, which write was
acknowledged), so they drive the service with this client: several processes, keep-alive
``http.client`` connections to 127.0.0.1, a fixed deadline, every request recorded.
Operations are small picklable callables (the clients run in spawned processes); a new kind
of traffic is one more of them and one more ``WeightedOperation`` in a drill's list.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from benchmarks.harness import API_TOKEN, Checks, one, sql

JOB_NOW = datetime(2026, 12, 1, 7, 0)  # a Tuesday morning, no holiday


def later(days: float = 0, minutes: float = 0) -> str:
    """``--now`` of a job run, ``days``/``minutes`` after ``JOB_NOW``."""
    return (JOB_NOW + timedelta(days=days, minutes=minutes)).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Record:
    op: str
    started: float  # time.time() when the request was sent
    latency_ms: float
    status: int  # 0: no HTTP answer came back at all
    body_ok: bool  # the body had the shape the status promises (JSON error format, ...)
    key: str | None = None  # what a write carried ("client:seq"), to check acknowledgements


class Client:
    """One keep-alive connection to 127.0.0.1:port, reopened whenever the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True):
        """(status, JSON body or None, latency in ms)."""
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if auth else {}
        payload = None if body is None else json.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        for _attempt in (1, 2):
            reused = self.connection is not None
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                if response.will_close:
                    self.close()
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                return response.status, data, (time.perf_counter() - started) * 1000
            except (OSError, http.client.HTTPException):
                self.close()
                # Only a kept-alive connection the server had already closed is retried, once,
                # on a new one. A failure on a fresh connection is recorded as a failure.
                if not reused:
                    break
        return 0, None, (time.perf_counter() - started) * 1000

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# An operation: (client, random generator, client index, sequence number) -> a Record.
Operation = Callable[[Client, random.Random, int, int], Record]


@dataclass(frozen=True)
class WeightedOperation:
    name: str
    weight: int
    run: Operation


def _client_process(port, operations, index, seconds, go, stop, ready, results) -> None:
    client, rng, records, seq = Client(port), random.Random(index * 7919 + 1), [], 0
    weights = [op.weight for op in operations]
    ready.put(index)
    go.wait()  # all clients start together, after every process has started up
    deadline = time.time() + seconds
    while time.time() < deadline and not stop.is_set():
        seq += 1
        (operation,) = rng.choices(operations, weights=weights)
        records.append(operation.run(client, rng, index, seq))
    results.put(records)


class ClientRun:
    """Client processes running in the background until ``stop()`` or their deadline."""

    def __init__(self, port: int, operations: list[WeightedOperation], *, processes: int,
                 seconds: float) -> None:  # fmt: skip
        context = multiprocessing.get_context("spawn")
        self._results, self._stop = context.Queue(), context.Event()
        go, ready = context.Event(), context.Queue()
        self._workers = [
            context.Process(
                target=_client_process,
                args=(port, operations, i, seconds, go, self._stop, ready, self._results),
                daemon=True,
            )
            for i in range(processes)
        ]
        for worker in self._workers:
            worker.start()
        for _ in self._workers:
            ready.get(timeout=120)
        go.set()
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


def latency_summary(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Per operation: count, p50 and p99 in ms, and how many answers had each status."""
    summary = {}
    for op in sorted({r.op for r in records}):
        latencies = sorted(r.latency_ms for r in records if r.op == op)
        statuses: dict[str, int] = {}
        for r in records:
            if r.op == op:
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
        summary[op] = {
            "count": len(latencies),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "statuses": statuses,
        }
    return summary


# --- operations ------------------------------------------------------------------------------

HEALTH = ({"status": "ok", "database": "ok"}, {"status": "unavailable", "database": "unavailable"})


def is_error_body(data: Any, code: str | None = None) -> bool:
    """``{"error": {"code", "message", "details"}}``, optionally with a given code."""
    error = data.get("error") if isinstance(data, dict) and set(data) == {"error"} else None
    if not isinstance(error, dict) or not {"code", "message", "details"} <= set(error):
        return False
    return code in (None, error["code"])


def send(client: Client, op: str, method: str, path: str, body: Any = None, ok=None, key=None):
    """One request, judged: the body has the shape its status promises (on success: a JSON
    object for which ``ok`` holds; 503: the error ``database_unavailable``). (Record, body)."""
    started = time.time()
    status, data, ms = client.request(method, path, body, auth=path != "/health")
    if path == "/health":
        good = status in (200, 503) and data == HEALTH[status == 503]
    elif status >= 400:
        good = is_error_body(data, "database_unavailable" if status == 503 else None)
    else:
        good = status != 0 and isinstance(data, dict) and (ok is None or ok(data))
    return Record(op, started, ms, status, good, key), data


@dataclass(frozen=True)
class ReadTherapist:
    therapists: int  # ids 1..therapists exist

    def __call__(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        tid = rng.randint(1, self.therapists)
        ok = lambda d: d.get("id") == tid  # noqa: E731
        return send(client, "GET /api/therapists/{id}", "GET", f"/api/therapists/{tid}", ok=ok)[0]


# Telephone hours a write picks by its sequence number, so every stored row tells which write
# it came from in all three fields (a half-applied write would not match).
AVAILABILITY_VARIANTS: tuple[dict[str, Any], ...] = (
    {"monday": [{"start": "09:00", "end": "12:00"}]},
    {
        "tuesday": [{"start": "10:00", "end": "11:00"}],
        "friday": [{"start": "08:00", "end": "09:30"}],
    },
    {},
)
NOTES_PREFIX = "drill write "


def availability_write(index: int, seq: int) -> dict[str, Any]:
    return {
        "telefonische_erreichbarkeit": AVAILABILITY_VARIANTS[seq % len(AVAILABILITY_VARIANTS)],
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
    return [notes, available, hours] == list(write.values())[::-1]


@dataclass(frozen=True)
class UpdateAvailability:
    """Client process ``index`` writes only therapist ``first_id + index``, so the order of its
    acknowledged writes is known."""

    first_id: int

    def __call__(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        write = availability_write(index, seq)
        path = f"/api/therapists/{self.first_id + index}/availability"
        notes = write["potentially_available_notes"]
        ok = lambda d: d.get("potentially_available_notes") == notes  # noqa: E731
        op = "PUT /api/therapists/{id}/availability"
        return send(client, op, "PUT", path, write, ok, key=f"{index}:{seq}")[0]


@dataclass(frozen=True)
class Health:
    def __call__(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        return send(client, "GET /health", "GET", "/health")[0]


@dataclass
class PhoneCalls:
    """Bookings, status changes and the call sheet. One instance is shared by its operations in
    a client process (pickling keeps shared references), so a status change ends a call this
    client booked. 409 answers (no free slot, call already ended) are legitimate."""

    therapists: int
    booked: list[int] = field(default_factory=list)

    def book(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        body = {"therapist_id": rng.randint(1, self.therapists)}
        ok = lambda d: isinstance(d.get("id"), int)  # noqa: E731
        record, data = send(client, "POST /api/phone-calls", "POST", "/api/phone-calls", body, ok)
        if record.status == 201 and record.body_ok:
            self.booked.append(data["id"])
        return record

    def end(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        if not self.booked:
            return self.book(client, rng, index, seq)
        path = f"/api/phone-calls/{self.booked.pop(rng.randrange(len(self.booked)))}"
        body = {"status": rng.choice(("completed", "failed", "canceled"))}
        return send(client, "PUT /api/phone-calls/{id}", "PUT", path, body)[0]

    def sheet(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
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
    columns = "therapist_id, notes, potentially_available, hours"
    audit = sql(url, f"SELECT {columns} FROM public.drill_audit ORDER BY id")
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
