"""Secrets and privacy in logs and error bodies; request ids; JSON logs from a real gunicorn.

Log checks look at everything a handler could write: the message, its arguments, the extra
fields and the exception text, formatted by both formatters, for every logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest

from communication_service.logging_setup import JsonFormatter, TextFormatter
from tests.api.contract import operations
from tests.conftest import API_TOKEN
from tests.factories import reset_and_seed
from tests.gunicorn import Gunicorn
from tests.pg import recreate_database

REPO = Path(__file__).resolve().parents[2]
PATIENT_NAMES = ("Mustermann", "Erika", "Schmidt-Özdemir")
WRONG_TOKEN = "wrong-secret-token-5b1e"


def everything_logged(records: list[logging.LogRecord]) -> str:
    """All text the records could put into a log, in both formats."""
    parts = []
    for record in records:
        parts.append(TextFormatter().format(record))
        parts.append(JsonFormatter().format(record))
        parts.append(repr(record.args))
        parts.append(repr(getattr(record, "fields", "")))
    return "\n".join(parts)


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)  # the root: every library's records too
    return caplog


# Tokens ---------------------------------------------------------------------------------


def test_tokens_are_never_logged(app, session, all_logs):
    reset_and_seed(session)
    raw = app.test_client()
    headers_variants = [
        {"Authorization": f"Bearer {API_TOKEN}"},
        {"Authorization": f"Bearer {WRONG_TOKEN}"},
        {"Authorization": f"Basic {WRONG_TOKEN}"},
        {"Authorization": WRONG_TOKEN},
        {"Authorization": f"Bearer {API_TOKEN}", "X-Request-ID": "req-1"},
    ]
    for headers in headers_variants:
        for op in operations():
            raw.open(op.url(), method=op.method, headers=headers, json={"x": 1})
        raw.get("/api/no-such-route", headers=headers)
        raw.delete("/api/therapists/1", headers=headers)  # 405
        raw.get(f"/api/therapists/1?token={WRONG_TOKEN}", headers=headers)  # 422/401
    assert all_logs.records, "the requests were logged at all"
    text = everything_logged(all_logs.records)
    assert API_TOKEN not in text
    assert WRONG_TOKEN not in text


# Patient data ---------------------------------------------------------------------------


def test_patient_names_in_requests_never_reach_the_logs(client, session, all_logs):
    reset_and_seed(session)
    name = " ".join(PATIENT_NAMES)
    requests = [
        # stored (200), rejected (422), not JSON (400), wrong type (415), too long (422)
        ("PUT", "/api/therapists/1/availability", {"json": {"potentially_available_notes": name}}),
        ("PUT", "/api/therapists/1/availability", {"json": {"notiz": name, name: True}}),
        (
            "PUT",
            "/api/therapists/1/availability",
            {"data": f"{{{name}", "content_type": "application/json"},
        ),
        ("PUT", "/api/therapists/1/availability", {"data": name, "content_type": "text/plain"}),
        (
            "PUT",
            "/api/therapists/1/availability",
            {"json": {"potentially_available_notes": name * 1000}},
        ),
        ("GET", f"/api/therapists/1?patient={name}", {}),
        ("GET", f"/api/therapists/{name}", {}),
        ("GET", f"/api/{name}", {}),
    ]
    statuses = set()
    for method, url, kwargs in requests:
        statuses.add(client.open(url, method=method, **kwargs).status_code)
    assert statuses == {200, 400, 404, 415, 422}
    text = everything_logged(all_logs.records)
    for part in PATIENT_NAMES:
        assert part not in text


# Error bodies and a real database error ---------------------------------------------------


@pytest.fixture(scope="session")
def tableless_database_url(pg_server_url, worker_id):
    """A real database without the service's tables: every query fails in PostgreSQL."""
    return recreate_database(pg_server_url, f"cs_test_tableless_{worker_id}")


def assert_no_internals(text: str) -> None:
    lowered = text.lower()
    for leak in (
        "select",
        "insert",
        "update ",
        "relation",
        "therapist_service",
        "psycopg2",
        "sqlalchemy",
        "traceback",
        ".py",
        "/work",
        "line ",
    ):
        assert leak not in lowered, leak


