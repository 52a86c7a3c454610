"""The one pagination helper: ``{"data", "page", "per_page", "total"}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from marshmallow import Schema, validate
from sqlalchemy.orm import Session

from communication_service.schemas.common import StrictInteger

MAX_PER_PAGE = 200


class PageQuerySchema(Schema):
    page = StrictInteger(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = StrictInteger(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def paginate(
    fetch: Callable[[int, int], list[Any]],
    count: Callable[[], int],
    *,
    page: int,
    per_page: int,
) -> dict[str, Any]:
    """One page (``fetch(limit, offset)``) and the total (``count()``) only when needed.

    A window count (``count(*) OVER ()``) would read every matching row before the LIMIT
    (93 ms at 100,000 calls against 0.2 ms for the page), so the page is fetched on its own
    and counted separately. A first page that is not full already tells the total: one
    round trip for short lists.
    """
    offset = (page - 1) * per_page
    data = fetch(per_page, offset)
    known = 0 < len(data) < per_page or (page == 1 and not data)
    total = offset + len(data) if known else count()
    return {"data": data, "page": page, "per_page": per_page, "total": total}


def paginate_select(
    session: Session, stmt: sa.Select, *, page: int, per_page: int, schema: Schema
) -> dict[str, Any]:
    """``paginate`` over an ordered Core select run on the request's session."""

    def fetch(limit: int, offset: int) -> list[Any]:
        rows = session.execute(stmt.limit(limit).offset(offset)).mappings().all()
        return schema.dump(rows, many=True)

    def count() -> int:
        counted = sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        return session.execute(counted).scalar_one()

    return paginate(fetch, count, page=page, per_page=per_page)
