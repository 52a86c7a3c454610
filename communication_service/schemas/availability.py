"""The structure of ``telefonische_erreichbarkeit`` (docs/rules.md, "Telephone hours"),
enforced on every write."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

from communication_service.schemas.common import HourMinuteText


class TimeWindowSchema(Schema):
    start = HourMinuteText(required=True)
    end = HourMinuteText(required=True)

    @validates_schema(skip_on_field_errors=True)
    def end_after_start(self, data: dict[str, str], **kwargs: Any) -> None:
        # Zero-padded HH:MM strings order like the times they denote.
        if data["end"] <= data["start"]:
            raise ValidationError("Must be later than start.", field_name="end")


class AvailabilitySchema(Schema):
    """``{weekday: [{"start": "HH:MM", "end": "HH:MM"}, ...]}``; ``{}`` = no telephone hours."""

    monday = fields.List(fields.Nested(TimeWindowSchema))
    tuesday = fields.List(fields.Nested(TimeWindowSchema))
    wednesday = fields.List(fields.Nested(TimeWindowSchema))
    thursday = fields.List(fields.Nested(TimeWindowSchema))
    friday = fields.List(fields.Nested(TimeWindowSchema))
    saturday = fields.List(fields.Nested(TimeWindowSchema))
    sunday = fields.List(fields.Nested(TimeWindowSchema))

    @validates_schema(skip_on_field_errors=True)
    def windows_do_not_overlap(self, data: dict[str, list[dict[str, str]]], **kwargs: Any) -> None:
        errors: dict[str, dict[int, list[str]]] = {}
        for day, windows in data.items():
            order = sorted(range(len(windows)), key=lambda i: windows[i]["start"])
            for previous, current in pairwise(order):
                if windows[current]["start"] < windows[previous]["end"]:
                    errors.setdefault(day, {})[current] = [
                        f"Overlaps {day}.{previous} "
                        f"({windows[previous]['start']}-{windows[previous]['end']})."
                    ]
        if errors:
            raise ValidationError(errors)
