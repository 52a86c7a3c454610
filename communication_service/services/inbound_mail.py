"""Reading an inbound message: the raw bytes of one email become what the service stores.

One parser for both ways in (``POST /api/inbound-emails`` and ``comm import-mail``): the
standard library's ``email`` package with ``policy.default``. Pure: no database, no clock.

What it takes out of a message (docs/rules.md, "Inbound email"):

- the headers that identify and thread it (Message-ID, In-Reply-To, References), sender,
  recipients, subject and date, as readable text whatever the charset (RFC 2047 words, raw
  8-bit UTF-8 or Latin-1);
- whether it is automatic: a delivery status notification (RFC 3464, ``multipart/report;
  report-type=delivery-status``) or an auto-reply (RFC 3834 ``Auto-Submitted``, the
  ``X-Autoreply``/``X-Autorespond``/``Precedence: auto_reply`` headers, or an absence
  subject);
- the readable text: the first ``text/plain`` part that is not an attachment, else the
  first ``text/html`` one turned into text; every charset decoded (ISO-8859-1 read as
  windows-1252, as every mail client does), quoted-printable and base64 undone;
- the attachments' names, types and sizes, without decoding their content (a base64 part's
  size is computed from its length);
- for a bounce: the per-recipient status (action, status code, diagnostic) and the
  Message-ID of the returned message.

``strip_quoted_history`` cuts the quoted history off a reply's text where the marker is clear.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any


class _ReusedHeaders(HeaderRegistry):
    """``policy.default``'s header classes, a parsed header reused for the same name and
    value: the parser asks for each part's Content-Type several times, and most messages
    carry the same few values (parsing one costs more than the rest of a small part)."""

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one instance, for the process
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = policy.default.clone(header_factory=_ReusedHeaders())
_PARSER = BytesParser(policy=POLICY)
_HEADERS = HeaderParser(policy=POLICY)
# Message-IDs are compared with ``emails.message_id`` (varchar 255); a longer one cannot be
# ours, and is stored as a digest so that it still identifies the message.
MAX_MESSAGE_ID = 255
MAX_REFERENCES = 50  # the most recent ones: a long thread's References grow without bound
SYNTHETIC_DOMAIN = "no-message-id.invalid"
LONG_ID_DOMAIN = "long-message-id.invalid"
# A header block has at least one of the fields every mail system writes; anything else is
# not an email (a JSON document parses as a "header" named ``{"a"``).
MESSAGE_FIELDS = frozenset(
    {
        "from", "sender", "to", "cc", "date", "subject", "message-id", "in-reply-to",
        "references", "received", "return-path", "mime-version", "content-type",
        "delivered-to", "reply-to",
    }
)  # fmt: skip
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,998}>")
_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a byte the parser could not decode
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|antw|antwort|sv|vs|odp)\s*(\[\d+\])?\s*:", re.I)
_ABSENCE_SUBJECT = re.compile(
    r"^\s*(abwesenheitsnotiz|automatische antwort|automatic reply|auto(matic)?[- ]?reply|"
    r"autoreply|out of (the )?office|abwesend|abwesenheit|auto:)",
    re.I,
)
# Labels a mail system uses for a charset whose real content is a superset of it.
_CHARSET_READ_AS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
}


class NotAMessage(ValueError):
    """The bytes are not an email message; the text says why (it is shown to the client)."""


class Automatic(enum.StrEnum):
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One recipient's block of a delivery status notification (RFC 3464)."""

    action: str | None  # failed, delayed, delivered, relayed, expanded
    status: str | None  # "5.1.1"
    final_recipient: str | None
    diagnostic_code: str | None

    @property
    def permanent(self) -> bool:
        """A permanent failure: status class 5 (RFC 3463). A 4.x.x is temporary, whatever
        the action says ("failed" after retries on a server that was down is not a dead
        address)."""
        return bool(self.status and self.status.startswith("5."))

    def as_dict(self) -> dict[str, str | None]:
        return {
            "action": self.action,
            "status": self.status,
            "final_recipient": self.final_recipient,
            "diagnostic_code": self.diagnostic_code,
        }


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    message_id: str
    sender: str | None
    sender_name: str | None
    recipients: list[str]
    subject: str | None
    date: datetime | None  # aware
    in_reply_to: list[str]
    references: list[str]
    automatic: Automatic | None
    # A reply by its headers: In-Reply-To or References, or a subject like "Re:"/"AW:".
    looks_like_reply: bool
    body_text: str
    attachments: list[Attachment] = field(default_factory=list)
    delivery_status: DeliveryStatus | None = None
    returned_message_id: str | None = None  # a bounce: the Message-ID it returns
    size: int = 0

    def answered_ids(self) -> list[str]:
        """Message-IDs this message may answer, the most likely first: a bounce's returned
        message, In-Reply-To, then References from the most recent back."""
        ids = [self.returned_message_id] if self.returned_message_id else []
        ids += self.in_reply_to
        ids += reversed(self.references)
        return list(dict.fromkeys(ids))


