"""``/api/inbound-emails``: messages as real mail systems send them, pushed through the HTTP
route (docs/api.md, docs/rules.md "Inbound email")."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from communication_service.models import (
    Email,
    InboundEmail,
    PhoneCall,
    UndeliverableAddress,
)
from tests import mail_samples as samples
from tests.api.test_emails import make_call
from tests.factories import make_email, make_placement_request, make_therapist

RFC822 = "message/rfc822"
SENT_AT = datetime(2026, 11, 23, 7, 0)  # a week before DEFAULT_NOW, UTC
REPLY_AT_UTC = "2026-11-30T06:45:00+00:00"  # samples.DATE
GMAIL_REPLY_AT_UTC = "2026-11-30T06:50:00+00:00"


def post(client, raw: bytes, **kwargs):
    return client.post("/api/inbound-emails", data=raw, content_type=RFC822, **kwargs)


def sent_email(session, address: str = "praxis.becker@example.com", **values) -> tuple[int, str]:
    """A sent email to ``address`` (the therapist's), with its Message-ID."""
    therapist_id = values.pop("therapist_id", None) or make_therapist(session, email=address)
    message_id = values.pop("message_id", samples.new_id("example.org"))
    email_id = make_email(
        session,
        therapist_id=therapist_id,
        status=values.pop("status", "sent"),
        sent_at=values.pop("sent_at", SENT_AT),
        recipient_email=address,
        message_id=message_id,
        **values,
    )
    return email_id, message_id


def email_row(session, email_id: int) -> Email:
    session.expire_all()
    return session.get(Email, email_id)


def count(session, model) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


# --- replies ------------------------------------------------------------------------------------

REPLIES = {
    "outlook": (samples.outlook_reply, "praxis.becker@example.com", "für Frau M. hätte ich"),
    "outlook-windows-1252": (
        samples.outlook_reply_cp1252,
        "praxis.kraus@example.com",
        "„Herr K.“ kann gern kommen \u2013 Selbstzahler 100 € pro Sitzung.",
    ),
    "gmail": (samples.gmail_reply, "dr.roth.praxis@gmail.com", "frühestens im Sommer"),
    "thunderbird": (samples.thunderbird_reply, "kontakt@praxis-schulz.de", "Für Frau M. leider"),
    "html-only": (samples.html_only_reply, "info@praxis-weber.de", "Grüße aus München"),
}


@pytest.mark.parametrize("client_name", list(REPLIES))
def test_a_reply_is_stored_matched_and_recorded_as_the_response(client, session, client_name):
    build, address, words = REPLIES[client_name]
    email_id, message_id = sent_email(session, address)
    raw = build(message_id, sender=address)

    response = post(client, raw)

    body = response.get_json()
    assert response.status_code == 201, body
    assert body["kind"] == "reply"
    assert (body["email_id"], body["matched_by"]) == (email_id, "message_id")
    assert body["sender"] == address and body["in_reply_to"] == message_id
    assert body["recipients"] == [samples.OUR_ADDRESS]
    assert words in body["body_text"]
    assert body["response_recorded"] is True
    email = email_row(session, email_id)
    assert email.response_received is True
    assert words in email.response_content
    # The quoted request is not part of the response, but is kept on the inbound row.
    assert "Eva M., 45 Jahre" not in email.response_content
    assert "Eva M., 45 Jahre" in body["body_text"] or client_name == "html-only"
    assert email.response_date.isoformat() + "+00:00" in (REPLY_AT_UTC, GMAIL_REPLY_AT_UTC)


def test_the_response_takes_the_message_date_and_cancels_the_follow_up_rule_10(client, session):
    therapist_id = make_therapist(session, email="praxis.becker@example.com")
    email_id, message_id = sent_email(session, therapist_id=therapist_id)
    follow_up = make_call(session, therapist_id, follow_up_email_id=email_id)

    body = post(client, samples.outlook_reply(message_id)).get_json()

    email = email_row(session, email_id)
    assert email.response_date == datetime(2026, 11, 30, 6, 45)  # Date: 07:45 +0100
    assert session.get(PhoneCall, follow_up).status == "canceled"
    assert body["response_effects"]["canceled_follow_up_call_ids"] == [follow_up]
    assert body["response_effects"]["canceled_call_ids"] == [follow_up]


def test_outcomes_stay_with_staff(client, session):
    therapist_id = make_therapist(session, email="praxis.becker@example.com")
    request_id = make_placement_request(session, therapist_id=therapist_id)
    _, message_id = sent_email(
        session, therapist_id=therapist_id, placement_request_ids=(request_id,)
    )
    post(client, samples.outlook_reply(message_id, text="Ja, ich nehme Frau M."))
    status = session.execute(
        sa.text("SELECT status FROM matching_service.placement_requests WHERE id = :id"),
        {"id": request_id},
    ).scalar_one()
    assert status == "OPEN"


def test_a_second_delivery_answers_with_the_stored_row_and_doubles_nothing(client, session):
    therapist_id = make_therapist(session, email="praxis.becker@example.com")
    email_id, message_id = sent_email(session, therapist_id=therapist_id)
    raw = samples.outlook_reply(message_id)
    first = post(client, raw)
    make_call(session, therapist_id, follow_up_email_id=email_id)  # booked after the reply

    second = post(client, raw)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json() == first.get_json()
    assert count(session, InboundEmail) == 1
    # The response was not recorded again: the new call is not canceled.
    assert session.execute(sa.select(PhoneCall.status)).scalar_one() == "scheduled"


def test_references_match_when_in_reply_to_names_another_message(client, session):
    email_id, message_id = sent_email(session, "dr.roth.praxis@gmail.com")
    raw = samples.gmail_reply(
        "<an-earlier-reply@mail.gmail.com>",
        references=f"{message_id} <an-earlier-reply@mail.gmail.com>",
    )
    body = post(client, raw).get_json()
    assert (body["email_id"], body["matched_by"]) == (email_id, "message_id")


def test_a_reply_to_an_answered_email_is_linked_but_does_not_overwrite(client, session):
    email_id, message_id = sent_email(
        session, response_received=True, response_content="Telefonisch zugesagt."
    )
    body = post(client, samples.outlook_reply(message_id)).get_json()
    assert body["email_id"] == email_id and body["response_recorded"] is False
    assert email_row(session, email_id).response_content == "Telefonisch zugesagt."


# --- matching by sender --------------------------------------------------------------------------


def test_a_message_without_thread_headers_is_matched_by_its_sender(client, session):
    email_id, _ = sent_email(session, "Praxis.Neu@Example.com")
    body = post(client, samples.fresh_email(sender="praxis.neu@example.com")).get_json()
    assert (body["email_id"], body["matched_by"], body["kind"]) == (email_id, "sender", "reply")
    assert email_row(session, email_id).response_content == "Ich hätte ab März einen Platz frei."


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"sent_at": SENT_AT - timedelta(days=1)}, id="two-unanswered-emails"),
        pytest.param(None, id="only-answered-email"),
        pytest.param(None, id="only-older-than-30-days"),
    ],
)
def test_the_sender_matches_only_exactly_one_recent_unanswered_email(
    client, session, other, request
):
    address = "praxis.neu@example.com"
    case = request.node.callspec.id
    if case == "two-unanswered-emails":
        sent_email(session, address)
        sent_email(session, address, **other)
    elif case == "only-answered-email":
        sent_email(session, address, response_received=True)
    else:
        sent_email(session, address, sent_at=datetime(2026, 10, 30, 6, 0))
    body = post(client, samples.fresh_email(sender=address)).get_json()
    assert body["email_id"] is None and body["matched_by"] is None
    assert body["kind"] == "unknown"


