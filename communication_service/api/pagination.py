"""The one pagination helper: ``{"data", "page", "per_page", "total"}`` in one round trip."""

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
    """Run ``stmt`` (ordered) for one page; the total comes along as a window count."""
    windowed = stmt.add_columns(sa.func.count().over().label("_total"))
    rows = session.execute(windowed.limit(per_page).offset((page - 1) * per_page)).mappings().all()
    if rows:
        total = rows[0]["_total"]
    else:  # past the last page: still report the real total
        total = session.execute(
            sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        ).scalar_one()
    return {
        "data": schema.dump(rows, many=True),
        "page": page,
        "per_page": per_page,
        "total": total,
    }
