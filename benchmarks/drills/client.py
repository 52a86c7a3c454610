"""A bounded load client for the drills: several processes, keep-alive ``http.client``
connections, a fixed deadline, every request recorded (start time, status, latency, whether
the body had the promised shape).

wrk gives the benchmark figures; the drills need to *check* each answer (bodies, which write
was acknowledged), so they use this client. It only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.infra import API_TOKEN

CONNECTION_FAILED = 0  # the status recorded when no HTTP answer came back at all


@dataclass(frozen=True)
class Record:
    op: str
    started: float  # time.time() when the request was sent
    latency_ms: float
    status: int
    body_ok: bool  # the body had the shape the status promises (JSON error format, ...)
    key: str | None = None  # what a write carried (e.g. "client:seq"), to check acknowledgements


class Client:
    """One keep-alive connection to 127.0.0.1:port, reopened whenever the server closed it."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True
    ) -> tuple[int, Any, float]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if auth else {}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        for _attempt in (1, 2):
            reused = self.connection is not None
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=self.timeout
                    )
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                if response.will_close:
                    self._close()
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                return response.status, data, (time.perf_counter() - started) * 1000
            except (OSError, http.client.HTTPException):
                self._close()
                # Only a kept-alive connection the server had already closed is retried, once,
                # on a new one. A failure on a fresh connection is recorded as a failure.
                if not reused:
                    break
        return CONNECTION_FAILED, None, (time.perf_counter() - started) * 1000

    def _close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def is_error_body(data: Any, code: str | None = None) -> bool:
    """``{"error": {"code", "message", "details"}}``, optionally with a given code."""
    if not isinstance(data, dict) or set(data) != {"error"}:
        return False
    error = data["error"]
    shape = isinstance(error, dict) and {"code", "message", "details"} <= set(error)
    return bool(shape and (code is None or error["code"] == code))


# An operation: (client, random generator, client index, sequence number) -> Record fields.
Operation = Callable[[Client, random.Random, int, int], Record]


@dataclass(frozen=True)
class WeightedOperation:
    name: str
    weight: int
    run: Operation


def _client_process(
    port: int,
    operations: list[WeightedOperation],
    index: int,
    seconds: float,
    go: Any,
    stop: Any,
    ready: Any,
    results: Any,
    pause: float,
) -> None:
    client = Client(port)
    rng = random.Random(index * 7919 + 1)
    weights = [op.weight for op in operations]
    records: list[Record] = []
    seq = 0
    ready.put(index)
    go.wait()  # all clients start together, after every process has started up
    deadline = time.time() + seconds
    while time.time() < deadline and not stop.is_set():
        seq += 1
        (operation,) = rng.choices(operations, weights=weights)
        records.append(operation.run(client, rng, index, seq))
        if pause:
            time.sleep(pause)
    results.put((index, records))


class ClientRun:
    """Client processes running in the background until ``stop()`` or their deadline."""

    def __init__(
        self,
        port: int,
        operations: list[WeightedOperation],
        *,
        processes: int,
        seconds: float,
        pause: float = 0.0,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._results = context.Queue()
        self._stop = context.Event()
        go, ready = context.Event(), context.Queue()
        self._workers = [
            context.Process(
                target=_client_process,
                args=(
                    port,
                    operations,
                    index,
                    seconds,
                    go,
                    self._stop,
                    ready,
                    self._results,
                    pause,
                ),
                daemon=True,
            )
            for index in range(processes)
        ]
        for worker in self._workers:
            worker.start()
        for _ in self._workers:
            ready.get(timeout=120)
        go.set()
        self.started = time.time()
        self.deadline = self.started + seconds

    def stop(self) -> None:
        self._stop.set()

    def collect(self) -> list[Record]:
        """Wait for every client and return all records (read before join: a full pipe would
        block the children)."""
        collected: list[Record] = []
        for _ in self._workers:
            _, records = self._results.get(timeout=max(self.deadline - time.time(), 0) + 120)
            collected.extend(records)
        for worker in self._workers:
            worker.join(timeout=30)
        return collected


def run_clients(
    port: int,
    operations: list[WeightedOperation],
    *,
    processes: int,
    seconds: float,
    pause: float = 0.0,
) -> list[Record]:
    """Run ``processes`` client processes for ``seconds``; return every request's record."""
    return ClientRun(port, operations, processes=processes, seconds=seconds, pause=pause).collect()


def latency_summary(records: list[Record]) -> dict[str, Mapping[str, float]]:
    """Per operation: count, p50 and p99 in ms, and how many answers had each status."""
    by_op: dict[str, list[Record]] = {}
    for record in records:
        by_op.setdefault(record.op, []).append(record)
    summary: dict[str, Mapping[str, float]] = {}
    for op, items in sorted(by_op.items()):
        latencies = sorted(r.latency_ms for r in items)
        statuses: dict[str, int] = {}
        for r in items:
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
        summary[op] = {
            "count": len(items),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "statuses": statuses,
        }
    return summary