def test_emails_sent_after_the_message_was_written_are_not_what_it_answers(client, session):
    address = "praxis.neu@example.com"
    answered, _ = sent_email(session, address, sent_at=datetime(2026, 11, 19, 9, 0))
    sent_email(session, address, sent_at=datetime(2026, 11, 23, 7, 0))  # after the message
    raw = samples.fresh_email(sender=address, date="Fri, 20 Nov 2026 18:00:00 +0100")
    body = post(client, raw).get_json()
    assert (body["email_id"], body["matched_by"]) == (answered, "sender")


def test_the_sender_window_is_30_days_before_the_message(client, session):
    email_id, _ = sent_email(
        session, "praxis.neu@example.com", sent_at=datetime(2026, 10, 31, 7, 0)
    )
    body = post(client, samples.fresh_email(sender="praxis.neu@example.com")).get_json()
    assert body["email_id"] == email_id  # 30 days and a few minutes before the message


# --- the inbox and attaching by hand ------------------------------------------------------------


def test_unmatched_messages_are_the_inbox_and_staff_attach_them(client, session):
    therapist_id = make_therapist(session, email="praxis.becker@example.com")
    email_id, _ = sent_email(session, therapist_id=therapist_id)
    follow_up = make_call(session, therapist_id, follow_up_email_id=email_id)
    stranger = post(client, samples.fresh_email(sender="unbekannt@example.net")).get_json()
    # A reply to a message we do not know, from an address we never wrote to.
    other = samples.outlook_reply(samples.new_id(), sender="andere.praxis@example.com")
    unknown = post(client, other).get_json()
    assert (unknown["kind"], unknown["email_id"]) == ("reply", None)
    inbox = client.get("/api/inbound-emails?matched=false").get_json()
    assert [row["id"] for row in inbox["data"]] == [unknown["id"], stranger["id"]]
    assert "body_text" not in inbox["data"][0]

    response = client.put(f"/api/inbound-emails/{stranger['id']}", json={"email_id": email_id})

    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["email_id"], body["matched_by"], body["kind"]) == (email_id, "staff", "reply")
    assert body["response_recorded"] is True
    assert body["response_effects"]["canceled_follow_up_call_ids"] == [follow_up]
    assert body["response_effects"]["canceled_call_ids"] == [follow_up]
    assert email_row(session, email_id).response_received is True
    inbox = client.get("/api/inbound-emails?matched=false").get_json()
    assert [row["id"] for row in inbox["data"]] == [unknown["id"]]
    assert client.get(f"/api/inbound-emails?email_id={email_id}").get_json()["total"] == 1
    again = client.put(f"/api/inbound-emails/{stranger['id']}", json={"email_id": email_id})
    assert again.status_code == 200 and again.get_json() == body


