"""Column helpers shared by the models."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.clock import app_utc_naive


def pg_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """This service's native enum: stores the lowercase *values* the API shows."""
    return sa.Enum(
        enum_cls,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def platform_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """Another service's native enum, as the platform's services write it: the members'
    *names* (``ACTIVE``, ``REJECTED``) are stored, the lowercase values are what this service
    and its API use. The one place where the two meet: every statement built on the mapped
    column converts both ways (a member or its value in, a member out)."""
    return sa.Enum(enum_cls, name=name, validate_strings=True, create_type=False)


def created_at_column(*, nullable: bool = True) -> Mapped[datetime | None]:
    return mapped_column(
        sa.DateTime(), nullable=nullable, server_default=sa.text("CURRENT_TIMESTAMP")
    )


def updated_at_column(*, nullable: bool = True) -> Mapped[datetime | None]:
    return mapped_column(
        sa.DateTime(),
        nullable=nullable,
        server_default=sa.text("CURRENT_TIMESTAMP"),
        onupdate=app_utc_naive,
    )
