"""``/api/phone-calls``, ``/api/phone-call-batches`` and a therapist's free slots."""

from __future__ import annotations

from flask import Response
from flask_restful import Api, Resource

from communication_service import current_settings
from communication_service.api.docs import documented
from communication_service.api.pagination import PageQuerySchema, paginate
from communication_service.api.parsing import parse_body, parse_query
from communication_service.clock import current_clock, today
from communication_service.extensions import db
from communication_service.reads import current_reader
from communication_service.schemas.phone_call import (
    CallSheetCallSchema,
    CallSheetFilterSchema,
    FreeSlotSchema,
    PhoneCallBatchSchema,
    PhoneCallBatchUpdateSchema,
    PhoneCallCreateSchema,
    PhoneCallFilterSchema,
    PhoneCallSchema,
    PhoneCallUpdateResultSchema,
    PhoneCallUpdateSchema,
    SlotQuerySchema,
)
from communication_service.services import phone_calls as service
from communication_service.services.scheduling import free_slots


class PhoneCallListQuerySchema(PhoneCallFilterSchema, PageQuerySchema):
    pass


class CallSheetQuerySchema(CallSheetFilterSchema, PageQuerySchema):
    pass


slot_query_schema = SlotQuerySchema()
free_slot_schema = FreeSlotSchema()
create_schema = PhoneCallCreateSchema()
update_schema = PhoneCallUpdateSchema()
list_query_schema = PhoneCallListQuerySchema()
sheet_query_schema = CallSheetQuerySchema()
batch_update_schema = PhoneCallBatchUpdateSchema()


class TherapistSlotsResource(Resource):
    @documented(
        summary="Free call slots of a therapist (rules 1-3)",
        query=SlotQuerySchema,
        response=FreeSlotSchema(many=True),
        errors=(404, 409, 422),
    )
    def get(self, therapist_id: int):
        query = parse_query(slot_query_schema)
        slots = free_slots(
            db.session,
            current_clock(),
            current_settings(),
            therapist_id,
            from_date=query["from_date"],
            days=query["days"],
            duration_minutes=query["duration"],
        )
        return free_slot_schema.dump([slot.as_dict() for slot in slots], many=True)


class PhoneCallListResource(Resource):
    @documented(
        summary="Phone calls, filtered, by date and time",
        query=PhoneCallListQuerySchema,
        response=PhoneCallSchema,
        paginated=True,
        errors=(422,),
    )
    def get(self):
        filters = parse_query(list_query_schema)
        page, per_page = filters.pop("page"), filters.pop("per_page")
        calls = service.list_calls(current_reader(), **filters)
        return paginate(calls.page, calls.total, page=page, per_page=per_page)

    @documented(
        summary="Schedule a call (earliest free slot unless date and time are given)",
        body=PhoneCallCreateSchema,
        response=PhoneCallSchema,
        status=201,
        errors=(400, 404, 409, 415, 422),
    )
    def post(self):
        data = parse_body(create_schema)
        call = service.create_call(
            db.session, current_reader(), current_clock(), current_settings(), data
        )
        return call, 201


class CallSheetResource(Resource):
    @documented(
        summary="The call sheet of a day: calls by time with therapist and patients",
        query=CallSheetQuerySchema,
        response=CallSheetCallSchema,
        paginated=True,
        errors=(422,),
    )
    def get(self):
        query = parse_query(sheet_query_schema)
        day = query["date"] or today(current_clock())
        sheet = service.call_sheet(current_reader(), day, status=query.get("status"))
        return paginate(sheet.page, sheet.total, page=query["page"], per_page=query["per_page"])


class PhoneCallResource(Resource):
    @documented(summary="A phone call with its batches", response=PhoneCallSchema, errors=(404,))
    def get(self, call_id: int):
        return service.get_call(current_reader(), call_id)

    @documented(
        summary="Move, end (completed/failed/canceled) or annotate a call (rules 8, 11)",
        body=PhoneCallUpdateSchema,
        response=PhoneCallUpdateResultSchema,
        errors=(400, 404, 409, 415, 422),
    )
    def put(self, call_id: int):
        changes = parse_body(update_schema)
        return service.update_call(
            db.session, current_reader(), current_clock(), current_settings(), call_id, changes
        )

    @documented(
        summary="Delete a scheduled or canceled call (completed/failed calls stay: 409)",
        status=204,
        errors=(404, 409),
    )
    def delete(self, call_id: int):
        service.delete_call(db.session, call_id)
        return Response(status=204)


class PhoneCallBatchResource(Resource):
    @documented(
        summary="Record what was discussed about a request on a call (rule 9)",
        body=PhoneCallBatchUpdateSchema,
        response=PhoneCallBatchSchema,
        errors=(400, 404, 415, 422),
    )
    def put(self, batch_id: int):
        changes = parse_body(batch_update_schema)
        return service.update_batch(
            db.session, current_clock(), current_settings(), batch_id, changes
        )


def register(api: Api) -> None:
    api.add_resource(TherapistSlotsResource, "/therapists/<id:therapist_id>/slots")
    api.add_resource(PhoneCallListResource, "/phone-calls")
    api.add_resource(CallSheetResource, "/phone-calls/daily")
    api.add_resource(PhoneCallResource, "/phone-calls/<id:call_id>")
    api.add_resource(PhoneCallBatchResource, "/phone-call-batches/<id:batch_id>")
