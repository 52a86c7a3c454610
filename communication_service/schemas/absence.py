"""Therapist absences (docs/rules.md rule 13): input and output."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from communication_service.models.therapist_absence import MAX_ABSENCE_DAYS
from communication_service.schemas.common import IsoDate, UtcDateTime
from communication_service.schemas.email import plausible_year

NOTE_LIMIT = validate.Length(max=10_000)


class TherapistAbsenceSchema(Schema):
    id = fields.Integer()
    therapist_id = fields.Integer()
    starts_on = fields.Date(metadata={"description": "The first day away."})
    ends_on = fields.Date(metadata={"description": "The last day away (inclusive)."})
    note = fields.String(allow_none=True)
    created_at = UtcDateTime()


class TherapistAbsenceCreateResultSchema(TherapistAbsenceSchema):
    moved_call_ids = fields.List(
        fields.Integer(),
        metadata={
            "description": "The therapist's automatic calls on the absent days, moved to the "
            "first free slot after the absence (same attempt, a note why)."
        },
    )
    canceled_call_ids = fields.List(
        fields.Integer(),
        metadata={
            "description": "Automatic calls on the absent days that no free slot after the "
            "absence could take (or whose therapist is no longer active): canceled, their "
            "requests flagged for staff."
        },
    )
    kept_staff_call_ids = fields.List(
        fields.Integer(),
        metadata={
            "description": "Calls staff booked on the absent days, left for staff to decide."
        },
    )


class TherapistAbsenceCreateSchema(Schema):
    starts_on = IsoDate(
        required=True, validate=plausible_year, metadata={"description": "The first day away."}
    )
    ends_on = IsoDate(
        required=True,
        validate=plausible_year,
        metadata={
            "description": f"The last day away (inclusive); at most {MAX_ABSENCE_DAYS} days "
            "after starts_on, counting both."
        },
    )
    note = fields.String(
        allow_none=True,
        validate=NOTE_LIMIT,
        metadata={"description": "Why (holiday, illness, parental leave, ...)."},
    )

    @validates_schema(skip_on_field_errors=True)
    def a_range_of_days(self, data: dict[str, Any], **kwargs: Any) -> None:
        days = (data["ends_on"] - data["starts_on"]).days + 1
        if days < 1:
            raise ValidationError("Must not be before starts_on.", "ends_on")
        if days > MAX_ABSENCE_DAYS:
            raise ValidationError(
                f"An absence lasts at most {MAX_ABSENCE_DAYS} days; this one has {days}.",
                "ends_on",
            )
