"""``/api/emails``, ``/api/email-batches`` and a placement request's communication history."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.email import (
    CommunicationSchema,
    EmailBatchCreateSchema,
    EmailBatchSchema,
    EmailCreateSchema,
    EmailListQuerySchema,
    EmailResponseResultSchema,
    EmailResponseSchema,
    EmailSchema,
    EmailSummarySchema,
    EmailUpdateSchema,
)
from communication_service.services import emails as service


class EmailListResource(Resource):
    @arguments(EmailListQuerySchema, location="query")
    @response(
        EmailSummarySchema,
        paginated=True,
        summary="Emails (without bodies), newest first; filter by therapist, status, "
        "response_received, batch_id",
        errors=(422,),
    )
    def get(self, filters):
        return service.list_emails(current_context(), filters)

    @arguments(EmailCreateSchema)
    @response(
        EmailSchema,
        status=201,
        summary="Write an email to a therapist (draft or queued); recipient from the therapist",
        errors=(400, 409, 415, 422),
    )
    def post(self, data):
        return service.create_email(current_context(), data)


class EmailResource(Resource):
    @response(
        EmailSchema, summary="One email with its bodies and the requests it carries", errors=(404,)
    )
    def get(self, email_id: int):
        return service.get_email(current_context(), email_id)

    @arguments(EmailUpdateSchema)
    @response(
        EmailSchema,
        summary="Edit content (draft/queued only); status draft <-> queued, failed -> queued",
        errors=(400, 404, 409, 415, 422),
    )
    def put(self, changes, email_id: int):
        return service.update_email(current_context(), email_id, changes)

    @response(
        status=204,
        summary="Delete an email that was never sent (a sent email is kept: 409)",
        errors=(404, 409),
    )
    def delete(self, email_id: int):
        service.delete_email(current_context(), email_id)


class EmailBatchListResource(Resource):
    @response(
        EmailBatchSchema,
        paginated=True,
        summary="The placement requests an email carries, by priority",
        errors=(404, 422),
    )
    def get(self, email_id: int):
        return service.list_email_batches(current_context(), email_id)

    @arguments(EmailBatchCreateSchema)
    @response(
        EmailBatchSchema,
        status=201,
        summary="Add a placement request to a draft or queued email",
        errors=(400, 404, 409, 415, 422),
    )
    def post(self, data, email_id: int):
        return service.add_email_batch(current_context(), email_id, data)


class EmailBatchResource(Resource):
    @response(
        status=204,
        summary="Remove a placement request from a draft or queued email",
        errors=(404, 409),
    )
    def delete(self, batch_id: int):
        service.delete_email_batch(current_context(), batch_id)


class EmailResponseResource(Resource):
    @arguments(EmailResponseSchema)
    @response(
        EmailResponseResultSchema,
        summary="Record the therapist's reply, with optional per-request outcomes; cancels "
        "the email's scheduled follow-up calls",
        errors=(400, 404, 409, 415, 422),
        operation_id="recordEmailResponse",
    )
    def put(self, data, email_id: int):
        return service.record_response(current_context(), email_id, data)


class PlacementRequestCommunicationsResource(Resource):
    @response(
        CommunicationSchema,
        paginated=True,
        summary="Every email and phone call that carried the placement request, oldest first",
        errors=(404, 422),
    )
    def get(self, placement_request_id: int):
        return service.list_communications(current_context(), placement_request_id)


def register(api: Api) -> None:
    api.add_resource(EmailListResource, "/emails")
    api.add_resource(EmailResource, "/emails/<id:email_id>")
    api.add_resource(EmailBatchListResource, "/emails/<id:email_id>/batches")
    api.add_resource(EmailResponseResource, "/emails/<id:email_id>/response")
    api.add_resource(EmailBatchResource, "/email-batches/<id:batch_id>")
    api.add_resource(
        PlacementRequestCommunicationsResource,
        "/placement-requests/<id:placement_request_id>/communications",
    )