def test_attaching_by_hand_is_checked(client, session):
    email_id, _ = sent_email(session)
    draft_id, _ = sent_email(session, "andere@example.com", status="draft", message_id=None)
    other_id, _ = sent_email(session, "dritte@example.com")
    message = post(client, samples.fresh_email(sender="unbekannt@example.net")).get_json()
    url = f"/api/inbound-emails/{message['id']}"

    assert client.put("/api/inbound-emails/999", json={"email_id": email_id}).status_code == 404
    unknown = client.put(url, json={"email_id": 999})
    assert unknown.status_code == 422 and "email_id" in unknown.get_json()["error"]["details"]
    not_sent = client.put(url, json={"email_id": draft_id})
    assert not_sent.status_code == 409
    assert not_sent.get_json()["error"]["code"] == "email_not_sent"
    assert client.put(url, json={"email_id": email_id}).status_code == 200
    taken = client.put(url, json={"email_id": other_id})
    assert taken.status_code == 409
    assert taken.get_json()["error"]["code"] == "inbound_email_already_matched"
    assert client.put(url, json={}).status_code == 422


def test_list_filters_and_one_message(client, session):
    _, message_id = sent_email(session)
    reply = post(client, samples.outlook_reply(message_id)).get_json()
    auto = post(client, samples.subject_only_out_of_office(sender="q@example.net")).get_json()

    kinds = client.get("/api/inbound-emails?kind=auto_reply").get_json()
    assert [row["id"] for row in kinds["data"]] == [auto["id"]]
    matched = client.get("/api/inbound-emails?matched=true").get_json()
    assert [row["id"] for row in matched["data"]] == [reply["id"]]
    assert client.get("/api/inbound-emails?kind=spam").status_code == 422
    one = client.get(f"/api/inbound-emails/{reply['id']}").get_json()
    assert one == reply
    assert client.get("/api/inbound-emails/12345").status_code == 404


# --- auto-replies ------------------------------------------------------------------------------

AUTO_REPLIES = {
    "exchange-automatische-antwort": lambda mid, addr: samples.exchange_out_of_office(
        mid, sender=addr
    ),
    "sieve-abwesenheitsnotiz": lambda mid, addr: samples.sieve_vacation(mid, sender=addr),
    "x-autoreply": lambda mid, addr: samples.hoster_autoreply(mid, sender=addr),
    "x-autorespond": lambda mid, addr: samples.hoster_autoreply(
        mid, sender=addr, header="X-Autorespond: Praxis geschlossen"
    ),
    "precedence-auto-reply": lambda mid, addr: samples.hoster_autoreply(
        mid, sender=addr, header="Precedence: auto_reply"
    ),
    "subject-out-of-office": lambda mid, addr: samples.subject_only_out_of_office(sender=addr),
    "subject-automatische-antwort": lambda mid, addr: samples.subject_only_out_of_office(
        sender=addr, subject="Automatische Antwort: Anfrage"
    ),
}


@pytest.mark.parametrize("shape", list(AUTO_REPLIES))
def test_an_auto_reply_is_linked_but_is_no_response(client, session, shape):
    address = "praxis.becker@example.com"
    therapist_id = make_therapist(session, email=address)
    email_id, message_id = sent_email(session, therapist_id=therapist_id)
    follow_up = make_call(session, therapist_id, follow_up_email_id=email_id)

    body = post(client, AUTO_REPLIES[shape](message_id, address)).get_json()

    assert body["kind"] == "auto_reply" and body["email_id"] == email_id
    assert body["response_recorded"] is False
    assert email_row(session, email_id).response_received is False
    assert session.get(PhoneCall, follow_up).status == "scheduled"  # the follow-up happens


