"""``/api/therapists``: the therapist and their telephone hours."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.therapist import AvailabilityUpdateSchema, TherapistSchema
from communication_service.services.therapists import get_therapist, update_availability


class TherapistResource(Resource):
    @response(TherapistSchema, summary="A therapist with availability fields", errors=(404,))
    def get(self, therapist_id: int):
        return get_therapist(current_context(), therapist_id)


class TherapistAvailabilityResource(Resource):
    @arguments(AvailabilityUpdateSchema)
    @response(
        TherapistSchema,
        summary="Set telephone hours and the potentially-available flag",
        errors=(400, 404, 415, 422),
    )
    def put(self, changes, therapist_id: int):
        return update_availability(current_context(), therapist_id, changes)


def register(api: Api) -> None:
    api.add_resource(TherapistResource, "/therapists/<id:therapist_id>")
    api.add_resource(TherapistAvailabilityResource, "/therapists/<id:therapist_id>/availability")