def test_database_error_answers_500_without_sql_paths_or_data(
    app_factory, tableless_database_url, all_logs
):
    app = app_factory(database_url=tableless_database_url)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {API_TOKEN}", "X-Request-ID": "db-error-1"}
    responses = [
        client.get("/api/therapists/1", headers=auth),
        client.put(
            "/api/therapists/1/availability",
            headers=auth,
            json={"potentially_available_notes": "Erika Mustermann"},
        ),
    ]
    for response in responses:
        assert response.status_code == 500
        assert response.get_json() == {
            "error": {
                "code": "internal_error",
                "message": "An unexpected error occurred.",
                "details": {},
            }
        }
        assert response.headers["X-Request-ID"] == "db-error-1"
        assert_no_internals(response.get_data(as_text=True))
    errors = [r for r in all_logs.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["unhandled ProgrammingError"] * 2
    assert all(r.exc_info is None or not r.exc_info for r in errors)
    text = everything_logged(all_logs.records)
    assert "Mustermann" not in text
    assert "SELECT" not in text and "relation" not in text
    # The request line of the failed request carries its id.
    assert any("500" in r.getMessage() and "db-error-1" in r.getMessage() for r in all_logs.records)


def test_every_log_line_of_a_request_carries_its_id(app_factory, tableless_database_url):
    """Not just the request line: the error line of a failing request too (JSON and text)."""
    app = app_factory(database_url=tableless_database_url)
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append((JsonFormatter().format(record), TextFormatter().format(record)))

    service_logger = logging.getLogger("communication_service")
    handler = Collect()
    service_logger.addHandler(handler)
    try:
        app.test_client().get(
            "/api/therapists/1",
            headers={"Authorization": f"Bearer {API_TOKEN}", "X-Request-ID": "trace-42"},
        )
    finally:
        service_logger.removeHandler(handler)
    assert len(lines) == 2  # the error, then the request line
    for json_line, text_line in lines:
        assert json.loads(json_line)["request_id"] == "trace-42"
        assert "[trace-42]" in text_line


# Request ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", operations(), ids=lambda op: op.label)
def test_every_operation_answers_with_a_request_id(client, op, all_logs):
    response = client.open(op.url(), method=op.method, headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert any("request_id=abc-123" in r.getMessage() for r in all_logs.records)
    generated = client.open(op.url(), method=op.method)
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("GET", "/api/therapists/1", {"headers": {"Authorization": "Bearer nope"}}, 401),
        ("GET", "/api/nowhere", {}, 404),
        ("DELETE", "/api/therapists/1", {}, 405),
        ("PUT", "/api/therapists/1/availability", {"data": b"x" * 2_000_000}, 413),
        (
            "PUT",
            "/api/therapists/1/availability",
            {"data": "{", "content_type": "application/json"},
            400,
        ),
        ("GET", "/nowhere", {}, 404),
    ],
    ids=["401", "404-api", "405", "413", "400", "404-outside"],
)
def test_error_responses_carry_the_request_id(client, method, url, kwargs, status):
    headers = {"X-Request-ID": "err-7", **kwargs.pop("headers", {})}
    response = client.open(url, method=method, headers=headers, **kwargs)
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "err-7"


@pytest.mark.parametrize(
    "value",
    [
        "has space",
        "line\nbreak",
        'quote"',
        "x" * 129,
        "ünïcode",
        "-leading-dash",
        "",
        "a;b",
        "{json}",
    ],
    ids=[
        "space",
        "newline",
        "quote",
        "too-long",
        "non-ascii",
        "leading-dash",
        "empty",
        "semicolon",
        "braces",
    ],
)
def test_insane_request_ids_are_replaced(client, value, all_logs):
    environ = {"HTTP_X_REQUEST_ID": value}  # raw, as a server would pass it on
    response = client.get("/health", environ_overrides=environ)
    generated = response.headers["X-Request-ID"]
    assert generated != value and re.fullmatch(r"[0-9a-f]{32}", generated)
    if value:
        assert value not in everything_logged(all_logs.records)


@pytest.mark.parametrize(
    "value", ["0f8e2c1a-1b2c-4d5e-8f90-123456789abc", "Root.1-abc_DEF:9", "x" * 128]
)
def test_sane_request_ids_are_echoed(client, value):
    assert client.get("/health", headers={"X-Request-ID": value}).headers["X-Request-ID"] == value


# JSON logs from a real server --------------------------------------------------------------


def test_log_format_json_gives_one_object_per_line_from_gunicorn(tableless_database_url):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "GUNICORN_", "WEB_CONCURRENCY", "API_TOKENS"))
    }
    env.update(
        DATABASE_URL=tableless_database_url,
        API_TOKENS=API_TOKEN,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PYTHONWARNINGS="default",
    )
    server = Gunicorn(env)
    try:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        sent = [
            ("GET", "/health", None, {"X-Request-ID": "json-1"}, 200),
            ("GET", "/api/therapists/1", None, {"Authorization": f"Bearer {WRONG_TOKEN}"}, 401),
            ("GET", "/api/therapists/1", None, {**auth, "X-Request-ID": "json-500"}, 500),
            (
                "PUT",
                "/api/therapists/1/availability",
                json.dumps({"potentially_available_notes": "Erika Mustermann"}).encode(),
                {**auth, "Content-Type": "application/json"},
                500,
            ),
            ("GET", "/api/therapists/1?name=Mustermann", None, auth, 422),
            ("GET", "/nowhere/Mustermann", None, {}, 404),
        ]
        for method, path, body, headers, status in sent:
            got, response_headers, _ = server.request(method, path, body, headers)
            assert got == status, (method, path)
            assert response_headers["X-Request-ID"]
    finally:
        lines = server.stop()

    entries = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert len(entries) == len([line for line in lines if line.strip()])
    requests = [e for e in entries if e["logger"] == "communication_service.request"]
    assert [(e["method"], e["status"]) for e in requests] == [
        (method, status) for method, _, _, _, status in sent
    ]
    assert requests[0]["request_id"] == "json-1"
    assert requests[0]["route"] == "/health"
    errors = [e for e in entries if e["level"] == "ERROR"]
    assert errors[0]["message"] == "unhandled ProgrammingError"
    assert errors[0]["request_id"] == "json-500"
    assert any(e["logger"].startswith("gunicorn") for e in entries)  # gunicorn's own lines too
    everything = "\n".join(lines)
    for secret in (API_TOKEN, WRONG_TOKEN, "Mustermann", "Erika", "SELECT", "relation"):
        assert secret not in everything
