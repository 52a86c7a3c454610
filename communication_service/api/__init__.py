"""The ``/api`` blueprint: Flask-RESTful resources behind bearer-token auth."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from flask_restful import Api

from communication_service import current_settings
from communication_service.api import (
    absences,
    emails,
    inbound_emails,
    openapi,
    phone_calls,
    placement_requests,
    therapists,
)
from communication_service.api.auth import require_bearer_token
from communication_service.api.boundary import apply_body_limit
from communication_service.api.parsing import reject_oversized_body
from communication_service.json_provider import output_json

# One line per aggregate module; each module adds its own resources.
RESOURCE_MODULES = (
    openapi,
    therapists,
    phone_calls,
    emails,
    absences,
    placement_requests,
    inbound_emails,
)


class JsonApi(Api):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.representations = {"application/json": output_json}

    def make_response(self, data: Any, *args: Any, **kwargs: Any) -> Response:
        # JSON only (docs/api.md): no Accept negotiation to do for every answer.
        kwargs.pop("fallback_mediatype", None)
        return output_json(data, *args, **kwargs)

    def handle_error(self, e: Exception):
        # Let the app-level handlers answer, so every error has the one format.
        raise e


def create_api_blueprint() -> Blueprint:
    blueprint = Blueprint("api", __name__, url_prefix="/api")

    @blueprint.before_request
    def authenticate() -> None:
        require_bearer_token(current_settings())
        apply_body_limit()
        reject_oversized_body()

    api = JsonApi(blueprint)
    for module in RESOURCE_MODULES:
        module.register(api)
    return blueprint
