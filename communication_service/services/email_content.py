"""What a therapist reads: the batching email's text and HTML, names and Message-IDs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from communication_service.config import Settings

TEMPLATE_NAME = "therapist_batch_email"


@dataclass(frozen=True, slots=True)
class PatientLine:
    """Only what the therapist needs: first name and initial of the last name (``label``,
    e.g. "Anna M."), age, diagnosis."""

    label: str
    age: int | None
    diagnose: str | None

    @classmethod
    def of(
        cls,
        vorname: str | None,
        nachname_initial: str | None,
        age: int | None,
        diagnose: str | None,
    ) -> PatientLine:
        initial = f"{nachname_initial}." if nachname_initial else ""
        label = " ".join(part for part in (vorname, initial) if part) or "Ohne Namen"
        return cls(label, age, diagnose)


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
