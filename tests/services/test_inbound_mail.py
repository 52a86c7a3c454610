"""The parser (``services/inbound_mail.py``): what is taken out of a message, and the quoted
history cut off a reply where the marker is clear."""

from __future__ import annotations

import pytest

from communication_service.services.inbound_mail import (
    Automatic,
    NotAMessage,
    html_to_text,
    parse_message,
    strip_quoted_history,
)
from tests import mail_samples as samples

ANSWER = "Frau M. kann am Donnerstag kommen.\n\nGrüße\nA. Becker"


@pytest.mark.parametrize(
    "history",
    [
        "Am 30.11.2026 um 08:00 schrieb Psychotherapie-Vermittlung:\n> Sehr geehrte Frau\n> Eva M.",
        # Gmail wraps a long attribution before the address.
        "Am Mo., 30. Nov. 2026 um 08:00 Uhr schrieb Psychotherapie-Vermittlung <\n"
        "vermittlung@example.org>:\n\n> Sehr geehrte Frau Becker,\n>\n> Eva M.",
        "On Mon, Nov 30, 2026 at 8:00 AM Psychotherapie-Vermittlung <vermittlung@example.org> "
        "wrote:\n> Dear Dr. Becker",
        "-----Original Message-----\nFrom: vermittlung@example.org\nSent: Monday\n\nEva M.",
        "-----Ursprüngliche Nachricht-----\nVon: vermittlung@example.org\n\nEva M.",
        "________________________________\nVon: Psychotherapie-Vermittlung <vermittlung@ex.org>\n"
        "Gesendet: Montag, 30. November 2026 08:00\nAn: Anna Becker\nBetreff: Anfrage\n\nEva M.",
        "> Sehr geehrte Frau Becker,\n> Eva M., 45 Jahre",
    ],
    ids=["thunderbird", "gmail-wrapped", "english", "original-message", "urspruengliche",
         "outlook-block", "quotes-only"],
)  # fmt: skip
def test_the_quoted_history_is_cut_where_the_marker_is_clear(history):
    assert strip_quoted_history(f"{ANSWER}\n\n{history}\n") == ANSWER


def test_answers_written_between_quoted_lines_are_kept():
    text = (
        "Am 30.11.2026 um 08:00 schrieb Vermittlung <vermittlung@example.org>:\n"
        "> 1. Eva M., 45 Jahre (Anfrage Nr. 17)\nJa, ab Januar.\n"
        "> 2. Karl K., 30 Jahre (Anfrage Nr. 18)\nLeider nein.\n"
    )
    assert strip_quoted_history(text) == "Ja, ab Januar.\nLeider nein."


@pytest.mark.parametrize(
    "text",
    [
        "Am Montag schrieb ich Ihnen bereits:\nFrau M. kann kommen.",  # no date: prose
        "Von: Montag an habe ich Zeit.\nBitte rufen Sie an.",  # "Von:" without "Gesendet:"
        "Sehr geehrte Damen und Herren,\nein Platz ist frei.",
    ],
)
def test_text_without_a_clear_marker_is_kept_whole(text):
    assert strip_quoted_history(text) == text


def test_a_message_that_is_only_a_quote_keeps_its_text():
    assert strip_quoted_history("> nur zitiert\n> nichts Neues") == "> nur zitiert\n> nichts Neues"


def test_html_becomes_readable_text():
    html = (
        "<html><head><title>x</title><style>p{color:red}</style><script>alert(1)</script>"
        "</head><body><p>Guten&nbsp;Tag,</p><div>Frau M.&amp;Herr K.<br>kommen</div>"
        "<blockquote>zitiert</blockquote></body></html>"
    )
    assert html_to_text(html) == "Guten Tag,\n\nFrau M.&Herr K.\nkommen\n\n> zitiert"


def test_a_bounce_reads_the_failed_recipient_and_the_returned_message_id():
    message = parse_message(samples.postfix_bounce("<ours-1@example.org>", recipient="a@b.de"))
    assert message.automatic is Automatic.BOUNCE
    assert message.returned_message_id == "<ours-1@example.org>"
    status = message.delivery_status
    assert (status.action, status.status, status.final_recipient) == ("failed", "5.1.1", "a@b.de")
    assert status.permanent and status.diagnostic_code.startswith("smtp; 550 5.1.1 <a@b.de>:")
    assert "Recipient address rejected: User unknown" in status.diagnostic_code
    assert message.attachments == []  # the report's parts are not attachments


def test_a_delayed_or_expired_4xx_is_not_permanent():
    delayed = parse_message(samples.delayed_bounce("<x@example.org>")).delivery_status
    assert (delayed.action, delayed.status, delayed.permanent) == ("delayed", "4.4.1", False)
    expired = samples.postfix_bounce("<x@example.org>", status="4.4.7", action="failed")
    assert parse_message(expired).delivery_status.permanent is False


def test_the_worst_recipient_block_of_a_report_counts():
    raw = samples.postfix_bounce("<x@example.org>").replace(
        b"Final-Recipient: rfc822; praxis.alt@example.com",
        b"Final-Recipient: rfc822; other@example.com\nAction: delayed\nStatus: 4.2.2\n\n"
        b"Final-Recipient: rfc822; praxis.alt@example.com",
    )
    status = parse_message(raw).delivery_status
    assert (status.final_recipient, status.status) == ("praxis.alt@example.com", "5.1.1")


def test_long_and_bare_message_ids_are_normalised():
    long_id = "<" + "x" * 300 + "@example.org>"
    raw = f"From: a@b.de\nMessage-ID: {long_id}\nIn-Reply-To: bare-id@example.org\n\nx".encode()
    message = parse_message(raw)
    assert message.message_id.endswith("@long-message-id.invalid>")
    assert len(message.message_id) < 255
    assert message.in_reply_to == []  # an id without brackets is no reference we sent


def test_broken_headers_do_not_lose_the_message():
    raw = (
        b'From: "unterminated <a@b.de\nTo: ,,,@@@\nDate: Mon, 99 Foo 99999\n'
        b'Subject: =?unknown-charset?Q?Gr=FC=DFe?=\nContent-Type: text/plain; charset="x-none"\n'
        b"\n\xfcberweisung"
    )
    message = parse_message(raw)
    assert message.date is None
    assert message.body_text == "überweisung"


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"x" * 100, b'{"From": "a"}'])
def test_not_a_message(raw):
    with pytest.raises(NotAMessage):
        parse_message(raw)
