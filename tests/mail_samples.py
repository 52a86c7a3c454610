"""Inbound messages shaped like what real mail systems send: replies from Outlook/Exchange,
Gmail and Thunderbird, German auto-replies, and delivery status notifications of Postfix, Exim
and Exchange Online. Each builder returns the raw bytes a mail provider's webhook posts or
Postfix/Dovecot write into a Maildir (CRLF line ends where the sender writes them).

Headers and structure follow the originals (boundaries, transfer encodings, charsets, the
wording of attribution lines and reports); only names, addresses and ids are filled in.
"""

from __future__ import annotations

import base64
import quopri
import uuid

OUR_ADDRESS = "vermittlung@example.org"
OUR_NAME = "Psychotherapie-Vermittlung"
SUBJECT = "Anfrage: Psychotherapieplätze für unsere Patientinnen und Patienten"
DATE = "Mon, 30 Nov 2026 07:45:00 +0100"  # a quarter of an hour before DEFAULT_NOW


def new_id(domain: str = "praxis.example") -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def _qp(text: str, charset: str) -> str:
    return quopri.encodestring(text.encode(charset)).decode("ascii")


def _b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


QUOTED_REQUEST = (
    "Sehr geehrte Frau Dr. Becker,\n\nwir suchen für folgende Patientinnen und Patienten "
    "einen Therapieplatz:\n1. Eva M., 45 Jahre (Anfrage Nr. 17)"
)


def outlook_reply(
    in_reply_to: str,
    *,
    sender: str = "praxis.becker@example.com",
    text: str = "Sehr geehrte Damen und Herren,\n\nfür Frau M. hätte ich ab Januar einen Platz.\n"
    "Bitte melden Sie sich telefonisch.\n\nMit freundlichen Grüßen\nAnna Becker",
    message_id: str | None = None,
    charset: str = "iso-8859-1",
    date: str = DATE,
) -> bytes:
    """Outlook 16 against Exchange: multipart/alternative, ISO-8859-1 quoted-printable, the
    quoted message below a "Von:/Gesendet:/An:/Betreff:" block."""
    message_id = message_id or new_id("EUR01.prod.exchangelabs.com")
    plain = (
        f"{text}\n\nVon: {OUR_NAME} <{OUR_ADDRESS}>\nGesendet: Montag, 30. November 2026 "
        f"08:00\nAn: Anna Becker <{sender}>\nBetreff: {SUBJECT}\n\n{QUOTED_REQUEST}\n"
    )
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        "</head><body><div>" + text.replace("\n", "<br>") + "</div><hr><div><b>Von:</b> "
        f"{OUR_NAME}<br><b>Gesendet:</b> Montag, 30. November 2026 08:00</div></body></html>"
    )
    boundary = "_000_AM0PR01MB54321B2C3D4E5F6G7H8I9EURP_"
    return _crlf(
        f"""Received: from AM0PR01MB5432.eurprd01.prod.exchangelabs.com (2603:10a6:208:1::1)
 by AM0PR01MB1234.eurprd01.prod.exchangelabs.com with HTTPS; Mon, 30 Nov 2026
 09:15:02 +0000
From: Anna Becker <{sender}>
To: {OUR_NAME} <{OUR_ADDRESS}>
Subject: AW: {_subject_header(SUBJECT)}
Thread-Topic: {_subject_header(SUBJECT)}
Thread-Index: AQHZx1Y2k8dJ3vQkR0u2bqY7Nf6J8A==
Date: {date}
Message-ID: {message_id}
References: {in_reply_to}
In-Reply-To: {in_reply_to}
Accept-Language: de-DE, en-US
Content-Language: de-DE
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative;
\tboundary="{boundary}"
MIME-Version: 1.0

--{boundary}
Content-Type: text/plain; charset="{charset}"
Content-Transfer-Encoding: quoted-printable

{_qp(plain, charset)}
--{boundary}
Content-Type: text/html; charset="{charset}"
Content-Transfer-Encoding: quoted-printable

{_qp(html, charset)}
--{boundary}--
"""
    )


def _subject_header(subject: str) -> str:
    """RFC 2047, as Outlook writes a subject with umlauts."""
    encoded = base64.b64encode(subject.encode("utf-8")).decode("ascii")
    return f"=?utf-8?B?{encoded}?="


