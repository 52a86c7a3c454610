"""Deployed as in production: the platform's database at 5dfc91e6b6f9 with rows its services
wrote, ``flask --app wsgi db upgrade``, then a day's work through the jobs and the API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from communication_service import create_app
from communication_service.extensions import db
from tests.conftest import ApiClient
from tests.pg import drop_database, recreate_database
from tests.platform_db import catalog, load_platform_database, load_platform_rows, run_sql

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "platform-token-1"

# More rows as the platform's services write them (names of enum members, NULL retry count
# and creation time, the request list in the email row itself).
MORE_PLATFORM_ROWS = """
INSERT INTO therapist_service.therapists (anrede, vorname, nachname, email, telefon,
    telefonische_erreichbarkeit, status, created_at)
VALUES ('Herr', 'Dieter', 'Ohnemail', NULL, '030 444', '{hours}', 'ACTIVE', current_date),
       ('Frau', 'Eva', 'Engel', 'eva@example.org', '030 555', '{hours}', 'ACTIVE', current_date);
INSERT INTO patient_service.patients (anrede, vorname, nachname, startdatum, status, created_at)
VALUES ('Frau', 'Vera', 'Vierte', '2025-04-10', 'SEARCHING', current_date),
       ('Herr', 'Fritz', 'Fünfter', '2025-05-10', 'SEARCHING', current_date);
INSERT INTO matching_service.placement_requests (patient_id, therapist_id, status, created_at,
    priority)
VALUES (4, 4, 'OPEN', current_date, 1), (5, 5, 'OPEN', current_date, 1),
       (4, 5, 'OPEN', current_date, 1);
INSERT INTO communication_service.emails (therapist_id, subject, body_html, body_text,
    recipient_email, recipient_name, sender_email, sender_name, placement_request_ids, status,
    queued_at, retry_count, created_at)
VALUES (1, 'Anfrage', '<p>a</p>', 'a', 'anna@example.org', 'Anna Müller', 'v@example.org',
        'Vermittlung', '[1, 2]', 'in_warteschlange', now() - interval '1 hour', NULL, NULL);
