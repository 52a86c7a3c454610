"""PostgreSQL for the test run: one server, one migrated template, one database per worker."""

from __future__ import annotations

import fcntl
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from communication_service.config import as_sqlalchemy_url


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def server_url(shared_dir: Path) -> str:
    """``TEST_DATABASE_URL``, or an embedded server shared by all workers of this run."""
    if os.environ.get("TEST_DATABASE_URL"):
        return as_sqlalchemy_url(os.environ["TEST_DATABASE_URL"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from communication_service.database import start_embedded_postgres

        return as_sqlalchemy_url(start_embedded_postgres(shared_dir / "pgdata"))


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def admin_execute(url: str, *statements: str) -> None:
    dsn = make_url(url).set(drivername="postgresql")
    connection = psycopg2.connect(dsn.render_as_string(hide_password=False))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def recreate_database(url: str, name: str, template: str | None = None) -> str:
    admin_execute(
        url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""),
    )
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    admin_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