def outlook_reply_cp1252(in_reply_to: str, **kwargs: str) -> bytes:
    """Outlook with windows-1252 and the classic "-----Ursprüngliche Nachricht-----"."""
    text = kwargs.pop(
        "text",
        "Guten Tag,\n\n„Herr K.“ kann gern kommen \u2013 Selbstzahler 100 € pro Sitzung.\n\nGruß",
    )
    plain = f"{text}\n\n-----Ursprüngliche Nachricht-----\nVon: {OUR_ADDRESS}\n{QUOTED_REQUEST}"
    message_id = kwargs.pop("message_id", None) or new_id("praxis.example")
    sender = kwargs.pop("sender", "praxis.kraus@example.com")
    return _crlf(
        f"""From: "Kraus, Peter" <{sender}>
To: <{OUR_ADDRESS}>
Subject: AW: Anfrage
Date: {DATE}
Message-ID: {message_id}
In-Reply-To: {in_reply_to}
MIME-Version: 1.0
Content-Type: text/plain; charset="windows-1252"
Content-Transfer-Encoding: quoted-printable
X-Mailer: Microsoft Outlook 16.0

{_qp(plain, "cp1252")}
"""
    )


def gmail_reply(
    in_reply_to: str,
    *,
    sender: str = "dr.roth.praxis@gmail.com",
    text: str = "Hallo,\n\nich habe leider keinen Platz frei, frühestens im Sommer wieder.\n\n"
    "Viele Grüße\nMartin Roth",
    message_id: str | None = None,
    references: str | None = None,
) -> bytes:
    """Gmail's web client: multipart/alternative, UTF-8 quoted-printable, the attribution
    wrapped before the address, "> " quotes; the HTML quote in a gmail_quote blockquote."""
    message_id = message_id or f"<CAH{uuid.uuid4().hex[:20]}+x=Qm@mail.gmail.com>"
    plain = (
        f"{text}\n\nAm Mo., 30. Nov. 2026 um 08:00 Uhr schrieb {OUR_NAME} <\n"
        f"{OUR_ADDRESS}>:\n\n"
        + "\n".join("> " + line if line else ">" for line in QUOTED_REQUEST.split("\n"))
        + "\n"
    )
    html = (
        '<div dir="ltr">' + text.replace("\n", "<br>") + '</div><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">Am Mo., 30. Nov. 2026 um 08:00&nbsp;Uhr schrieb '
        f'{OUR_NAME} &lt;<a href="mailto:{OUR_ADDRESS}">{OUR_ADDRESS}</a>&gt;:<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        + QUOTED_REQUEST.replace("\n", "<br>")
        + "</blockquote></div>"
    )
    boundary = "000000000000a1b2c3d4e5f60718"
    return _crlf(
        f"""MIME-Version: 1.0
References: {references or in_reply_to}
In-Reply-To: {in_reply_to}
From: Martin Roth <{sender}>
Date: Mon, 30 Nov 2026 07:50:00 +0100
Message-ID: {message_id}
Subject: Re: =?UTF-8?Q?Anfrage=3A_Psychotherapiepl=C3=A4tze_f=C3=BCr_unsere_Patientinnen_und_Pati?=
 =?UTF-8?Q?enten?=
To: {OUR_NAME} <{OUR_ADDRESS}>
Content-Type: multipart/alternative; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

{_qp(plain, "utf-8")}
--{boundary}
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

{_qp(html, "utf-8")}
--{boundary}--
"""
    )


def thunderbird_reply(
    in_reply_to: str,
    *,
    sender: str = "kontakt@praxis-schulz.de",
    text: str = "Sehr geehrte Damen und Herren,\n\nfür Herrn K. ist ab dem 11.01. ein Platz "
    "frei. Für Frau M. leider nicht.\n\nMit freundlichen Grüßen\nJörg Schulz",
    message_id: str | None = None,
) -> bytes:
    """Thunderbird: text/plain UTF-8 8bit, format=flowed, bottom quote with "> "."""
    message_id = message_id or f"<{uuid.uuid4()}@praxis-schulz.de>"
    quoted = "\n".join("> " + line if line else ">" for line in QUOTED_REQUEST.split("\n"))
    return (
        f"""Return-Path: <{sender}>
Delivered-To: {OUR_ADDRESS}
Message-ID: {message_id}
Date: {DATE}
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: Re: Anfrage: Psychotherapieplätze
Content-Language: de-DE
To: {OUR_NAME} <{OUR_ADDRESS}>
References: {in_reply_to}
From: =?UTF-8?Q?J=c3=b6rg_Schulz?= <{sender}>
In-Reply-To: {in_reply_to}
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Am 30.11.2026 um 08:00 schrieb {OUR_NAME}:
{quoted}

{text}
"""
    ).encode()


