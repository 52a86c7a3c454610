"""Fields shared by the schemas."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields, validate

# PostgreSQL ``integer``: a larger id cannot exist, and sending one to the database is an error.
PG_INTEGER_MAX = 2**31 - 1


class UtcDateTime(fields.DateTime):
    """Timestamps are stored as naive UTC; the API shows them ISO 8601 with offset."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class HourMinute(fields.Time):
    """``HH:MM`` on the wire."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only; ``"yes"``, ``1`` or ``0`` is a validation error.

    (``truthy={True}`` alone is not enough: ``1 == True`` and ``0 == False`` in Python.)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={True}, falsy={False}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


_IN_QUERY_STRING: ContextVar[bool] = ContextVar("in_query_string", default=False)
_DECIMAL_DIGITS = re.compile(r"-?[0-9]{1,30}")


@contextmanager
def loading_query_string() -> Iterator[None]:
    """While ``parse_query`` loads: integers arrive as text (``StrictInteger`` reads digits)."""
    token = _IN_QUERY_STRING.set(True)
    try:
        yield
    finally:
        _IN_QUERY_STRING.reset(token)


class StrictInteger(fields.Integer):
    """An integer as the OpenAPI document says it: a JSON integer in a body (not ``"5"``,
    ``5.5`` or ``true``), ASCII digits in a query string (not ``" 5"``, ``"5_0"``, ``"1e3"``).

    Marshmallow's own ``Integer`` turns ``5.9`` into ``5`` and accepts any text ``int()`` reads.
    """

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and _IN_QUERY_STRING.get() and _DECIMAL_DIGITS.fullmatch(value):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid", input=value)
        return value


class RowId(StrictInteger):
    """A row id given by a client: an integer 1 … 2^31-1 (PostgreSQL ``integer``).

    Anything larger would make PostgreSQL raise "out of range" (a 500) instead of a 422/404.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=1, max=PG_INTEGER_MAX), **kwargs)


class UniqueList(fields.List):
    """A list whose items must be distinct (e.g. ``placement_request_ids``); order is kept.

    The OpenAPI document says ``uniqueItems: true``; a duplicate is a 422 naming the items.
    """

    default_error_messages = {"duplicates": "Contains duplicates: {duplicates}."}

    def __init__(self, cls_or_instance: Any, **kwargs: Any) -> None:
        kwargs["metadata"] = {**kwargs.get("metadata", {}), "uniqueItems": True}
        super().__init__(cls_or_instance, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        items = super()._deserialize(value, attr, data, **kwargs)
        seen: set[Hashable] = set()
        duplicates: list[Any] = []
        for item in items:
            if item in seen and item not in duplicates:
                duplicates.append(item)
            seen.add(item)
        if duplicates:
            raise self.make_error("duplicates", duplicates=", ".join(map(str, duplicates)))
        return items
