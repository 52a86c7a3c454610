"""Fields shared by the schemas."""

from __future__ import annotations

import enum
import re
from collections.abc import Hashable, Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import Schema, fields, validate

from communication_service.services.listing import MAX_PER_PAGE

# PostgreSQL ``integer``: a larger id cannot exist, and sending one to the database is an error.
PG_INTEGER_MAX = 2**31 - 1


# What a client reads when a value is not one: the format, not just "not valid".
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_RULE = "Not a valid date: use YYYY-MM-DD (e.g. 2027-03-01)."
DATETIME_RULE = (
    "Not a valid timestamp: use ISO 8601 with an offset, YYYY-MM-DDTHH:MM[:SS]+HH:MM or Z "
    "(e.g. 2027-03-01T09:30:00+01:00)."
)


class IsoDate(fields.Date):
    """A date of the API, ``YYYY-MM-DD`` (``format: date``); anything else is a 422 naming the
    format. ``date.fromisoformat`` alone also reads ``20270301`` and ``2027-W09-1``."""

    default_error_messages = {"invalid": DATE_RULE, "format": DATE_RULE}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or not re.fullmatch(DATE_PATTERN, value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class IsoDateTime(fields.DateTime):
    """A timestamp of the API, ISO 8601; an invalid one is a 422 naming the format."""

    default_error_messages = {"invalid": DATETIME_RULE, "format": DATETIME_RULE}


class UtcDateTime(IsoDateTime):
    """Timestamps are stored as naive UTC; the API shows them ISO 8601 with offset."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


# Every time of day on the wire, in requests and responses: zero-padded 24-hour HH:MM.
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
TIME_RULE = "Must be a time HH:MM (24-hour, zero-padded)."


def _with_metadata(kwargs: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {**kwargs, "metadata": {**metadata, **kwargs.get("metadata", {})}}


class HourMinute(fields.Time):
    """``HH:MM`` on the wire, loaded as a ``time``; the document states the pattern.

    ``strptime("%H:%M")`` alone reads ``"7:0"`` as 07:00: the pattern is checked first, so
    a time is written one way only.
    """

    default_error_messages = {"invalid": TIME_RULE}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **_with_metadata(kwargs, pattern=TIME_PATTERN))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if not isinstance(value, str) or not re.fullmatch(TIME_PATTERN, value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class HourMinuteText(fields.String):
    """``HH:MM`` kept as text (the telephone-hours JSON stores it so)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Regexp(TIME_PATTERN, error=TIME_RULE), **kwargs)


class Choice(fields.String):
    """One of a fixed set of values, a named set: the OpenAPI document makes ``name`` one
    enum component, referenced wherever the set appears (request, response, query), so a
    generated client has one enum type for it. Given an ``enum.Enum`` class, the set is its
    values and the name its class name.
    """

    def __init__(
        self, values: type[enum.Enum] | Iterable[str], *, name: str | None = None, **kwargs: Any
    ) -> None:
        if isinstance(values, type) and issubclass(values, enum.Enum):
            name = name or values.__name__
            values = [member.value for member in values]
        if not name:
            raise TypeError("Choice needs a name for its set of values")
        self.enum_name = name
        self.choices = tuple(values)
        super().__init__(validate=validate.OneOf(self.choices), **kwargs)


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


class QueryBoolean(fields.Boolean):
    """``true``/``false`` (or ``1``/``0``) in a query string."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)


class StrictInteger(fields.Integer):
    """An integer as the OpenAPI document says it: a JSON integer (not ``"5"``, ``5.5`` or
    ``true``). In a query string, ``parse_query`` turns exactly the ASCII digits into one.

    Marshmallow's own ``Integer`` turns ``5.9`` into ``5`` and accepts any text ``int()`` reads.
    """

    def _validated(self, value: Any) -> int:
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


class PageQuerySchema(Schema):
    """``?page=&per_page=`` of every list; list query schemas derive from it."""

    page = StrictInteger(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = StrictInteger(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
