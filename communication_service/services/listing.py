"""Lists as the paginated answers ask for them: a page of rows, and the total on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.orm import Session

from communication_service.reads import Reader, ReadQuery


class SelectListing:
    """An ordered Core select on the request's session."""

    def __init__(self, session: Session, stmt: sa.Select) -> None:
        self.session, self.stmt = session, stmt

    def page(self, limit: int, offset: int) -> list[sa.RowMapping]:
        return list(self.session.execute(self.stmt.limit(limit).offset(offset)).mappings())

    def total(self) -> int:
        counted = sa.select(sa.func.count()).select_from(self.stmt.order_by(None).subquery())
        return self.session.execute(counted).scalar_one()


class ReaderListing:
    """A prepared page statement (``limit``/``offset`` parameters) and its count, on the
    reader."""

    def __init__(
        self, reader: Reader, pages: ReadQuery, count: ReadQuery, params: dict[str, Any]
    ) -> None:
        self.reader, self.pages, self.count, self.params = reader, pages, count, params

    def page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        return self.reader.all(self.pages, limit=limit, offset=offset, **self.params)

    def total(self) -> int:
        return self.reader.scalar(self.count, **self.params)


_pg_class = sa.table("pg_class", sa.column("oid"), sa.column("reltuples"), schema="pg_catalog")
# The most rows a page has (``per_page``).
MAX_PER_PAGE = 200
# Totals up to this many matching rows are exact; beyond, they are PostgreSQL's estimate
# (counting a long list would read all of it for every page; docs/api.md, "Lists and totals").
EXACT_TOTAL_UP_TO = 1_000


class PagedStatements:
    """A list's prepared statements for one combination of filters.

    ``matching`` selects the listed table's matching rows (with the columns named in
    ``order``, all ascending or all ``descending``). ``page`` is one ``limit``/``offset``
    page of them in that order, extended by ``shown(page)`` (joins and computed columns: a
    subquery per row runs for the page's rows, not for every match), with the number of
    matches counted up to ``EXACT_TOTAL_UP_TO`` + 1 as its last column: a page and its total
    in one round trip. ``count`` is that count alone (for a page past the end), ``matching``
    what the planner estimates when there are more; an unfiltered list has the estimate in
    that column already (``estimated_here``).

    A list filtered by another table (a contact state, "has open requests") is
    ``planned_each_time`` (``ReadQuery``): only a plan made for the page's size tests each
    row of the page with index probes instead of hashing the other table first.
    """

    def __init__(
        self,
        matching: sa.Select,
        order: Sequence[str],
        shown: Callable[[sa.Subquery], sa.Select],
        *,
        descending: bool = False,
        planned_each_time: bool = False,
    ) -> None:
        def ordered_by(columns: sa.ColumnCollection) -> list[sa.ColumnElement[Any]]:
            return [columns[name].desc() if descending else columns[name] for name in order]

        by_order = matching.order_by(*ordered_by(matching.selected_columns))
        # Counted in the list's order: the plan that finds a page's rows first (an index in
        # that order) also finds the first EXACT_TOTAL_UP_TO + 1 soonest.
        capped = (
            by_order.with_only_columns(sa.literal_column("1"), maintain_column_froms=True)
            .limit(sa.literal_column(str(EXACT_TOTAL_UP_TO + 1)))
            .subquery("capped")
        )
        count = sa.select(sa.func.count().label("total")).select_from(capped)
        counts = [count.scalar_subquery().label("total")]
        # Without a filter the planner's estimate is the table's row count in pg_class: read
        # in the same statement, not with an EXPLAIN of its own (a second round trip).
        (table,) = matching.get_final_froms()
        self.estimated_here = matching.whereclause is None and isinstance(table, sa.Table)
        if self.estimated_here:
            oid = sa.cast(sa.literal_column(f"'{table.fullname}'"), REGCLASS)
            reltuples = sa.select(sa.cast(_pg_class.c.reltuples, sa.BigInteger)).where(
                _pg_class.c.oid == oid
            )
            counts.append(reltuples.scalar_subquery().label("estimate"))
            count = count.add_columns(counts[-1])
        ordered = (
            by_order.limit(sa.bindparam("limit", type_=sa.Integer))
            .offset(sa.bindparam("offset", type_=sa.Integer))
            .subquery("ordered")
        )
        # A plan made once for every LIMIT assumes a page of 10 % of the matches; capped by a
        # constant, it knows a page is at most MAX_PER_PAGE rows, and tests each row of the
        # page with an index probe instead of hashing a whole table first (41 ms on 200,000
        # email batches). A filter on another table needs more (``planned_each_time``).
        page = sa.select(ordered).limit(sa.literal_column(str(MAX_PER_PAGE))).subquery("page")
        stmt = shown(page).add_columns(*counts).order_by(*ordered_by(page.c))
        self.page = ReadQuery(stmt, planned_each_time=planned_each_time)
        self.count = ReadQuery(count, planned_each_time=planned_each_time)
        first = matching.selected_columns[0]
        self.matching = ReadQuery(matching.with_only_columns(first, maintain_column_froms=True))


class EstimatedTotalListing:
    """Pages of ``PagedStatements``, each row turned into what the list shows by ``row``;
    the total exact up to ``EXACT_TOTAL_UP_TO``, PostgreSQL's estimate beyond (never less
    than what was counted)."""

    def __init__(
        self,
        reader: Reader,
        statements: PagedStatements,
        params: dict[str, Any],
        row: Callable[[Sequence[Any]], Any],
    ) -> None:
        self.reader, self.statements, self.params, self.row = reader, statements, params, row
        # The page's count (and the table's estimate, if the statement has it).
        self._counts: Sequence[int] | None = None

    def page(self, limit: int, offset: int) -> list[Any]:
        statements = self.statements
        rows = self.reader.tuples(
            statements.page, {**self.params, "limit": limit, "offset": offset}
        )
        if rows:
            self._counts = rows[0][-2:] if statements.estimated_here else rows[0][-1:]
        row = self.row
        return [row(found) for found in rows]

    def total(self) -> int:
        statements = self.statements
        if self._counts is None:  # the page was empty
            (self._counts,) = self.reader.tuples(statements.count, self.params)
        counted = self._counts[0]
        if counted <= EXACT_TOTAL_UP_TO:
            return counted
        if statements.estimated_here:
            estimate = self._counts[1]
        else:
            estimate = self.reader.estimated_rows(statements.matching, **self.params)
        return max(estimate, counted)
