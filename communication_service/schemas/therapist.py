"""Therapist output and the availability update."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from communication_service.models import TherapistStatus
from communication_service.schemas.availability import AvailabilitySchema
from communication_service.schemas.common import Choice, StrictBoolean
from communication_service.services.slots import telephone_hours


class TelephoneHours(fields.Nested):
    """``telefonische_erreichbarkeit`` on the way out: the schema the update takes
    (``Availability``), filled with the hours as the rules read them; other services write the
    column directly, so what is stored may not have that shape."""

    dump_value = staticmethod(telephone_hours)  # the fast dumper's path (schemas/dumping.py)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(AvailabilitySchema, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else telephone_hours(value)


class TherapistSchema(Schema):
    id = fields.Integer()
    anrede = fields.String(allow_none=True)
    titel = fields.String(allow_none=True)
    vorname = fields.String()
    nachname = fields.String()
    email = fields.String(allow_none=True)
    telefon = fields.String(allow_none=True)
    telefonische_erreichbarkeit = TelephoneHours(
        allow_none=True, metadata={"description": "null or {}: no telephone hours."}
    )
    status = Choice(TherapistStatus, allow_none=True)
    letzter_kontakt_email = fields.Date(allow_none=True)
    letzter_kontakt_telefon = fields.Date(allow_none=True)
    potentially_available = fields.Boolean(allow_none=True)
    potentially_available_notes = fields.String(allow_none=True)
    # Dates: the therapist service keeps the day, not the moment.
    created_at = fields.Date(allow_none=True)
    updated_at = fields.Date(allow_none=True)


class AvailabilityUpdateSchema(Schema):
    telefonische_erreichbarkeit = fields.Nested(AvailabilitySchema)
    potentially_available = StrictBoolean()
    potentially_available_notes = fields.String(
        allow_none=True, validate=validate.Length(max=10_000)
    )

    @validates_schema
    def something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data and not kwargs.get("partial"):
            raise ValidationError(
                "Give at least one of telefonische_erreichbarkeit, potentially_available, "
                "potentially_available_notes."
            )
