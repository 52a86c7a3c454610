"""What operators watch, counted as it happens (``GET /metrics``: ``api/metrics.py``).

- Requests by route pattern, method and status, and their latency by route (recorded by the
  request log hook, ``logging_setup.py``); job runs by job and result (``cli.run_job``).

gunicorn runs several worker processes: ``gunicorn.conf.py`` gives them one
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), and a scrape adds up
the figures of every worker, whichever answers it. A ``comm`` job counts its run there too
when it runs with that directory (the same container); elsewhere its exit status and its
JSON summary line are what a scheduler watches.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "comm_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "comm_http_request_duration_seconds",
    "Time from the request's arrival to its answer, by route pattern.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
JOB_RUNS = Counter("comm_job_runs", "comm job runs, by job and result.", ["job", "result"])


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def record_job(job: str, result: str) -> None:
    JOB_RUNS.labels(job, result).inc()
