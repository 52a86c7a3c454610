"""Hostile input: every answer is a 4xx in the one error format, and nothing is written.

The cases are parametrised over the OpenAPI document (``contract.py``): every operation, every
path parameter, every query parameter, every body property of a kind. A route added later is
covered as soon as it is documented. Each test starts from the seeded rows (ids 1 and 2 exist)
so a rejected request had something it could have damaged.
"""

from __future__ import annotations

import io
import json
import re
from urllib.parse import quote

import pytest
from flask import Flask, request
from marshmallow import Schema, ValidationError, fields

from communication_service.api.parsing import MAX_JSON_DEPTH, parse_body, parse_query
from communication_service.errors import ApiError
from communication_service.schemas.common import RowId, UniqueList
from tests.api.contract import (
    DocumentedOperation,
    api_operations,
    body_limit,
    body_operations,
    document,
    path_parameters,
    query_parameters,
    raw_body_operations,
    table_fingerprints,
    walk_request_schemas,
)
from tests.factories import reset_and_seed

SQL_LIKE = (
    "1' OR '1'='1",
    "1; DROP TABLE therapist_service.therapists; --",
    "1 UNION SELECT nachname FROM patient_service.patients",
    "$$; SELECT pg_sleep(10); $$",
)
VERY_LONG = ("9" * 5000, "x" * 100_000)
INVALID_DATES = ("2027-02-30", "0000-01-01", "2027-13-01", "27-02-01", "2027-02-01T00:00", "")
OUT_OF_RANGE_INTEGERS = (0, -1, 2**31, 2**63, 10**30)
TEN_MEGABYTES = 10 * 1024 * 1024


def label(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}…({len(text)})"


def op_id(value: object) -> str:
    """Test ids: the operation's label, a parameter's name, a short value."""
    if isinstance(value, DocumentedOperation):
        return value.label
    if isinstance(value, dict):
        return value.get("name", "schema")
    return "none" if value is None else label(value)


def or_placeholder(cases: list, what: str, width: int = 2) -> list:
    """An explicit skip while the document has no such place yet (it will once routes exist)."""
    skip = pytest.mark.skip(f"no {what} documented yet")
    return cases or [pytest.param(*([None] * width), marks=skip)]


def or_placeholder3(cases: list, what: str) -> list:
    return or_placeholder(cases, what, width=3)


@pytest.fixture
def seeded(session):
    reset_and_seed(session)
    return table_fingerprints(session)


def assert_rejected(response, seeded, session, *statuses: int) -> dict:
    """A 4xx (one of ``statuses`` when given) in the one error format; the tables unchanged."""
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:500]
    if statuses:
        assert response.status_code in statuses, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "SELECT" not in text and ".py" not in text
    assert table_fingerprints(session) == seeded
    return body["error"]


def send(client, op: DocumentedOperation, url: str | None = None, **kwargs):
    if op.body_schema is not None and not {"data", "json"} & set(kwargs):
        kwargs["json"] = {}
    return client.open(url or op.url(), method=op.method, **kwargs)


# Path parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "parameter"),
    or_placeholder(path_parameters(), "path parameter"),
    ids=op_id,
)
@pytest.mark.parametrize(
    "value",
    [*SQL_LIKE, *VERY_LONG, *map(str, OUT_OF_RANGE_INTEGERS), "1.0", "0x1", "%00", "1%0A2"],
    ids=label,
)
def test_path_parameters_take_no_nonsense(client, seeded, session, op, parameter, value):
    url = op.url(**{parameter["name"]: quote(value, safe="%")})
    assert_rejected(send(client, op, url), seeded, session, 404)


# Query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("op", api_operations(), ids=op_id)
@pytest.mark.parametrize("name", ["' OR 1=1 --", "unknown", "x" * 5000], ids=label)
def test_unknown_query_parameters_are_rejected(client, seeded, session, op, name):
    error = assert_rejected(send(client, op, query_string={name: "1"}), seeded, session, 422)
    assert error["details"] == {name: ["Unknown parameter."]}


@pytest.mark.parametrize(
    ("op", "parameter"),
    or_placeholder(query_parameters(), "query parameter"),
    ids=op_id,
)
@pytest.mark.parametrize("value", [*SQL_LIKE, *VERY_LONG], ids=label)
def test_sql_and_long_strings_in_every_filter(client, seeded, session, op, parameter, value):
    """Rejected (422), or for a free-text filter: a list that matches nothing (not widened)."""
    response = send(client, op, query_string={parameter["name"]: value})
    if response.status_code == 200:
        body = response.get_json()
        assert isinstance(body, dict) and body.get("data") == [], body
        assert table_fingerprints(session) == seeded
    else:
        assert_rejected(response, seeded, session, 422)


