"""``GET /metrics``: behind the token, the database's state as gauges, and the counts of every
gunicorn worker added up."""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import date, datetime, time, timedelta
from time import monotonic, sleep

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from communication_service.models import Email, PhoneCall, PhoneCallBatch
from tests.conftest import API_TOKEN, DEFAULT_NOW
from tests.factories import make_email, make_placement_request, make_therapist
from tests.gunicorn import Gunicorn, server_env


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_need_the_token(app):
    assert app.test_client().get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert app.test_client().get("/metrics", headers=wrong).status_code == 401


def test_gauges_show_the_queue_and_the_calls_as_the_database_holds_them(client, session):
    therapist = make_therapist(session)
    now_utc = DEFAULT_NOW.astimezone(tz=None).replace(tzinfo=None)
    due_since = datetime(2026, 11, 30, 6, 0)  # 07:00 Berlin, one hour before DEFAULT_NOW
    make_email(session, therapist_id=therapist, next_attempt_at=due_since)
    make_email(session, therapist_id=therapist, next_attempt_at=due_since + timedelta(hours=9))
    make_email(
        session,
        therapist_id=therapist,
        status="sending",
        sending_started_at=due_since - timedelta(hours=2),
    )
    request = make_placement_request(session, therapist_id=therapist)
    overdue = session.execute(
        sa.insert(PhoneCall.__table__)
        .values(therapist_id=therapist, scheduled_date=date(2026, 11, 27), scheduled_time=time(9))
        .returning(PhoneCall.id)
    ).scalar_one()
    session.execute(
        sa.insert(PhoneCall.__table__).values(
            therapist_id=therapist, scheduled_date=date(2026, 12, 2), scheduled_time=time(9)
        )
    )
    session.execute(
        sa.insert(PhoneCallBatch.__table__).values(
            phone_call_id=overdue, placement_request_id=request, follow_up_required=True
        )
    )
    session.commit()
    assert now_utc is not None and session.query(Email).count() == 3

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = samples(response.get_data(as_text=True))
    assert found[("comm_emails_queued", ())] == 2
    assert found[("comm_email_oldest_due_age_seconds", ())] == 3600
    assert found[("comm_emails_stuck_sending", ())] == 1
    assert found[("comm_calls_overdue", ())] == 1
    assert found[("comm_calls_flagged_for_staff", ())] == 1


def _workers(master: int) -> set[str]:
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return set(found.stdout.split())


def test_counts_of_all_gunicorn_workers_add_up(database_url, tmp_path):
    """Requests served by two workers, then by two new ones (a reload replaces every
    worker): one scrape counts them all."""
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = server_env(
        DATABASE_URL=database_url, API_TOKENS=API_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(multiproc)
    )
    server = Gunicorn(env, workers=2)
    master = server.process.pid
    try:
        statuses = [server.request("GET", "/health")[0] for _ in range(30)]
        before = _workers(master)
        server.process.send_signal(signal.SIGHUP)  # new workers, the old ones finish
        deadline = monotonic() + 60
        while (len(after := _workers(master)) != 2 or after & before) and (monotonic() < deadline):
            sleep(0.1)
        assert len(after) == 2 and not after & before, (before, after)
        statuses += [server.request("GET", "/health")[0] for _ in range(30)]
        status, _, body = server.request(
            "GET", "/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
    finally:
        server.stop()
    assert statuses == [200] * 60 and status == 200
    found = samples(body.decode())
    health = (("method", "GET"), ("route", "/health"), ("status", "200"))
    assert found[("comm_http_requests_total", health)] == 60
    assert found[("comm_http_request_duration_seconds_count", (("route", "/health"),))] == 60
    writers = {re.search(r"_(\d+)\.db$", path.name).group(1) for path in multiproc.glob("*.db")}
    assert len(writers & (before | after)) >= 2, "figures of workers before and after the reload"