def html_only_reply(in_reply_to: str, *, sender: str = "info@praxis-weber.de") -> bytes:
    """A web mailer that sends HTML only: ISO-8859-1, base64."""
    html = (
        "<html><head><style>p {margin:0}</style></head><body><p>Guten Tag,</p><p>Frau M. "
        "kann am Donnerstag um 14&nbsp;Uhr zum Erstgespräch kommen.</p><p>Grüße aus "
        "München<br>Praxis Weber</p><blockquote>Sehr geehrte Frau Weber, wir suchen</blockquote>"
        "</body></html>"
    )
    return _crlf(
        f"""From: Praxis Weber <{sender}>
To: {OUR_ADDRESS}
Subject: Re: Anfrage
Date: {DATE}
Message-ID: {new_id("praxis-weber.de")}
In-Reply-To: {in_reply_to}
MIME-Version: 1.0
Content-Type: text/html; charset=ISO-8859-1
Content-Transfer-Encoding: base64

{_b64(html.encode("latin-1"))}
"""
    )


def reply_with_attachment(in_reply_to: str, *, sender: str = "praxis.becker@example.com") -> bytes:
    """A reply with a PDF (RFC 2231 file name with umlauts) and an inline image."""
    pdf = b"%PDF-1.4\n" + b"0" * 3000 + b"\n%%EOF\n"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500
    return _crlf(
        f"""From: Anna Becker <{sender}>
To: {OUR_ADDRESS}
Subject: AW: Anfrage
Date: {DATE}
Message-ID: {new_id("example.com")}
In-Reply-To: {in_reply_to}
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-1"

--mixed-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{_b64("Anbei die Überweisung für Frau M.".encode())}
--mixed-1
Content-Type: application/pdf; name="=?utf-8?Q?=C3=9Cberweisung.pdf?="
Content-Disposition: attachment; filename*=utf-8''%C3%9Cberweisung.pdf
Content-Transfer-Encoding: base64

{_b64(pdf)}
--mixed-1
Content-Type: image/png; name="image001.png"
Content-Disposition: inline; filename="image001.png"
Content-ID: <image001.png@01DB1234.5678ABCD>
Content-Transfer-Encoding: base64

{_b64(png)}
--mixed-1--
"""
    )


def fresh_email(
    *, sender: str, text: str = "Ich hätte ab März einen Platz frei.", date: str = DATE
) -> bytes:
    """A therapist writes a new email (no In-Reply-To, no "Re:"), e.g. from the phone."""
    return (
        f"""From: {sender}
To: {OUR_ADDRESS}
Subject: Freier Therapieplatz
Date: {date}
Message-ID: {new_id("mobile.example")}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{text}
"""
    ).encode()


# --- auto-replies -----------------------------------------------------------------------------


def exchange_out_of_office(in_reply_to: str, *, sender: str = "praxis.becker@example.com") -> bytes:
    """Exchange/Outlook "Automatische Antwort" (Auto-Submitted: auto-generated)."""
    text = (
        "Vielen Dank für Ihre Nachricht. Ich bin bis zum 04.01.2027 nicht in der Praxis und "
        "lese meine E-Mails in dieser Zeit nicht."
    )
    return _crlf(
        f"""From: Anna Becker <{sender}>
To: {OUR_NAME} <{OUR_ADDRESS}>
Subject: =?iso-8859-1?Q?Automatische_Antwort:_Anfrage:_Psychotherapiepl=E4tze?=
Thread-Topic: Anfrage
Date: {DATE}
Message-ID: {new_id("EUR01.prod.exchangelabs.com")}
References: {in_reply_to}
In-Reply-To: {in_reply_to}
Auto-Submitted: auto-generated
X-MS-Exchange-Inbox-Rules-Loop: {sender}
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable
MIME-Version: 1.0

{_qp(text, "latin-1")}
"""
    )


def sieve_vacation(in_reply_to: str, *, sender: str = "kontakt@praxis-schulz.de") -> bytes:
    """Dovecot/Sieve vacation (Thunderbird users, many hosters): RFC 3834 auto-replied."""
    return (
        f"""Return-Path: <>
Message-ID: <dovecot-sieve-1701.{uuid.uuid4().hex}@praxis-schulz.de>
Date: {DATE}
From: <{sender}>
To: <{OUR_ADDRESS}>
Subject: Abwesenheitsnotiz: Re: Anfrage
In-Reply-To: {in_reply_to}
References: {in_reply_to}
Auto-Submitted: auto-replied (vacation)
Precedence: bulk
X-Sieve: Pigeonhole Sieve 0.5.21
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Ich bin im Urlaub bis zum 2. Januar. Bei dringenden Anliegen wenden Sie sich bitte an die Praxis.
"""
    ).encode()


