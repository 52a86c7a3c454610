"""What a therapist reads: the batching email's text and HTML, names and Message-IDs, and
the MIME message that carries an email over SMTP."""

from __future__ import annotations

import binascii
import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.policy import compat32
from email.utils import format_datetime, formataddr
from functools import cache, lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from communication_service.config import Settings

TEMPLATE_NAME = "therapist_batch_email"


@dataclass(frozen=True, slots=True)
class PatientLine:
    """Only what the therapist needs (rule 5): first name and initial of the last name
    (``label``, e.g. "Anna M."), age, and the placement request's id (``reference``, shown
    as "Anfrage Nr. 17") to quote in the answer. The diagnosis is health data: it is given
    (and shown) only with ``EMAIL_INCLUDE_DIAGNOSIS``."""

    label: str
    age: int | None
    reference: int
    diagnose: str | None = None

    @classmethod
    def of(
        cls,
        reference: int,
        vorname: str | None,
        nachname_initial: str | None,
        age: int | None,
        diagnose: str | None = None,
    ) -> PatientLine:
        return cls(patient_label(vorname, nachname_initial), age, reference, diagnose)


def patient_label(vorname: str | None, nachname_initial: str | None) -> str:
    """A patient as therapists and staff lists see them (rule 5): first name and initial of
    the last name, "Anna M."."""
    initial = f"{nachname_initial}." if nachname_initial else ""
    return " ".join(part for part in (vorname, initial) if part) or "Ohne Namen"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    body_text: str
    body_html: str


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("communication_service", "templates"),
        # Patient and therapist names come from other services: escape them in HTML.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
        auto_reload=False,  # templates ship with the code; no stat() per email
    )


@cache
def _templates() -> tuple[Template, Template]:
    env = _environment()
    return env.get_template(f"{TEMPLATE_NAME}.txt"), env.get_template(f"{TEMPLATE_NAME}.html")


def greeting(anrede: str | None, titel: str | None, vorname: str | None, nachname: str) -> str:
    """German salutation from the therapist's ``anrede``; neutral when it is unknown."""
    formal_name = " ".join(part for part in (titel, nachname) if part)
    salutation = (anrede or "").strip().lower()
    if salutation == "frau":
        return f"Sehr geehrte Frau {formal_name},"
    if salutation == "herr":
        return f"Sehr geehrter Herr {formal_name},"
    full_name = " ".join(part for part in (titel, vorname, nachname) if part)
    return f"Guten Tag {full_name},"


def recipient_name(titel: str | None, vorname: str | None, nachname: str) -> str:
    return " ".join(part for part in (titel, vorname, nachname) if part)


def render_batch_email(
    settings: Settings,
    *,
    anrede: str | None,
    titel: str | None,
    vorname: str | None,
    nachname: str,
    patients: Sequence[PatientLine],
) -> RenderedEmail:
    """The batching email listing ``patients`` in the given (rank) order."""
    text_template, html_template = _templates()
    context = {
        "subject": settings.email_subject,
        "greeting": greeting(anrede, titel, vorname, nachname),
        "patients": patients,
        "signature": settings.email_signature,
    }
    return RenderedEmail(
        subject=settings.email_subject,
        body_text=text_template.render(context),
        body_html=html_template.render(context),
    )


def message_id_domain(settings: Settings) -> str:
    _, _, domain = settings.email_sender.rpartition("@")
    return domain or "localhost"


def new_message_id(settings: Settings) -> str:
    """A globally unique ``Message-ID``, stored with the email when it is queued."""
    return f"<{uuid.uuid4()}@{message_id_domain(settings)}>"


# --- the MIME message -------------------------------------------------------------------------


