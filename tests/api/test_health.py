from __future__ import annotations


def test_health_ok(app):
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_503_when_database_unreachable(app_factory, tmp_path):
    # A socket directory with no server in it: connecting fails at once.
    app = app_factory(database_url=f"postgresql://postgres@/postgres?host={tmp_path}")
    with app.app_context():
        response = app.test_client().get("/health")
        api_response = app.test_client().get(
            "/api/therapists/1", headers={"Authorization": "Bearer test-token-7f3a"}
        )
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unavailable"}
    assert api_response.status_code == 503
    assert api_response.get_json()["error"]["code"] == "database_unavailable"
