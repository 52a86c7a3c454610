"""The API as a frontend team meets it: a typed client generated from the live document.

openapi-python-client (``--fail-on-warning``) generates the client once per test session into
a temporary directory; the test imports it and drives the main flows through it against the
app (its httpx client on the app over WSGI, the real PostgreSQL and SMTP sink behind). Every
answer must parse into its generated type, and openapi-core holds every request and answer of
the flows to the same document (``CheckedByOpenApiCore``).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug import Response
from werkzeug.test import EnvironBuilder

from communication_service.services.sending import send_emails
from tests.api.contract import CheckedByOpenApiCore
from tests.conftest import API_TOKEN, BERLIN
from tests.factories import make_placement_request, make_therapist

PACKAGE = "communication_service_client"  # the generated package (only in the temporary dir)
BASE_URL = "http://localhost"
# What a client team configures: a raw message (message/rfc822) is bytes to a client, a body
# the generator knows as application/octet-stream (else it skips such an operation, warning).
GENERATOR_CONFIG = {"content_type_overrides": {"message/rfc822": "application/octet-stream"}}


@pytest.fixture(scope="session")
def served_document(session_app: Flask) -> dict[str, Any]:
    """The document as the service serves it, read like a client reads it."""
    response = session_app.test_client().get(
        "/api/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture(scope="session")
def generated(
    served_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ModuleType, Path]]:
    """The generated client package and its directory, once per session (per xdist worker)."""
    root = tmp_path_factory.mktemp("generated-client")
    document = root / "openapi.json"
    document.write_text(json.dumps(served_document))
    config = root / "generator.json"
    config.write_text(json.dumps(GENERATOR_CONFIG))
    package_dir = root / PACKAGE
    tools = Path(sys.executable).parent  # the generator formats its output with this ruff
    result = subprocess.run(
        [
            str(tools / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(package_dir),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE), package_dir
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> Any:
    """``api.phone_calls.list_phone_calls``, ``models`` … of the generated package."""
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_generated_names_are_those_a_person_would_choose(generated):
    _, package_dir = generated
    files = {str(p.relative_to(package_dir)) for p in package_dir.rglob("*.py")}
    assert {
        "api/therapists/get_therapist.py",
        "api/therapists/update_therapist_availability.py",
        "api/therapists/list_therapist_slots.py",
        "api/phone_calls/list_phone_calls.py",
        "api/phone_calls/create_phone_call.py",
        "api/phone_calls/get_call_sheet.py",
        "api/phone_calls/update_phone_call.py",
        "api/phone_call_batches/update_phone_call_batch.py",
        "api/emails/create_email.py",
        "api/emails/update_email.py",
        "api/emails/record_email_response.py",
        "api/placement_requests/list_placement_request_communications.py",
        "models/phone_call_status.py",
        "models/batch_outcome.py",
        "models/email_status.py",
        "models/availability.py",
        "models/phone_call_page.py",
        "models/call_sheet_call_page.py",
    } <= files
    # What generators fall back to when the document gives no name (endpoint-based
    # operationIds and inline enums gave api_phonecalllistresource_get.py,
    # therapist_status_type_2_type_1.py, …).
    machine_made = ("resource", "type_0", "type_1", "response_200", "additional_property")
    assert [f for f in sorted(files) if any(part in f for part in machine_made)] == []


@pytest.fixture
def checked_app(app: Flask, served_document: dict[str, Any]) -> CheckedByOpenApiCore:
    return CheckedByOpenApiCore(app, served_document)


@pytest.fixture
def api(generated, checked_app: CheckedByOpenApiCore) -> Iterator[Any]:
    """The generated client, authenticated, talking to the app through openapi-core's check."""
    client_module = module("client")
    client = client_module.AuthenticatedClient(
        base_url=BASE_URL,
        token=API_TOKEN,
        raise_on_unexpected_status=True,
        httpx_args={"transport": httpx.WSGITransport(app=checked_app)},
    )
    with client:
        yield client


def call(operation: str, expected_status: int, **kwargs: Any) -> Any:
    """Run ``api.<tag>.<operation>`` and return what the answer parsed into."""
    response = module(f"api.{operation}").sync_detailed(**kwargs)
    assert response.status_code == expected_status, response.content
    return response.parsed