def hoster_autoreply(
    in_reply_to: str | None, *, sender: str, header: str = "X-Autoreply: yes"
) -> bytes:
    """A web hoster's autoresponder that marks itself only with X-Autoreply/X-Autorespond or
    Precedence: auto_reply, and gives no In-Reply-To (matched by the sender then)."""
    thread = f"In-Reply-To: {in_reply_to}\n" if in_reply_to else ""
    return (
        f"""From: {sender}
To: {OUR_ADDRESS}
Subject: Re: Anfrage
Date: {DATE}
Message-ID: {new_id("autoresponder.example")}
{thread}{header}
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: 8bit

"""
    ).encode("latin-1") + "Praxis geschlossen bis 10.01. \u2013 Grüße".encode("cp1252")


def subject_only_out_of_office(*, sender: str, subject: str = "Out of Office: Anfrage") -> bytes:
    return (
        f"From: {sender}\nTo: {OUR_ADDRESS}\nSubject: {subject}\nDate: {DATE}\n"
        f"Message-ID: {new_id()}\n\nI am out of the office until January.\n"
    ).encode("ascii")


# --- delivery status notifications -----------------------------------------------------------


def postfix_bounce(
    original_message_id: str,
    *,
    recipient: str = "praxis.alt@example.com",
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown "
    "in virtual mailbox table",
) -> bytes:
    """Postfix's bounce: text/plain notice, message/delivery-status, text/rfc822-headers."""
    diagnostic = diagnostic.format(recipient=recipient)
    cut = diagnostic.rfind(" ", 0, 60)  # Postfix folds long lines at a blank
    folded = diagnostic[:cut] + "\n   " + diagnostic[cut:] if cut > 0 else diagnostic
    subject = (
        "Delayed Mail (still being retried)"
        if action == "delayed"
        else "Undelivered Mail Returned to Sender"
    )
    return f"""Return-Path: <>
Received: by mx.example.org (Postfix) id 4Rk2Xy3Zz9z9s; Mon, 30 Nov 2026 09:16:01 +0100 (CET)
Date: Mon, 30 Nov 2026 09:16:01 +0100 (CET)
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
Subject: {subject}
To: {OUR_ADDRESS}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4Rk2Xy3Zz9z9s.1701335761/mx.example.org"
Content-Transfer-Encoding: 8bit
Message-Id: <20261130081601.4Rk2Xy3Zz9z9s@mx.example.org>

This is a MIME-encapsulated message.

--4Rk2Xy3Zz9z9s.1701335761/mx.example.org
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mx.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{recipient}>: host mx.example.com[203.0.113.5] said: {diagnostic}

--4Rk2Xy3Zz9z9s.1701335761/mx.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
X-Postfix-Queue-ID: 4Rk2Xy3Zz9z9s
X-Postfix-Sender: rfc822; {OUR_ADDRESS}
Arrival-Date: Mon, 30 Nov 2026 09:16:00 +0100 (CET)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.com
Diagnostic-Code: {folded}

--4Rk2Xy3Zz9z9s.1701335761/mx.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Received: from app.example.org (app.example.org [10.0.0.5])
\tby mx.example.org (Postfix) with ESMTPS id 4Rk2Xy3Zz9z9s
\tfor <{recipient}>; Mon, 30 Nov 2026 09:16:00 +0100 (CET)
MIME-Version: 1.0
From: {OUR_NAME} <{OUR_ADDRESS}>
To: {recipient}
Subject: =?utf-8?q?Anfrage=3A_Psychotherapiepl=C3=A4tze?=
Date: Mon, 30 Nov 2026 08:16:00 -0000
Message-ID: {original_message_id}

--4Rk2Xy3Zz9z9s.1701335761/mx.example.org--
""".encode()


