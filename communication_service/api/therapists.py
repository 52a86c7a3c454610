"""``/api/therapists``: the therapist and their telephone hours."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.docs import documented
from communication_service.api.parsing import parse_body
from communication_service.clock import current_clock
from communication_service.extensions import db
from communication_service.reads import current_reader
from communication_service.schemas.dumping import row_dumper
from communication_service.schemas.therapist import AvailabilityUpdateSchema, TherapistSchema
from communication_service.services.therapists import get_therapist, update_availability

therapist_schema = TherapistSchema()
dump_therapist = row_dumper(therapist_schema)
availability_update_schema = AvailabilityUpdateSchema()


class TherapistResource(Resource):
    @documented(
        summary="A therapist with availability fields", response=TherapistSchema, errors=(404,)
    )
    def get(self, therapist_id: int):
        return dump_therapist(get_therapist(current_reader(), therapist_id))


class TherapistAvailabilityResource(Resource):
    @documented(
        summary="Set telephone hours and the potentially-available flag",
        body=AvailabilityUpdateSchema,
        response=TherapistSchema,
        errors=(400, 404, 415, 422),
    )
    def put(self, therapist_id: int):
        changes = parse_body(availability_update_schema)
        return dump_therapist(
            update_availability(db.session, current_clock(), therapist_id, changes)
        )


def register(api: Api) -> None:
    api.add_resource(TherapistResource, "/therapists/<id:therapist_id>")
    api.add_resource(TherapistAvailabilityResource, "/therapists/<id:therapist_id>/availability")
