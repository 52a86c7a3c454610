"""``/api/phone-calls``, ``/api/phone-call-batches`` and a therapist's free slots."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.phone_call import (
    CallSheetCallSchema,
    CallSheetQuerySchema,
    FreeSlotSchema,
    PhoneCallBatchUpdateResultSchema,
    PhoneCallBatchUpdateSchema,
    PhoneCallCreateResultSchema,
    PhoneCallCreateSchema,
    PhoneCallListQuerySchema,
    PhoneCallSchema,
    PhoneCallUpdateResultSchema,
    PhoneCallUpdateSchema,
    SlotQuerySchema,
)
from communication_service.services import phone_calls as service


class TherapistSlotsResource(Resource):
    @arguments(SlotQuerySchema, location="query")
    @response(
        FreeSlotSchema,
        many=True,
        summary="Free call slots of a therapist (rules 1-3)",
        errors=(404, 409, 422),
    )
    def get(self, query, therapist_id: int):
        return service.find_free_slots(current_context(), therapist_id, query)


class PhoneCallListResource(Resource):
    @arguments(PhoneCallListQuerySchema, location="query")
    @response(
        PhoneCallSchema,
        paginated=True,
        summary="Phone calls, filtered, by date and time",
        errors=(422,),
    )
    def get(self, filters):
        return service.list_calls(current_context(), filters)

    @arguments(PhoneCallCreateSchema)
    @response(
        PhoneCallCreateResultSchema,
        status=201,
        summary="Schedule a call (earliest free slot unless date and time are given)",
        errors=(400, 404, 409, 415, 422),
    )
    def post(self, data):
        return service.create_call(current_context(), data)


class CallSheetResource(Resource):
    @arguments(CallSheetQuerySchema, location="query")
    @response(
        CallSheetCallSchema,
        paginated=True,
        page_lists={
            "overdue": "On today's sheet: the calls of earlier days still scheduled after "
            "their end (overdue, not closed), oldest first; empty on other days."
        },
        summary="The call sheet of a day: calls by time with therapist and patients",
        errors=(422,),
        operation_id="getCallSheet",  # one day's sheet, paged; not a list of sheets
    )
    def get(self, query):
        return service.call_sheet(current_context(), query)


class PhoneCallResource(Resource):
    @response(PhoneCallSchema, summary="A phone call with its batches", errors=(404,))
    def get(self, call_id: int):
        return service.get_call(current_context(), call_id)

    @arguments(PhoneCallUpdateSchema)
    @response(
        PhoneCallUpdateResultSchema,
        summary="Move, end (completed/failed/canceled) or annotate a call (rules 8, 11)",
        errors=(400, 404, 409, 415, 422),
    )
    def put(self, changes, call_id: int):
        return service.update_call(current_context(), call_id, changes)

    @response(
        status=204,
        summary="Delete a scheduled or canceled call (completed/failed calls stay: 409)",
        errors=(404, 409),
    )
    def delete(self, call_id: int):
        service.delete_call(current_context(), call_id)


class PhoneCallBatchResource(Resource):
    @arguments(PhoneCallBatchUpdateSchema)
    @response(
        PhoneCallBatchUpdateResultSchema,
        summary="Record what was discussed about a request on a call (rule 9)",
        errors=(400, 404, 415, 422),
    )
    def put(self, changes, batch_id: int):
        return service.update_batch(current_context(), batch_id, changes)


def register(api: Api) -> None:
    api.add_resource(TherapistSlotsResource, "/therapists/<id:therapist_id>/slots")
    api.add_resource(PhoneCallListResource, "/phone-calls")
    api.add_resource(CallSheetResource, "/phone-calls/daily")
    api.add_resource(PhoneCallResource, "/phone-calls/<id:call_id>")
    api.add_resource(PhoneCallBatchResource, "/phone-call-batches/<id:batch_id>")
