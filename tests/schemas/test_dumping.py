"""The compiled dumpers give exactly the JSON of ``Schema.dump``, for every output schema (dates
and timestamps are written by the encoder, ``json_provider.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, pre_dump

from communication_service.json_provider import encode
from communication_service.models import PhoneCallStatus
from communication_service.reads import ReadQuery, current_reader
from communication_service.schemas.api import HealthSchema
from communication_service.schemas.common import Choice, HourMinute, UtcDateTime
from communication_service.schemas.dumping import row_dumper
from communication_service.schemas.email import (
    CommunicationSchema,
    EmailBatchSchema,
    EmailResponseResultSchema,
    EmailSchema,
    EmailSummarySchema,
)
from communication_service.schemas.phone_call import (
    CallSheetBatchSchema,
    CallSheetCallSchema,
    FreeSlotSchema,
    PhoneCallBatchSchema,
    PhoneCallSchema,
    PhoneCallUpdateResultSchema,
)
from communication_service.schemas.placement_request import PlacementRequestSchema
from communication_service.schemas.therapist import (
    ContactStateSchema,
    TelephoneHours,
    TherapistContactSchema,
    TherapistSchema,
)

# Every schema a response is dumped with (``api/boundary.py``).
OUTPUT_SCHEMAS = (
    HealthSchema,
    TherapistSchema,
    EmailSchema,
    EmailSummarySchema,
    EmailBatchSchema,
    EmailResponseResultSchema,
    CommunicationSchema,
    FreeSlotSchema,
    PhoneCallSchema,
    PhoneCallBatchSchema,
    PhoneCallUpdateResultSchema,
    CallSheetCallSchema,
    CallSheetBatchSchema,
    TherapistContactSchema,
    ContactStateSchema,
    PlacementRequestSchema,
)

_aware = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]))


def _value_of(field: fields.Field) -> st.SearchStrategy:
    """What the database (or a service) hands the dumper for ``field``, None included."""
    kind = type(field)
    if kind is fields.Integer:
        plain = st.integers(-(2**31), 2**31 - 1)
    elif kind is fields.String:
        plain = st.text(max_size=20) | st.sampled_from(list(PhoneCallStatus))
    elif kind is Choice:  # text, or the models' StrEnum members
        plain = st.sampled_from(field.choices) | st.sampled_from(list(PhoneCallStatus))
    elif kind is TelephoneHours:  # what another service may have stored
        window = st.fixed_dictionaries({"start": st.text(max_size=5), "end": st.text(max_size=5)})
        plain = st.dictionaries(st.sampled_from(["monday", "funday"]), st.lists(window, max_size=2))
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
    elif kind is fields.List and type(field.inner) is fields.Nested:
        plain = st.lists(_row_of(field.inner.schema), max_size=3)
    elif kind is fields.List:
        plain = st.lists(_value_of(field.inner).filter(lambda v: v is not None), max_size=3)
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
        assert encode(dump(row)) == encode(schema.dump(row))

    check()


def test_fields_without_a_fast_path_go_through_marshmallow():
    class Mixed(Schema):
        ratio = fields.Float()
        label = fields.Function(lambda row: f"#{row.get('ratio')}")
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
    # A key the row lacks is left out by those fields too.
    row = {"count": 7}
    assert row_dumper(Mixed())(row) == Mixed().dump(row) == {"label": "#None", "number": 7}


def test_schemas_with_dump_hooks_are_refused():
    class Hooked(Schema):
        id = fields.Integer()

        @pre_dump
        def add(self, row, **kwargs):
            return row

    with pytest.raises(ValueError, match="dump hooks"):
        row_dumper(Hooked())


class _Moments(Schema):
    at = UtcDateTime(allow_none=True)
    day = fields.Date(allow_none=True)
    clock = HourMinute(allow_none=True)


_MOMENTS = sa.select(
    sa.cast(sa.bindparam("at"), sa.DateTime).label("at"),
    sa.cast(sa.bindparam("day"), sa.Date).label("day"),
    sa.cast(sa.bindparam("clock"), sa.Time).label("clock"),
)


def test_the_reader_returns_what_core_returns_and_it_dumps_like_marshmallow(app, session):
    """The hot reads hand over the same Python values as the session's Core path (dates as
    ``date``, not text), and the dumper formats them exactly as marshmallow does."""
    reader = current_reader()
    prepared = ReadQuery(_MOMENTS)
    dump = row_dumper(_Moments())
    edges = [datetime(2026, 3, 29, 2, 30), datetime(2026, 1, 1, 0, 0, 0, 120000)]

    @settings(max_examples=100, deadline=None)
    @given(
        st.one_of(st.sampled_from(edges), st.datetimes(min_value=datetime(1000, 1, 1))),
        st.dates(min_value=date(1000, 1, 1)),
        st.times(),
    )
    def check(at, day, clock):
        values = {"at": at, "day": day, "clock": clock}
        row = reader.first(prepared, **values)
        assert row == dict(session.execute(_MOMENTS, values).mappings().one()) == values
        assert encode(dump(row)) == encode(_Moments().dump(values))

    check()
    assert reader.tuples(prepared, {"at": None, "day": None, "clock": None}) == [(None,) * 3]
