"""Column helpers shared by the models."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.clock import utcnow_naive


def pg_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A native enum that stores the lowercase *values* (SQLAlchemy stores names by default)."""
    return sa.Enum(
        enum_cls,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def created_at_column() -> Mapped[datetime | None]:
    return mapped_column(sa.DateTime(), server_default=sa.text("CURRENT_TIMESTAMP"))


def updated_at_column(server_default: bool = True) -> Mapped[datetime | None]:
    return mapped_column(
        sa.DateTime(),
        server_default=sa.text("CURRENT_TIMESTAMP") if server_default else None,
        onupdate=utcnow_naive,
    )