@pytest.mark.parametrize(
    ("op", "parameter"),
    or_placeholder(query_parameters(), "query parameter"),
    ids=op_id,
)
def test_repeated_query_parameters_are_rejected(client, seeded, session, op, parameter):
    if parameter["schema"].get("type") == "array":
        pytest.skip("a list parameter may repeat")
    url = f"{op.url()}?{parameter['name']}=1&{parameter['name']}=2"
    error = assert_rejected(send(client, op, url), seeded, session, 422)
    assert error["details"] == {parameter["name"]: ["Given more than once; give it once."]}


def integer_query_parameters():
    return [(op, p) for op, p in query_parameters() if p["schema"].get("type") == "integer"]


@pytest.mark.parametrize(
    ("op", "parameter"),
    or_placeholder(integer_query_parameters(), "integer query parameter"),
    ids=op_id,
)
@pytest.mark.parametrize(
    "value", ["-1", "0", str(2**31), str(10**9), str(10**30), "1e3", "1.5", " 1"], ids=label
)
def test_integers_out_of_range_in_the_query(client, seeded, session, op, parameter, value):
    schema = parameter["schema"]
    number = int(value) if re.fullmatch(r"-?[0-9]+", value) else None
    if number is not None and schema.get("minimum", -(10**99)) <= number <= schema.get(
        "maximum", 10**99
    ):
        pytest.skip(f"{value} is allowed here")
    error = assert_rejected(
        send(client, op, query_string={parameter["name"]: value}), seeded, session, 422
    )
    assert parameter["name"] in error["details"]


def date_query_parameters():
    return [(op, p) for op, p in query_parameters() if p["schema"].get("format") == "date"]


@pytest.mark.parametrize(
    ("op", "parameter"),
    or_placeholder(date_query_parameters(), "date query parameter"),
    ids=op_id,
)
@pytest.mark.parametrize("value", INVALID_DATES, ids=label)
def test_impossible_dates_in_the_query(client, seeded, session, op, parameter, value):
    error = assert_rejected(
        send(client, op, query_string={parameter["name"]: value}), seeded, session, 422
    )
    assert parameter["name"] in error["details"]


@pytest.mark.parametrize("op", api_operations(), ids=op_id)
@pytest.mark.parametrize("query", [b"x=%FF%FE", b"x=%ED%A0%80", b"x=\xff", b"%C3%28=1"], ids=label)
def test_non_utf8_query_strings(client, seeded, session, op, query):
    # As a server passes it on: the raw bytes, one character each (WSGI's latin-1 strings).
    response = send(client, op, environ_overrides={"QUERY_STRING": query.decode("latin-1")})
    error = assert_rejected(response, seeded, session, 400)
    assert error["code"] == "invalid_query"


@pytest.mark.parametrize("op", api_operations(), ids=op_id)
def test_nul_in_the_query(client, seeded, session, op):
    name = next((p["name"] for p in op.parameters("query")), "x")
    response = send(client, op, query_string=f"{name}=a%00b")
    assert_rejected(response, seeded, session, 422)


# Bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", body_operations(), ids=op_id)
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
    ],
    ids=str,
)
def test_wrong_content_types(client, seeded, session, op, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = send(client, op, data=b'{"a": 1}', headers=headers)
    error = assert_rejected(response, seeded, session, 415)
    assert error["code"] == "unsupported_media_type"


@pytest.mark.parametrize("op", body_operations(), ids=op_id)
@pytest.mark.parametrize(
    "body",
    [
        b'{"notes": "\xff\xfe"}',
        '{"notes": "Müller"}'.encode("latin-1"),
        b"\xef\xbb\xbf{}",  # a byte order mark
        "{}".encode("utf-16"),
        b"",
        b"{",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e999}',
        b'{"a": ' + b"9" * 5000 + b"}",
    ],
    ids=label,
)
def test_bodies_that_are_not_utf8_json(client, seeded, session, op, body):
    response = send(client, op, data=body, content_type="application/json")
    error = assert_rejected(response, seeded, session, 400)
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize("op", body_operations(), ids=op_id)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 400_000])
def test_deeply_nested_json(client, seeded, session, op, depth):
    """Past our limit, and past the recursion limit of Python's JSON parser (within 1 MB)."""
    body = "[" * depth + "]" * depth if depth > 5_000 else '{"a": ' * depth + "1" + "}" * depth
    response = send(client, op, data=body, content_type="application/json")
    error = assert_rejected(response, seeded, session, 400)
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize("op", body_operations(), ids=op_id)
def test_nesting_within_the_limit_is_judged_by_the_schema(client, seeded, session, op):
    body = {"unknown_field": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))}
    error = assert_rejected(send(client, op, json=body), seeded, session, 422)
    assert error["code"] == "validation_failed"


