"""The ``/api`` blueprint: Flask-RESTful resources behind bearer-token auth."""

from __future__ import annotations

import contextlib

from flask import Blueprint, current_app, g, request
from flask_restful import Api
from sqlalchemy.exc import SQLAlchemyError

from communication_service.api import emails, openapi, phone_calls, therapists
from communication_service.api.auth import require_bearer_token
from communication_service.api.parsing import reject_oversized_body, reject_undeclared_query
from communication_service.extensions import db

# One line per aggregate module; each module adds its own resources.
RESOURCE_MODULES = (openapi, therapists, phone_calls, emails)


class JsonApi(Api):
    def handle_error(self, e: Exception):
        # Let the app-level handlers answer, so every error has the one format.
        raise e


def create_api_blueprint() -> Blueprint:
    blueprint = Blueprint("api", __name__, url_prefix="/api")

    @blueprint.before_request
    def authenticate() -> None:
        require_bearer_token(current_app.extensions["settings"])
        reject_oversized_body()
        reject_undeclared_query()
        if request.method == "GET" and not db.session().in_transaction():
            # Reads need no transaction: psycopg2's autocommit is a client-side flag, so this
            # saves the BEGIN and ROLLBACK round trips of every read (the pool resets it).
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            g.autocommit_read = True

    @blueprint.teardown_request
    def end_autocommit_read(_exc: BaseException | None) -> None:
        # Hand the autocommit connection back at once, so nothing later in the same
        # application context (a CLI command, a test) writes through it.
        # A lost connection here is left to the session clean-up (database.py).
        if g.pop("autocommit_read", False):
            with contextlib.suppress(SQLAlchemyError):
                db.session.rollback()

    api = JsonApi(blueprint)
    for module in RESOURCE_MODULES:
        module.register(api)
    return blueprint
