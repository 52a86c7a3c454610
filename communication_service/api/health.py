"""``GET /health``: open, and honest about the database."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from communication_service.api.docs import documented
from communication_service.reads import ReadQuery, current_reader
from communication_service.schemas.api import HealthSchema

log = logging.getLogger(__name__)
health_blueprint = Blueprint("health", __name__)
health_schema = HealthSchema()
# On the reader: one round trip, and the pool that serves the hot reads is the one checked.
_PING = ReadQuery(sa.select(sa.literal_column("1")))


@health_blueprint.get("/health")
@documented(
    summary="Liveness and database check (no token needed)",
    response=HealthSchema,
    responses={503: HealthSchema},
)
def health() -> ResponseReturnValue:
    try:
        current_reader().scalar(_PING)
    except SQLAlchemyError as error:
        log.warning("health check: database unavailable (%s)", type(error).__name__)
        unavailable = {"status": "unavailable", "database": "unavailable"}
        return jsonify(health_schema.dump(unavailable)), 503
    return jsonify(health_schema.dump({"status": "ok", "database": "ok"}))
