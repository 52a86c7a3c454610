"""Phone calls, their batches, free slots and the daily call sheet: input and output."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from communication_service.models import CallBookedBy, PhoneCallStatus, PlacementRequestStatus
from communication_service.schemas.common import (
    Choice,
    HourMinute,
    IsoDate,
    PageQuerySchema,
    RowId,
    StrictBoolean,
    StrictInteger,
    UniqueList,
    UtcDateTime,
)
from communication_service.services.scheduling import MAX_CALL_MINUTES

BATCH_OUTCOMES = ("accepted", "rejected", "undecided")
BATCH_OUTCOME = "BatchOutcome"  # the name of that set in the OpenAPI document
FINAL_STATUSES = (PhoneCallStatus.COMPLETED, PhoneCallStatus.FAILED, PhoneCallStatus.CANCELED)
MAX_REQUESTS_PER_CALL = 100
MAX_SLOT_DAYS = 92
TEXT_LIMIT = validate.Length(max=10_000)

_duration = validate.Range(min=1, max=MAX_CALL_MINUTES)


# ---------------------------------------------------------------------------- output


class FreeSlotSchema(Schema):
    date = fields.Date()
    start = HourMinute()
    end = HourMinute()


class PhoneCallBatchSchema(Schema):
    id = fields.Integer()
    phone_call_id = fields.Integer()
    placement_request_id = fields.Integer()
    priority = fields.Integer(allow_none=True)
    discussed = fields.Boolean(allow_none=True)
    outcome = Choice(BATCH_OUTCOMES, name=BATCH_OUTCOME, allow_none=True)
    follow_up_required = fields.Boolean(allow_none=True)
    follow_up_notes = fields.String(allow_none=True)
    created_at = UtcDateTime(allow_none=True)


class CallEffectsSchema(Schema):
    """What a write that records outcomes or a reply did to other calls."""

    canceled_call_ids = fields.List(
        fields.Integer(),
        metadata={
            "description": "Every call this write canceled: a rejecting therapist's automatic "
            "calls inside the cooling period (rule 9) and, for a reply, the email's follow-up "
            "calls (rule 10)."
        },
    )
    kept_staff_call_ids = fields.List(
        fields.Integer(),
        metadata={
            "description": "Staff-booked calls inside the cooling period, left for staff to "
            "decide (rule 9)."
        },
    )


class WithdrawnSchema(Schema):
    email_ids = fields.List(fields.Integer())
    phone_call_ids = fields.List(fields.Integer())
    placement_request_ids = fields.List(fields.Integer())


class PlacementEffectsSchema(CallEffectsSchema):
    withdrawn = fields.Nested(
        WithdrawnSchema,
        metadata={
            "description": "An acceptance places the patient: their other requests were taken "
            "off unsent emails and scheduled calls; emails and calls left empty were withdrawn "
            "or canceled."
        },
    )


class PhoneCallBatchUpdateResultSchema(PhoneCallBatchSchema, PlacementEffectsSchema):
    pass


class PhoneCallSchema(Schema):
    id = fields.Integer()
    therapist_id = fields.Integer()
    scheduled_date = fields.Date()
    scheduled_time = HourMinute()
    duration_minutes = fields.Integer()
    within_availability = fields.Boolean(
        metadata={"description": "The call lies wholly inside one of the therapist's windows."}
    )
    absent = fields.Boolean(
        metadata={
            "description": "The therapist is away on the call's day (an absence covers it, "
            "rule 13); only staff book such a time."
        }
    )
    status = Choice(PhoneCallStatus)
    overdue = fields.Boolean(
        metadata={"description": "Still scheduled after its end has passed: nobody closed it."}
    )
    attempt = fields.Integer()
    previous_call_id = fields.Integer(allow_none=True)
    follow_up_email_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The email this call follows up (its re-plans name it too)."},
    )
    booked_by = Choice(
        CallBookedBy,
        metadata={
            "description": "staff: booked through the API; automatic: booked by a job or "
            "re-planned after a failed call (rule 9 cancels these, never staff's)."
        },
    )
    actual_date = fields.Date(allow_none=True)
    actual_time = HourMinute(allow_none=True)
    outcome = fields.String(
        allow_none=True, metadata={"description": "How the call went, in the staff's words."}
    )
    notes = fields.String(allow_none=True)
    retry_after = fields.Date(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)
    batches = fields.List(fields.Nested(PhoneCallBatchSchema))


class PhoneCallCreateResultSchema(PhoneCallSchema):
    notice = fields.String(
        allow_none=True,
        metadata={
            "description": "Booked without placement_request_ids: which requests the call "
            "carries, or that there is nothing to discuss."
        },
    )


class PhoneCallUpdateResultSchema(PhoneCallSchema):
    replanned_call_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The call planned after this one failed (rule 8), if any."},
    )


class CallSheetTherapistSchema(Schema):
    id = fields.Integer()
    anrede = fields.String(allow_none=True)
    titel = fields.String(allow_none=True)
    vorname = fields.String(allow_none=True)
    nachname = fields.String()
    telefon = fields.String(allow_none=True)
    potentially_available = fields.Boolean(allow_none=True)
    potentially_available_notes = fields.String(allow_none=True)


class CallSheetPatientSchema(Schema):
    id = fields.Integer()
    vorname = fields.String(allow_none=True)
    nachname = fields.String()
    geburtsdatum = fields.Date(allow_none=True)
    diagnose = fields.String(allow_none=True)
    startdatum = fields.Date(allow_none=True)


class CallSheetBatchSchema(PhoneCallBatchSchema):
    placement_request_status = Choice(PlacementRequestStatus, allow_none=True)
    patient = fields.Nested(CallSheetPatientSchema)


class CallSheetCallSchema(PhoneCallSchema):
    therapist = fields.Nested(CallSheetTherapistSchema)
    batches = fields.List(fields.Nested(CallSheetBatchSchema))


# ---------------------------------------------------------------------------- input


class SlotQuerySchema(Schema):
    from_date = IsoDate(
        data_key="from", load_default=None, metadata={"description": "First day (default today)."}
    )
    days = StrictInteger(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_SLOT_DAYS),
        metadata={"description": "How many days (default SCHEDULING_HORIZON_DAYS)."},
    )
    duration = StrictInteger(
        load_default=None,
        validate=_duration,
        metadata={"description": "Call length in minutes (default 5)."},
    )


class PhoneCallCreateSchema(Schema):
    therapist_id = RowId(required=True)
    scheduled_date = IsoDate()
    scheduled_time = HourMinute()
    duration_minutes = StrictInteger(validate=_duration)
    notes = fields.String(allow_none=True, validate=TEXT_LIMIT)
    placement_request_ids = UniqueList(
        RowId(),
        validate=validate.Length(max=MAX_REQUESTS_PER_CALL),
        metadata={
            "description": "The requests to discuss; list order is their priority. Left out: "
            "the therapist's open requests not on another scheduled call or unsent email, "
            "longest waiting first (at most MAX_PATIENTS_PER_EMAIL); [] for a call about "
            "capacity only."
        },
    )
    not_before = IsoDate(
        metadata={"description": "Automatic scheduling: the earliest day for the call."}
    )

    @validates_schema(skip_on_field_errors=True)
    def date_and_time_together(self, data: dict[str, Any], **kwargs: Any) -> None:
        explicit = {"scheduled_date", "scheduled_time"} & set(data)
        if len(explicit) == 1:
            missing = ({"scheduled_date", "scheduled_time"} - explicit).pop()
            raise ValidationError("Required together with " + explicit.pop() + ".", missing)
        if explicit and "not_before" in data:
            raise ValidationError(
                "Only without scheduled_date (automatic scheduling).", "not_before"
            )


class PhoneCallUpdateSchema(Schema):
    scheduled_date = IsoDate()
    scheduled_time = HourMinute()
    duration_minutes = StrictInteger(validate=_duration)
    notes = fields.String(allow_none=True, validate=TEXT_LIMIT)
    outcome = fields.String(
        allow_none=True,
        validate=TEXT_LIMIT,
        metadata={"description": "How the call went, in the staff's words."},
    )
    actual_date = IsoDate(allow_none=True)
    actual_time = HourMinute(allow_none=True)
    status = Choice(
        PhoneCallStatus,
        metadata={"description": "Only scheduled → completed, failed or canceled."},
    )
    retry_after = IsoDate(
        allow_none=True,
        metadata={"description": "With status failed: plan the next call not before this day."},
    )

    @validates_schema(skip_on_field_errors=True)
    def consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.")
        moves = {"scheduled_date", "scheduled_time", "duration_minutes"} & set(data)
        if moves and data.get("status", PhoneCallStatus.SCHEDULED) != PhoneCallStatus.SCHEDULED:
            raise ValidationError(
                "A call is moved or ended, not both in one request.", sorted(moves)[0]
            )


class PhoneCallListQuerySchema(PageQuerySchema):
    """Filters and page of the call list."""

    therapist_id = RowId()
    status = Choice(PhoneCallStatus)
    scheduled_date = IsoDate()
    date_from = IsoDate()
    date_to = IsoDate()
    follow_up_required = fields.Boolean(
        metadata={"description": "Only calls with (or without) a request flagged for staff."}
    )
    overdue = fields.Boolean(
        metadata={
            "description": "Only calls still scheduled after their end (or only those that "
            "are not)."
        }
    )

    @validates_schema(skip_on_field_errors=True)
    def range_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "date_from" in data and "date_to" in data and data["date_to"] < data["date_from"]:
            raise ValidationError("Must not be before date_from.", "date_to")


class CallSheetQuerySchema(PageQuerySchema):
    """The day of the call sheet, and the page."""

    date = IsoDate(load_default=None, metadata={"description": "The day (default today)."})
    status = Choice(PhoneCallStatus)


class PhoneCallBatchUpdateSchema(Schema):
    discussed = StrictBoolean()
    outcome = Choice(
        BATCH_OUTCOMES,
        name=BATCH_OUTCOME,
        metadata={"description": "accepted/rejected update the placement request (rule 9)."},
    )
    follow_up_required = StrictBoolean()
    follow_up_notes = fields.String(allow_none=True, validate=TEXT_LIMIT)

    @validates_schema
    def something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError(
                "Give at least one of discussed, outcome, follow_up_required, follow_up_notes."
            )
