"""``/api/placement-requests``: the requests (read only: the matching service owns them)."""

from __future__ import annotations

from flask_restful import Api, Resource

from communication_service.api.boundary import arguments, response
from communication_service.context import current_context
from communication_service.schemas.placement_request import (
    PlacementRequestListQuerySchema,
    PlacementRequestSchema,
)
from communication_service.services import placement_requests as service


class PlacementRequestListResource(Resource):
    @arguments(PlacementRequestListQuerySchema, location="query")
    @response(
        PlacementRequestSchema,
        paginated=True,
        summary="Placement requests, newest first, each with patient, therapist and where it "
        "stands; filter by therapist_id, patient_id, status, contact_state",
        errors=(422,),
    )
    def get(self, filters):
        return service.list_placement_requests(current_context(), filters)


class PlacementRequestResource(Resource):
    @response(
        PlacementRequestSchema,
        summary="A placement request with patient, therapist and where it stands",
        errors=(404,),
    )
    def get(self, placement_request_id: int):
        return service.get_placement_request(current_context(), placement_request_id)


def register(api: Api) -> None:
    api.add_resource(PlacementRequestListResource, "/placement-requests")
    api.add_resource(PlacementRequestResource, "/placement-requests/<id:placement_request_id>")