class EncodedHeader:
    """A header value already RFC 2047-encoded and folded. The email generator accepts any
    object with ``encode(linesep=, maxlinelen=)`` (the ``Header`` protocol) and writes what
    it returns; folding the same subject again for every email would cost more CPU than the
    SMTP exchange."""

    __slots__ = ("folded",)

    def __init__(self, folded: str) -> None:
        self.folded = folded

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None, **_: Any) -> str:
        return self.folded.replace("\n", linesep)

    def __str__(self) -> str:
        return self.folded


MAX_HEADER_LINE = 78  # RFC 5322 2.1.1: lines SHOULD stay within 78 characters
MIME_VERSION = EncodedHeader("1.0")
QUOTED_PRINTABLE = EncodedHeader("quoted-printable")
TEXT_PLAIN = EncodedHeader('text/plain; charset="utf-8"')
TEXT_HTML = EncodedHeader('text/html; charset="utf-8"')
SMTP_POLICY = compat32.clone(linesep="\r\n")


@lru_cache(maxsize=4096)
def encoded_header(name: str, value: str, charset: str | None = None) -> EncodedHeader:
    """``value`` encoded and folded once (``charset`` "utf-8" for free text such as a
    subject; None for values that are ASCII already, such as ``formataddr`` output)."""
    return EncodedHeader(Header(value, charset, header_name=name).encode(linesep="\n"))


def ascii_header(name: str, value: str) -> EncodedHeader:
    """A value that differs per email (recipient, Message-ID): written as it is when it is
    short printable ASCII (what ``Header`` would write too), otherwise encoded and folded by
    ``Header``. Not cached: each value is used once."""
    if value.isascii() and value.isprintable() and len(name) + 2 + len(value) <= MAX_HEADER_LINE:
        return EncodedHeader(value)
    return EncodedHeader(Header(value, header_name=name).encode(linesep="\n"))


def _text_part(content_type: EncodedHeader, text: str) -> Message:
    """A UTF-8 quoted-printable part; ``binascii`` encodes in C what ``MIMEText`` encodes in
    Python (same output: soft breaks at 76 characters, trailing blanks protected)."""
    part = Message()
    part["Content-Type"] = content_type
    part["Content-Transfer-Encoding"] = QUOTED_PRINTABLE
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


def build_message(row: Mapping[str, Any], settings: Settings, now: datetime) -> Message:
    """multipart/alternative (text, HTML) or text only, UTF-8 quoted-printable.

    Built with the ``compat32`` classes from prebuilt header values: the modern
    ``EmailMessage`` API re-parses every header it is given, and ``compat32`` re-folds every
    plain string header, each costing more CPU than the SMTP exchange itself. The boundary
    contains "=_", which quoted-printable bodies cannot contain ("=" is always followed by
    two hex digits or a line end), so it is set here instead of being searched for in the
    rendered parts by the generator.
    """
    text_part = _text_part(TEXT_PLAIN, row["body_text"])
    if row["body_html"]:
        message = Message()
        message["Content-Type"] = EncodedHeader(
            f'multipart/alternative;\n boundary="=_{uuid.uuid4().hex}"'  # folded: 78 columns
        )
        message.attach(text_part)
        message.attach(_text_part(TEXT_HTML, row["body_html"]))
    else:
        message = text_part
    message["MIME-Version"] = MIME_VERSION
    sender_name = row["sender_name"] or settings.email_sender_name
    sender = formataddr((sender_name, row["sender_email"] or settings.email_sender), "utf-8")
    recipient = formataddr((row["recipient_name"] or "", row["recipient_email"]), "utf-8")
    message["From"] = encoded_header("From", sender)
    message["To"] = ascii_header("To", recipient)
    message["Subject"] = encoded_header("Subject", row["subject"], "utf-8")
    message["Date"] = EncodedHeader(format_datetime(now))
    message["Message-ID"] = ascii_header("Message-ID", row["message_id"])
    return message


def message_bytes(message: Message) -> bytes:
    """The message as SMTP carries it (CRLF line ends)."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=SMTP_POLICY).flatten(message)
    return out.getvalue()
