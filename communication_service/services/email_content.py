"""What a therapist reads: the batching email's text and HTML, names and Message-IDs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from communication_service.config import Settings

TEMPLATE_NAME = "therapist_batch_email"


@dataclass(frozen=True, slots=True)
class PatientLine:
    """Only what the therapist needs: first name, initial of the last name, age, diagnosis."""

    vorname: str | None
    nachname_initial: str | None
    age: int | None
    diagnose: str | None

    @property
    def label(self) -> str:
        initial = f"{self.nachname_initial}." if self.nachname_initial else ""
        return " ".join(part for part in (self.vorname, initial) if part) or "Ohne Namen"


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
    )


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
    env = _environment()
    context = {
        "subject": settings.email_subject,
        "greeting": greeting(anrede, titel, vorname, nachname),
        "patients": patients,
        "signature": settings.email_signature,
    }
    return RenderedEmail(
        subject=settings.email_subject,
        body_text=env.get_template(f"{TEMPLATE_NAME}.txt").render(context),
        body_html=env.get_template(f"{TEMPLATE_NAME}.html").render(context),
    )


def message_id_domain(settings: Settings) -> str:
    _, _, domain = settings.email_sender.rpartition("@")
    return domain or "localhost"


def new_message_id(settings: Settings) -> str:
    """A globally unique ``Message-ID``, stored with the email when it is queued."""
    return f"<{uuid.uuid4()}@{message_id_domain(settings)}>"
