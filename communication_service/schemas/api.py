"""Schemas of the API's own bodies: the one error format and the health answer."""

from __future__ import annotations

from marshmallow import Schema, fields

from communication_service.schemas.common import Choice


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


HEALTH_STATES = ("ok", "unavailable")


class HealthSchema(Schema):
    status = Choice(HEALTH_STATES, name="HealthState", required=True)
    database = Choice(HEALTH_STATES, name="HealthState", required=True)
