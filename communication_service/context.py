"""The one handle a service call takes: the session, the reader, the clock and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from communication_service.clock import Clock
from communication_service.config import Settings
from communication_service.reads import Reader


@dataclass(frozen=True, slots=True)
class Context:
    """What a request (or a job) works with. Writes use ``session`` (one transaction per
    request); hot reads use ``reader``; every "now" comes from ``clock``."""

    session: Session
    reader: Reader
    clock: Clock
    settings: Settings


def current_context() -> Context:
    """The context of the current request, from the application's extensions."""
    from communication_service.extensions import db

    extensions = current_app.extensions
    return Context(db.session, extensions["reader"], extensions["clock"], extensions["settings"])
