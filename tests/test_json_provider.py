"""Responses are encoded by orjson, with the standard encoder for what orjson refuses."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from communication_service.json_provider import encode


def test_encodes_like_the_standard_library():
    value = {"name": "Müller", "ids": [1, 2], "ok": True, "none": None, 3: "int key"}
    assert json.loads(encode(value)) == {
        "name": "Müller",
        "ids": [1, 2],
        "ok": True,
        "none": None,
        "3": "int key",
    }


def test_what_orjson_refuses_goes_through_the_standard_encoder():
    lone_surrogate = "a\ud800b"
    assert json.loads(encode({"text": lone_surrogate})) == {"text": lone_surrogate}
    assert json.loads(encode({"amount": Decimal("1.50")})) == {"amount": "1.50"}


def test_responses_use_it(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["openapi"].startswith("3.")
    assert json.loads(encode({"day": date(2026, 11, 30)})) == {"day": "2026-11-30"}
