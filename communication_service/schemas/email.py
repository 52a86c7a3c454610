"""Emails, the requests they carry, responses and a request's communication history."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from communication_service.models import EmailStatus, PhoneCallStatus
from communication_service.schemas.common import (
    PG_INTEGER_MAX,
    Choice,
    HourMinute,
    IsoDateTime,
    PageQuerySchema,
    QueryBoolean,
    RowId,
    StrictBoolean,
    StrictInteger,
    UniqueList,
    UtcDateTime,
)
from communication_service.schemas.phone_call import (
    BATCH_OUTCOME,
    BATCH_OUTCOMES,
    PlacementEffectsSchema,
)

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
# A communication is an email or a call: its status is one of either's.
SETTABLE_EMAIL_STATUS = "SettableEmailStatus"
COMMUNICATION_STATUSES = tuple(dict.fromkeys(s.value for s in (*EmailStatus, *PhoneCallStatus)))


def plausible_year(value: Any) -> None:
    """Keeps timestamps convertible to UTC (year 1 minus an offset does not exist)."""
    if not 1900 <= value.year <= 2999:
        raise ValidationError("Must be between the years 1900 and 2999.")


ID_KEY_PATTERN = r"^[1-9][0-9]{0,9}$"


class IdKey(fields.String):
    """A row id as a JSON object key (``"12"``): digits, 1 … 2^31-1; loads as an int."""

    default_error_messages = {"invalid_id": "Must be an id (1 … 2147483647) written in digits."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(ID_KEY_PATTERN, text) or int(text) > PG_INTEGER_MAX:
            raise self.make_error("invalid_id")
        return int(text)


class EmailListQuerySchema(PageQuerySchema):
    therapist_id = RowId()
    status = Choice(EmailStatus)
    response_received = QueryBoolean()
    batch_id = fields.String(validate=validate.Length(min=1, max=50))


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
    status = Choice(EmailStatus)
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
    followed_up_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "When its follow-up call was booked (rule 7: only once)."},
    )
    created_at = UtcDateTime(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)


class EmailSchema(EmailSummarySchema):
    """One email with its bodies and the requests it carries (by priority)."""

    body_text = fields.String()
    body_html = fields.String(allow_none=True)
    batches = fields.List(fields.Nested(EmailBatchSchema))


class EmailResponseResultSchema(EmailSchema, PlacementEffectsSchema):
    canceled_follow_up_call_ids = fields.List(
        fields.Integer(),
        metadata={
            "description": "The follow-up calls it canceled (rule 10; in canceled_call_ids too)."
        },
    )


class CommunicationSchema(Schema):
    """One email or phone call that carried a placement request."""

    type = Choice(("email", "phone_call"), name="CommunicationType")
    id = fields.Integer()
    therapist_id = fields.Integer()
    status = Choice(COMMUNICATION_STATUSES, name="CommunicationStatus")
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
    outcome = Choice(BATCH_OUTCOMES, name=BATCH_OUTCOME, allow_none=True)


# --- input ------------------------------------------------------------------------------------


class EmailCreateSchema(Schema):
    therapist_id = RowId(required=True)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=SUBJECT_MAX))
    body_text = fields.String(required=True, validate=validate.Length(min=1, max=BODY_TEXT_MAX))
    body_html = fields.String(allow_none=True, validate=validate.Length(max=BODY_HTML_MAX))
    placement_request_ids = UniqueList(
        RowId(),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "Requests carried by the email; list order is the priority."},
    )
    status = Choice(
        CREATABLE_STATUSES, name=SETTABLE_EMAIL_STATUS, load_default=EmailStatus.DRAFT.value
    )


class EmailUpdateSchema(Schema):
    """Content while ``draft``/``queued``; status draft <-> queued, or failed -> queued."""

    subject = fields.String(validate=validate.Length(min=1, max=SUBJECT_MAX))
    body_text = fields.String(validate=validate.Length(min=1, max=BODY_TEXT_MAX))
    body_html = fields.String(allow_none=True, validate=validate.Length(max=BODY_HTML_MAX))
    status = Choice(CREATABLE_STATUSES, name=SETTABLE_EMAIL_STATUS)

    @validates_schema
    def something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one of subject, body_text, body_html, status.")


class EmailBatchCreateSchema(Schema):
    placement_request_id = RowId(required=True)
    priority = StrictInteger(
        validate=PRIORITY_RANGE,
        metadata={"description": "Rank in the email (1 = first); default: after the last."},
    )


class EmailResponseSchema(Schema):
    response_content = fields.String(allow_none=True, validate=validate.Length(max=RESPONSE_MAX))
    response_date = IsoDateTime(
        validate=plausible_year,
        metadata={"description": "When the reply arrived; default now. Naive means TIMEZONE."},
    )
    follow_up_required = StrictBoolean()
    follow_up_notes = fields.String(allow_none=True, validate=validate.Length(max=NOTES_MAX))
    outcomes = fields.Dict(
        keys=IdKey(),
        values=Choice(OUTCOMES, name="DecisiveOutcome"),
        load_default=dict,
        metadata={
            "description": "{placement_request_id: 'accepted' | 'rejected'} (rule 9).",
            "propertyNames": {"pattern": ID_KEY_PATTERN},
        },
    )
