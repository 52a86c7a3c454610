"""Logging: one line per request, text or JSON; never bodies, query strings or tokens.

Every line written while a request is handled carries that request's id, so the lines of one
request (and the ``X-Request-ID`` the client saw) can be found together.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, g, has_request_context, request
from flask.typing import ResponseReturnValue

from communication_service.config import Settings

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
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def install_request_logging(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()
        g.request_id = _safe_request_id(request.headers.get(REQUEST_ID_HEADER))

    @app.after_request
    def log_request(response: ResponseReturnValue):
        if "request_id" not in g:  # a before_request function failed before start_timer
            g.request_id = uuid.uuid4().hex
        request_id = g.request_id
        response.headers[REQUEST_ID_HEADER] = request_id
        elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        # The route pattern, not the path: it carries no ids and no data typed by a user.
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        fields = {
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(elapsed_ms, 1),
            "request_id": request_id,
        }
        log.info(
            "%s %s %s %.1fms request_id=%s",
            request.method,
            route,
            response.status_code,
            elapsed_ms,
            request_id,
            extra={"fields": fields, "request_id": request_id},
        )
        return response
