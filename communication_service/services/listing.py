"""Lists as the paginated answers ask for them: a page of rows, and the total on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
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


# Totals up to this many matching rows are exact; beyond, they are PostgreSQL's estimate
# (counting a long list would read all of it for every page; docs/api.md, "Lists and totals").
EXACT_TOTAL_UP_TO = 1_000


class PagedStatements:
    """A list's prepared statements for one combination of filters.

    ``matching`` selects the listed table's matching rows (with the columns named in
    ``order``). ``page`` is one ``limit``/``offset`` page of them in ``order``, extended by
    ``shown(page)`` (joins and computed columns: a subquery per row runs for the page's rows,
    not for every match), with the number of matches counted up to ``EXACT_TOTAL_UP_TO`` + 1
    as its last column: a page and its total in one round trip. ``count`` is that count alone
    (for a page past the end), ``matching`` what the planner estimates when there are more.
    """

    def __init__(
        self,
        matching: sa.Select,
        order: Sequence[str],
        shown: Callable[[sa.Subquery], sa.Select],
    ) -> None:
        one = sa.literal_column("1").label("one")
        capped = (
            matching.with_only_columns(one, maintain_column_froms=True)
            .limit(sa.literal_column(str(EXACT_TOTAL_UP_TO + 1)))
            .subquery("capped")
        )
        count = sa.select(sa.func.count()).select_from(capped)
        page = (
            matching.order_by(*(matching.selected_columns[name] for name in order))
            .limit(sa.bindparam("limit", type_=sa.Integer))
            .offset(sa.bindparam("offset", type_=sa.Integer))
            .subquery("page")
        )
        stmt = (
            shown(page)
            .add_columns(count.scalar_subquery().label("total"))
            .order_by(*(page.c[name] for name in order))
        )
        self.page, self.count = ReadQuery(stmt), ReadQuery(count)
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
        self._counted: int | None = None

    def page(self, limit: int, offset: int) -> list[Any]:
        rows = self.reader.tuples(
            self.statements.page, {**self.params, "limit": limit, "offset": offset}
        )
        self._counted = rows[0][-1] if rows else None
        row = self.row
        return [row(found) for found in rows]

    def total(self) -> int:
        counted = self._counted
        if counted is None:  # the page was empty
            counted = self.reader.scalar(self.statements.count, **self.params)
        if counted > EXACT_TOTAL_UP_TO:
            estimate = self.reader.estimated_rows(self.statements.matching, **self.params)
            return max(estimate, counted)
        return counted
