"""``/api/emails``, ``/api/email-batches`` and a placement request's communication history."""

from __future__ import annotations

from flask_restful import Api, Resource
from marshmallow import RAISE, fields, validate

from communication_service import current_settings
from communication_service.api.docs import documented
from communication_service.api.pagination import PageQuerySchema, paginate_select
from communication_service.api.parsing import parse_body, parse_query
from communication_service.clock import current_clock
from communication_service.extensions import db
from communication_service.models import EmailStatus
from communication_service.schemas.common import RowId
from communication_service.schemas.email import (
    CommunicationSchema,
    EmailBatchCreateSchema,
    EmailBatchSchema,
    EmailCreateSchema,
    EmailResponseResultSchema,
    EmailResponseSchema,
    EmailSchema,
    EmailSummarySchema,
    EmailUpdateSchema,
    QueryBoolean,
)
from communication_service.services import emails as service


class EmailListQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    therapist_id = RowId()
    status = fields.String(validate=validate.OneOf([s.value for s in EmailStatus]))
    response_received = QueryBoolean()
    batch_id = fields.String(validate=validate.Length(min=1, max=50))


class PageOnlyQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE


email_schema = EmailSchema()
email_summary_schema = EmailSummarySchema()
email_batch_schema = EmailBatchSchema()
communication_schema = CommunicationSchema()
response_result_schema = EmailResponseResultSchema()
list_query_schema = EmailListQuerySchema()
page_query_schema = PageOnlyQuerySchema()
create_schema = EmailCreateSchema()
update_schema = EmailUpdateSchema()
batch_create_schema = EmailBatchCreateSchema()
response_schema = EmailResponseSchema()


class EmailListResource(Resource):
    @documented(
        summary="Emails (without bodies), newest first; filter by therapist, status, "
        "response_received, batch_id",
        query=EmailListQuerySchema,
        response=EmailSummarySchema,
        paginated=True,
        errors=(422,),
    )
    def get(self):
        query = parse_query(list_query_schema)
        page, per_page = query.pop("page"), query.pop("per_page")
        return paginate_select(
            db.session,
            service.email_list_statement(query),
            page=page,
            per_page=per_page,
            schema=email_summary_schema,
        )

    @documented(
        summary="Write an email to a therapist (draft or queued); recipient from the therapist",
        body=EmailCreateSchema,
        response=EmailSchema,
        status=201,
        errors=(400, 415, 422),
    )
    def post(self):
        data = parse_body(create_schema)
        email = service.create_email(db.session, current_clock(), current_settings(), data)
        return email_schema.dump(email), 201


class EmailResource(Resource):
    @documented(
        summary="One email with its bodies and the requests it carries",
        response=EmailSchema,
        errors=(404,),
    )
    def get(self, email_id: int):
        return email_schema.dump(service.get_email(db.session, email_id))

    @documented(
        summary="Edit content (draft/queued only); status draft <-> queued, failed -> queued",
        body=EmailUpdateSchema,
        response=EmailSchema,
        errors=(400, 404, 409, 415, 422),
    )
    def put(self, email_id: int):
        changes = parse_body(update_schema)
        email = service.update_email(
            db.session, current_clock(), current_settings(), email_id, changes
        )
        return email_schema.dump(email)

    @documented(
        summary="Delete an email that was never sent (a sent email is kept: 409)",
        status=204,
        errors=(404, 409),
    )
    def delete(self, email_id: int):
        service.delete_email(db.session, email_id)
        return "", 204


class EmailBatchListResource(Resource):
    @documented(
        summary="The placement requests an email carries, by priority",
        query=PageOnlyQuerySchema,
        response=EmailBatchSchema,
        paginated=True,
        errors=(404, 422),
    )
    def get(self, email_id: int):
        query = parse_query(page_query_schema)
        return paginate_select(
            db.session,
            service.email_batches_statement(db.session, email_id),
            page=query["page"],
            per_page=query["per_page"],
            schema=email_batch_schema,
        )

    @documented(
        summary="Add a placement request to a draft or queued email",
        body=EmailBatchCreateSchema,
        response=EmailBatchSchema,
        status=201,
        errors=(400, 404, 409, 415, 422),
    )
    def post(self, email_id: int):
        data = parse_body(batch_create_schema)
        return email_batch_schema.dump(service.add_email_batch(db.session, email_id, data)), 201


class EmailBatchResource(Resource):
    @documented(
        summary="Remove a placement request from a draft or queued email",
        status=204,
        errors=(404, 409),
    )
    def delete(self, batch_id: int):
        service.delete_email_batch(db.session, batch_id)
        return "", 204


class EmailResponseResource(Resource):
    @documented(
        summary="Record the therapist's reply, with optional per-request outcomes; cancels "
        "the email's scheduled follow-up calls",
        body=EmailResponseSchema,
        response=EmailResponseResultSchema,
        errors=(400, 404, 409, 415, 422),
    )
    def put(self, email_id: int):
        data = parse_body(response_schema)
        result = service.record_response(
            db.session, current_clock(), current_settings(), email_id, data
        )
        return response_result_schema.dump(result)


class PlacementRequestCommunicationsResource(Resource):
    @documented(
        summary="Every email and phone call that carried the placement request, oldest first",
        query=PageOnlyQuerySchema,
        response=CommunicationSchema,
        paginated=True,
        errors=(404, 422),
    )
    def get(self, placement_request_id: int):
        query = parse_query(page_query_schema)
        return paginate_select(
            db.session,
            service.communications_statement(db.session, placement_request_id),
            page=query["page"],
            per_page=query["per_page"],
            schema=communication_schema,
        )


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
