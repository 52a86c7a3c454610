"""Schemas of the API's own bodies: the one error format and the health answer."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ErrorBodySchema(Schema):
    code = fields.String(
        required=True,
        metadata={"description": "Stable machine-readable code, e.g. `validation_failed`."},
    )
    message = fields.String(required=True, metadata={"description": "Human-readable summary."})
    details = fields.Dict(
        required=True,
        metadata={
            "description": "For 422: field paths (`telefonische_erreichbarkeit.monday.1.end`) "
            "mapped to lists of messages; otherwise extra facts about the error (may be empty)."
        },
    )


class ErrorSchema(Schema):
    """Every error response: ``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorBodySchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))
    database = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))
