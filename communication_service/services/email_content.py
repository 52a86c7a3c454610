"""What a therapist reads: the batching email's subject, text and HTML, the sender's footer
every email carries, names and Message-IDs, and the MIME message that carries an email over
SMTP (refusing any header value that cannot be one: ``UnsendableEmail``)."""

from __future__ import annotations

import binascii
import io
import re
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
from markupsafe import Markup

from communication_service.config import Sender, Settings, is_plain_address

TEMPLATE_NAME = "therapist_batch_email"
FOOTER_SLOT = "<!-- footer -->"  # where send-emails puts the footer into a stored HTML body
REFERENCE = "[Vorgang {email_id}]"  # in every subject at sending; replies keep it


# --- the patients ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientLine:
    """Only what the therapist needs (rule 5): first name and initial of the last name
    (``label``, e.g. "Anna M."), the ``facts`` shown after it (age, and what the settings
    add: diagnosis, insurance, postcode area, group therapy), the placement request's id
    (``reference``, shown as "Anfrage Nr. 17") to quote in the answer, and the preferred
    times (``times``, on a line of their own)."""

    label: str
    facts: tuple[str, ...]
    reference: int
    times: str | None = None

    @classmethod
    def of(
        cls,
        reference: int,
        vorname: str | None,
        nachname_initial: str | None,
        age: int | None,
        *,
        diagnose: str | None = None,
        krankenkasse: str | None = None,
        plz: str | None = None,
        group_therapy: bool | None = None,
        availability: Any = None,
    ) -> PatientLine:
        """From the patient's columns; a value the settings leave out is passed as None
        (the batching job does not even read it)."""
        label = patient_label(vorname, nachname_initial)
        # Called for every patient of every batching email: what is not given costs nothing.
        facts = [] if age is None else [f"{age} Jahre"]
        if diagnose:
            facts.append(f"Diagnose {diagnose}")
        if krankenkasse and (insurance := insurance_status(krankenkasse)):
            facts.append(insurance)
        if plz and (area := postcode_area(plz)):
            facts.append(f"PLZ-Bereich {area}")
        if group_therapy is not None:
            facts.append(GROUP_THERAPY[group_therapy])
        times = preferred_times(availability) if availability else None
        return cls(label, tuple(facts), reference, times)

    @property
    def summary(self) -> str:
        """ "Eva M., 45 Jahre, gesetzlich versichert": what the list shows before the reference."""
        return ", ".join((self.label, *self.facts))


GROUP_THERAPY = {True: "offen für Gruppentherapie", False: "nicht offen für Gruppentherapie"}

# The platform stores the insurer's name (``krankenkasse``, free text), no statutory/private
# flag. Statutory funds are "Krankenkassen" by law, private insurers "Krankenversicherungen";
# the funds' and the large private insurers' names decide the rest. Unknown: nothing is said.
_STATUTORY = re.compile(
    r"gesetzlich|\bgkv\b|\baok\b|bkk|\bikk\b|techniker|\btk\b|barmer|\bdak\b|\bkkh\b|\bhkk\b"
    r"|\bhek\b|knappschaft|svlfg|\blkk\b|ersatzkasse|mhplus|\bsbk\b|viactiv|big direkt|novitas",
    re.IGNORECASE,
)
_PRIVATE = re.compile(
    r"privat|\bpkv\b|beihilfe|beamtenkrankenkasse|krankenversicherung|debeka|allianz|\baxa\b"
    r"|\bdkv\b|signal iduna|\bhuk\b|continentale|gothaer|barmenia|hallesche|hanse ?merkur"
    r"|\bcentral\b|\binter\b|\blvm\b|universa|nürnberger|\barag\b|württembergische"
    r"|alte oldenburger|süddeutsche|\bsdk\b|münchener verein|\bergo\b|generali|ottonova",
    re.IGNORECASE,
)
_STATUTORY_GENERIC = re.compile(r"krankenkasse", re.IGNORECASE)


