"""Logging: one line per request, text or JSON; never bodies, query strings or tokens."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request
from flask.typing import ResponseReturnValue

from communication_service.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"
log = logging.getLogger("communication_service.request")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    service_logger = logging.getLogger("communication_service")
    service_logger.setLevel(settings.log_level.upper())
    if logging.getLogger().handlers:
        # Someone (pytest, an embedding process) already collects logs at the root.
        service_logger.handlers.clear()
        service_logger.propagate = True
    else:
        service_logger.handlers[:] = [handler]
        service_logger.propagate = False


def _safe_request_id(value: str | None) -> str:
    if value and len(value) <= 128 and value.isascii() and value.replace("-", "").isalnum():
        return value
    return uuid.uuid4().hex


def install_request_logging(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()
        g.request_id = _safe_request_id(request.headers.get(REQUEST_ID_HEADER))

    @app.after_request
    def log_request(response: ResponseReturnValue):
        request_id = g.get("request_id") or uuid.uuid4().hex
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
            extra={"fields": fields},
        )
        return response
