"""One error format for every response: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from communication_service.errors import ApiError
from communication_service.schemas.api import ErrorSchema

log = logging.getLogger(__name__)
error_schema = ErrorSchema()


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> ResponseReturnValue:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return jsonify(error_schema.dump(body)), status


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> ResponseReturnValue:
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(ValidationError)
    def handle_validation_error(error: ValidationError) -> ResponseReturnValue:
        return error_response(
            422, "validation_failed", "The request is not valid.", flatten_messages(error.messages)
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            body, status = response  # type: ignore[misc]
            body.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
            return body, status
        return response

    @app.errorhandler(DBAPIError)
    def handle_database_unavailable(error: DBAPIError) -> ResponseReturnValue:
        # A lost connection is not always an OperationalError: psycopg2 reports some
        # disconnects as DatabaseError/InterfaceError; SQLAlchemy marks all of them
        # ``connection_invalidated``. Refused connections are OperationalErrors with no
        # connection to invalidate, recognised by their message.
        lost = error.connection_invalidated or (
            isinstance(error, OperationalError) and _is_connection_error(error)
        )
        if not lost:
            return handle_unexpected(error)
        log.warning("database unavailable: %s", type(error.orig).__name__)
        return error_response(503, "database_unavailable", "The database is not reachable.")

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> ResponseReturnValue:
        # The type only: messages of database errors may quote SQL or patient data.
        log.error("unhandled %s", type(error).__name__, exc_info=not isinstance(error, DBAPIError))
        return error_response(500, "internal_error", "An unexpected error occurred.")


def _is_connection_error(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(
        marker in text
        for marker in (
            "connection",
            "could not connect",
            "terminating",
            "server closed",
            "shutting down",
        )
    )


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"monday": {1: {"end": [...]}}}`` → ``{"monday.1.end": [...]}`` (the error places
    of docs/rules.md, "Telephone hours")."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, path))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": list(messages)}
    if isinstance(messages, list):
        flat = {}
        for item in messages:
            flat.update(flatten_messages(item, prefix))
        return flat
    return {prefix or "_schema": [str(messages)]}