def test_the_main_flows_through_the_generated_client(
    api, checked_app, session, clock, smtp_ctx, smtp_sink
):
    m = module("models")
    therapist_id = make_therapist(session, nachname="Becker")
    requests = [make_placement_request(session, therapist_id=therapist_id) for _ in range(3)]

    # Read a therapist: the telephone hours are the typed Availability the update takes.
    therapist = call("therapists.get_therapist", 200, therapist_id=therapist_id, client=api)
    assert isinstance(therapist, m.TherapistContact)
    assert isinstance(therapist.contact_state, m.ContactState)
    assert therapist.status is m.TherapistStatus.ACTIVE
    assert isinstance(therapist.telefonische_erreichbarkeit, m.Availability)
    monday = therapist.telefonische_erreichbarkeit.monday
    assert [(w.start, w.end) for w in monday] == [("09:00", "12:00")]
    hours = m.Availability(
        monday=[m.TimeWindow(start="09:00", end="10:00"), m.TimeWindow(start="14:00", end="15:00")],
        tuesday=[m.TimeWindow(start="09:00", end="10:00")],
    )
    changed = call(
        "therapists.update_therapist_availability",
        200,
        therapist_id=therapist_id,
        client=api,
        body=m.AvailabilityUpdate(telefonische_erreichbarkeit=hours),
    )
    assert changed.telefonische_erreichbarkeit.to_dict() == hours.to_dict()
    slots = call(
        "therapists.list_therapist_slots",
        200,
        therapist_id=therapist_id,
        client=api,
        from_=date(2026, 12, 1),
        days=1,
    )
    assert all(isinstance(slot, m.FreeSlot) for slot in slots)
    assert (slots[0].date, slots[0].start) == (date(2026, 12, 1), "09:00")

    # Book a call (the earliest free slot) and list the calls.
    booked = call(
        "phone_calls.create_phone_call",
        201,
        client=api,
        body=m.PhoneCallCreate(therapist_id=therapist_id, placement_request_ids=requests[:2]),
    )
    assert isinstance(booked, m.PhoneCallCreateResult) and booked.notice is None
    assert (booked.scheduled_date, booked.scheduled_time) == (date(2026, 11, 30), "09:00")
    assert booked.status is m.PhoneCallStatus.SCHEDULED
    assert booked.booked_by is m.CallBookedBy.STAFF
    assert all(isinstance(batch, m.PhoneCallBatch) for batch in booked.batches)
    page = call(
        "phone_calls.list_phone_calls",
        200,
        client=api,
        therapist_id=therapist_id,
        status=m.PhoneCallStatus.SCHEDULED,
    )
    assert isinstance(page, m.PhoneCallPage)
    assert (page.total, [c.id for c in page.data]) == (1, [booked.id])

    # Fail the call and read its re-plan (rule 8), then record an outcome on it.
    clock.instant = datetime(2026, 11, 30, 9, 6, tzinfo=BERLIN)
    failed = call(
        "phone_calls.update_phone_call",
        200,
        call_id=booked.id,
        client=api,
        body=m.PhoneCallUpdate(status=m.PhoneCallStatus.FAILED),
    )
    assert isinstance(failed, m.PhoneCallUpdateResult)
    assert failed.status is m.PhoneCallStatus.FAILED
    replanned = call(
        "phone_calls.get_phone_call", 200, call_id=failed.replanned_call_id, client=api
    )
    assert (replanned.scheduled_time, replanned.attempt) == ("14:00", 2)
    batch = call(
        "phone_call_batches.update_phone_call_batch",
        200,
        batch_id=replanned.batches[0].id,
        client=api,
        body=m.PhoneCallBatchUpdate(outcome=m.BatchOutcome.ACCEPTED),
    )
    assert isinstance(batch, m.PhoneCallBatchUpdateResult)
    assert batch.outcome is m.BatchOutcome.ACCEPTED
    assert (batch.canceled_call_ids, batch.kept_staff_call_ids) == ([], [])

    # The call sheet of the re-planned call's day.
    sheet = call("phone_calls.get_call_sheet", 200, client=api, date=replanned.scheduled_date)
    assert isinstance(sheet, m.CallSheetCallPage)
    assert [c.status for c in sheet.data] == [m.PhoneCallStatus.FAILED, m.PhoneCallStatus.SCHEDULED]
    entry = sheet.data[1]
    assert entry.id == replanned.id
    assert isinstance(entry.therapist, m.CallSheetTherapist)
    assert entry.therapist.nachname == "Becker"
    assert isinstance(entry.batches[0].patient, m.CallSheetPatient)
    assert entry.batches[0].placement_request_status is m.PlacementRequestStatus.ACCEPTED

    # Create an email, queue it; the sender delivers it (to the SMTP sink).
    draft = call(
        "emails.create_email",
        201,
        client=api,
        body=m.EmailCreate(
            therapist_id=therapist_id,
            subject="Anfrage",
            body_text="Guten Tag",
            placement_request_ids=[requests[2]],
        ),
    )
    assert isinstance(draft, m.Email)
    assert draft.status is m.EmailStatus.DRAFT
    queued = call(
        "emails.update_email",
        200,
        email_id=draft.id,
        client=api,
        body=m.EmailUpdate(status=m.SettableEmailStatus.QUEUED),
    )
    assert queued.status is m.EmailStatus.QUEUED
    assert send_emails(smtp_ctx).sent == 1
    assert len(smtp_sink.handler.received) == 1
    sent = call("emails.list_emails", 200, client=api, status=m.EmailStatus.SENT)
    assert isinstance(sent, m.EmailSummaryPage)
    assert [e.id for e in sent.data] == [draft.id]

    # Record the reply with an outcome, and read the request's history.
    outcomes = m.EmailResponseOutcomes.from_dict({str(requests[2]): "rejected"})
    assert outcomes[str(requests[2])] is m.DecisiveOutcome.REJECTED
    replied = call(
        "emails.record_email_response",
        200,
        email_id=draft.id,
        client=api,
        body=m.EmailResponse(response_content="Leider voll.", outcomes=outcomes),
    )
    assert isinstance(replied, m.EmailResponseResult)
    assert (replied.response_received, replied.status) == (True, m.EmailStatus.SENT)
    history = call(
        "placement_requests.list_placement_request_communications",
        200,
        placement_request_id=requests[2],
        client=api,
    )
    assert isinstance(history, m.CommunicationPage)
    assert [(c.type_, c.status) for c in history.data] == [
        (m.CommunicationType.EMAIL, m.CommunicationStatus.SENT)
    ]

    # openapi-core read every request and answer of the flows and found each as documented.
    assert checked_app.problems == []
    assert len(checked_app.checked) == 14, checked_app.checked


