"""Hot reads: Core selects compiled and prepared once, each one round trip on autocommit.

A read through the request's ORM session costs a pool pre-ping, ``BEGIN``, the query and a
``ROLLBACK`` (four round trips where one answers) plus the Core/ORM execution path around
the driver (cache key, compile-cache lookup, result processing: ~65 µs a statement on the
benchmark machine, more through the ORM). A hot read is one statement, so it needs no
transaction to see one consistent snapshot; it runs on an autocommit, read-only connection
straight on the driver cursor, with SQL compiled once at import from the same Core
``select``, prepared once per connection and planned once where the plan cannot depend on
the values (``ReadQuery``).

Reads are idempotent, so a connection the database dropped (a restart, a failover) is
replaced and the read retried once; if that fails too the error reaches the one error
handler as a lost connection (503). Each thread keeps its connection (``Reader``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import psycopg2 as pg_psycopg2
from sqlalchemy.engine import Engine

# Compiled with ``$n`` placeholders: the statements are prepared on the server.
_DIALECT = pg_psycopg2.dialect(paramstyle="numeric_dollar")
# plan_cache_mode of the reader's connections (set when connecting, see database.py) and
# for statements that need their parameters' values to be planned well.
GENERIC_PLANS = "force_generic_plan"
# PostgreSQL's default: custom plans until a generic one proves no dearer, so a page keeps
# the plan made for its LIMIT when the generic plan's 10 % guess would cost more.
PAGE_PLANS = "auto"
_PAGE_PARAMETER = re.compile(r"\b(LIMIT|OFFSET) \$\d")
# 0A000 feature_not_supported: "cached plan must not change result type" after a migration.
_PLAN_OUTDATED = "0A000"


class ReadQuery:
    """A Core ``select`` compiled once, and prepared once per connection on the server.

    Planning costs PostgreSQL more than running these statements (350 µs against 200 µs
    for a call with its batches), so each read is a ``PREPARE`` the first time a connection
    sees it and an ``EXECUTE`` afterwards. Bind parameters are named
    (``sa.bindparam("call_id")``) and all given at execution; a list is bound with
    ``column == sa.any_(sa.bindparam("ids"))``. A constant compared in the statement must
    be a named parameter too (checked here, at import), so every value reaches the server
    as a parameter.
    """

    __slots__ = ("execute_sql", "keys", "name", "parameters", "plans", "prepare_sql")

    def __init__(self, stmt: sa.Select) -> None:
        compiled = stmt.compile(dialect=_DIALECT)
        constants = [name for name, param in compiled.binds.items() if param.value is not None]
        if constants:
            raise ValueError(
                f"constants {constants}: use named bind parameters or sa.literal_column"
            )
        self.keys: tuple[str, ...] = tuple(stmt.selected_columns.keys())
        self.parameters: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.name = "read_" + hashlib.sha1(compiled.string.encode()).hexdigest()[:20]
        self.prepare_sql = f"PREPARE {self.name} AS {compiled.string}"
        placeholders = ", ".join(["%s"] * len(self.parameters))
        self.execute_sql = (
            f"EXECUTE {self.name}({placeholders})" if placeholders else (f"EXECUTE {self.name}")
        )
        # The reader's connections plan once per statement (GENERIC_PLANS). A page whose
        # LIMIT/OFFSET are parameters is left to PostgreSQL's choice (PAGE_PLANS) instead: a
        # generic plan must guess how many rows are wanted (10 %), and with some statistics
        # it sorts all of a therapist's 100,000 calls to return 50 (40 ms).
        paged = _PAGE_PARAMETER.search(compiled.string) is not None
        self.plans = PAGE_PLANS if paged else GENERIC_PLANS


class _HeldConnection:
    """A driver connection a thread keeps for all its reads, with what it has prepared."""

    __slots__ = ("dbapi_connection", "plans", "prepared")

    def __init__(self, dbapi_connection: Any) -> None:
        self.dbapi_connection = dbapi_connection
        self.prepared: set[str] = set()
        self.plans = GENERIC_PLANS


class Reader:
    """Runs ``ReadQuery``s on autocommit connections (see the module docstring).

    Each thread keeps one connection for all its reads (a sync gunicorn worker is one thread
    serving one request at a time): no pool checkout and check-in around every read. The
    engine makes the connections (its connect arguments and events apply) and then lets go
    of them (``detach``); a connection is closed when it is lost, by ``close``, or with its
    thread.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dbapi_error = engine.dialect.loaded_dbapi.Error
        self._local = threading.local()

    def all(self, query: ReadQuery, **params: Any) -> list[dict[str, Any]]:
        return [dict(zip(query.keys, row, strict=True)) for row in self.tuples(query, params)]

    def first(self, query: ReadQuery, **params: Any) -> dict[str, Any] | None:
        rows = self.tuples(query, params)
        return dict(zip(query.keys, rows[0], strict=True)) if rows else None

    def scalar(self, query: ReadQuery, **params: Any) -> Any:
        rows = self.tuples(query, params)
        return rows[0][0] if rows else None

    def tuples(self, query: ReadQuery, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        values = tuple(params[name] for name in query.parameters)
        for attempt in (1, 2):
            held = self._held(query)
            try:
                with held.dbapi_connection.cursor() as cursor:
                    if query.name not in held.prepared:
                        self._execute(cursor, query.prepare_sql, None)
                        held.prepared.add(query.name)
                    execute_sql = query.execute_sql
                    if held.plans != query.plans:  # in the same round trip as the EXECUTE
                        execute_sql = f"SET plan_cache_mode = {query.plans}; {execute_sql}"
                    self._execute(cursor, execute_sql, values)
                    held.plans = query.plans
                    return cursor.fetchall()
            except self._dbapi_error as error:
                connection = held.dbapi_connection
                lost = connection.closed or self.engine.dialect.is_disconnect(
                    error, connection, None
                )
                outdated = getattr(error, "pgcode", None) == _PLAN_OUTDATED
                if lost:
                    self.close()
                elif outdated:
                    held.prepared.discard(query.name)
                    with contextlib.suppress(self._dbapi_error), connection.cursor() as cursor:
                        cursor.execute(f"DEALLOCATE {query.name}")
                if attempt == 2 or not (lost or outdated):
                    raise self._wrapped(error, query, lost=lost) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close this thread's connection (the next read opens a new one)."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            with contextlib.suppress(self._dbapi_error):
                held.dbapi_connection.close()

    def _held(self, query: ReadQuery) -> _HeldConnection:
        held = getattr(self._local, "held", None)
        if held is None:
            try:
                pooled = self.engine.raw_connection()
            except self._dbapi_error as error:  # refused: the one handler answers 503
                raise self._wrapped(error, query, lost=False) from None
            held = self._local.held = _HeldConnection(pooled.dbapi_connection)
            pooled.detach()
        return held

    def _wrapped(self, error: Exception, query: ReadQuery, *, lost: bool) -> sa.exc.DBAPIError:
        """As SQLAlchemy reports driver errors (no parameters: they may hold patient data)."""
        return sa.exc.DBAPIError.instance(
            query.execute_sql,
            None,
            error,
            self._dbapi_error,
            hide_parameters=True,
            dialect=self.engine.dialect,
            connection_invalidated=lost,
        )

    def _execute(self, cursor: Any, sql: str, values: tuple[Any, ...] | None) -> None:
        # The engine's ``before_cursor_execute`` listeners see every statement (with no
        # Connection): statement counters (tests, benchmarks) count the reads like the rest.
        self.engine.dispatch.before_cursor_execute(None, cursor, sql, values, None, False)
        cursor.execute(sql, values)


def unprefixed(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The ``prefix``-ed columns of a joined row, without the prefix."""
    size = len(prefix)
    return {key[size:]: value for key, value in row.items() if key.startswith(prefix)}


def prefixed(table: sa.Table, prefix: str, names: Iterable[str] | None = None) -> list[Any]:
    """``table``'s columns (or ``names``) labelled ``prefix + name``, for a joined select."""
    return [table.c[name].label(prefix + name) for name in (names or table.c.keys())]


def current_reader() -> Reader:
    return current_app.extensions["reader"]
