"""What ``gunicorn.conf.py`` needs: the worker count and the start-up messages.

Kept out of ``create_app``: flask commands and jobs neither serve HTTP nor fork workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the container may use (its CFS quota), or None when it has no limit.

    cgroup v2: ``cpu.max`` holds ``"<quota> <period>"`` or ``"max <period>"``. cgroup v1:
    ``cpu.cfs_quota_us`` (-1 = no limit) and ``cpu.cfs_period_us`` under ``cpu/`` (or
    ``cpu,cpuacct/``). Inside a container the root of the mount is the container's own group.
    """
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return _ratio(int(quota), int(period))
    except (OSError, ValueError):
        pass
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        directory = cgroup_root / controller
        try:
            quota_us = int((directory / "cpu.cfs_quota_us").read_text())
            period_us = int((directory / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return _ratio(quota_us, period_us)
    return None


def _ratio(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None


def usable_cpus() -> int:
    """CPUs this process may run on (a cpuset narrows it), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(environ: Mapping[str, str] | None = None, cgroup_root: Path = CGROUP_ROOT) -> int:
    """``WEB_CONCURRENCY``, else one sync worker per CPU the container may use.

    A quota of 1.5 CPUs gives 2 workers (rounded up, so the quota can be used), never more
    than the CPUs the process can run on, and at least 1.
    """
    environ = os.environ if environ is None else environ
    configured = environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        return int(configured)
    cpus = usable_cpus()
    quota = cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def when_ready(server: Any) -> None:
    """gunicorn hook, in the master once the sockets are bound, before any worker starts.

    Settings the app would refuse stop the server here with one line (a log line, JSON with
    ``LOG_FORMAT=json``) and exit status 4 (as ``wsgi.py``), not once per worker. An empty
    ``API_TOKENS`` is warned about (only the HTTP server cares). ``LOCAL_BANNER`` (set by
    ``scripts/run-local``) is printed with ``{url}`` replaced by the address actually bound.
    """
    from communication_service.config import ConfigError, Settings
    from communication_service.database import require_database

    try:
        settings = Settings.from_env()
        require_database(settings)
    except ConfigError as error:
        server.log.error("configuration error: %s", error)
        server.halt(exit_status=4)  # gunicorn's own stop: sockets closed, on_exit hooks run
    if not settings.api_tokens:
        server.log.warning("API_TOKENS is empty: every /api request will be answered 401")
    banner = os.environ.get("LOCAL_BANNER")
    if banner:
        urls = [str(listener) for listener in server.LISTENERS]
        print(banner.replace("{url}", urls[0] if urls else "?"), flush=True)