def test_errors_parse_into_the_error_type(api):
    m = module("models")
    missing = call("therapists.get_therapist", 404, therapist_id=4711, client=api)
    assert isinstance(missing, m.Error)
    assert missing.error.code == "not_found"


def _unpadded_time(call: dict) -> None:
    call["scheduled_time"] = "9:0"


def _unknown_status(call: dict) -> None:
    call["status"] = "postponed"


def _unknown_outcome(call: dict) -> None:
    call["batches"][0]["outcome"] = "maybe"


@pytest.mark.parametrize("spoil", [_unpadded_time, _unknown_status, _unknown_outcome])
def test_openapi_core_catches_an_answer_the_document_does_not_allow(
    client, session, served_document, spoil
):
    """The check can fail: a real answer passes, the same answer with one value off does not."""
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    body = {"therapist_id": therapist_id, "placement_request_ids": [request_id]}
    booked = client.post("/api/phone-calls", json=body).get_json()
    answer = client.get(f"/api/phone-calls/{booked['id']}").get_json()
    request = EnvironBuilder(
        path=f"/api/phone-calls/{answer['id']}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ).get_request()
    checked = CheckedByOpenApiCore(None, served_document)
    checked.check(request, Response(json.dumps(answer), mimetype="application/json"))
    assert checked.problems == []
    spoil(answer)
    checked.check(request, Response(json.dumps(answer), mimetype="application/json"))
    assert len(checked.problems) == 1, checked.problems
