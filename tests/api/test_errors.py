"""One JSON error format for every failure; never HTML, tracebacks or SQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from communication_service.extensions import db
from communication_service.schemas.common import DATE_RULE, DATETIME_RULE
from tests.factories import make_email, make_therapist


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower() and "Traceback" not in text
    return body["error"]


def test_unknown_route(client):
    assert_error(client.get("/api/no-such-thing"), 404, "not_found")
    assert_error(client.get("/nowhere"), 404, "not_found")


def test_unknown_id_and_ids_postgres_cannot_hold(client):
    assert_error(client.get("/api/therapists/12345"), 404, "not_found")
    assert_error(client.get(f"/api/therapists/{2**31}"), 404, "not_found")
    assert_error(client.get("/api/therapists/0"), 404, "not_found")
    assert_error(client.get("/api/therapists/-1"), 404, "not_found")


def test_method_not_allowed(client):
    response = client.delete("/api/therapists/1")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_malformed_json(client, session):
    from tests.factories import make_therapist

    therapist_id = make_therapist(session)
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        data="{not json",
        content_type="application/json",
    )
    assert_error(response, 400, "invalid_json")


def test_wrong_content_type(client, session):
    from tests.factories import make_therapist

    therapist_id = make_therapist(session)
    response = client.put(
        f"/api/therapists/{therapist_id}/availability",
        data="potentially_available=true",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 415, "unsupported_media_type")


def test_body_too_large(client):
    response = client.put(
        "/api/therapists/1/availability",
        data=b"[" + b"1," * 1_000_000 + b"1]",
        content_type="application/json",
    )
    assert_error(response, 413, "payload_too_large")


def test_unexpected_error_is_a_json_500_without_sql(app_factory):
    app = app_factory()

    @app.get("/api/boom")
    def boom():
        db.session.execute(sa.text("SELECT * FROM no_such_table_with_secret_name"))

    with app.app_context():
        response = app.test_client().get(
            "/api/boom", headers={"Authorization": "Bearer test-token-7f3a"}
        )
    error = assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "no_such_table" not in text and "SELECT" not in text
    assert error["message"] == "An unexpected error occurred."


# --- dates and timestamps: a bad value says the format it expects ----------------------------

BAD_DATES = ["2027-02-30", "01.03.2027", "2027-3-1", "20270301", "2027-W09-1", "morgen"]


@pytest.mark.parametrize("bad", BAD_DATES)
def test_a_bad_date_in_a_body_or_a_query_names_the_format(client, session, bad):
    therapist = make_therapist(session)
    call = client.post("/api/phone-calls", json={"therapist_id": therapist}).get_json()
    for response, field in [
        (
            client.post(
                "/api/phone-calls",
                json={"therapist_id": therapist, "scheduled_date": bad, "scheduled_time": "09:00"},
            ),
            "scheduled_date",
        ),
        (
            client.post("/api/phone-calls", json={"therapist_id": therapist, "not_before": bad}),
            "not_before",
        ),
        (client.put(f"/api/phone-calls/{call['id']}", json={"actual_date": bad}), "actual_date"),
        (client.get(f"/api/phone-calls?date_from={bad}"), "date_from"),
        (client.get(f"/api/phone-calls/daily?date={bad}"), "date"),
        (client.get(f"/api/therapists/{therapist}/slots?from={bad}"), "from"),
    ]:
        error = assert_error(response, 422, "validation_failed")
        assert error["details"] == {field: [DATE_RULE]}, field
    assert DATE_RULE == "Not a valid date: use YYYY-MM-DD (e.g. 2027-03-01)."


def test_a_bad_timestamp_names_iso_8601_with_an_offset(client, session):
    therapist = make_therapist(session)
    email = make_email(session, therapist_id=therapist, status="sent")
    response = client.put(f"/api/emails/{email}/response", json={"response_date": "gestern"})
    error = assert_error(response, 422, "validation_failed")
    assert error["details"] == {"response_date": [DATETIME_RULE]}
    assert "ISO 8601 with an offset" in DATETIME_RULE


def test_every_date_and_timestamp_the_api_reads_says_its_format(app):
    """One field class for every date (and timestamp) a body or query string carries, so a new
    parameter cannot fall back to marshmallow's bare "Not a valid date."."""
    from marshmallow import Schema, fields

    from communication_service.api.openapi import iter_operations
    from communication_service.schemas.common import IsoDate, IsoDateTime

    def date_fields(schema):
        for name, field in schema().load_fields.items():
            if isinstance(field, fields.Nested):
                yield from date_fields(type(field.schema))
            elif isinstance(field, fields.Date | fields.DateTime):
                yield name, field

    checked = []
    for operation in iter_operations(app):
        for where in ("body", "query"):
            schema = (operation.apidoc or {}).get(where)
            if not (isinstance(schema, type) and issubclass(schema, Schema)):
                continue  # a raw body (message/rfc822) has no fields
            for name, field in date_fields(schema):
                assert isinstance(field, IsoDate | IsoDateTime), (operation.path, name)
                checked.append(name)
    assert {"scheduled_date", "not_before", "from_date", "date", "response_date"} <= set(checked)
