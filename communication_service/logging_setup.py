"""Logging: one line per request, text or JSON; never bodies, query strings or tokens.

Every line written while a request is handled carries that request's id, so the lines of one
request (and the ``X-Request-ID`` the client saw) can be found together.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from communication_service.config import Settings
from communication_service.metrics import record_request

REQUEST_ID_HEADER = "X-Request-ID"
# What a client may choose as its request id: short, and nothing that could forge a log line
# or a JSON field (no spaces, quotes, control characters or non-ASCII).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
log = logging.getLogger("communication_service.request")


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        # The request log line brings its id along; other lines look it up.
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (for log collectors of containers)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id and request_id != "-":
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # ASCII escapes: still one valid JSON line when a text holds an unpaired surrogate.
        return json.dumps(entry, ensure_ascii=True, default=str)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(settings: Settings) -> None:
    """Send the service's logs (and, where nobody else did, every library's) to stderr.

    When the process already collects logs at the root (pytest, gunicorn's ``logconfig_dict``
    for ``LOG_FORMAT=json``, an embedding program) the service's records just propagate there.
    """
    service_logger = logging.getLogger("communication_service")
    service_logger.setLevel(settings.log_level.upper())
    service_logger.handlers.clear()
    service_logger.propagate = True
    root = logging.getLogger()
    foreign = [h for h in root.handlers if not getattr(h, "communication_service", False)]
    if foreign:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(settings.log_format))
    handler.communication_service = True  # type: ignore[attr-defined]
    root.handlers[:] = [handler]
    # Python warnings become log records, so a JSON log stays one object per line.
    logging.captureWarnings(True)


def _safe_request_id(value: str | None) -> str:
    """The client's request id if it is sane, else a new one (uuid4().hex's 32 hex digits,
    without building a UUID)."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return os.urandom(16).hex()


def install_request_logging(app: Flask) -> None:
    # These run on every request: each proxy (``request``, ``g``) is resolved once.
    @app.before_request
    def start_timer() -> None:
        request_globals = g._get_current_object()
        request_globals.request_started = time.perf_counter()
        request_globals.request_id = _safe_request_id(request.environ.get("HTTP_X_REQUEST_ID"))

    @app.after_request
    def log_request(response: Response) -> Response:
        request_globals = g._get_current_object()
        current = request._get_current_object()
        request_id = getattr(request_globals, "request_id", None)
        if request_id is None:  # a before_request function failed before start_timer
            request_id = request_globals.request_id = _safe_request_id(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        started = getattr(request_globals, "request_started", None)
        elapsed = time.perf_counter() - started if started else 0.0
        elapsed_ms = elapsed * 1000
        # The route pattern, not the path: it carries no ids and no data typed by a user.
        rule = current.url_rule
        route = rule.rule if rule else "<unmatched>"
        method, status = current.method, response.status_code
        record_request(route, method, status, elapsed)
        log.info(
            "%s %s %s %.1fms request_id=%s",
            method,
            route,
            status,
            elapsed_ms,
            request_id,
            extra={
                "fields": {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed_ms, 1),
                    "request_id": request_id,
                },
                "request_id": request_id,
            },
        )
        return response