def insurance_status(krankenkasse: str | None) -> str | None:
    """ "gesetzlich versichert", "privat versichert", or None when the name does not tell."""
    if not krankenkasse:
        return None
    if _STATUTORY.search(krankenkasse):
        return "gesetzlich versichert"
    if _PRIVATE.search(krankenkasse):
        return "privat versichert"
    if _STATUTORY_GENERIC.search(krankenkasse):
        return "gesetzlich versichert"
    return None


def postcode_area(plz: str | None) -> str | None:
    """The first three digits of a German postcode ("101xx"): the district, not the street."""
    plz = (plz or "").strip()
    return f"{plz[:3]}xx" if len(plz) == 5 and plz.isascii() and plz.isdigit() else None


WEEKDAYS = (
    (("monday", "montag"), "Mo"),
    (("tuesday", "dienstag"), "Di"),
    (("wednesday", "mittwoch"), "Mi"),
    (("thursday", "donnerstag"), "Do"),
    (("friday", "freitag"), "Fr"),
    (("saturday", "samstag"), "Sa"),
    (("sunday", "sonntag"), "So"),
)
DASH = "\u2013"  # the en dash of a range: "09:00\u201312:00"
_TIME = r"([01]?\d|2[0-4])(?::([0-5]\d))?"
_WINDOW = re.compile(rf"\s*{_TIME}\s*(?:-|{DASH}|bis)\s*{_TIME}\s*(?:Uhr)?\s*")


def _window(entry: Any) -> str | None:
    """ "09:00-12:00" (en dash) from ``{"start": "09:00", "end": "12:00"}`` or "9-12"; None for
    anything else (free text may say more about the patient than the times)."""
    if isinstance(entry, Mapping):
        entry = f"{entry.get('start')}-{entry.get('end')}"
    match = _WINDOW.fullmatch(entry) if isinstance(entry, str) else None
    if match is None:
        return None
    start_h, start_m, end_h, end_m = match.groups()
    return f"{int(start_h):02d}:{start_m or '00'}{DASH}{int(end_h):02d}:{end_m or '00'}"


def preferred_times(availability: Any) -> str | None:
    """The patient's ``zeitliche_verfuegbarkeit`` (weekday → windows, as the platform
    writes it) as "Mo 09:00-12:00, Mi 14:00-18:00 und 19:00-20:00" (en dashes); None when empty."""
    if not isinstance(availability, Mapping):
        return None
    days = []
    for names, short in WEEKDAYS:
        entries = next((availability[n] for n in names if n in availability), None)
        if not isinstance(entries, list):
            continue
        windows = [w for w in map(_window, entries[:4]) if w]
        if windows:
            days.append(f"{short} {' und '.join(windows)}")
    return ", ".join(days) or None


# --- wording -----------------------------------------------------------------------------------

COUNT_WORDS = ("null", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht",
               "neun", "zehn", "elf", "zwölf")  # fmt: skip


def count_word(count: int) -> str:
    """German style: up to twelve in words ("eine" agrees with "Person"), then digits."""
    return COUNT_WORDS[count] if 0 <= count < len(COUNT_WORDS) else str(count)


def batch_subject(count: int) -> str:
    if count == 1:
        return "Anfrage: Psychotherapieplatz für eine Person"
    return f"Anfrage: Psychotherapieplätze für {count_word(count)} Personen"


_TITLE_TOKEN = re.compile(r"[^\s.]+\.?")
_PROFESSOR = re.compile(r"prof(essor|essorin)?\.?", re.IGNORECASE)
_DOCTOR = re.compile(r"dr\.?", re.IGNORECASE)


def salutation_titles(titel: str | None) -> str:
    """Only "Prof." and "Dr." belong in a German salutation: "Dr. med." is "Dr.",
    "Dipl.-Psych.", "M.Sc." and the like are left out."""
    kept = []
    for token in _TITLE_TOKEN.findall(titel or ""):
        if _PROFESSOR.fullmatch(token):
            kept.append("Prof.")
        elif _DOCTOR.fullmatch(token):
            kept.append("Dr.")
    return " ".join(kept)


