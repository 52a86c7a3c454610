"""The one pagination helper: ``{"data", "page", "per_page", "total"}``."""

from __future__ import annotations

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
    session: Session, stmt: sa.Select, *, page: int, per_page: int, schema: Schema
) -> dict[str, Any]:
    """Run ``stmt`` (ordered) for one page, and count the matching rows only when needed.

    A window count (``count(*) OVER ()``) would read every matching row before the LIMIT
    (93 ms at 100,000 calls against 0.2 ms for the page), so the page is fetched on its own
    and the total comes from a count that PostgreSQL answers from the filter's index. A first
    page that is not full already tells the total: one round trip for short lists.
    """
    offset = (page - 1) * per_page
    rows = session.execute(stmt.limit(per_page).offset(offset)).mappings().all()
    if 0 < len(rows) < per_page or (page == 1 and not rows):
        total = offset + len(rows)
    else:
        total = session.execute(
            sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        ).scalar_one()
    return {
        "data": schema.dump(rows, many=True),
        "page": page,
        "per_page": per_page,
        "total": total,
    }
