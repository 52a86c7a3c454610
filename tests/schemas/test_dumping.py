"""The compiled dumpers give exactly what ``Schema.dump`` gives, for every output schema."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, pre_dump

from communication_service.models import PhoneCallStatus
from communication_service.reads import ReadQuery, current_reader
from communication_service.schemas.common import HourMinute, UtcDateTime
from communication_service.schemas.dumping import row_dumper
from communication_service.schemas.phone_call import (
    CallSheetBatchSchema,
    CallSheetCallSchema,
    PhoneCallBatchSchema,
    PhoneCallSchema,
    PhoneCallUpdateResultSchema,
)
from communication_service.schemas.therapist import TherapistSchema

OUTPUT_SCHEMAS = (
    TherapistSchema,
    PhoneCallSchema,
    PhoneCallBatchSchema,
    PhoneCallUpdateResultSchema,
    CallSheetCallSchema,
    CallSheetBatchSchema,
)

_aware = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]))


def _value_of(field: fields.Field) -> st.SearchStrategy:
    """What the database (or a service) hands the dumper for ``field``, None included."""
    kind = type(field)
    if kind is fields.Integer:
        plain = st.integers(-(2**31), 2**31 - 1)
    elif kind is fields.String:
        plain = st.text(max_size=20) | st.sampled_from(list(PhoneCallStatus))
    elif kind is fields.Boolean:
        plain = st.booleans()
    elif kind is fields.Date:
        plain = st.dates()
    elif kind is UtcDateTime:
        plain = st.datetimes() | _aware  # naive UTC from the database, aware from Python
    elif kind is HourMinute:
        plain = st.times()
    elif kind is fields.Dict:
        plain = st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8))
    elif kind is fields.Nested:
        plain = _row_of(field.schema)
    elif kind is fields.List:
        plain = st.lists(_row_of(field.inner.schema), max_size=3)
    else:
        raise AssertionError(f"no strategy for {kind.__name__}: add one")
    return st.none() | plain


def _row_of(schema: Schema) -> st.SearchStrategy:
    """Rows with any subset of the schema's fields (absent ones are left out of the dump)."""
    return st.fixed_dictionaries(
        {},
        optional={
            (field.attribute or name): _value_of(field)
            for name, field in schema.dump_fields.items()
        },
    )


@pytest.mark.parametrize("schema_class", OUTPUT_SCHEMAS, ids=lambda c: c.__name__)
def test_the_dumper_matches_marshmallow(schema_class):
    schema = schema_class()
    dump = row_dumper(schema)

    @settings(max_examples=150, deadline=None)
    @given(_row_of(schema))
    def check(row):
        assert dump(row) == schema.dump(row)

    check()


def test_fields_without_a_fast_path_go_through_marshmallow():
    class Mixed(Schema):
        ratio = fields.Float()
        label = fields.Function(lambda row: f"#{row['ratio']}")
        renamed = fields.Integer(data_key="number", attribute="count")

    row = {"ratio": 1, "count": 7}
    assert (
        row_dumper(Mixed())(row)
        == Mixed().dump(row)
        == {
            "ratio": 1.0,
            "label": "#1",
            "number": 7,
        }
    )


def test_schemas_with_dump_hooks_are_refused():
    class Hooked(Schema):
        id = fields.Integer()

        @pre_dump
        def add(self, row, **kwargs):
            return row

    with pytest.raises(ValueError, match="dump hooks"):
        row_dumper(Hooked())


def _flattened(schema: Schema, row: dict) -> dict:
    """``row`` as a joined select shows it: a nested object's values in ``<field>_<name>``
    columns (what the tuple dumpers read a ``Nested`` field from); lists are not selected."""
    flat = {}
    for name, value in row.items():
        field = schema.dump_fields.get(name)
        if isinstance(field, fields.Nested):
            flat.update({f"{name}_{key}": inner for key, inner in value.items()})
        else:
            flat[name] = value
    return flat


@pytest.mark.parametrize("schema_class", OUTPUT_SCHEMAS, ids=lambda c: c.__name__)
def test_the_tuple_dumper_matches_marshmallow(schema_class):
    """A reader's row (a tuple named by its columns, nested objects in prefixed columns, any
    other columns beside them) dumps like the mapping it stands for."""
    schema = schema_class()
    nested = {name for name, f in schema.dump_fields.items() if type(f) is fields.Nested}
    lists = {name for name, f in schema.dump_fields.items() if type(f) is fields.List}

    @settings(max_examples=150, deadline=None)
    @given(_row_of(schema), st.randoms(use_true_random=False))
    def check(row, random):
        # Joined objects are present (not None); lists come from other rows, not columns.
        row = {k: v for k, v in row.items() if k not in lists and not (k in nested and v is None)}
        for name in nested:  # the sheet's therapist.id is the call's therapist_id column
            shared = {k for k in row if k.startswith(f"{name}_")}
            assume(name in row or not shared)
            assume(row.get(name) != {})  # a joined object has columns
            for column in shared:
                row[name] = {**row[name], column.removeprefix(f"{name}_"): row[column]}
            for key, value in row.get(name, {}).items():
                if f"{name}_{key}" in schema.dump_fields:
                    row[f"{name}_{key}"] = value
        flat = {**_flattened(schema, row), "unrelated": 1}
        columns = list(flat)
        random.shuffle(columns)
        dump = row_dumper(schema, columns)
        assert dump(tuple(flat[c] for c in columns)) == schema.dump(row)

    check()


class _Moments(Schema):
    at = UtcDateTime(allow_none=True)
    day = fields.Date(allow_none=True)
    clock = HourMinute(allow_none=True)


_MOMENTS = ReadQuery(
    sa.select(
        sa.cast(sa.bindparam("at"), sa.DateTime).label("at"),
        sa.cast(sa.bindparam("day"), sa.Date).label("day"),
        sa.cast(sa.bindparam("clock"), sa.Time).label("clock"),
    )
)


def test_the_reader_hands_over_dates_and_times_as_text_that_dumps_like_the_objects(app):
    """The reader's connections return PostgreSQL's ISO text for date, time and timestamp
    (no objects built only to be formatted back); the dumper turns that text into exactly
    what marshmallow makes of the objects: six fraction digits or none, HH:MM, +00:00."""
    reader = current_reader()
    dump = row_dumper(_Moments(), _MOMENTS.keys)
    edges = [datetime(2026, 3, 29, 2, 30), datetime(2026, 1, 1, 0, 0, 0, 120000)]

    @settings(max_examples=200, deadline=None)
    @given(
        st.one_of(st.sampled_from(edges), st.datetimes(min_value=datetime(1000, 1, 1))),
        st.dates(min_value=date(1000, 1, 1)),
        st.times(),
    )
    def check(at, day, clock):
        row = reader.tuples(_MOMENTS, {"at": at, "day": day, "clock": clock})[0]
        assert all(isinstance(value, str) for value in row)
        assert dump(row) == _Moments().dump({"at": at, "day": day, "clock": clock})

    check()
    assert reader.tuples(_MOMENTS, {"at": None, "day": None, "clock": None}) == [(None,) * 3]
