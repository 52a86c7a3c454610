"""Domain errors; the API turns each into the one JSON error format (``api/errors.py``)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details or {}


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "validation_failed"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
