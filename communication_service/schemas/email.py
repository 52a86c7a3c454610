"""Emails, the requests they carry, responses and a request's communication history."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from communication_service.models import EmailStatus
from communication_service.schemas.common import HourMinute, StrictBoolean, UtcDateTime

PG_INTEGER_MAX = 2**31 - 1
ID_RANGE = validate.Range(min=1, max=PG_INTEGER_MAX)
PRIORITY_RANGE = validate.Range(min=1, max=10_000)
# Longest texts accepted. Together (JSON-escaped, up to 6 bytes a character) they stay below
# MAX_CONTENT_LENGTH, so a body within the documented limits is never refused with a 413.
SUBJECT_MAX = 255
BODY_TEXT_MAX = 40_000
BODY_HTML_MAX = 80_000
NOTES_MAX = 10_000
RESPONSE_MAX = 50_000
OUTCOMES = ("accepted", "rejected")
# Staff create emails as drafts or queue them at once; the sender owns the other states.
CREATABLE_STATUSES = (EmailStatus.DRAFT.value, EmailStatus.QUEUED.value)


def plausible_year(value: Any) -> None:
    """Keeps timestamps convertible to UTC (year 1 minus an offset does not exist)."""
    if not 1900 <= value.year <= 2999:
        raise ValidationError("Must be between the years 1900 and 2999.")


class JsonId(fields.Integer):
    """A row id in a JSON body: an integer 1 … 2^31-1, not ``"5"``, ``5.5`` or ``true``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=ID_RANGE, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def _id(**kwargs: Any) -> fields.Integer:
    return JsonId(**kwargs)


class QueryBoolean(fields.Boolean):
    """``true``/``false`` (or ``1``/``0``) in a query string."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


# --- output -----------------------------------------------------------------------------------


class EmailBatchSchema(Schema):
    id = fields.Integer()
    email_id = fields.Integer()
    placement_request_id = fields.Integer()
    priority = fields.Integer(allow_none=True)
    created_at = UtcDateTime(allow_none=True)


class EmailSummarySchema(Schema):
    """An email without its bodies (list items)."""

    id = fields.Integer()
    therapist_id = fields.Integer()
    subject = fields.String()
    recipient_email = fields.String()
    recipient_name = fields.String(allow_none=True)
    sender_email = fields.String(allow_none=True)
    sender_name = fields.String(allow_none=True)
    status = fields.String()
    batch_id = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    queued_at = UtcDateTime(allow_none=True)
    sent_at = UtcDateTime(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)
    retry_count = fields.Integer()
    error_message = fields.String(allow_none=True)
    response_received = fields.Boolean(allow_none=True)
    response_date = UtcDateTime(allow_none=True)
    response_content = fields.String(allow_none=True)
    follow_up_required = fields.Boolean(allow_none=True)
    follow_up_notes = fields.String(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)


class EmailSchema(EmailSummarySchema):
    """One email with its bodies and the requests it carries (by priority)."""

    body_text = fields.String()
    body_html = fields.String(allow_none=True)
    batches = fields.List(fields.Nested(EmailBatchSchema))


class EmailResponseResultSchema(EmailSchema):
    canceled_follow_up_call_ids = fields.List(
        fields.Integer(), metadata={"description": "Scheduled follow-up calls canceled (rule 10)."}
    )


class CommunicationSchema(Schema):
    """One email or phone call that carried a placement request."""

    type = fields.String(metadata={"enum": ["email", "phone_call"]})
    id = fields.Integer()
    therapist_id = fields.Integer()
    status = fields.String()
    priority = fields.Integer(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    # emails
    subject = fields.String(allow_none=True)
    queued_at = UtcDateTime(allow_none=True)
    sent_at = UtcDateTime(allow_none=True)
    response_received = fields.Boolean(allow_none=True)
    response_date = UtcDateTime(allow_none=True)
    # phone calls (wall-clock date and time in TIMEZONE)
    scheduled_date = fields.Date(allow_none=True)
    scheduled_time = HourMinute(allow_none=True)
    discussed = fields.Boolean(allow_none=True)
    outcome = fields.String(allow_none=True)


# --- input ------------------------------------------------------------------------------------


class EmailCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    therapist_id = _id(required=True)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=SUBJECT_MAX))
    body_text = fields.String(required=True, validate=validate.Length(min=1, max=BODY_TEXT_MAX))
    body_html = fields.String(allow_none=True, validate=validate.Length(max=BODY_HTML_MAX))
    placement_request_ids = fields.List(
        _id(),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={
            "description": "Requests carried by the email; list order is the priority.",
            "uniqueItems": True,
        },
    )
    status = fields.String(
        load_default=EmailStatus.DRAFT.value, validate=validate.OneOf(CREATABLE_STATUSES)
    )

    @validates_schema(skip_on_field_errors=True)
    def no_duplicate_requests(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[int] = set()
        errors: dict[int, list[str]] = {}
        for index, request_id in enumerate(data["placement_request_ids"]):
            if request_id in seen:
                errors[index] = [f"Duplicate placement request {request_id}."]
            seen.add(request_id)
        if errors:
            raise ValidationError({"placement_request_ids": errors})


class EmailUpdateSchema(Schema):
    """Content while ``draft``/``queued``; status draft <-> queued, or failed -> queued."""

    class Meta:
        unknown = RAISE

    subject = fields.String(validate=validate.Length(min=1, max=SUBJECT_MAX))
    body_text = fields.String(validate=validate.Length(min=1, max=BODY_TEXT_MAX))
    body_html = fields.String(allow_none=True, validate=validate.Length(max=BODY_HTML_MAX))
    status = fields.String(validate=validate.OneOf(CREATABLE_STATUSES))

    @validates_schema
    def something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one of subject, body_text, body_html, status.")


class EmailBatchCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    placement_request_id = _id(required=True)
    priority = fields.Integer(
        strict=True,
        validate=PRIORITY_RANGE,
        metadata={"description": "Rank in the email (1 = first); default: after the last."},
    )


class EmailResponseSchema(Schema):
    class Meta:
        unknown = RAISE

    response_content = fields.String(allow_none=True, validate=validate.Length(max=RESPONSE_MAX))
    response_date = fields.DateTime(
        validate=plausible_year,
        metadata={"description": "When the reply arrived; default now. Naive means TIMEZONE."},
    )
    follow_up_required = StrictBoolean()
    follow_up_notes = fields.String(allow_none=True, validate=validate.Length(max=NOTES_MAX))
    outcomes = fields.Dict(
        keys=fields.Integer(validate=ID_RANGE),
        values=fields.String(validate=validate.OneOf(OUTCOMES)),
        load_default=dict,
        metadata={"description": "{placement_request_id: 'accepted' | 'rejected'} (rule 9)."},
    )
