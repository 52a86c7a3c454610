"""One JSON error format for every failure; never HTML, tracebacks or SQL."""

from __future__ import annotations

import sqlalchemy as sa

from communication_service.extensions import db


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
