"""``GET /health``: open, and honest about the database."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from communication_service.extensions import db

log = logging.getLogger(__name__)
health_blueprint = Blueprint("health", __name__)


@health_blueprint.get("/health")
def health() -> ResponseReturnValue:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("health check: database unavailable (%s)", type(error).__name__)
        return jsonify({"status": "unavailable", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
