"""``/api/therapists``: the list with its name search, the therapist and their telephone hours."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.therapist import (
    AvailabilityUpdateSchema,
    TherapistContactSchema,
    TherapistListQuerySchema,
    TherapistSchema,
)
from communication_service.services import therapists as service


class TherapistListResource(Resource):
    @arguments(TherapistListQuerySchema, location="query")
    @response(
        TherapistContactSchema,
        paginated=True,
        summary="Therapists by name, each with their contact state; filter by name (q), "
        "status, potentially_available, has_open_requests",
        errors=(422,),
    )
    def get(self, filters):
        return service.list_therapists(current_context(), filters)


class TherapistResource(Resource):
    @response(
        TherapistContactSchema,
        summary="A therapist with availability fields and contact state",
        errors=(404,),
    )
    def get(self, therapist_id: int):
        return service.get_therapist(current_context(), therapist_id)


class TherapistAvailabilityResource(Resource):
    @arguments(AvailabilityUpdateSchema)
    @response(
        TherapistSchema,
        summary="Set telephone hours and the potentially-available flag",
        errors=(400, 404, 415, 422),
    )
    def put(self, changes, therapist_id: int):
        return service.update_availability(current_context(), therapist_id, changes)


def register(api: Api) -> None:
    api.add_resource(TherapistListResource, "/therapists")
    api.add_resource(TherapistResource, "/therapists/<id:therapist_id>")
    api.add_resource(TherapistAvailabilityResource, "/therapists/<id:therapist_id>/availability")
