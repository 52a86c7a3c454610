"""Request parsing: every input goes through a Marshmallow schema (422 names field and rule)."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema
from werkzeug.exceptions import BadRequest

from communication_service.errors import ApiError, UnsupportedMediaType


def parse_body(schema: Schema) -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType(
            "The request body must be JSON.", details={"Content-Type": "application/json"}
        )
    try:
        payload = request.get_json()
    except BadRequest:
        raise ApiError("The request body is not valid JSON.", code="invalid_json") from None
    return schema.load(payload)


def parse_query(schema: Schema) -> dict[str, Any]:
    # Repeated parameters keep their last value; unknown ones are rejected by the schema.
    return schema.load(request.args.to_dict())
