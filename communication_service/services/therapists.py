"""Reading therapists and changing their telephone hours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from communication_service.clock import today
from communication_service.context import Context
from communication_service.errors import NotFound
from communication_service.models import Therapist
from communication_service.reads import ReadQuery

therapists = Therapist.__table__


_THERAPIST_BY_ID = ReadQuery(
    sa.select(therapists).where(therapists.c.id == sa.bindparam("therapist_id"))
)


def get_therapist(ctx: Context, therapist_id: int) -> dict[str, Any]:
    row = ctx.reader.first(_THERAPIST_BY_ID, therapist_id=therapist_id)
    if row is None:
        raise NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})
    return row


def update_availability(
    ctx: Context, therapist_id: int, changes: Mapping[str, Any]
) -> sa.RowMapping:
    """Apply validated availability changes in one statement; 404 when the therapist is unknown.

    ``updated_at`` is the day, as the therapist service keeps it (a ``date`` column)."""
    session = ctx.session
    row = (
        session.execute(
            sa.update(therapists)
            .where(therapists.c.id == therapist_id)
            .values(**changes, updated_at=today(ctx.clock))
            .returning(*therapists.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        session.rollback()
        raise NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})
    session.commit()
    return row