def parse_message(raw: bytes) -> ParsedMessage:
    """The message in ``raw`` (RFC 5322, any line ends), or ``NotAMessage`` saying why not."""
    if not raw.strip():
        raise NotAMessage("The body is empty; expected an email message (message/rfc822).")
    root = _Part(_PARSER.parsebytes(raw))
    if not root.headers.keys() & MESSAGE_FIELDS:
        raise NotAMessage(
            "The body is not an email message: it has no header block (From, Date, Subject, "
            "Message-ID, …) before its text."
        )
    automatic, delivery_status, returned_id = _automatic(root)
    in_reply_to = _message_ids(root.raw("in-reply-to"))
    references = _message_ids(root.raw("references"))[-MAX_REFERENCES:]
    subject = root.text("subject")
    sender_name, sender = _sender(root)
    text, attachments = _content(root, skip_returned=automatic is Automatic.BOUNCE)
    return ParsedMessage(
        message_id=_own_message_id(root, raw),
        sender=sender,
        sender_name=sender_name,
        recipients=_recipients(root),
        subject=subject,
        date=_date(root.raw("date")),
        in_reply_to=in_reply_to,
        references=references,
        automatic=automatic,
        looks_like_reply=bool(
            in_reply_to or references or (subject and _REPLY_SUBJECT.match(subject))
        ),
        body_text=text,
        attachments=attachments,
        delivery_status=delivery_status,
        returned_message_id=returned_id,
        size=len(raw),
    )


class _Part:
    """A message or part with its headers read once, from their raw values.

    ``policy.default`` parses a header into an object anew at every access (``get``,
    ``get_content_type``, ``get_param``); for the few values needed here that costs more than
    the rest of the work, so they are taken from ``raw_items`` and decoded with the same
    package's ``email.header`` and ``email.utils``.
    """

    __slots__ = ("content_type", "disposition", "headers", "message", "params")

    def __init__(self, message: Message) -> None:
        self.message = message
        headers: dict[str, str] = {}
        for name, value in message.raw_items():
            headers.setdefault(name.lower(), value if isinstance(value, str) else str(value))
        self.headers = headers
        content_type, self.params = _split_parameters(headers.get("content-type"))
        # RFC 2045 5.2: without a (valid) Content-Type a part is text/plain.
        self.content_type = content_type if "/" in content_type else "text/plain"
        self.disposition = _split_parameters(headers.get("content-disposition"))[0]

    @property
    def maintype(self) -> str:
        return self.content_type.split("/", 1)[0]

    def raw(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else _unfold(clean_text(value))

    def text(self, name: str) -> str | None:
        """The header's value as text: RFC 2047 words decoded, folding removed."""
        value = self.raw(name)
        return _decode_words(value) or None if value is not None else None

    def children(self) -> list[Message]:
        payload = self.message.get_payload() if self.message.is_multipart() else None
        return [part for part in payload or () if isinstance(part, Message)]


def _split_parameters(value: str | None) -> tuple[str, dict[str, str]]:
    """``text/plain; charset="utf-8"`` → ("text/plain", {"charset": "utf-8"})."""
    if not value:
        return "", {}
    pieces = re.findall(r'(?:[^;"]|"(?:\\.|[^"\\])*")+', clean_text(value))
    main = pieces[0].strip().lower() if pieces else ""
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, _, raw = piece.partition("=")
        params.setdefault(name.strip().lower(), raw.strip().strip('"'))
    return main, params


def _decode_words(text: str) -> str:
    if "=?" not in text:
        return text
    try:
        chunks = decode_header(text)
    except (ValueError, HeaderParseError):
        return text
    decoded = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            decoded.append(chunk)
        elif charset is None:  # the text between encoded words, as decode_header gives it
            decoded.append(chunk.decode("raw-unicode-escape", "replace"))
        else:
            decoded.append(_decode(chunk, charset))
    return _unfold(clean_text("".join(decoded)))


@dataclass
class ReadChunk:
    """Files of a Maildir's ``new/`` read and parsed (``comm import-mail``)."""

    count: int = 0  # files read (a file another importer moved first is not)
    names: list[str] = field(default_factory=list)  # of ``messages``, in order
    messages: list[ParsedMessage] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, why not a message)