# --- bounces -----------------------------------------------------------------------------------

BOUNCES = {
    "postfix": (samples.postfix_bounce, "5.1.1", "User unknown"),
    "exim": (samples.exim_bounce, "5.0.0", "550 5.1.1 mailbox unavailable"),
    "exchange": (samples.exchange_bounce, "5.1.10", "RESOLVER.ADR.RecipientNotFound"),
}


@pytest.mark.parametrize("mta", list(BOUNCES))
def test_a_permanent_bounce_fails_the_email_and_marks_the_address(client, session, mta):
    build, status, words = BOUNCES[mta]
    address = "praxis.alt@example.com"
    therapist_id = make_therapist(session, email=address)
    email_id, message_id = sent_email(session, address, therapist_id=therapist_id)

    body = post(client, build(message_id, recipient=address)).get_json()

    assert body["kind"] == "bounce"
    assert (body["email_id"], body["matched_by"]) == (email_id, "message_id")
    assert body["permanent_failure"] is True
    assert body["delivery_status"]["status"] == status
    assert body["delivery_status"]["final_recipient"] == address
    email = email_row(session, email_id)
    assert email.status == "failed"
    assert status in email.error_message and words in email.error_message
    mark = session.execute(sa.select(UndeliverableAddress)).scalar_one()
    assert (mark.therapist_id, mark.address, mark.email_id) == (therapist_id, address, email_id)
    assert mark.diagnostic == email.error_message


def test_a_bounced_address_typed_with_stray_whitespace_blocks_the_therapists_address(
    client, session
):
    """The therapist service stored the address with a trailing tab and in capitals; the
    mark is compared as rule 6 compares it (``contact_rules.comparable_address``), so the
    therapist counts as having no address (a call instead), until the address changes."""
    typed = "Praxis.Alt@Example.com\t"
    therapist_id = make_therapist(session, email=typed)
    _, message_id = sent_email(session, typed, therapist_id=therapist_id)
    post(client, samples.postfix_bounce(message_id, recipient="praxis.alt@example.com"))
    state = client.get(f"/api/therapists/{therapist_id}").get_json()["contact_state"]
    assert state["has_email"] is False


def test_a_delayed_delivery_is_stored_and_changes_nothing(client, session):
    email_id, message_id = sent_email(session, "praxis.alt@example.com")
    body = post(client, samples.delayed_bounce(message_id)).get_json()
    assert body["kind"] == "bounce" and body["email_id"] == email_id
    assert body["permanent_failure"] is False
    assert body["delivery_status"]["action"] == "delayed"
    assert email_row(session, email_id).status == "sent"
    assert count(session, UndeliverableAddress) == 0


def test_an_unmatched_bounce_does_its_work_when_staff_attach_it(client, session):
    address = "praxis.alt@example.com"
    email_id, _ = sent_email(session, address)
    bounce = post(client, samples.postfix_bounce(samples.new_id(), recipient=address)).get_json()
    assert bounce["email_id"] is None and email_row(session, email_id).status == "sent"

    body = client.put(f"/api/inbound-emails/{bounce['id']}", json={"email_id": email_id})

    assert body.status_code == 200 and body.get_json()["kind"] == "bounce"
    assert email_row(session, email_id).status == "failed"
    assert count(session, UndeliverableAddress) == 1


# --- what arrives is kept, readable -----------------------------------------------------------


def test_attachments_are_listed_with_names_and_sizes_not_content(client, session):
    _, message_id = sent_email(session)
    body = post(client, samples.reply_with_attachment(message_id)).get_json()
    assert body["attachments"] == [
        {"filename": "Überweisung.pdf", "content_type": "application/pdf", "size": 3016},
        {"filename": "image001.png", "content_type": "image/png", "size": 508},
    ]
    assert body["body_text"] == "Anbei die Überweisung für Frau M."