""".replace(
    "{hours}",
    '{"monday":[{"start":"08:00","end":"18:00"}],"tuesday":[{"start":"08:00","end":"18:00"}],'
    '"wednesday":[{"start":"08:00","end":"18:00"}],"thursday":[{"start":"08:00","end":"18:00"}],'
    '"friday":[{"start":"08:00","end":"18:00"}]}',
)
# What this service may write into the other services' rows (rules 9 and 11, its own columns).
WRITTEN_HERE = {
    "therapist_service.therapists": {
        "letzter_kontakt_email",
        "letzter_kontakt_telefon",
        "potentially_available",
        "potentially_available_notes",
        "name_search_key",
        "updated_at",
    },
    "matching_service.placement_requests": {
        "status",
        "email_contact_date",
        "phone_contact_date",
        "response",
        "response_date",
        "next_contact_after",
    },
    "patient_service.patients": set(),
}


@pytest.fixture
def platform_url(pg_server_url: str, worker_id: str) -> Iterator[str]:
    name = f"cs_deployment_{worker_id}"
    url = recreate_database(pg_server_url, name)
    load_platform_database(url)
    load_platform_rows(url)
    run_sql(url, MORE_PLATFORM_ROWS)
    yield url
    drop_database(pg_server_url, name)


def flask(url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": plain, "API_TOKENS": TOKEN, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def platform_rows(url: str) -> dict[str, list[dict]]:
    """The other services' rows, without the columns this service may write."""
    rows = {}
    for table, written in WRITTEN_HERE.items():
        columns = [
            name
            for (name,) in run_sql(
                url,
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (table,),
            )
            if name not in written
        ]
        rows[table] = run_sql(url, f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
    return rows


def platform_columns(url: str) -> set[tuple]:
    return {
        row
        for row in catalog(url)["columns"]
        if row[0] in ("patient_service", "therapist_service", "matching_service")
        and row[3]
        not in ("potentially_available", "potentially_available_notes", "name_search_key")
    }


def test_a_platform_database_upgraded_by_the_cli_runs_the_days_work(platform_url, smtp_sink):
    rows_before, columns_before = platform_rows(platform_url), platform_columns(platform_url)

    upgrade = flask(platform_url, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]

    # Batching: the legacy emails' requests (1, 2 in email 2; 3 in email 1) are not emailed
    # again; Eva gets one email with her two requests, Dieter (no address) a call.
    batch = flask(platform_url, "comm", "batch-emails")
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert run_sql(
        platform_url,
        "SELECT e.therapist_id, e.status::text, array_agg(b.placement_request_id ORDER BY "
        "b.priority) FROM communication_service.emails e JOIN communication_service.email_batches "
        "b ON b.email_id = e.id WHERE e.id > 2 GROUP BY e.id",
    ) == [(5, "queued", [7, 6])]  # the longer wait first (rule 12)
    assert run_sql(
        platform_url,
        "SELECT c.therapist_id, b.placement_request_id FROM communication_service.phone_calls c "
        "JOIN communication_service.phone_call_batches b ON b.phone_call_id = c.id",
    ) == [(4, 5)]

    # Sending: the platform's queued email (retry count NULL before the upgrade) meets a 451.
    smtp_sink.handler.refuse_recipients["anna@example.org"] = "451 4.3.0 Try again later"
    smtp = {
        "SMTP_HOST": smtp_sink.host,
        "SMTP_PORT": str(smtp_sink.port),
        "SMTP_SECURITY": "none",  # the sink on 127.0.0.1
    }
    send = flask(platform_url, "comm", "send-emails", **smtp)
    assert send.returncode == 0, send.stderr[-3000:]
    assert [r.rcpt_tos for r in smtp_sink.handler.received] == [["eva@example.org"]]
    assert run_sql(
        platform_url,
        "SELECT status::text, retry_count, left(error_message, 3) "
        "FROM communication_service.emails WHERE id = 2",
    ) == [("queued", 1, "451")]

    # The legacy email sent 20 days ago gets its follow-up call with its request.
    follow_ups = flask(platform_url, "comm", "schedule-follow-ups")
    assert follow_ups.returncode == 0, follow_ups.stderr[-3000:]
    follow_up = run_sql(
        platform_url,
        "SELECT c.id, c.scheduled_date, b.id, b.placement_request_id "
        "FROM communication_service.phone_calls c "
        "JOIN communication_service.phone_call_batches b ON b.phone_call_id = c.id "
        "WHERE c.follow_up_email_id = 1",
    )
    assert len(follow_up) == 1 and follow_up[0][3] == 3
    call_id, call_date, batch_id, _ = follow_up[0]

    app = create_app({"database_url": platform_url, "api_tokens": TOKEN})
    client = ApiClient(app.test_client(), TOKEN)
    try:
        therapist = client.get("/api/therapists/1").get_json()
        assert (therapist["status"], therapist["vorname"]) == ("active", "Anna")
        assert date.fromisoformat(therapist["created_at"])  # a date, as the platform keeps it
        assert client.get("/api/therapists/3/slots").status_code == 409  # BLOCKED

        booked = client.post(
            "/api/phone-calls", json={"therapist_id": 5, "placement_request_ids": [6]}
        )
        assert booked.status_code == 201, booked.get_json()
        slots = client.get("/api/therapists/5/slots")
        assert slots.status_code == 200 and slots.get_json()

        rejected = client.put(
            f"/api/phone-call-batches/{batch_id}", json={"discussed": True, "outcome": "rejected"}
        )
        assert rejected.status_code == 200, rejected.get_json()
        assert run_sql(
            platform_url,
            "SELECT status::text, response_date IS NOT NULL "
            "FROM matching_service.placement_requests WHERE id = 3",
        ) == [("REJECTED", True)]
        cooling = client.post("/api/phone-calls", json={"therapist_id": 2})
        assert cooling.status_code == 409
        assert cooling.get_json()["error"]["code"] == "cooling_period"

        written = client.post(
            "/api/emails", json={"therapist_id": 1, "subject": "Rückfrage", "body_text": "Hallo"}
        )
        assert written.status_code == 201, written.get_json()
        assert written.get_json()["body_html"] is None

        sheet = client.get(f"/api/phone-calls/daily?date={call_date.isoformat()}")
        assert sheet.status_code == 200
        listed = {call["id"]: call for call in sheet.get_json()["data"]}
        assert listed[call_id]["therapist"]["nachname"] == "Schulz"
        assert [b["placement_request_status"] for b in listed[call_id]["batches"]] == ["rejected"]
    finally:
        app.extensions["reader"].close()
        with app.app_context():
            db.engine.dispose()

    rows_after = platform_rows(platform_url)
    for table, rows in rows_before.items():
        for before, after in zip(rows, rows_after[table], strict=True):
            assert after == before, table
    assert platform_columns(platform_url) == columns_before
