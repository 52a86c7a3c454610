"""Communication Service: batches placement requests into emails and schedules phone calls."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from communication_service.config import Settings
from communication_service.extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
log = logging.getLogger(__name__)


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` is a ``Settings`` or overrides of the environment's."""
    from communication_service import models  # noqa: F401 - register the mapped tables
    from communication_service.api import create_api_blueprint
    from communication_service.api.converters import IdConverter
    from communication_service.api.errors import register_error_handlers
    from communication_service.api.health import health_blueprint
    from communication_service.api.metrics import metrics_blueprint
    from communication_service.cli import comm_cli
    from communication_service.clock import SystemClock
    from communication_service.database import (
        create_read_engine,
        database_url,
        engine_options,
        install_session_cleanup,
    )
    from communication_service.json_provider import OrjsonProvider
    from communication_service.logging_setup import configure_logging, install_request_logging
    from communication_service.reads import Reader

    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env().replace(**dict(config or {}))

    app = Flask(__name__, instance_path=str(MIGRATIONS_DIR.parent / "instance"))
    app.json = OrjsonProvider(app)
    configure_logging(settings)
    # An empty API_TOKENS is reported by the HTTP server (gunicorn.conf.py), not here: flask
    # commands and jobs do not serve /api.

    url = database_url(settings, app.instance_path)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_content_length,
    )
    app.extensions["settings"] = settings
    app.extensions["clock"] = settings.extra.get("clock") or SystemClock(
        ZoneInfo(settings.timezone)
    )
    app.extensions["reader"] = Reader(create_read_engine(url, settings))
    app.url_map.converters["id"] = IdConverter
    app.url_map.strict_slashes = False

    db.init_app(app)
    install_session_cleanup(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)
    register_error_handlers(app)
    install_request_logging(app)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(metrics_blueprint)
    app.register_blueprint(create_api_blueprint())
    app.cli.add_command(comm_cli)
    return app


def current_settings() -> Settings:
    from flask import current_app

    return current_app.extensions["settings"]