def exim_bounce(original_message_id: str, *, recipient: str = "praxis.alt@example.com") -> bytes:
    """Exim 4.9x with dsn_from: multipart/report and the whole message returned."""
    return _crlf(
        f"""Return-path: <>
Envelope-to: {OUR_ADDRESS}
Delivery-date: Mon, 30 Nov 2026 09:20:12 +0100
Received: from mail by relay.example.net with local (Exim 4.96)
\tid 1rKx2Y-000Abc-1Z
\tfor {OUR_ADDRESS};
\tMon, 30 Nov 2026 09:20:12 +0100
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@relay.example.net>
To: {OUR_ADDRESS}
References: {original_message_id}
Content-Type: multipart/report; report-type=delivery-status; boundary=1701336012-eximdsn-1804289383
MIME-Version: 1.0
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1rKx2Y-000Abc-1Z@relay.example.net>
Date: Mon, 30 Nov 2026 09:20:12 +0100

--1701336012-eximdsn-1804289383
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.example.com [203.0.113.9]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 mailbox unavailable

--1701336012-eximdsn-1804289383
Content-type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Action: failed
Final-Recipient: rfc822;{recipient}
Status: 5.0.0
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable

--1701336012-eximdsn-1804289383
Content-type: message/rfc822

Return-path: <{OUR_ADDRESS}>
Received: from app.example.org ([10.0.0.5])
\tby relay.example.net with esmtps (TLS1.3) (Exim 4.96)
\tid 1rKx2X-000Abb-2A
\tfor {recipient};
\tMon, 30 Nov 2026 09:20:11 +0100
From: {OUR_NAME} <{OUR_ADDRESS}>
To: {recipient}
Subject: Anfrage
Date: Mon, 30 Nov 2026 08:20:00 -0000
Message-ID: {original_message_id}
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Sehr geehrte Frau Alt,
wir suchen f=C3=BCr folgende Patientinnen und Patienten einen Therapieplatz.

--1701336012-eximdsn-1804289383--
"""
    )


def exchange_bounce(
    original_message_id: str, *, recipient: str = "praxis.alt@example.com"
) -> bytes:
    """Exchange Online's NDR: text/plain and text/html notices (German), the report, and the
    returned message's headers."""
    html = (
        "<html><body><b>Ihre Nachricht an " + recipient + " konnte nicht zugestellt werden."
        "</b><br>Die E-Mail-Adresse wurde nicht gefunden.</body></html>"
    )
    return _crlf(
        f"""From: postmaster@example.com
To: {OUR_ADDRESS}
Date: Mon, 30 Nov 2026 08:21:00 +0000
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="9fc1b0c2-5a9e-4c5b-8f6e-1d2c3b4a5f60"
Content-Language: de-DE
Message-ID: <9b3a1f0e-77a1-4c1e-9d8c-2f1e0a9b8c7d@DB9PR01MB1234.eurprd01.prod.outlook.com>
In-Reply-To: {original_message_id}
References: {original_message_id}
Thread-Topic: Anfrage
Subject: =?iso-8859-1?Q?Unzustellbar:_Anfrage?=
Auto-Submitted: auto-replied
X-MS-Exchange-Message-Is-Ndr:
MIME-Version: 1.0

--9fc1b0c2-5a9e-4c5b-8f6e-1d2c3b4a5f60
Content-Type: multipart/alternative; differences=Content-Type;
\tboundary="c8f2e1d0-4b3a-4c2d-9e1f-0a1b2c3d4e5f"

--c8f2e1d0-4b3a-4c2d-9e1f-0a1b2c3d4e5f
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

{_qp("Ihre Nachricht an " + recipient + " konnte nicht zugestellt werden.", "latin-1")}

--c8f2e1d0-4b3a-4c2d-9e1f-0a1b2c3d4e5f
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

{_qp(html, "latin-1")}
--c8f2e1d0-4b3a-4c2d-9e1f-0a1b2c3d4e5f--

--9fc1b0c2-5a9e-4c5b-8f6e-1d2c3b4a5f60
Content-Type: message/delivery-status

Reporting-MTA: dns;DB9PR01MB1234.eurprd01.prod.outlook.com
Received-From-MTA: dns;app.example.org
Arrival-Date: Mon, 30 Nov 2026 08:20:58 +0000

Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by
 SMTP address lookup

--9fc1b0c2-5a9e-4c5b-8f6e-1d2c3b4a5f60
Content-Type: text/rfc822-headers

Received: from app.example.org (10.0.0.5) by DB9PR01MB1234.eurprd01.prod.outlook.com
From: {OUR_NAME} <{OUR_ADDRESS}>
To: <{recipient}>
Subject: Anfrage
Date: Mon, 30 Nov 2026 08:20:00 +0000
Message-ID: {original_message_id}
MIME-Version: 1.0

--9fc1b0c2-5a9e-4c5b-8f6e-1d2c3b4a5f60--
"""
    )


def delayed_bounce(original_message_id: str, *, recipient: str = "praxis.alt@example.com") -> bytes:
    """Postfix's "Delayed Mail" warning: action delayed, 4.4.1."""
    return postfix_bounce(
        original_message_id,
        recipient=recipient,
        status="4.4.1",
        action="delayed",
        diagnostic="connect to mx.example.com[203.0.113.5]:25: Connection timed out",
    )
