from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from marshmallow import ValidationError

from communication_service.api.pagination import PageQuerySchema, paginate, paginate_select
from communication_service.api.parsing import parse_query
from communication_service.models import Therapist
from communication_service.schemas.therapist import TherapistSchema
from tests.factories import make_therapist


def test_a_short_first_page_is_not_counted():
    counted = []

    def count() -> int:
        counted.append(1)
        return 99

    short = paginate(lambda limit, offset: ["a", "b"], count, page=1, per_page=3)
    assert short["total"] == 2 and not counted
    empty = paginate(lambda limit, offset: [], count, page=1, per_page=3)
    assert empty["total"] == 0 and not counted
    full = paginate(lambda limit, offset: ["a", "b", "c"], count, page=1, per_page=3)
    assert full["total"] == 99 and counted == [1]
    beyond = paginate(lambda limit, offset: [], count, page=5, per_page=3)
    assert beyond["total"] == 99 and counted == [1, 1]


def test_pages_and_total(session):
    ids = [make_therapist(session) for _ in range(7)]
    stmt = sa.select(Therapist.__table__).order_by(Therapist.id)
    first = paginate_select(session, stmt, page=1, per_page=3, schema=TherapistSchema())
    assert [t["id"] for t in first["data"]] == ids[:3]
    assert (first["page"], first["per_page"], first["total"]) == (1, 3, 7)
    last = paginate_select(session, stmt, page=3, per_page=3, schema=TherapistSchema())
    assert [t["id"] for t in last["data"]] == ids[6:]
    beyond = paginate_select(session, stmt, page=9, per_page=3, schema=TherapistSchema())
    assert beyond["data"] == [] and beyond["total"] == 7
    assert "_total" not in first["data"][0]


def parse_page_query(query: str) -> dict:
    with Flask(__name__).test_request_context(f"/?{query}"):
        return parse_query(PageQuerySchema())


def test_page_query_defaults_and_limits():
    assert parse_page_query("") == {"page": 1, "per_page": 50}
    assert parse_page_query("page=2&per_page=200") == {"page": 2, "per_page": 200}
    for bad in (
        "per_page=201",
        "per_page=0",
        "page=0",
        "page=-1",
        "per_page=1000000000",
        "page=abc",
        "page=1.5",
        "page=%201",
        "page=1_0",
        "page=%D9%A5",  # an Arabic-Indic five: int() would read it
        "page=1e3",
        f"page={10**40}",
    ):
        with pytest.raises(ValidationError):
            parse_page_query(bad)
