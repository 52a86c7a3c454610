"""gunicorn settings: sync workers, about one per core (Python CPU is the bottleneck)."""

import os

# gunicorn put the working directory on sys.path before reading this file. The when_ready hook
# (in the master, before any worker starts) stops with one line on settings the app would
# refuse (no DATABASE_URL), warns about an empty API_TOKENS, and prints run-local's banner.
from communication_service.serving import when_ready, worker_count  # noqa: F401

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # the one way to choose the address
# WEB_CONCURRENCY, else one per CPU of the container's quota (cgroup cpu.max), not the host's.
workers = worker_count()
worker_class = "sync"
# No control socket (gunicornc): it would be created under $HOME, which need not be writable.
control_socket_disable = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Recycle workers now and then so a slow leak can never grow without bound. A recycle costs
# the new worker ~2 s of CPU (importing the app, preparing its reads): every 20,000 requests
# that was ~0.1 ms per request, and under load a stall of both workers about every minute
# (they reach the count together). Every 200,000 it is ~0.01 ms; the jitter keeps the two
# workers from recycling at the same moment.
max_requests = 200_000
max_requests_jitter = 50_000
# Workers touch a heartbeat file on every request; on a disk-backed temp directory (a
# container's overlay filesystem) that call can block a worker (gunicorn FAQ, "Blocking OS
# calls"). /dev/shm is memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The app writes one log line per request itself (without query strings), so no access log.
accesslog = None
errorlog = "-"

# LOG_FORMAT=json: gunicorn's own lines (start-up, worker exits) are JSON objects too, so a
# container's log collector reads every line of stderr as one object. The access log stays off
# (its lines would carry query strings); the app logs each request itself.
if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    import logging

    logging.captureWarnings(True)  # Python warnings of the master process become JSON too
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "communication_service.logging_setup.JsonFormatter"}},
        "handlers": {
            "stderr_json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "WARNING", "handlers": ["stderr_json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr_json"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


# Prometheus multiprocess mode (communication_service/metrics.py): every worker writes its
# figures into one directory and a scrape of /metrics adds them up. The directory is made
# here, in the master, before any worker imports prometheus_client (it reads the variable
# at import); an operator may give one instead.
_made_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="comm-metrics-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )


def on_starting(server):
    """Figures of an earlier server in the same directory are not this server's."""
    import pathlib

    for stale in pathlib.Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A finished worker's gauges go; its counters stay in the sums (multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        import shutil

        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
