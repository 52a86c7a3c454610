"""Lists as the paginated answers ask for them: a page of rows, and the total on demand."""

from __future__ import annotations

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