@pytest.mark.parametrize("op", body_operations(), ids=op_id)
@pytest.mark.parametrize(
    ("text", "rule"),
    [("a\x00b", "NUL"), ("\ud800", "surrogates")],
    ids=["nul", "lone-surrogate"],
)
def test_text_postgres_cannot_store(client, seeded, session, op, text, rule):
    """Anywhere in a body: as a value or a key, at the top or nested."""
    for body in ({"field": text}, {text: 1}, {"outer": [{"inner": text}]}):
        raw = json.dumps(body)  # ensure_ascii: the text travels as \u escapes
        response = send(client, op, data=raw, content_type="application/json")
        error = assert_rejected(response, seeded, session, 422)
        assert any(rule in " ".join(m) for m in error["details"].values()), error


@pytest.mark.parametrize("op", api_operations(), ids=op_id)
def test_ten_megabyte_bodies(client, seeded, session, op):
    """Whether or not the operation reads a body (PostgreSQL never sees it)."""
    response = client.open(
        op.url(),
        method=op.method,
        data=b"[" + b"1," * (TEN_MEGABYTES // 2) + b"1]",
        content_type="application/json",
    )
    error = assert_rejected(response, seeded, session, 413)
    assert error["code"] == "payload_too_large"


@pytest.mark.parametrize("op", body_operations(), ids=op_id)
def test_ten_megabyte_chunked_body_without_length(client, seeded, session, op):
    """No Content-Length (chunked, as gunicorn passes it on): the read stops at the limit."""
    response = client.open(
        op.url(),
        method=op.method,
        input_stream=io.BytesIO(b"[" + b"1," * (TEN_MEGABYTES // 2) + b"1]"),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_rejected(response, seeded, session, 413)


# Raw bodies (message/rfc822): bytes of one media type, judged by the operation's loader.


def raw_send(client, op: DocumentedOperation, data, content_type: str | None = "", **kwargs):
    content_type = op.body_media_type if content_type == "" else content_type
    headers = {"Content-Type": content_type} if content_type else {}
    return client.open(op.url(), method=op.method, data=data, headers=headers, **kwargs)


@pytest.mark.parametrize("op", raw_body_operations(), ids=op_id)
@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "multipart/form-data; boundary=x",
     "application/octet-stream", "message/rfc822x"],
    ids=str,
)  # fmt: skip
def test_raw_bodies_of_another_media_type(client, seeded, session, op, content_type):
    message = b"From: a@example.org\nSubject: x\n\ntext\n"
    error = assert_rejected(raw_send(client, op, message, content_type), seeded, session, 415)
    assert error["details"] == {"Content-Type": op.body_media_type}


@pytest.mark.parametrize("op", raw_body_operations(), ids=op_id)
@pytest.mark.parametrize(
    "body",
    [b"", b"\r\n\r\n", b'{"a": 1}', b"[1, 2]", SQL_LIKE[1].encode(), VERY_LONG[1].encode(),
     b"\x00" * 64, b"\xff\xfe\xfd" * 64, "Grüße: kein Header".encode("utf-16")],
    ids=label,
)  # fmt: skip
def test_raw_bodies_that_their_loader_refuses(client, seeded, session, op, body):
    error = assert_rejected(raw_send(client, op, body), seeded, session, 422)
    assert error["code"] == "validation_failed" and error["details"]["body"]


@pytest.mark.parametrize("op", raw_body_operations(), ids=op_id)
def test_raw_bodies_one_byte_past_their_limit(client, seeded, session, op):
    limit = body_limit(op)
    head = b"From: a@example.org\n\n"
    body = head + b"x" * (limit + 1 - len(head))
    assert len(body) == limit + 1
    error = assert_rejected(raw_send(client, op, body), seeded, session, 413)
    assert error["code"] == "payload_too_large"
    chunked = raw_send(
        client,
        op,
        None,
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_rejected(chunked, seeded, session, 413)


def body_properties(kind: str):
    """(operation, top-level property, schema) for body properties of a kind."""
    cases = []
    for op in body_operations():
        for name, prop in op.body_schema.get("properties", {}).items():
            types = prop.get("type")
            types = types if isinstance(types, list) else [types]
            if (
                (kind == "integer" and "integer" in types)
                or (kind == "date" and prop.get("format") == "date")
                or (kind == "bounded string" and "string" in types and "maxLength" in prop)
                or (kind == "id list" and name.endswith("_ids") and "array" in types)
            ):
                cases.append((op, name, prop))
    return cases


def integer_cases(prop: dict) -> dict[str, object]:
    """Out of range, and an allowed number in the wrong JSON type."""
    minimum, maximum = prop.get("minimum"), prop.get("maximum")
    allowed = minimum if minimum is not None else (maximum if maximum is not None else 1)
    return {
        "below-minimum": (minimum if minimum is not None else -(2**31)) - 1,
        "above-maximum": (maximum if maximum is not None else 2**31) + 1,
        "huge": 10**30,
        "as-string": str(allowed),
        "with-fraction": allowed + 0.5,
        "boolean": True,
    }


@pytest.mark.parametrize(
    ("op", "name", "prop"),
    or_placeholder3(body_properties("integer"), "integer body property"),
    ids=op_id,
)
@pytest.mark.parametrize("case", list(integer_cases({})), ids=str)
def test_integers_out_of_range_in_bodies(client, seeded, session, op, name, prop, case):
    value = integer_cases(prop)[case]
    error = assert_rejected(send(client, op, json={name: value}), seeded, session, 422)
    assert name in error["details"], f"{name}={value!r} was accepted"


@pytest.mark.parametrize(
    ("op", "name", "prop"),
    or_placeholder3(body_properties("date"), "date body property"),
    ids=op_id,
)
@pytest.mark.parametrize("value", INVALID_DATES, ids=label)
def test_impossible_dates_in_bodies(client, seeded, session, op, name, prop, value):
    error = assert_rejected(send(client, op, json={name: value}), seeded, session, 422)
    assert name in error["details"]


@pytest.mark.parametrize(
    ("op", "name", "prop"),
    body_properties("bounded string"),
    ids=op_id,
)
def test_strings_one_past_their_max_length(client, seeded, session, op, name, prop):
    value = "x" * (prop["maxLength"] + 1)
    error = assert_rejected(send(client, op, json={name: value}), seeded, session, 422)
    assert name in error["details"]


@pytest.mark.parametrize(
    ("op", "name", "prop"),
    or_placeholder3(body_properties("id list"), "id list in a body (placement_request_ids)"),
    ids=op_id,
)
def test_duplicate_ids_in_lists(client, seeded, session, op, name, prop):
    assert prop.get("uniqueItems") is True
    error = assert_rejected(send(client, op, json={name: [1, 2, 1]}), seeded, session, 422)
    assert error["details"][name] == ["Contains duplicates: 1."]


# The machinery itself, on a throwaway schema (no route needs it yet).


class ThrowawaySchema(Schema):
    placement_request_ids = UniqueList(RowId(strict=True), required=True)


class ThrowawayQuerySchema(Schema):
    status = fields.List(fields.String())
    therapist_id = RowId()


def test_unique_list_rejects_duplicates_and_keeps_order():
    app = Flask(__name__)
    with app.test_request_context(json={"placement_request_ids": [3, 1, 2]}):
        assert parse_body(ThrowawaySchema()) == {"placement_request_ids": [3, 1, 2]}
    with (
        app.test_request_context(json={"placement_request_ids": [3, 1, 3, 1, 2]}),
        pytest.raises(ValidationError) as raised,
    ):
        parse_body(ThrowawaySchema())
    assert raised.value.messages == {"placement_request_ids": ["Contains duplicates: 3, 1."]}


def test_row_ids_are_bounded_and_strict_in_bodies():
    app = Flask(__name__)
    for bad in (0, -1, 2**31, "1", 1.5):
        with (
            app.test_request_context(json={"placement_request_ids": [bad]}),
            pytest.raises(ValidationError) as raised,
        ):
            parse_body(ThrowawaySchema())
        assert "placement_request_ids" in str(raised.value.messages)


def test_query_lists_may_repeat_and_scalars_may_not():
    app = Flask(__name__)
    with app.test_request_context("/?status=open&status=done&therapist_id=7"):
        assert request.args
        assert parse_query(ThrowawayQuerySchema()) == {
            "status": ["open", "done"],
            "therapist_id": 7,
        }
    with (
        app.test_request_context("/?therapist_id=7&therapist_id=8&nope=1"),
        pytest.raises(ValidationError) as raised,
    ):
        parse_query(ThrowawayQuerySchema())
    assert raised.value.messages == {
        "therapist_id": ["Given more than once; give it once."],
        "nope": ["Unknown parameter."],
    }
    with (
        app.test_request_context(f"/?therapist_id={2**31}"),
        pytest.raises(ValidationError) as raised,
    ):
        parse_query(ThrowawayQuerySchema())
    assert "therapist_id" in raised.value.messages


def test_non_utf8_query_is_a_bad_request():
    app = Flask(__name__)
    with app.test_request_context("/?status=%FF"), pytest.raises(ApiError) as raised:
        parse_query(ThrowawayQuerySchema())
    assert raised.value.code == "invalid_query"


def test_the_document_has_places_for_these_tests():
    """Guard against a walk that silently finds nothing."""
    assert path_parameters() and body_operations() and api_operations()
    assert [op.body_media_type for op in raw_body_operations()] == ["message/rfc822"]
    assert body_properties("bounded string")
    assert any(place.endswith("potentially_available_notes") for place, _ in walk_request_schemas())
    assert document()["paths"]