def greeting(anrede: str | None, titel: str | None, vorname: str | None, nachname: str) -> str:
    """German salutation from the therapist's ``anrede``; neutral when it is unknown."""
    titles = salutation_titles(titel)
    formal_name = " ".join(part for part in (titles, nachname) if part)
    salutation = (anrede or "").strip().lower()
    if salutation == "frau":
        return f"Sehr geehrte Frau {formal_name},"
    if salutation == "herr":
        return f"Sehr geehrter Herr {formal_name},"
    full_name = " ".join(part for part in (titles, vorname, nachname) if part)
    return f"Guten Tag {full_name},"


def recipient_name(titel: str | None, vorname: str | None, nachname: str) -> str:
    """The To display name: the full title as the therapist gives it."""
    return " ".join(part for part in (titel, vorname, nachname) if part)


def patient_label(vorname: str | None, nachname_initial: str | None) -> str:
    """A patient as therapists and staff lists see them (rule 5): first name and initial of
    the last name, "Anna M."."""
    initial = f"{nachname_initial}." if nachname_initial else ""
    return " ".join(part for part in (vorname, initial) if part) or "Ohne Namen"


# --- rendering ---------------------------------------------------------------------------------


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
def _template(name: str) -> Template:
    return _environment().get_template(name)


def render_batch_email(
    settings: Settings,
    *,
    anrede: str | None,
    titel: str | None,
    vorname: str | None,
    nachname: str,
    patients: Sequence[PatientLine],
) -> RenderedEmail:
    """The batching email listing ``patients`` in the given (rank) order: one wording for one
    patient, another for several. Without the footer, which ``send-emails`` adds."""
    sender = settings.sender
    subject = batch_subject(len(patients))
    context = {
        "subject": subject,
        "greeting": greeting(anrede, titel, vorname, nachname),
        "patients": patients,
        "count": count_word(len(patients)),
        "signature": ("Mit freundlichen Grüßen", sender.contact_person, sender.organisation),
        "footer_slot": Markup(FOOTER_SLOT),
    }
    return RenderedEmail(
        subject=subject,
        body_text=_template(f"{TEMPLATE_NAME}.txt").render(context),
        body_html=_template(f"{TEMPLATE_NAME}.html").render(context),
    )


@lru_cache(maxsize=8)
def footer(sender: Sender) -> tuple[str, str]:
    """The sender's footer (text, HTML), rendered once per sender."""
    context = {"sender": sender, "tel": "tel:" + re.sub(r"[^+\d]", "", sender.phone)}
    return (
        _template("email_footer.txt").render(context),
        _template("email_footer.html").render(context),
    )


def outgoing_bodies(
    subject: str, body_text: str, body_html: str | None, sender: Sender
) -> tuple[str, str | None]:
    """The bodies as they leave: the stored ones with the sender's footer. An HTML body gets
    it at its footer slot (batching emails), else before ``</body>``; a fragment written by
    staff is put into the same single-column document as the batching emails."""
    text_footer, html_footer = footer(sender)
    text = f"{body_text}{'' if body_text.endswith(chr(10)) else chr(10)}\n{text_footer}"
    if not body_html:
        return text, None
    at = body_html.rfind(FOOTER_SLOT)
    if at >= 0:
        return text, f"{body_html[:at]}{html_footer}{body_html[at + len(FOOTER_SLOT) :]}"
    at = body_html.lower().rfind("</body>")
    if at >= 0:
        return text, f"{body_html[:at]}{html_footer}{body_html[at:]}"
    document = _template("email_document.html").render(
        subject=subject, content=Markup(body_html), footer_slot=Markup(html_footer)
    )
    return text, document


def subject_with_reference(subject: str, email_id: int) -> str:
    """The subject as sent: with the email's reference, which replies keep ("AW: …")."""
    reference = REFERENCE.format(email_id=email_id)
    return subject if reference in subject else f"{subject} {reference}"


def message_id_domain(settings: Settings) -> str:
    _, _, domain = settings.sender.address.rpartition("@")
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


class UnsendableEmail(ValueError):
    """An email that cannot become a valid message: a header value with a line break (which
    would let it write headers of its own) or another control character, an address SMTP
    cannot carry, a malformed Message-ID. The message names the field, never its value
    (patient and therapist data stay out of logs and ``error_message``)."""


