"""One log line per request, with the route pattern and a request id, and no patient data."""

from __future__ import annotations

import json
import logging

from communication_service.logging_setup import JsonFormatter
from tests.factories import make_therapist


def test_request_is_logged_without_data_or_token(client, session, caplog):
    therapist_id = make_therapist(session)
    with caplog.at_level(logging.INFO, logger="communication_service"):
        response = client.put(
            f"/api/therapists/{therapist_id}/availability?debug=Mustermann",
            json={"potentially_available_notes": "Patientin Erika Mustermann ruft an"},
        )
    lines = [r.getMessage() for r in caplog.records]
    assert any("/api/therapists/<id:therapist_id>/availability" in line for line in lines)
    request_id = response.headers["X-Request-ID"]
    assert any(request_id in line for line in lines)
    for line in lines:
        assert "Mustermann" not in line and "test-token" not in line


def test_request_id_is_echoed_when_sane(client):
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = client.get("/health", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"]
    assert generated != "bad id!" and len(generated) == 32


def test_json_log_format():
    record = logging.LogRecord(
        "communication_service.request", logging.INFO, __file__, 1, "GET %s", ("/health",), None
    )
    record.fields = {"status": 200}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /health" and entry["status"] == 200 and entry["level"] == "INFO"
