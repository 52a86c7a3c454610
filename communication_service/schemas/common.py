"""Fields shared by the schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields


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
    """JSON ``true``/``false`` only; ``"yes"`` or ``1`` is a validation error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={True}, falsy={False}, **kwargs)
