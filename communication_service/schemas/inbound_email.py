"""Inbound emails: the raw message a mail provider posts, the stored rows, the inbox filters."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from communication_service.models import InboundEmailKind, MatchedBy
from communication_service.schemas.common import Choice, PageQuerySchema, RowId, UtcDateTime
from communication_service.schemas.email import QueryBoolean
from communication_service.schemas.phone_call import PlacementEffectsSchema
from communication_service.services.inbound_mail import NotAMessage, ParsedMessage, parse_message

# Larger than MAX_CONTENT_LENGTH: a reply with a scanned letter attached is a few megabytes.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
KINDS = [kind.value for kind in InboundEmailKind]
MATCHED_BY = [how.value for how in MatchedBy]


class RawMessage:
    """A body loader (``@arguments(RawMessage, location="body", media_type=…)``): the raw
    bytes of one email, parsed, or a 422 saying why they are not an email."""

    description = (
        "One email message as received (RFC 5322, as a mail provider's inbound webhook "
        f"delivers it), at most {MAX_MESSAGE_BYTES:,} bytes. Any charset and transfer "
        "encoding; an empty body or one without a header block is 422."
    )

    def load(self, raw: bytes) -> ParsedMessage:
        try:
            return parse_message(raw)
        except NotAMessage as error:
            raise ValidationError({"body": [str(error)]}) from None


class InboundEmailListQuerySchema(PageQuerySchema):
    matched = QueryBoolean(
        metadata={"description": "false: the messages no email was found for (the inbox)."}
    )
    kind = Choice(InboundEmailKind)
    email_id = RowId()


class InboundEmailAttachSchema(Schema):
    email_id = RowId(
        required=True, metadata={"description": "The email this message answers (or returns)."}
    )


# --- output -----------------------------------------------------------------------------------


class AttachmentSchema(Schema):
    filename = fields.String(allow_none=True)
    content_type = fields.String()
    size = fields.Integer(metadata={"description": "Bytes (decoded); the content is not kept."})


class DeliveryStatusSchema(Schema):
    """A bounce's recipient block (RFC 3464): the one that failed, else the delayed one."""

    action = fields.String(allow_none=True)
    status = fields.String(allow_none=True, metadata={"description": "e.g. 5.1.1"})
    final_recipient = fields.String(allow_none=True)
    diagnostic_code = fields.String(allow_none=True)


class ResponseEffectsSchema(PlacementEffectsSchema):
    """What recording a reply did (as ``PUT /api/emails/{id}/response`` answers it)."""

    canceled_follow_up_call_ids = fields.List(fields.Integer())


class InboundEmailSummarySchema(Schema):
    """A stored message without its text (list items)."""

    id = fields.Integer()
    message_id = fields.String()
    kind = Choice(InboundEmailKind)
    sender = fields.String(allow_none=True)
    sender_name = fields.String(allow_none=True)
    recipients = fields.List(fields.String())
    subject = fields.String(allow_none=True)
    date = UtcDateTime(allow_none=True, metadata={"description": "The message's Date."})
    in_reply_to = fields.String(allow_none=True)
    references = fields.List(fields.String())
    email_id = fields.Integer(
        allow_none=True, metadata={"description": "The email it answers; null: unmatched."}
    )
    matched_by = Choice(MatchedBy, allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentSchema))
    delivery_status = fields.Nested(DeliveryStatusSchema, allow_none=True)
    permanent_failure = fields.Boolean(
        metadata={"description": "A bounce with status 5.x.x: the email failed."}
    )
    response_recorded = fields.Boolean(
        metadata={"description": "Recorded as its email's response (as PUT …/response does)."}
    )
    response_effects = fields.Nested(
        ResponseEffectsSchema,
        allow_none=True,
        metadata={"description": "What recording the response did besides (e.g. calls canceled)."},
    )
    size_bytes = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class InboundEmailSchema(InboundEmailSummarySchema):
    body_text = fields.String(
        metadata={"description": "The readable text (text/plain, else text/html as text)."}
    )
