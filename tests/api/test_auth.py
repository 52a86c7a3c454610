"""Every /api route needs a valid bearer token; without configured tokens, nothing gets in."""

from __future__ import annotations

import re

import pytest

from tests.conftest import API_TOKEN


def api_routes(app):
    """Every (method, concrete path) under /api, with ids filled in."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_the_walk_finds_the_routes(app):
    routes = list(api_routes(app))
    assert ("GET", "/api/therapists/1") in routes
    assert ("PUT", "/api/therapists/1/availability") in routes


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {API_TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": API_TOKEN},
    ],
    ids=["missing", "wrong", "wrong-scheme", "empty", "no-scheme"],
)
def test_every_api_route_answers_401_without_a_valid_token(app, headers):
    client = app.test_client()
    for method, path in api_routes(app):
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_valid_token_gets_in(client):
    assert client.get("/api/therapists/1").status_code == 404  # past auth, unknown id


def test_any_of_several_tokens_is_accepted(app_factory):
    app = app_factory(api_tokens="first-token, second-token")
    client = app.test_client()
    with app.app_context():
        for token in ("first-token", "second-token"):
            response = client.get("/api/therapists/1", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 404


def test_no_configured_tokens_fails_closed(app_factory):
    # The warning about it comes from the HTTP server at start (tests/test_deployment.py).
    app = app_factory(api_tokens="")
    client = app.test_client()
    for method, path in api_routes(app):
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
            assert client.open(path, method=method, headers=headers).status_code == 401


def test_health_is_open(app):
    assert app.test_client().get("/health").status_code == 200
