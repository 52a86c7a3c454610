"""``GET /health``: open, and honest about the database."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from communication_service.api.boundary import response
from communication_service.reads import ReadQuery, current_reader
from communication_service.schemas.api import HealthSchema

log = logging.getLogger(__name__)
health_blueprint = Blueprint("health", __name__)
# On the reader: one round trip, and the pool that serves the hot reads is the one checked.
_PING = ReadQuery(sa.select(sa.literal_column("1")))


@health_blueprint.get("/health")
@response(
    HealthSchema,
    summary="Liveness and database check (no token needed)",
    responses={503: HealthSchema},
)
def health() -> dict[str, str] | tuple[dict[str, str], int]:
    try:
        current_reader().scalar(_PING)
    except SQLAlchemyError as error:
        log.warning("health check: database unavailable (%s)", type(error).__name__)
        return {"status": "unavailable", "database": "unavailable"}, 503
    return {"status": "ok", "database": "ok"}