def read_chunk(new: Path, names: list[str]) -> ReadChunk:
    """Read and parse the files ``names`` of the folder ``new``."""
    read = ReadChunk()
    for name in names:
        try:
            raw = (new / name).read_bytes()
        except FileNotFoundError:  # another importer moved it to cur/ meanwhile
            continue
        read.count += 1
        try:
            read.messages.append(parse_message(raw))
        except NotAMessage as error:
            read.refused.append((name, str(error)))
            continue
        read.names.append(name)
    return read


# --- text, whatever it came in ----------------------------------------------------------------


def clean_text(text: str) -> str:
    """Text PostgreSQL can store and people can read: bytes the parser could not decode
    (surrogate escapes) read as UTF-8, else windows-1252; control characters (NUL included)
    removed, line ends normalised."""
    if text.isascii():
        pass
    elif _ESCAPED_BYTE.search(text):
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "replace")
        text = _decode(raw, None)
    else:
        text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _decode(raw: bytes, charset: str | None) -> str:
    """Bytes as text: the declared charset (read as its common superset), else UTF-8, else
    windows-1252 (which reads every byte, so German mail without a label keeps its umlauts)."""
    label = (charset or "").strip().strip('"').lower()
    label = _CHARSET_READ_AS.get(label, label)
    for candidate in dict.fromkeys([label or "utf-8", "utf-8"]):
        try:
            return raw.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("cp1252", errors="replace")


def _unfold(text: str) -> str:
    """One line, runs of blanks as one (folding and alignment are not part of a value)."""
    return " ".join(text.split())


# --- identity, addresses, date ----------------------------------------------------------------


def _message_ids(text: str | None) -> list[str]:
    return _MESSAGE_ID.findall(text) if text else []


def normalise_message_id(text: str | None) -> str | None:
    """``<id>`` as it is compared with the emails' Message-IDs (a bare id gets brackets); a
    longer one than any stored id is reduced to a digest."""
    if not text:
        return None
    found = _message_ids(text)
    value = found[0] if found else "<" + re.sub(r"[\s<>]", "", text) + ">"
    if value == "<>":
        return None
    if len(value) > MAX_MESSAGE_ID:
        digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:40]
        return f"<{digest}@{LONG_ID_DOMAIN}>"
    return value


def _own_message_id(root: _Part, raw: bytes) -> str:
    """Its Message-ID, or one made from what the sender wrote (From, To, Cc, Subject, Date and
    the bytes after the header block), so that the same message delivered twice — through
    the webhook and the Maildir, with different transport headers — is one message."""
    given = normalise_message_id(root.raw("message-id"))
    if given:
        return given
    digest = hashlib.sha256()
    for name in ("from", "to", "cc", "subject", "date"):
        digest.update((root.raw(name) or "").encode("utf-8") + b"\x00")
    digest.update(_body_bytes(raw))
    return f"<{digest.hexdigest()[:40]}@{SYNTHETIC_DOMAIN}>"


def _body_bytes(raw: bytes) -> bytes:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return raw[min(ends) :].strip() if ends else b""


def _addresses(root: _Part, name: str) -> list[tuple[str, str]]:
    """(display name, address) of every address in the header ``name``."""
    value = root.raw(name)
    if not value:
        return []
    try:
        found = getaddresses([value])
    except (ValueError, IndexError):
        return []
    return [
        (_decode_words(display), address.strip().strip("<>")[:320])
        for display, address in found
        if "@" in address
    ]


def _sender(root: _Part) -> tuple[str | None, str | None]:
    found = _addresses(root, "from") or _addresses(root, "sender")
    if not found:
        return None, None
    name, address = found[0]
    return name.strip() or None, address or None


def _recipients(root: _Part) -> list[str]:
    found = _addresses(root, "to") + _addresses(root, "cc")
    return list(dict.fromkeys(address for _, address in found if address))


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" (RFC 5322: zone unknown) gives a naive datetime: read it as UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --- automatic messages -----------------------------------------------------------------------


def _automatic(root: _Part) -> tuple[Automatic | None, DeliveryStatus | None, str | None]:
    if _is_delivery_report(root):
        status, returned_id = _delivery_report(root)
        return Automatic.BOUNCE, status, returned_id
    if _is_auto_reply(root):
        return Automatic.AUTO_REPLY, None, None
    return None, None, None


def _is_delivery_report(root: _Part) -> bool:
    return (
        root.content_type == "multipart/report"
        and root.params.get("report-type", "").lower() == "delivery-status"
    )