@pytest.mark.parametrize(
    ("header", "body", "charset"),
    [
        ("=?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=", "quoted-printable", "iso-8859-1"),
        ("=?windows-1252?B?R3L832UgYXVzIE38bmNoZW4=?=", "base64", "windows-1252"),
        ("=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=", "base64", "utf-8"),
        ("Grüße aus München", "8bit", "utf-8"),  # raw UTF-8 in the header
        ("Grüße aus München".encode("latin-1").decode("latin-1"), "8bit", "iso-8859-1"),
    ],
    ids=["qp-latin1", "b64-cp1252", "b64-utf8", "raw-utf8", "raw-latin1"],
)
def test_german_mail_in_every_charset_keeps_its_umlauts(client, session, header, body, charset):
    import base64
    import quopri

    text = "Schöne Grüße, Jörg Müller, Praxis für Psychotherapie"
    codec = "cp1252" if charset == "windows-1252" else charset
    if body == "quoted-printable":
        payload = quopri.encodestring(text.encode(codec))
    elif body == "base64":
        payload = base64.encodebytes(text.encode(codec))
    else:
        payload = text.encode(codec)
    head = (
        f"From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <mueller@example.de>\nTo: {samples.OUR_ADDRESS}\n"
        f"Subject: {header}\nDate: {samples.DATE}\nMessage-ID: {samples.new_id()}\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n"
        f"Content-Transfer-Encoding: {body}\n\n"
    )
    raw = head.encode(codec) + payload
    stored = post(client, raw).get_json()
    assert stored["subject"] == "Grüße aus München"
    assert stored["sender_name"] == "Jörg Müller"
    assert stored["body_text"] == text


def test_a_message_without_message_id_is_stored_once(client, session):
    raw = (
        f"From: praxis@example.de\nTo: {samples.OUR_ADDRESS}\nSubject: Platz frei\n"
        f"Date: {samples.DATE}\n\nIch habe einen Platz frei.\n"
    ).encode()
    first = post(client, raw)
    # The same message through another route: other transport headers in front.
    second = post(client, b"Received: from mx by relay; Mon, 30 Nov 2026 07:46:00 +0100\n" + raw)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["message_id"].endswith("@no-message-id.invalid>")
    assert count(session, InboundEmail) == 1


def test_text_postgresql_cannot_store_is_cleaned_not_a_500(client, session):
    raw = (
        b"From: praxis@example.de\nTo: x@example.org\nSubject: Nul\x00 \xff\xfe here\n"
        b"Message-ID: <nul@example.de>\n\nText with \x00 NUL and \x1b escape and \xed\xa0\x80.\n"
    )
    body = post(client, raw).get_json()
    assert "\x00" not in body["subject"] and "\x00" not in body["body_text"]
    assert body["body_text"].startswith("Text with  NUL and  escape")  # removed, not replaced


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n ", "empty"),
        (b'{"from": "praxis@example.de", "text": "Platz frei"}', "no header block"),
        (b"Guten Tag, ich habe einen Platz frei.\nGruss", "no header block"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "no header block"),
    ],
    ids=["empty", "blank", "json", "plain-text", "binary"],
)
def test_a_body_that_is_not_a_message_is_422_with_the_reason(client, session, raw, reason):
    response = post(client, raw)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert reason in error["details"]["body"][0]
    assert count(session, InboundEmail) == 0


def test_the_body_must_be_message_rfc822(client, session):
    raw = samples.fresh_email(sender="praxis@example.de")
    for content_type in ("application/json", "text/plain", "application/octet-stream"):
        response = client.post("/api/inbound-emails", data=raw, content_type=content_type)
        assert response.status_code == 415
        assert response.get_json()["error"]["details"] == {"Content-Type": RFC822}
    assert count(session, InboundEmail) == 0


def test_up_to_ten_megabytes_for_this_route_only(client, session):
    from communication_service.schemas.inbound_email import MAX_MESSAGE_BYTES

    head = samples.fresh_email(sender="praxis@example.de").split(b"\n\n")[0]
    scan = b"\n\n" + b"Scan " * ((5 * 1024 * 1024) // 5)  # 5 MB: past MAX_CONTENT_LENGTH
    assert post(client, head + scan).status_code == 201
    chunked = client.post(
        "/api/inbound-emails",
        input_stream=io.BytesIO(head.replace(b"<", b"<chunked-") + scan),
        headers={"Content-Type": RFC822, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.status_code == 201, chunked.get_json()
    big = head + b"\n\n" + b"x" * (MAX_MESSAGE_BYTES - len(head) - 1)
    assert len(big) == MAX_MESSAGE_BYTES + 1
    response = post(client, big)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    # Other routes keep MAX_CONTENT_LENGTH.
    other = client.post(
        "/api/emails",
        data=b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        content_type="application/json",
    )
    assert other.status_code == 413
    assert count(session, InboundEmail) == 2


def test_the_route_needs_the_token(app, session):
    raw = samples.fresh_email(sender="praxis@example.de")
    response = app.test_client().post("/api/inbound-emails", data=raw, content_type=RFC822)
    assert response.status_code == 401
    assert count(session, InboundEmail) == 0
