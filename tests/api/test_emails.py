"""The email routes (docs/api.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from communication_service.models import (
    Email,
    EmailBatch,
    PhoneCall,
    PlacementRequest,
    UndeliverableAddress,
)
from tests.conftest import DEFAULT_NOW
from tests.factories import make_email, make_placement_request, make_therapist

NOW_ISO = "2026-11-30T07:00:00+00:00"  # DEFAULT_NOW in UTC


def count(session, model) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def make_call(session, therapist_id: int, status: str = "scheduled", **values) -> int:
    call_id = session.execute(
        sa.insert(PhoneCall.__table__)
        .values(
            therapist_id=therapist_id,
            scheduled_date=values.pop("scheduled_date", date(2026, 12, 7)),
            scheduled_time=values.pop("scheduled_time", datetime(2026, 1, 1, 9).time()),
            status=status,
            **values,
        )
        .returning(PhoneCall.id)
    ).scalar_one()
    session.commit()
    return call_id


# --- create -----------------------------------------------------------------------------------


def test_create_draft_takes_the_recipient_from_the_therapist(client, session):
    therapist_id = make_therapist(
        session, titel="Dr.", vorname="Anna", nachname="Becker", email=" becker@example.org "
    )
    first = make_placement_request(session, therapist_id=therapist_id)
    second = make_placement_request(session, therapist_id=therapist_id)
    response = client.post(
        "/api/emails",
        json={
            "therapist_id": therapist_id,
            "subject": "Rückfrage",
            "body_text": "Guten Tag",
            "placement_request_ids": [second, first],
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft"
    assert body["recipient_email"] == "becker@example.org"
    assert body["recipient_name"] == "Dr. Anna Becker"
    assert body["sender_email"] == "vermittlung@example.org"
    assert body["message_id"] is None and body["queued_at"] is None
    assert [(b["placement_request_id"], b["priority"]) for b in body["batches"]] == [
        (second, 1),
        (first, 2),
    ]
    assert body["created_at"].endswith("+00:00")


def test_create_queued_assigns_message_id_and_is_due_now(client, session):
    therapist_id = make_therapist(session)
    response = client.post(
        "/api/emails",
        json={"therapist_id": therapist_id, "subject": "S", "body_text": "T", "status": "queued"},
    )
    body = response.get_json()
    assert response.status_code == 201
    assert body["status"] == "queued"
    assert body["message_id"].startswith("<") and body["message_id"].endswith("@example.org>")
    assert body["queued_at"] == body["next_attempt_at"] == NOW_ISO


def test_create_rejects_bad_input_and_writes_nothing(client, session):
    therapist_id = make_therapist(session)
    no_address = make_therapist(session, email=None)
    other = make_therapist(session)
    foreign = make_placement_request(session, therapist_id=other)
    own = make_placement_request(session, therapist_id=therapist_id)
    base = {"subject": "S", "body_text": "T"}
    cases = [
        ({**base, "therapist_id": 999_999}, "therapist_id"),
        ({**base, "therapist_id": no_address}, "therapist_id"),
        (
            {**base, "therapist_id": therapist_id, "placement_request_ids": [own, 999_999]},
            "placement_request_ids.1",
        ),
        (
            {**base, "therapist_id": therapist_id, "placement_request_ids": [foreign]},
            "placement_request_ids.0",
        ),
        (
            {**base, "therapist_id": therapist_id, "placement_request_ids": [own, own]},
            "placement_request_ids",
        ),
        ({**base, "therapist_id": therapist_id, "status": "sent"}, "status"),
        ({"therapist_id": therapist_id, "body_text": "T"}, "subject"),
        ({**base, "therapist_id": 2**31}, "therapist_id"),
        ({**base, "therapist_id": True}, "therapist_id"),
        ({**base, "therapist_id": str(therapist_id)}, "therapist_id"),
        ({**base, "therapist_id": therapist_id, "body_html": "x" * 80_001}, "body_html"),
        ({**base, "therapist_id": therapist_id, "extra": 1}, "extra"),
    ]
    for payload, field in cases:
        response = client.post("/api/emails", json=payload)
        assert response.status_code == 422, payload
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed"
        assert field in error["details"], (payload, error)
    assert count(session, Email) == 0 and count(session, EmailBatch) == 0


# --- read -------------------------------------------------------------------------------------


def test_get_email_with_bodies_and_batches(client, session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        body_html="<p>x</p>",
        placement_request_ids=(request_id,),
    )
    body = client.get(f"/api/emails/{email_id}").get_json()
    assert body["id"] == email_id and body["body_html"] == "<p>x</p>"
    assert body["batches"][0]["placement_request_id"] == request_id


def test_get_unknown_email_is_404(client):
    response = client.get("/api/emails/424242")
    assert response.status_code == 404
    assert response.get_json()["error"]["details"] == {"id": 424242}


def test_list_filters_and_paginates_without_bodies(client, session):
    a = make_therapist(session)
    b = make_therapist(session)
    make_email(session, therapist_id=a, status="sent", batch_id="B1")
    answered = make_email(
        session, therapist_id=a, status="sent", batch_id="B1", response_received=True
    )
    make_email(session, therapist_id=b, status="queued", batch_id="B2")
    make_email(session, therapist_id=b, status="draft")

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/emails?{query}")
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["data"]]

    assert ids("") == [4, 3, 2, 1]  # newest first
    assert ids(f"therapist_id={a}") == [2, 1]
    assert ids("status=queued") == [3]
    assert ids("batch_id=B1") == [2, 1]
    assert ids("response_received=true") == [answered]
    assert ids("response_received=false") == [4, 3, 1]
    page = client.get("/api/emails?per_page=3&page=2").get_json()
    assert (page["total"], page["page"], page["per_page"], len(page["data"])) == (4, 2, 3, 1)
    item = page["data"][0]
    assert "body_text" not in item and "body_html" not in item and item["subject"]


def test_list_rejects_bad_filters(client):
    for query in (
        "status=lost",
        "therapist_id=abc",
        "response_received=maybe",
        "per_page=0",
        "nonsense=1",
    ):
        response = client.get(f"/api/emails?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["error"]["code"] == "validation_failed"


# --- update and delete ------------------------------------------------------------------------


def test_update_content_of_a_draft_and_queue_it(client, session):
    therapist_id = make_therapist(session)
    email_id = make_email(session, therapist_id=therapist_id, status="draft", message_id=None)
    response = client.put(
        f"/api/emails/{email_id}", json={"subject": "Neu", "body_text": "Neu", "status": "queued"}
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["subject"], body["status"]) == ("Neu", "queued")
    assert body["message_id"] and body["next_attempt_at"] == NOW_ISO


def test_unqueue_keeps_the_message_id(client, session):
    therapist_id = make_therapist(session)
    email_id = make_email(session, therapist_id=therapist_id, message_id="<keep@example.org>")
    body = client.put(f"/api/emails/{email_id}", json={"status": "draft"}).get_json()
    assert (body["status"], body["message_id"], body["queued_at"]) == (
        "draft",
        "<keep@example.org>",
        None,
    )
    body = client.put(f"/api/emails/{email_id}", json={"status": "queued"}).get_json()
    assert body["message_id"] == "<keep@example.org>"


def test_requeue_a_failed_email_resets_retries_and_keeps_its_id(client, session):
    therapist_id = make_therapist(session)
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        status="failed",
        retry_count=6,
        error_message="451 later",
        message_id="<same@example.org>",
    )
    body = client.put(f"/api/emails/{email_id}", json={"status": "queued"}).get_json()
    assert (body["status"], body["retry_count"], body["error_message"], body["message_id"]) == (
        "queued",
        0,
        None,
        "<same@example.org>",
    )


def test_sent_or_sending_email_cannot_be_edited_or_deleted(client, session):
    therapist_id = make_therapist(session)
    for status in ("sent", "sending"):
        email_id = make_email(session, therapist_id=therapist_id, status=status, subject="Alt")
        response = client.put(f"/api/emails/{email_id}", json={"subject": "Neu"})
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "email_not_editable"
        response = client.put(f"/api/emails/{email_id}", json={"status": "draft"})
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "illegal_status_change"
        response = client.delete(f"/api/emails/{email_id}")
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "email_not_deletable"
        assert session.execute(sa.select(Email.subject).where(Email.id == email_id)).scalar() == (
            "Alt"
        )


def test_update_needs_something_to_change(client, session):
    email_id = make_email(session, therapist_id=make_therapist(session))
    response = client.put(f"/api/emails/{email_id}", json={})
    assert response.status_code == 422
    assert client.put("/api/emails/99999", json={"subject": "x"}).status_code == 404


def test_delete_a_draft_with_its_batches(client, session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    email_id = make_email(
        session, therapist_id=therapist_id, status="draft", placement_request_ids=(request_id,)
    )
    response = client.delete(f"/api/emails/{email_id}")
    assert response.status_code == 204 and response.data == b""
    assert count(session, Email) == 0 and count(session, EmailBatch) == 0
    assert count(session, PlacementRequest) == 1
    assert client.delete(f"/api/emails/{email_id}").status_code == 404


# --- batches ----------------------------------------------------------------------------------


def test_add_list_and_remove_batches(client, session):
    therapist_id = make_therapist(session)
    first = make_placement_request(session, therapist_id=therapist_id)
    second = make_placement_request(session, therapist_id=therapist_id)
    email_id = make_email(
        session, therapist_id=therapist_id, status="draft", placement_request_ids=(first,)
    )

    response = client.post(f"/api/emails/{email_id}/batches", json={"placement_request_id": second})
    assert response.status_code == 201, response.get_json()
    added = response.get_json()
    assert (added["priority"], added["email_id"]) == (2, email_id)

    listed = client.get(f"/api/emails/{email_id}/batches").get_json()
    assert [b["placement_request_id"] for b in listed["data"]] == [first, second]
    assert listed["total"] == 2

    duplicate = client.post(f"/api/emails/{email_id}/batches", json={"placement_request_id": first})
    assert duplicate.status_code == 409 and duplicate.get_json()["error"]["code"] == "duplicate"

    assert client.delete(f"/api/email-batches/{added['id']}").status_code == 204
    assert count(session, EmailBatch) == 1
    assert client.delete(f"/api/email-batches/{added['id']}").status_code == 404


def test_batches_of_a_sent_email_cannot_change(client, session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    other = make_placement_request(session, therapist_id=therapist_id)
    email_id = make_email(
        session, therapist_id=therapist_id, status="sent", placement_request_ids=(request_id,)
    )
    response = client.post(f"/api/emails/{email_id}/batches", json={"placement_request_id": other})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_already_sent"
    batch_id = session.execute(sa.select(EmailBatch.id)).scalar_one()
    assert client.delete(f"/api/email-batches/{batch_id}").status_code == 409
    assert count(session, EmailBatch) == 1


def test_add_batch_validates_the_request(client, session):
    therapist_id = make_therapist(session)
    foreign = make_placement_request(session, therapist_id=make_therapist(session))
    email_id = make_email(session, therapist_id=therapist_id, status="draft")
    for payload in (
        {"placement_request_id": foreign},
        {"placement_request_id": 987_654},
        {"placement_request_id": "x"},
        {"placement_request_id": 1, "priority": 0},
    ):
        response = client.post(f"/api/emails/{email_id}/batches", json=payload)
        assert response.status_code == 422, payload
    assert (
        client.post("/api/emails/777/batches", json={"placement_request_id": foreign}).status_code
        == 404
    )
    assert client.get("/api/emails/777/batches").status_code == 404


# --- responses --------------------------------------------------------------------------------


def test_response_with_outcomes_updates_requests_and_cancels_follow_up_calls(
    client, session, clock
):
    therapist_id = make_therapist(session)
    accepted = make_placement_request(session, therapist_id=therapist_id)
    rejected = make_placement_request(session, therapist_id=therapist_id)
    untouched = make_placement_request(session, therapist_id=therapist_id)
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        placement_request_ids=(accepted, rejected, untouched),
    )
    follow_up = make_call(session, therapist_id, follow_up_email_id=email_id)
    unrelated = make_call(session, therapist_id, scheduled_date=date(2026, 12, 8))

    response = client.put(
        f"/api/emails/{email_id}/response",
        json={
            "response_content": "Frau A. kann kommen, für Herrn B. leider kein Platz.",
            "response_date": "2026-11-29T18:30:00+01:00",
            "follow_up_required": True,
            "follow_up_notes": "Termin abstimmen",
            "outcomes": {str(accepted): "accepted", str(rejected): "rejected"},
        },
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["response_received"] is True
    assert body["response_date"] == "2026-11-29T17:30:00+00:00"
    assert body["follow_up_required"] is True and body["follow_up_notes"] == "Termin abstimmen"
    assert body["canceled_follow_up_call_ids"] == [follow_up]

    requests = {
        row.id: row
        for row in session.execute(
            sa.select(
                PlacementRequest.id,
                PlacementRequest.status,
                PlacementRequest.response,
                PlacementRequest.response_date,
                PlacementRequest.next_contact_after,
            )
        )
    }
    assert requests[accepted].status == "accepted"
    assert requests[accepted].response == f"Accepted by email (email {email_id})."
    answered_on = date(2026, 11, 29)  # the reply's day, not the day it is recorded
    assert requests[accepted].response_date == answered_on
    assert requests[accepted].next_contact_after is None
    assert requests[rejected].status == "rejected"
    assert requests[rejected].response == f"Rejected by email (email {email_id})."
    assert requests[rejected].response_date == answered_on
    assert requests[rejected].next_contact_after == answered_on + timedelta(days=28)
    # The staff call inside the cooling period stays, and is named.
    assert (body["canceled_call_ids"], body["kept_staff_call_ids"]) == ([follow_up], [unrelated])
    assert requests[untouched].status == "open" and requests[untouched].response is None
    statuses = dict(session.execute(sa.select(PhoneCall.id, PhoneCall.status)).all())
    assert statuses == {follow_up: "canceled", unrelated: "scheduled"}


def test_response_leaves_a_completed_follow_up_call_alone(client, session):
    therapist_id = make_therapist(session)
    email_id = make_email(session, therapist_id=therapist_id, status="sent")
    done = make_call(session, therapist_id, status="completed", follow_up_email_id=email_id)
    body = client.put(f"/api/emails/{email_id}/response", json={}).get_json()
    assert body["canceled_follow_up_call_ids"] == []
    assert body["response_received"] is True and body["response_date"] == NOW_ISO
    assert session.execute(sa.select(PhoneCall.status).where(PhoneCall.id == done)).scalar() == (
        "completed"
    )


def test_response_needs_a_sent_email_and_known_requests(client, session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    stranger = make_placement_request(session, therapist_id=therapist_id)
    queued = make_email(session, therapist_id=therapist_id, status="queued")
    sent = make_email(
        session, therapist_id=therapist_id, status="sent", placement_request_ids=(request_id,)
    )

    response = client.put(f"/api/emails/{queued}/response", json={"response_content": "x"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_not_sent"

    response = client.put(
        f"/api/emails/{sent}/response", json={"outcomes": {str(stranger): "rejected"}}
    )
    assert response.status_code == 422
    assert f"outcomes.{stranger}" in response.get_json()["error"]["details"]

    response = client.put(
        f"/api/emails/{sent}/response", json={"outcomes": {str(request_id): "maybe"}}
    )
    assert response.status_code == 422
    for bad_date in ("0001-01-01T00:00:00+01:00", "2027-02-30T10:00:00", "yesterday"):
        response = client.put(f"/api/emails/{sent}/response", json={"response_date": bad_date})
        assert response.status_code == 422, bad_date
        assert "response_date" in response.get_json()["error"]["details"]
    assert client.put("/api/emails/5555/response", json={}).status_code == 404

    assert session.execute(sa.select(Email.response_received).where(Email.id == sent)).scalar() is (
        False
    )
    assert (
        session.execute(
            sa.select(PlacementRequest.status).where(PlacementRequest.id == stranger)
        ).scalar()
        == "open"
    )


# --- communications ---------------------------------------------------------------------------


def test_communications_of_a_request_oldest_first(client, session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    other_request = make_placement_request(session, therapist_id=therapist_id)

    def at(days: int) -> datetime:
        return (DEFAULT_NOW - timedelta(days=days)).astimezone(UTC).replace(tzinfo=None)

    email_id = make_email(
        session,
        therapist_id=therapist_id,
        status="sent",
        created_at=at(10),
        placement_request_ids=(other_request, request_id),
    )
    call_id = make_call(session, therapist_id, status="completed", created_at=at(3))
    session.execute(
        sa.text(
            "INSERT INTO communication_service.phone_call_batches "
            "(phone_call_id, placement_request_id, discussed, outcome) VALUES (:c, :r, true, 'x')"
        ),
        {"c": call_id, "r": request_id},
    )
    session.commit()
    make_email(session, therapist_id=therapist_id, placement_request_ids=(other_request,))

    response = client.get(f"/api/placement-requests/{request_id}/communications")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["total"] == 2
    first, second = body["data"]
    assert (first["type"], first["id"], first["status"], first["priority"]) == (
        "email",
        email_id,
        "sent",
        2,
    )
    assert first["subject"] and first["scheduled_date"] is None
    assert (second["type"], second["id"], second["scheduled_date"], second["scheduled_time"]) == (
        "phone_call",
        call_id,
        "2026-12-07",
        "09:00",
    )
    assert (second["discussed"], second["outcome"], second["subject"]) == (True, "x", None)
    assert client.get("/api/placement-requests/31337/communications").status_code == 404


def test_email_routes_need_a_token(client):
    assert client.raw.get("/api/emails").status_code == 401
    assert client.raw.get("/api/placement-requests/1/communications").status_code == 401


def test_outcome_keys_must_be_ids(client, session):
    therapist_id = make_therapist(session)
    email_id = make_email(session, therapist_id=therapist_id, status="sent")
    for key in ("abc", "0", "-1", "2147483648", " 1", "1.0"):
        response = client.put(
            f"/api/emails/{email_id}/response", json={"outcomes": {key: "accepted"}}
        )
        assert response.status_code == 422, key
        assert any(
            place.startswith("outcomes") for place in response.get_json()["error"]["details"]
        )


# --- one unsent email per request, a usable address, the sent record (decision 101) -----------


def error_of(response) -> dict:
    return response.get_json()["error"]


def mark_undeliverable(session, therapist_id: int, address: str) -> None:
    session.execute(
        sa.insert(UndeliverableAddress.__table__).values(
            therapist_id=therapist_id, address=address, since=datetime(2026, 11, 20, 9)
        )
    )
    session.commit()


def test_requeuing_a_failed_email_whose_request_is_in_another_unsent_email_is_409(client, session):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    failed = make_email(
        session,
        therapist_id=therapist_id,
        placement_request_ids=(request_id,),
        status="failed",
        error_message="451 later",
    )
    body = {"therapist_id": therapist_id, "subject": "S", "body_text": "B", "status": "queued"}
    response = client.post("/api/emails", json={**body, "placement_request_ids": [request_id]})
    assert response.status_code == 201  # the failed email is no unsent email
    newer = response.get_json()["id"]

    response = client.put(f"/api/emails/{failed}", json={"status": "queued"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "request_already_in_contact"
    assert error_of(response)["details"] == {
        "placement_request_ids": [request_id],
        "email_ids": [newer],
    }
    assert client.get(f"/api/emails/{failed}").get_json()["status"] == "failed"
    # Unqueued to a draft, the newer email still holds the request: a draft is unsent too.
    assert client.put(f"/api/emails/{newer}", json={"status": "draft"}).status_code == 200
    assert client.put(f"/api/emails/{failed}", json={"status": "queued"}).status_code == 409


def test_nothing_is_queued_to_an_address_a_bounce_marked_undeliverable(client, session):
    therapist_id = make_therapist(session, email="Alt@Example.org")
    mark_undeliverable(session, therapist_id, "alt@example.org")
    failed = make_email(
        session, therapist_id=therapist_id, status="failed", recipient_email="Alt@Example.org"
    )
    body = {"therapist_id": therapist_id, "subject": "S", "body_text": "B"}

    requeued = client.put(f"/api/emails/{failed}", json={"status": "queued"})
    created = client.post("/api/emails", json={**body, "status": "queued"})
    draft = client.post("/api/emails", json=body)  # a draft goes nowhere yet
    assert draft.status_code == 201
    queued_draft = client.put(f"/api/emails/{draft.get_json()['id']}", json={"status": "queued"})

    for response in (requeued, created, queued_draft):
        assert response.status_code == 409
        assert error_of(response)["code"] == "address_undeliverable"
        assert error_of(response)["details"] == {
            "field": "recipient_email",
            "therapist_id": therapist_id,
        }
    assert client.get(f"/api/emails/{failed}").get_json()["status"] == "failed"
    assert count(session, Email) == 2


def test_a_requeued_email_goes_to_the_therapists_changed_address(client, session):
    therapist_id = make_therapist(
        session, titel="Dr.", vorname="Anna", nachname="Becker", email="neu@example.org"
    )
    mark_undeliverable(session, therapist_id, "alt@example.org")
    failed = make_email(
        session,
        therapist_id=therapist_id,
        status="failed",
        recipient_email="alt@example.org",
        recipient_name="Anna Becker",
    )

    response = client.put(f"/api/emails/{failed}", json={"status": "queued"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["recipient_email"], body["recipient_name"]) == (
        "queued",
        "neu@example.org",
        "Dr. Anna Becker",
    )


def test_a_bounced_email_is_kept_and_a_failed_one_never_sent_can_go(client, session):
    therapist_id = make_therapist(session)
    bounced = make_email(
        session,
        therapist_id=therapist_id,
        status="failed",
        sent_at=datetime(2026, 11, 20, 9),
        error_message="550 5.1.1 user unknown",
    )
    never_sent = make_email(
        session, therapist_id=therapist_id, status="failed", error_message="550 refused"
    )

    response = client.delete(f"/api/emails/{bounced}")

    assert response.status_code == 409
    assert error_of(response)["code"] == "email_not_deletable"
    assert error_of(response)["details"] == {
        "status": "failed",
        "sent_at": "2026-11-20T09:00:00",
    }
    assert client.get(f"/api/emails/{bounced}").status_code == 200
    assert client.delete(f"/api/emails/{never_sent}").status_code == 204
