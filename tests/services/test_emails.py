"""``emails.record_responses``: the batch form of ``PUT /api/emails/{id}/response`` that the
route (one email) and the mailbox import (a chunk of replies) both run."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from communication_service.models import Email, PhoneCall, PlacementRequest
from communication_service.services.emails import record_responses
from tests.api.test_emails import make_call
from tests.factories import make_email, make_placement_request, make_therapist


def test_many_responses_at_once_each_get_their_own_values_and_rule_10(session, ctx):
    first_therapist, second_therapist = make_therapist(session), make_therapist(session)
    request_id = make_placement_request(session, therapist_id=second_therapist)
    first = make_email(session, therapist_id=first_therapist, status="sent")
    second = make_email(
        session, therapist_id=second_therapist, status="sent", placement_request_ids=(request_id,)
    )
    first_call = make_call(session, first_therapist, follow_up_email_id=first)
    second_call = make_call(session, second_therapist, follow_up_email_id=second)

    recorded = record_responses(
        ctx,
        {
            first: {
                "response_content": "Leider kein Platz.",
                "response_date": datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
                "outcomes": {},
            },
            second: {"follow_up_required": True, "outcomes": {request_id: "accepted"}},
        },
    )
    session.commit()

    assert recorded.refused == {}
    assert recorded.effects[first]["canceled_follow_up_call_ids"] == [first_call]
    assert recorded.effects[second]["canceled_call_ids"] == [second_call]
    session.expire_all()
    one, two = session.get(Email, first), session.get(Email, second)
    assert (one.response_content, one.response_date, one.follow_up_required) == (
        "Leider kein Platz.",
        datetime(2026, 11, 28, 9, 0),
        False,
    )
    assert (two.response_content, two.response_received, two.follow_up_required) == (
        None,
        True,
        True,
    )
    notes = dict(session.execute(sa.select(PhoneCall.id, PhoneCall.notes)).all())
    assert notes[first_call].endswith(f"E-Mail {first} wurde beantwortet (Regel 10).")
    assert notes[second_call].endswith(f"E-Mail {second} wurde beantwortet (Regel 10).")
    accepted = session.get(PlacementRequest, request_id)
    assert (accepted.status, accepted.response_date) == ("accepted", ctx.clock.now().date())


def test_a_refused_email_changes_nothing_and_the_others_are_recorded(session, ctx):
    therapist_id = make_therapist(session)
    request_id = make_placement_request(session, therapist_id=therapist_id)
    queued = make_email(session, therapist_id=therapist_id, status="queued")
    answered = make_email(session, therapist_id=therapist_id, status="sent", response_received=True)
    wrong_outcome = make_email(session, therapist_id=therapist_id, status="sent")
    fine = make_email(session, therapist_id=therapist_id, status="sent")
    kept_call = make_call(session, therapist_id, follow_up_email_id=answered)

    recorded = record_responses(
        ctx,
        {
            queued: {"outcomes": {}},
            answered: {"response_content": "noch einmal", "outcomes": {}},
            wrong_outcome: {"outcomes": {request_id: "rejected"}},
            fine: {"outcomes": {}},
            4040: {"outcomes": {}},
        },
        unanswered_only=True,
    )
    session.commit()

    assert {email_id: error.status for email_id, error in recorded.refused.items()} == {
        queued: 409,
        answered: 409,
        wrong_outcome: 422,
        4040: 404,
    }
    assert recorded.refused[answered].code == "email_already_answered"
    assert list(recorded.effects) == [fine]
    session.expire_all()
    received = dict(session.execute(sa.select(Email.id, Email.response_received)).all())
    assert received == {queued: False, answered: True, wrong_outcome: False, fine: True}
    assert session.get(Email, answered).response_content is None
    assert session.get(PhoneCall, kept_call).status == "scheduled"
    assert session.get(PlacementRequest, request_id).status == "open"
