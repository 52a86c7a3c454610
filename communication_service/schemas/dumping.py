"""Output schemas dumped at the speed of a dict comprehension, with marshmallow's JSON.

``Schema.dump`` resolves the attribute of every value, dispatches through
``Field.serialize`` and runs the hooks (BENCHMARKS.md has what that costs a page).
``row_dumper(schema)`` reads the schema's fields once and returns a function that does only
the conversion each field type needs; the schema stays the one description
of the output (the OpenAPI document is built from it). Field types without a fast path go
through ``Field.serialize`` as in ``Schema.dump``, so every schema dumps correctly; schemas with
``pre_dump``/``post_dump`` hooks are refused (their work belongs in the service).
``tests/schemas/test_dumping.py`` holds the dumpers to ``Schema.dump``: both encode to the
same JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from communication_service.schemas.common import Choice, HourMinute, HourMinuteText, UtcDateTime

Dumper = Callable[[Any], dict[str, Any]]
_ABSENT = object()


# Dates and timestamps go to the encoder as they are: orjson writes them, in C, exactly as
# marshmallow's Date and UtcDateTime would (json_provider.py). The dumper's output is only
# ever encoded, never read.
_AS_IT_IS = object()


def _hour_minute(value: time) -> str:
    if value.tzinfo is None:  # what strftime("%H:%M") gives
        return value.isoformat(timespec="minutes")
    return value.strftime("%H:%M")


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    """How to turn a present, non-None value into output; None: no fast path."""
    declared = getattr(field, "dump_value", None)  # a field's own fast path (TelephoneHours)
    if declared is not None:
        return declared
    # Exact types only: a subclass may serialise differently (it then takes the slow path).
    kind = type(field)
    if kind is fields.Integer:
        return int
    if kind in (fields.String, Choice, HourMinuteText):  # text on the way out, as String dumps
        return str
    if kind is fields.Boolean:
        return bool
    if kind is fields.Dict and field.key_field is None and field.value_field is None:
        return dict
    if kind in (fields.Date, UtcDateTime) and field.format in (None, "iso"):
        return _AS_IT_IS
    if kind is HourMinute and field.format == "%H:%M":
        return _hour_minute
    if kind is fields.Nested and isinstance(field.nested, type | Schema):
        nested = row_dumper(field.schema)
        if field.many:
            return lambda values: [nested(value) for value in values]
        return nested
    if kind is fields.List and type(field.inner) is fields.Nested:
        nested = row_dumper(field.inner.schema)
        return lambda values: [nested(value) for value in values]
    if kind is fields.List and type(field.inner) in (fields.Integer, fields.String, fields.Boolean):
        item = _converter(field.inner)
        return lambda values: [None if value is None else item(value) for value in values]
    return None


def row_dumper(schema: Schema) -> Dumper:
    """A function dumping one row (a mapping: a ``RowMapping`` or a dict) to what encodes to
    the JSON of ``schema.dump``; a field whose key the row lacks is left out, as marshmallow
    does.

    The function is generated once (as ``dataclasses`` generates ``__init__``). A row that
    has every field's key (a row as the services select it) is dumped by one dict display;
    others field by field. This is the one dump path of the API (``api/boundary.py``).
    """
    hooks = schema._hooks  # marshmallow keeps a schema's hooks only there
    if hooks.get(PRE_DUMP) or hooks.get(POST_DUMP):
        raise ValueError(f"{type(schema).__name__} has dump hooks; do that work in the service")
    names: dict[str, Any] = {
        "_ABSENT": _ABSENT,
        "_missing": missing,
        "_accessor": schema.get_attribute,
    }
    entries: list[str] = []  # every key present: one dict display
    lines: list[str] = []  # some keys absent: field by field
    looked_up: list[str] = []  # keys the dict display needs besides those its entries read
    for number, (name, field) in enumerate(schema.dump_fields.items()):
        key, attribute = field.data_key or name, field.attribute or name
        convert = _converter(field)
        names[f"_convert{number}"], names[f"_field{number}"] = convert, field
        if convert is None:  # no fast path: the field serialises itself, as in Schema.dump
            serialized = f"_field{number}.serialize({name!r}, row, accessor=_accessor)"
            lines.append(f"    value = {serialized}")
            lines.append(f"    if value is not _missing: out[{key!r}] = value")
            entries.append(f"{key!r}: {serialized}")
            if field._CHECK_ATTRIBUTE:  # absent, it is left out: the field-by-field path
                looked_up.append(f"row[{attribute!r}]")
            continue
        lines.append(f"    value = row.get({attribute!r}, _ABSENT)")
        lines.append("    if value is not _ABSENT:")
        if convert is _AS_IT_IS:
            lines.append(f"        out[{key!r}] = value")
            entries.append(f"{key!r}: row[{attribute!r}]")
            continue
        lines.append(f"        out[{key!r}] = None if value is None else _convert{number}(value)")
        if convert in (int, str, bool):  # the value usually is one already: no call then
            exact = convert.__name__
            entries.append(
                f"{key!r}: v if (v := row[{attribute!r}]) is None or v.__class__ is {exact} "
                f"else _convert{number}(v)"
            )
        else:
            entries.append(
                f"{key!r}: None if (v := row[{attribute!r}]) is None else _convert{number}(v)"
            )
    source = "\n".join(
        [
            "def dump(row):",
            "    try:",
            *[f"        {lookup}" for lookup in looked_up],
            f"        return {{{', '.join(entries)}}}",
            "    except KeyError:",
            "        pass",
            "    out = {}",
            *lines,
            "    return out",
        ]
    )
    exec(source, names)  # the source is built above from the schema's fields
    return names["dump"]
