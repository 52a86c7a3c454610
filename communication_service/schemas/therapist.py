"""Therapists: output (with the contact state), the list's query and the availability update."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from communication_service.models import TherapistStatus
from communication_service.schemas.availability import AvailabilitySchema
from communication_service.schemas.common import (
    Choice,
    HourMinute,
    PageQuerySchema,
    QueryBoolean,
    StrictBoolean,
)
from communication_service.services.slots import telephone_hours
from communication_service.services.therapists import MAX_SEARCH_WORDS, search_words


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


class NextCallSchema(Schema):
    id = fields.Integer()
    scheduled_date = fields.Date()
    scheduled_time = HourMinute()


class ContactStateSchema(Schema):
    """Where contact with the therapist stands, by the rules the jobs apply (docs/rules.md)."""

    has_email = fields.Boolean(
        metadata={"description": "An email address is on file (else calls: rule 6)."}
    )
    last_email_contact = fields.Date(
        allow_none=True, metadata={"description": "letzter_kontakt_email (rule 11)."}
    )
    last_phone_contact = fields.Date(
        allow_none=True, metadata={"description": "letzter_kontakt_telefon (rule 11)."}
    )
    next_email_allowed_on = fields.Date(
        allow_none=True,
        metadata={
            "description": "Rule 4: the first day a batching email may go out again; null "
            "when one may go out today."
        },
    )
    cooling_until = fields.Date(
        allow_none=True,
        metadata={
            "description": "Rule 9: the first day automatic contact is allowed again "
            "(rejection day + COOLING_PERIOD_DAYS); null when not cooling."
        },
    )
    open_requests = fields.Integer(metadata={"description": "Requests with status open."})
    open_requests_not_contacted = fields.Integer(
        metadata={"description": "Open requests in no email and on no live call (waiting)."}
    )
    next_scheduled_call = fields.Nested(
        NextCallSchema,
        allow_none=True,
        metadata={"description": "The next scheduled call that has not started yet."},
    )


class TherapistContactSchema(TherapistSchema):
    """A therapist with their contact state (the list and ``GET /api/therapists/{id}``)."""

    contact_state = fields.Nested(ContactStateSchema)


class TherapistListQuerySchema(PageQuerySchema):
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={
            "description": "Name search: every word (at most 5) a part of 'nachname vorname'; "
            "case, accents and umlauts ignored (mueller, muller and Müller find Müller)."
        },
    )
    status = Choice(TherapistStatus)
    potentially_available = QueryBoolean()
    has_open_requests = QueryBoolean(
        metadata={"description": "Only therapists with (or without) an open request."}
    )

    @validates_schema(skip_on_field_errors=True)
    def few_words(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(search_words(data.get("q", ""))) > MAX_SEARCH_WORDS:
            raise ValidationError(f"At most {MAX_SEARCH_WORDS} words.", "q")


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
