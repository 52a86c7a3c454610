"""``/api/inbound-emails``: messages received from therapists' mail systems (replies,
auto-replies, bounces), the staff's inbox of unmatched ones, and attaching one by hand."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.inbound_email import (
    MAX_MESSAGE_BYTES,
    InboundEmailAttachSchema,
    InboundEmailListQuerySchema,
    InboundEmailSchema,
    InboundEmailSummarySchema,
    RawMessage,
)
from communication_service.services import inbound_emails as service


class InboundEmailListResource(Resource):
    @arguments(InboundEmailListQuerySchema, location="query")
    @response(
        InboundEmailSummarySchema,
        paginated=True,
        summary="Inbound messages (without their text), newest first; matched=false is the "
        "inbox of what needs a person; filter by kind, email_id",
        errors=(422,),
    )
    def get(self, filters):
        return service.list_inbound_emails(current_context(), filters)

    @arguments(
        RawMessage, location="body", media_type="message/rfc822", max_bytes=MAX_MESSAGE_BYTES
    )
    @response(
        InboundEmailSchema,
        status=201,
        responses={200: InboundEmailSchema},
        summary="Store a received message (raw, as a mail provider's inbound webhook posts "
        "it) and match it to the email it answers; 200 with the stored row when it was "
        "received before",
        errors=(413, 415, 422),
    )
    def post(self, message):
        return service.receive_message(current_context(), message)


class InboundEmailResource(Resource):
    @response(InboundEmailSchema, summary="One inbound message with its text", errors=(404,))
    def get(self, inbound_email_id: int):
        return service.get_inbound_email(current_context(), inbound_email_id)

    @arguments(InboundEmailAttachSchema)
    @response(
        InboundEmailSchema,
        summary="Attach an unmatched message to the email it answers; a reply is recorded as "
        "the email's response, a permanent bounce fails the email",
        errors=(400, 404, 409, 415, 422),
    )
    def put(self, data, inbound_email_id: int):
        return service.attach_email(current_context(), inbound_email_id, data["email_id"])


def register(api: Api) -> None:
    api.add_resource(InboundEmailListResource, "/inbound-emails")
    api.add_resource(InboundEmailResource, "/inbound-emails/<id:inbound_email_id>")
