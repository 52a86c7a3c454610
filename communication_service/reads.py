"""Hot reads: Core selects compiled and prepared once, each one round trip on autocommit.

A read through the request's ORM session costs a pool pre-ping, ``BEGIN``, the query and a
``ROLLBACK`` (four round trips where one answers) plus the Core/ORM execution path around
the driver (cache key, compile-cache lookup, result processing; BENCHMARKS.md has the
figures). A hot read is one statement, so it needs no
transaction to see one consistent snapshot; it runs on an autocommit, read-only connection
straight on the driver cursor, with SQL compiled once at import from the same Core
``select``, prepared once per connection and planned once (``ReadQuery``). Its rows hold
what a Core result holds (dates as ``date``, enums as members): the reader is a faster
road to the same values, not a different kind of row.

Reads are idempotent, so a connection the database dropped (a restart, a failover) is
replaced and the read retried once; if that fails too the error reaches the one error
handler as a lost connection (503). Each thread keeps its connection (``Reader``).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import psycopg2 as pg_psycopg2
from sqlalchemy.engine import Engine

# Compiled with ``$n`` placeholders: the statements are prepared on the server.
_DIALECT = pg_psycopg2.dialect(paramstyle="numeric_dollar")
_EXPLAIN_DIALECT = pg_psycopg2.dialect(paramstyle="pyformat")
# plan_cache_mode of the reader's connections (set when connecting, see database.py).
GENERIC_PLANS = "force_generic_plan"
# 0A000 feature_not_supported: "cached plan must not change result type" after a migration.
_PLAN_OUTDATED = "0A000"


class ReadQuery:
    """A Core ``select`` compiled once, and prepared once per connection on the server.

    Planning costs PostgreSQL more than running these statements, so each read is a
    ``PREPARE`` the first time a connection sees it and an ``EXECUTE`` afterwards, and the
    connections plan each statement once (``plan_cache_mode=force_generic_plan``), not for
    every set of values. That plan cannot know a ``LIMIT $n``: PostgreSQL assumes 10 % of
    the rows are wanted. A page is therefore only as good as its index: every list filter
    has one index that returns its rows in the list's order, and no shorter index beside it
    that would make "fetch all, then sort" look cheaper (migration 9d6e2a4c8f13).

    A statement whose best plan depends on its values — a filtered list page, where the
    generic plan assumes ``LIMIT $n`` wants 10 % of the matches and hashes whole tables to
    get them — is ``planned_each_time``: sent with its values, never prepared, and planned
    for them (a few milliseconds of planning instead of a hundred of hashing).

    Bind parameters are named (``sa.bindparam("call_id")``) and all given at execution; a
    list is bound with ``column == sa.any_(sa.bindparam("ids"))``. A constant compared in the
    statement must be a named parameter too (checked here, at import), so every value
    reaches the server as a parameter.
    """

    __slots__ = (
        "binders",
        "execute_sql",
        "explain_sql",
        "keys",
        "name",
        "parameters",
        "planned_each_time",
        "prepare_sql",
        "processors",
        "select",
    )

    def __init__(self, stmt: sa.Select, *, planned_each_time: bool = False) -> None:
        self.select = stmt  # what it was compiled from
        compiled = stmt.compile(dialect=_DIALECT)
        constants = [name for name, param in compiled.binds.items() if param.value is not None]
        if constants:
            raise ValueError(
                f"constants {constants}: use named bind parameters or sa.literal_column"
            )
        self.keys: tuple[str, ...] = tuple(stmt.selected_columns.keys())
        # The columns whose type turns the driver's value into another Python value (the
        # enums: the platform's names become members), as an ORM or Core result would.
        self.processors: tuple[tuple[int, Any], ...] = tuple(
            (position, processor)
            for position, column in enumerate(stmt.selected_columns)
            if (processor := column.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None))
        )
        self.parameters: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Parameters whose type converts the value for the driver (the platform's enums take
        # their names), as a Core statement would.
        self.binders: dict[str, Any] = {
            name: binder
            for name in self.parameters
            if (binder := compiled.binds[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT))
        }
        self.name = "read_" + hashlib.sha1(compiled.string.encode()).hexdigest()[:20]
        self.prepare_sql = f"PREPARE {self.name} AS {compiled.string}"
        # Planned for the given values (not prepared): PostgreSQL's estimate for them.
        with_values = stmt.compile(dialect=_EXPLAIN_DIALECT).string
        self.explain_sql = "EXPLAIN (FORMAT JSON) " + with_values
        self.planned_each_time = planned_each_time
        placeholders = ", ".join(["%s"] * len(self.parameters))
        if planned_each_time:
            self.execute_sql = with_values
        else:
            self.execute_sql = (
                f"EXECUTE {self.name}({placeholders})" if placeholders else f"EXECUTE {self.name}"
            )


class _HeldConnection:
    """A driver connection a thread keeps for all its reads, with what it has prepared."""

    __slots__ = ("dbapi_connection", "prepared")

    def __init__(self, dbapi_connection: Any) -> None:
        self.dbapi_connection = dbapi_connection
        self.prepared: set[str] = set()


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

    def estimated_rows(self, query: ReadQuery, **params: Any) -> int:
        """How many rows PostgreSQL's planner expects ``query`` to return for ``params``."""
        held = self._held(query)
        try:
            with held.dbapi_connection.cursor() as cursor:
                self._execute(cursor, query.explain_sql, _bound(query, params))
                (plan,) = cursor.fetchone()
        except self._dbapi_error as error:
            lost = self._lost(held, error)
            if lost:
                self.close()
            raise self._wrapped(error, query, lost=lost) from None
        return int(plan[0]["Plan"]["Plan Rows"])

    def tuples(self, query: ReadQuery, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        params = _bound(query, params)
        values: Any = (
            params if query.planned_each_time else tuple(params[n] for n in query.parameters)
        )
        for attempt in (1, 2):
            held = self._held(query)
            try:
                with held.dbapi_connection.cursor() as cursor:
                    if not query.planned_each_time and query.name not in held.prepared:
                        self._execute(cursor, query.prepare_sql, None)
                        held.prepared.add(query.name)
                    self._execute(cursor, query.execute_sql, values)
                    rows = cursor.fetchall()
                    return _processed(rows, query.processors) if query.processors else rows
            except self._dbapi_error as error:
                connection = held.dbapi_connection
                lost = self._lost(held, error)
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

    def _lost(self, held: _HeldConnection, error: Exception) -> bool:
        """The error means the connection is gone (a restart, a failover), not the statement."""
        connection = held.dbapi_connection
        return bool(connection.closed) or self.engine.dialect.is_disconnect(error, connection, None)

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

    def _execute(self, cursor: Any, sql: str, values: Any) -> None:
        # The engine's ``before_cursor_execute`` listeners see every statement (with no
        # Connection): statement counters (tests, benchmarks) count the reads like the rest.
        self.engine.dispatch.before_cursor_execute(None, cursor, sql, values, None, False)
        cursor.execute(sql, values)


def _bound(query: ReadQuery, params: dict[str, Any]) -> dict[str, Any]:
    if not query.binders:
        return params
    return {**params, **{name: bind(params[name]) for name, bind in query.binders.items()}}


def _processed(
    rows: list[tuple[Any, ...]], processors: tuple[tuple[int, Any], ...]
) -> list[tuple[Any, ...]]:
    """The rows with each processed column converted (column by column)."""
    if not rows:
        return rows
    columns: list[Any] = list(zip(*rows, strict=True))
    for position, processor in processors:
        columns[position] = map(processor, columns[position])
    return list(zip(*columns, strict=True))


def constant(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
    """``value`` written into the SQL as ``column`` stores it (an enum member becomes its
    stored label: ``'REJECTED'`` for the platform's enums, ``'sent'`` for this service's): a
    fixed constant of the code, not a parameter, usable in a ``ReadQuery`` and in any other
    statement alike. PostgreSQL's planner sees the constant and plans for it."""
    process = column.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
    stored = str(process(value) if process else value)
    return sa.literal_column("'" + stored.replace("'", "''") + "'", column.type)


def prefixed(table: sa.Table, prefix: str, names: Iterable[str] | None = None) -> list[Any]:
    """``table``'s columns (or ``names``) labelled ``prefix + name``, for a joined select."""
    return [table.c[name].label(prefix + name) for name in (names or table.c.keys())]


def current_reader() -> Reader:
    return current_app.extensions["reader"]
