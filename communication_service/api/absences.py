"""``/api/therapists/{id}/absences`` and ``/api/therapist-absences``: when a therapist is away."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.absence import (
    TherapistAbsenceCreateResultSchema,
    TherapistAbsenceCreateSchema,
    TherapistAbsenceSchema,
)
from communication_service.services import absences as service


class TherapistAbsenceListResource(Resource):
    @response(
        TherapistAbsenceSchema,
        paginated=True,
        summary="A therapist's absences, by first day",
        errors=(404, 422),
    )
    def get(self, therapist_id: int):
        return service.list_absences(current_context(), therapist_id)

    @arguments(TherapistAbsenceCreateSchema)
    @response(
        TherapistAbsenceCreateResultSchema,
        status=201,
        summary="Record an absence (rule 13); moves the automatic calls on its days after it",
        errors=(400, 404, 409, 415, 422),
    )
    def post(self, data, therapist_id: int):
        return service.record_absence(current_context(), therapist_id, data)


class TherapistAbsenceResource(Resource):
    @response(
        status=204,
        summary="Delete an absence (calls it moved stay where they are)",
        errors=(404,),
    )
    def delete(self, absence_id: int):
        service.delete_absence(current_context(), absence_id)


def register(api: Api) -> None:
    api.add_resource(TherapistAbsenceListResource, "/therapists/<id:therapist_id>/absences")
    api.add_resource(TherapistAbsenceResource, "/therapist-absences/<id:absence_id>")
