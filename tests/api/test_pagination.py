from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from marshmallow import ValidationError

from communication_service.api.boundary import paginate
from communication_service.api.parsing import parse_query
from communication_service.models import Therapist
from communication_service.schemas.common import PageQuerySchema
from communication_service.schemas.dumping import row_dumper
from communication_service.schemas.therapist import TherapistSchema
from communication_service.services.listing import SelectListing
from tests.factories import make_therapist


class CountedListing:
    """A listing whose rows are given and whose total records that it was asked for."""

    def __init__(self, rows: list[str]) -> None:
        self.rows, self.counted = rows, 0

    def page(self, limit: int, offset: int) -> list[str]:
        return self.rows

    def total(self) -> int:
        self.counted += 1
        return 99


def test_a_short_first_page_is_not_counted():
    short = CountedListing(["a", "b"])
    assert paginate(short, 1, 3, None)["total"] == 2 and not short.counted
    empty = CountedListing([])
    assert paginate(empty, 1, 3, None)["total"] == 0 and not empty.counted
    full = CountedListing(["a", "b", "c"])
    assert paginate(full, 1, 3, None)["total"] == 99 and full.counted == 1
    beyond = CountedListing([])
    assert paginate(beyond, 5, 3, None)["total"] == 99 and beyond.counted == 1


def test_pages_and_total(session):
    ids = [make_therapist(session) for _ in range(7)]
    listing = SelectListing(session, sa.select(Therapist.__table__).order_by(Therapist.id))
    dump = row_dumper(TherapistSchema())
    first = paginate(listing, 1, 3, dump)
    assert [t["id"] for t in first["data"]] == ids[:3]
    assert (first["page"], first["per_page"], first["total"]) == (1, 3, 7)
    last = paginate(listing, 3, 3, dump)
    assert [t["id"] for t in last["data"]] == ids[6:]
    beyond = paginate(listing, 9, 3, dump)
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