class UnsendableAddress(UnsendableEmail, UnicodeError):
    """An address that is not a plain ASCII ``local@domain``. Also a ``UnicodeError``: what
    ``formataddr`` raised for a non-ASCII address before, and what send-emails catches."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII, no "<", ">" or space


def _header_text(field: str, value: str | None) -> str:
    value = value or ""
    if _CONTROL.search(value):
        kind = "a line break" if "\r" in value or "\n" in value else "a control character"
        raise UnsendableEmail(f"{field} contains {kind}")
    return value


def _header_address(field: str, value: str | None) -> str:
    value = _header_text(field, value)
    if not is_plain_address(value):
        raise UnsendableAddress(f"{field} is not a plain ASCII address (local@domain)")
    return value


def _subject_header(subject: str, email_id: int) -> EncodedHeader:
    """The stored subject, encoded once (``encoded_header``) and shared by every email that
    has it, followed by this email's reference on a folded line of its own."""
    reference = REFERENCE.format(email_id=email_id)
    if reference in subject:
        return encoded_header("Subject", subject, "utf-8")
    if not subject.strip():
        return EncodedHeader(reference)
    return EncodedHeader(f"{encoded_header('Subject', subject, 'utf-8').folded}\n {reference}")


def build_message(row: Mapping[str, Any], settings: Settings, now: datetime) -> Message:
    """multipart/alternative (text, HTML) or text only, UTF-8 quoted-printable, with the
    sender's footer (``outgoing_bodies``), Reply-To and the email's reference in the subject.
    Raises ``UnsendableEmail`` for a value that cannot be a header (see there).

    Built with the ``compat32`` classes from prebuilt header values: the modern
    ``EmailMessage`` API re-parses every header it is given, and ``compat32`` re-folds every
    plain string header, each costing more CPU than the SMTP exchange itself. ``compat32``
    would write a line break in a value as it is, so every value is checked here first. The
    boundary contains "=_", which quoted-printable bodies cannot contain ("=" is always
    followed by two hex digits or a line end), so it is set here instead of being searched
    for in the rendered parts by the generator.
    """
    sender = settings.sender
    sender_name = _header_text("sender_name", row["sender_name"] or sender.display_name)
    sender_email = _header_address("sender_email", row["sender_email"] or sender.address)
    recipient_name = _header_text("recipient_name", row["recipient_name"])
    recipient_email = _header_address("recipient_email", row["recipient_email"])
    subject = _header_text("subject", row["subject"])
    message_id = row["message_id"]
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise UnsendableEmail("message_id is not a valid Message-ID (<unique@domain>)")

    body_text, body_html = outgoing_bodies(subject, row["body_text"], row["body_html"], sender)
    text_part = _text_part(TEXT_PLAIN, body_text)
    if body_html:
        message = Message()
        message["Content-Type"] = EncodedHeader(
            f'multipart/alternative;\n boundary="=_{uuid.uuid4().hex}"'  # folded: 78 columns
        )
        message.attach(text_part)
        message.attach(_text_part(TEXT_HTML, body_html))
    else:
        message = text_part
    message["MIME-Version"] = MIME_VERSION
    message["From"] = encoded_header("From", formataddr((sender_name, sender_email), "utf-8"))
    message["Reply-To"] = encoded_header("Reply-To", sender.reply_to)
    message["To"] = ascii_header("To", formataddr((recipient_name, recipient_email), "utf-8"))
    message["Subject"] = _subject_header(subject, row["id"])
    message["Date"] = EncodedHeader(format_datetime(now))
    message["Message-ID"] = ascii_header("Message-ID", message_id)
    return message


class _SmtpGenerator(BytesGenerator):
    """``BytesGenerator`` writing a body in one piece: the stock one writes it line by line
    (two writes per line), which costs more than the rest of the message. A body here is
    quoted-printable with "\n" line ends; anything else takes the stock path."""

    def _write_lines(self, lines: str) -> None:
        if "\r" in lines:
            super()._write_lines(lines)
        elif lines:
            self.write(lines.replace("\n", self._NL))


def message_bytes(message: Message) -> bytes:
    """The message as SMTP carries it (CRLF line ends)."""
    out = io.BytesIO()
    _SmtpGenerator(out, mangle_from_=False, policy=SMTP_POLICY).flatten(message)
    return out.getvalue()