def _is_auto_reply(root: _Part) -> bool:
    """RFC 3834 and the headers and subjects mail systems use for vacation notices."""
    submitted = (root.raw("auto-submitted") or "").split(";")[0].split("(")[0].strip().lower()
    if submitted and submitted != "no":
        return True
    for name in ("x-autoreply", "x-autorespond"):
        value = root.raw(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return True
    if (root.raw("precedence") or "").strip().lower() == "auto_reply":
        return True
    return bool(_ABSENCE_SUBJECT.match(root.text("subject") or ""))


def _delivery_report(root: _Part) -> tuple[DeliveryStatus | None, str | None]:
    """The recipient block that matters most (a permanent failure before a delay) and the
    returned message's Message-ID (``message/rfc822`` or ``text/rfc822-headers``)."""
    blocks: list[_Part] = []
    returned_id = None
    for part in _leaves(root):
        kind = part.content_type
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            blocks += _status_blocks(part)
        elif kind in ("message/rfc822", "message/global") and returned_id is None:
            returned = part.children()
            if returned:
                returned_id = normalise_message_id(_Part(returned[0]).raw("message-id"))
        elif kind in ("text/rfc822-headers", "message/global-headers") and returned_id is None:
            headers = _Part(_HEADERS.parsestr(_part_text(part)))
            returned_id = normalise_message_id(headers.raw("message-id"))
    recipients = [_recipient_status(block) for block in blocks]
    recipients = [r for r in recipients if r.status or r.action or r.final_recipient]
    if not recipients:
        return None, returned_id
    recipients.sort(key=lambda r: (not r.permanent, (r.action or "") != "failed"))
    return recipients[0], returned_id


def _status_blocks(part: _Part) -> list[_Part]:
    blocks = part.children()
    if blocks:
        return [_Part(block) for block in blocks]
    # Encoded (base64) or unsplit: its blank-line separated blocks are header blocks.
    text = _part_text(part)
    return [
        _Part(_HEADERS.parsestr(block)) for block in re.split(r"\n\s*\n", text) if block.strip()
    ]


def _recipient_status(block: _Part) -> DeliveryStatus:
    status_text = block.raw("status") or ""
    diagnostic = block.text("diagnostic-code")
    code = _STATUS_CODE.search(status_text) or _STATUS_CODE.search(diagnostic or "")
    recipient = block.raw("final-recipient") or block.raw("original-recipient")
    if recipient and ";" in recipient:
        recipient = recipient.split(";", 1)[1].strip()
    action = (block.raw("action") or "").strip().lower() or None
    return DeliveryStatus(
        action=action,
        status=".".join(code.groups()) if code else None,
        final_recipient=recipient[:320] if recipient else None,
        diagnostic_code=diagnostic,
    )


# --- the readable text and the attachments ----------------------------------------------------


def _leaves(part: _Part) -> Iterator[_Part]:
    """The parts of a message, not descending into attached messages (a bounce's returned
    message or a forwarded one is one part, not more text)."""
    if part.maintype == "multipart":
        children = part.children()
        if children:
            for child in children:
                yield from _leaves(_Part(child))
            return
    yield part


_REPORT_PARTS = frozenset(
    {
        "message/delivery-status", "message/global-delivery-status", "text/rfc822-headers",
        "message/global-headers", "message/disposition-notification",
    }
)  # fmt: skip


def _content(root: _Part, *, skip_returned: bool) -> tuple[str, list[Attachment]]:
    plain = html = None
    attachments: list[Attachment] = []
    for part in _leaves(root):
        kind = part.content_type
        if kind in _REPORT_PARTS:
            continue
        if kind == "message/rfc822" and skip_returned:
            continue  # the returned message of a bounce is not an attachment of it
        if part.disposition == "attachment" or kind not in ("text/plain", "text/html"):
            attachments.append(_attachment(part))
        elif kind == "text/plain" and plain is None:
            plain = _part_text(part)
        elif kind == "text/html" and html is None:
            html = _part_text(part)
    if plain is not None and (plain.strip() or html is None):
        text = plain
    elif html is not None:
        text = html_to_text(html)
    else:
        text = ""
    return _tidy(text), attachments


def _part_text(part: _Part) -> str:
    try:
        raw = part.message.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: keep what is there
        raw = None
    if raw is None:
        payload = part.message.get_payload()
        return clean_text(payload) if isinstance(payload, str) else ""
    return clean_text(_decode(raw, part.params.get("charset")))


def _attachment(part: _Part) -> Attachment:
    try:
        filename = part.message.get_filename()
    except Exception:  # a broken RFC 2231 name
        filename = None
    if filename is None and part.content_type == "message/rfc822":
        inner = part.children()
        subject = _Part(inner[0]).text("subject") if inner else None
        filename = f"{subject or 'message'}.eml"
    return Attachment(
        filename=clean_text(filename).strip()[:255] or None if filename else None,
        content_type=part.content_type[:100],
        size=_encoded_size(part),
    )


def _encoded_size(part: _Part) -> int:
    """The decoded size in bytes, without decoding: base64 carries 3 bytes in 4 characters."""
    children = part.children()
    if children:  # an attached message
        return sum(_encoded_size(_Part(child)) for child in children)
    payload = part.message.get_payload()
    if not isinstance(payload, str):
        return 0
    encoding = (part.raw("content-transfer-encoding") or "").lower()
    if encoding == "base64":
        characters = len(payload) - sum(payload.count(c) for c in "\r\n \t")
        padding = len(payload.rstrip()) - len(payload.rstrip().rstrip("="))
        return max(0, characters * 3 // 4 - padding)
    if encoding == "quoted-printable":
        try:
            return len(part.message.get_payload(decode=True) or b"")
        except Exception:
            return len(payload)
    return len(payload.encode("utf-8", "surrogateescape"))


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


class _TextFromHtml(HTMLParser):
    """HTML to readable text: block elements become line breaks, scripts and styles vanish."""

    BLOCKS = frozenset(
        {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
         "table", "ul", "ol", "hr", "pre", "section", "article", "header", "footer"}
    )  # fmt: skip
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
            if tag == "blockquote":
                self.quote_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        text = re.sub(r"[ \t\r\n\f]+", " ", data)
        if self.quote_depth and text.strip():
            # A quoted block in HTML reads as a quote in text: "> " on its lines.
            text = "> " * self.quote_depth + text.lstrip()
        self.parts.append(text)


def html_to_text(html: str) -> str:
    parser = _TextFromHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # broken markup: what was read so far
        pass
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- the quoted history of a reply ------------------------------------------------------------

# An attribution line ("Am 01.12.2026 um 10:00 schrieb …:", "On Tue, Dec 1, 2026 … wrote:"),
# possibly wrapped over up to three lines (Gmail wraps long ones). It names a date or time,
# so a sentence like "Am Montag schrieb ich Ihnen:" is not taken for one.
_ATTRIBUTION = re.compile(
    r"^(?=[^\n]*\d)(?:am|on)\s.{1,300}?\s(?:schrieb|wrote|hat geschrieben)\b[^\n]{0,200}:\s*$",
    re.I,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:original message|ursprüngliche nachricht|originalnachricht)\s*-{2,}\s*$",
    re.I,
)
# Outlook's header block of the quoted message: "Von:" then "Gesendet:" (or From/Sent).
_OUTLOOK_FROM = re.compile(r"^\s*\**(?:von|from)\s*:\**\s", re.I)
_OUTLOOK_SENT = re.compile(r"^\s*\**(?:gesendet|sent|datum|date)\s*:\**\s", re.I)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")


def strip_quoted_history(text: str) -> str:
    """The reply without the message it quotes, where the marker is clear.

    Cut at "-----Original Message-----" / "-----Ursprüngliche Nachricht-----" or Outlook's
    "Von:/Gesendet:" block (the history below carries no other marker); drop an attribution
    line ("Am … schrieb …:", "On … wrote:") and every line starting with ">", keeping what
    was written between quoted lines (answers inline). An attribution with no ">" line after
    it starts an unmarked history: cut there. When nothing would be left, the text is
    returned as it is.
    """
    lines = text.split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _ORIGINAL_MESSAGE.match(line) or _outlook_block_at(lines, index):
            break
        span = _attribution_span(lines, index)
        if span:
            if not any(rest.lstrip().startswith(">") for rest in lines[index + span :]):
                break
            index += span
            continue
        if not line.lstrip().startswith(">"):
            kept.append(line)
        index += 1
    while kept and (not kept[-1].strip() or _UNDERSCORES.match(kept[-1])):
        kept.pop()
    result = "\n".join(kept).strip("\n")
    return result if result.strip() else text


def _attribution_span(lines: list[str], index: int) -> int:
    """How many lines the attribution starting at ``index`` takes (0: none starts there)."""
    if not re.match(r"^\s*(?:am|on)\s", lines[index], re.I):
        return 0
    for span in (1, 2, 3):
        window = " ".join(line.strip() for line in lines[index : index + span])
        if _ATTRIBUTION.match(window):
            return span
    return 0


def _outlook_block_at(lines: list[str], index: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 4] if line.strip()]
    return bool(following) and bool(_OUTLOOK_SENT.match(following[0]))
