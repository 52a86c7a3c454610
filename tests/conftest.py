"""Shared fixtures: real PostgreSQL, the real migrations, one database per xdist worker."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from communication_service import create_app
from communication_service.clock import FixedClock
from communication_service.config import Settings
from communication_service.context import Context
from communication_service.extensions import db
from tests.pg import file_lock, recreate_database, server_url

BERLIN = ZoneInfo("Europe/Berlin")
API_TOKEN = "test-token-7f3a"
# A Monday morning before the telephone hours of the default test therapist.
DEFAULT_NOW = datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
TEMPLATE_DB = "cs_test_template"

TABLES = (
    "communication_service.therapist_absences",
    "communication_service.undeliverable_addresses",
    "communication_service.inbound_emails",
    "communication_service.phone_call_batches",
    "communication_service.email_batches",
    "communication_service.phone_calls",
    "communication_service.emails",
    "matching_service.placement_requests",
    "therapist_service.therapists",
    "patient_service.patients",
)


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """The server's URL (maintenance database); the template is migrated once per run."""
    shared = _shared_dir(tmp_path_factory, worker_id)
    with file_lock(shared / "pg.lock"):
        url = server_url(shared)
        marker = shared / "template.ready"
        if not marker.exists():
            template_url = recreate_database(url, TEMPLATE_DB)
            migrate_to(template_url, "head")
            marker.write_text("ok")
    return url


def migrate_to(database_url: str, revision: str, *, downgrade: bool = False) -> None:
    """Run the project's real migrations (Flask-Migrate) against ``database_url``."""
    from flask_migrate import downgrade as fm_downgrade
    from flask_migrate import upgrade as fm_upgrade

    app = create_app({"database_url": database_url, "api_tokens": API_TOKEN})
    with app.app_context():
        (fm_downgrade if downgrade else fm_upgrade)(revision=revision)
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_url(pg_server_url: str, worker_id: str) -> str:
    return recreate_database(pg_server_url, f"cs_test_{worker_id}", template=TEMPLATE_DB)


@pytest.fixture(scope="session")
def app_factory(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps on the worker's database; ``clock`` and settings can be overridden."""
    made: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        clock = overrides.pop("clock", None) or FixedClock(DEFAULT_NOW, BERLIN)
        settings = {"database_url": database_url, "api_tokens": API_TOKEN, **overrides}
        settings["extra"] = {"clock": clock}
        app = create_app(settings)
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield factory
    for app in made:
        app.extensions["reader"].close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def session_app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def app(session_app: Flask) -> Iterator[Flask]:
    """The shared app with a clean database and its clock back at ``DEFAULT_NOW``."""
    session_app.extensions["clock"].instant = DEFAULT_NOW
    with session_app.app_context():
        truncate_all()
        yield session_app
        db.session.remove()


def truncate_all() -> None:
    db.session.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def clock(app: Flask) -> FixedClock:
    return app.extensions["clock"]


@pytest.fixture
def session(app: Flask):
    return db.session


@pytest.fixture
def settings(app: Flask) -> Settings:
    return app.extensions["settings"]


@pytest.fixture
def ctx(app: Flask, session, clock: FixedClock, settings: Settings) -> Context:
    """What a service call takes: the test's session, the app's reader, the test clock and the
    app's settings (as the CLI builds it for a job)."""
    return Context(session, app.extensions["reader"], clock, settings)


def with_settings(ctx: Context, settings: Settings) -> Context:
    """``ctx`` with other settings, e.g. ``with_settings(ctx, settings.replace(call_lines=0))``."""
    return dataclasses.replace(ctx, settings=settings)


class ApiClient:
    """The Flask test client with the bearer token on every request."""

    def __init__(self, client: FlaskClient, token: str = API_TOKEN) -> None:
        self.raw = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.raw, method)

        def with_token(*args: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
            return call(*args, headers={**self.headers, **(headers or {})}, **kwargs)

        return with_token


@pytest.fixture
def client(app: Flask) -> ApiClient:
    return ApiClient(app.test_client())


def pytest_report_header(config: pytest.Config) -> str:
    where = "TEST_DATABASE_URL" if os.environ.get("TEST_DATABASE_URL") else "embedded PostgreSQL"
    return f"database: {where}"


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) recording what it accepts."""
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_settings(app: Flask, smtp_sink: Any, monkeypatch: pytest.MonkeyPatch):
    """The app's settings pointing at ``smtp_sink`` (also for CLI runs of this app); clear
    text, which is allowed on the loopback only (``tests/services/test_smtp_security.py`` has
    the encrypted connections)."""
    settings = app.extensions["settings"].replace(
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_security="none",
        smtp_timeout_seconds=5.0,
    )
    monkeypatch.setitem(app.extensions, "settings", settings)
    return settings


@pytest.fixture
def smtp_ctx(ctx: Context, smtp_settings: Settings) -> Context:
    """``ctx`` with ``smtp_settings``."""
    return with_settings(ctx, smtp_settings)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How much the schemathesis run did (``tests/api/test_fuzz.py``), over all xdist workers."""
    operations = requests = 0
    seconds = 0.0
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "fuzz":
                    operations += 1
                    requests += value["requests"]
                    seconds += report.duration
    if operations:
        terminalreporter.write_line(
            f"fuzzing: {requests} generated requests over {operations} operations "
            f"in {seconds:.1f} s of test time"
        )
