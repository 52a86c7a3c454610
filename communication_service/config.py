"""Settings: the environment is read once, into one immutable object.

Every setting is named here with its default (README "Configuration", docs/rules.md).
``create_app`` accepts overrides (a mapping of field names) so tests and jobs never touch
``os.environ``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _tokens(value: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in value.split(",") if token.strip())


@dataclass(frozen=True)
class Settings:
    # "production" (set by the Docker image): the sender's identity below is required at start.
    # "development" (local runs, tests): what is missing is filled with marked demo values.
    app_env: str = "development"

    # Database. Without DATABASE_URL the app refuses to start (database.database_url), unless
    # EMBEDDED_POSTGRES=1 asks for the development server under instance/ (scripts/run-local).
    database_url: str = ""
    embedded_postgres: bool = False
    embedded_pgdata: str = "instance/pgdata"
    sql_echo: bool = False

    # HTTP
    api_tokens: tuple[str, ...] = ()
    max_content_length: int = 1024 * 1024
    log_level: str = "INFO"
    log_format: str = "text"  # "text" or "json"

    # Time and calendar
    timezone: str = "Europe/Berlin"
    holiday_country: str = "DE"
    holiday_subdivision: str = ""

    # Domain rules (docs/rules.md)
    call_slot_minutes: int = 5
    default_call_minutes: int = 5
    call_lines: int = 1
    scheduling_horizon_days: int = 28
    contact_interval_days: int = 7
    max_patients_per_email: int = 10
    follow_up_after_days: int = 7
    max_call_attempts: int = 3
    cooling_period_days: int = 28

    # Email delivery (docs/jobs.md, send-emails)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    # "starttls" (required, never clear text), "tls" (implicit TLS, usually port 465) or
    # "none" (clear text: only for a server on the loopback, e.g. run-local's mail catcher).
    smtp_security: str = "starttls"
    smtp_ca_file: str = ""  # CA bundle to trust instead of the system's (a private CA)
    smtp_timeout_seconds: float = 10.0
    max_email_retries: int = 5
    email_retry_base_seconds: int = 60
    sending_stale_after_seconds: int = 900

    # Who writes (every email: From, Reply-To, the footer; docs/rules.md "The sender"). The
    # defaults are marked demo values (DEMO_SENDER), which production refuses at start.
    email_sender: str = "vermittlung@example.org"  # From address
    email_sender_name: str = ""  # From display name; empty: ORGANISATION_NAME
    email_reply_to: str = "antwort@example.org"
    organisation_name: str = "Psychotherapie-Vermittlung (Demo)"
    organisation_address: str = "Musterstraße 1, 10115 Berlin"  # postal address, one line
    organisation_phone: str = "+49 30 23125000"
    contact_person: str = "Erika Mustermann"
    # The legal line: legal form, seat, register and number, who represents the organisation.
    legal_notice: str = "Beispiel e.V., Vereinsregister Amtsgericht Charlottenburg VR 00000 (Demo)"
    imprint_url: str = ""  # optional: a link to the imprint (Impressum)

    # What a batching email says about each patient besides first name, initial, age and the
    # request's id (rule 5). Privacy by default: only what a therapist needs to decide is on.
    email_include_diagnosis: bool = False
    email_include_insurance: bool = True  # statutory or private
    email_include_postcode_area: bool = False  # first three digits of the PLZ
    email_include_group_therapy: bool = False  # open to group therapy or not
    email_include_preferred_times: bool = False

    # Anything not from the environment (e.g. a fixed clock in tests).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Values with an obvious normal form are taken in it ("by" is Bavaria, "JSON" json).
        for name, normal in _NORMAL_FORMS.items():
            object.__setattr__(self, name, normal(getattr(self, name).strip()))
        if problem := (
            _smtp_problem(self)
            or _range_problem(self)
            or _calendar_problem(self)
            or _sender_problem(self)
        ):
            raise ConfigError(problem)

    @cached_property
    def sender(self) -> Sender:
        """Who writes every email, as the footer, From and Reply-To show it."""
        return Sender(
            address=self.email_sender,
            display_name=self.email_sender_name or self.organisation_name,
            reply_to=self.email_reply_to,
            organisation=self.organisation_name,
            postal_address=self.organisation_address,
            phone=self.organisation_phone,
            contact_person=self.contact_person,
            legal_notice=self.legal_notice,
            imprint_url=self.imprint_url,
            demo_settings=tuple(
                name.upper() for name, demo in DEMO_SENDER.items() if getattr(self, name) == demo
            ),
        )

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables named like the fields, upper-cased."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or f.name == "extra":
                continue
            try:
                values[f.name] = _convert(f, raw)
            except ValueError:
                raise ConfigError(f"{f.name.upper()}={raw!r}: expected {_KIND[f.type]}") from None
        return cls(**values)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with some fields changed; strings are converted like the environment's."""
        by_name = {f.name: f for f in dataclasses.fields(self)}
        unknown = set(overrides) - set(by_name)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        converted = {
            name: _convert(by_name[name], value) if isinstance(value, str) else value
            for name, value in overrides.items()
        }
        return dataclasses.replace(self, **converted)


class ConfigError(ValueError):
    """A setting the service refuses to start with; the message is one line for the operator."""


@dataclass(frozen=True)
class Sender:
    """The sender's identity as every email shows it (From, Reply-To, the footer)."""

    address: str
    display_name: str
    reply_to: str
    organisation: str
    postal_address: str
    phone: str
    contact_person: str
    legal_notice: str
    imprint_url: str
    demo_settings: tuple[str, ...] = ()  # the variables that are not set: demo values shown


APP_ENVS = ("production", "development")
# Required in production: a value left at its default (or empty) stops it at start. Elsewhere
# the defaults serve: plainly fictitious (example.org, Musterstraße, Erika Mustermann), and
# every footer names the settings still at their demo values.
DEMO_SENDER = {
    f.name: f.default
    for f in dataclasses.fields(Settings)
    if f.name
    in (
        "email_sender",
        "email_reply_to",
        "organisation_name",
        "organisation_address",
        "organisation_phone",
        "contact_person",
        "legal_notice",
    )
}
_ADDR_SPEC = re.compile(r"[^\s@<>(),;:\"\[\]\\]+@[^\s@<>(),;:\"\[\]\\]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_plain_address(address: str) -> bool:
    """An ASCII ``local@domain`` without spaces, brackets, quotes or a second address: what
    a header and the SMTP envelope both carry as it is."""
    return address.isascii() and _ADDR_SPEC.fullmatch(address) is not None


def _sender_problem(settings: Settings) -> str:
    if settings.app_env not in APP_ENVS:
        return f"APP_ENV={settings.app_env!r}: expected production or development"
    one_line = [*DEMO_SENDER, "email_sender_name", "imprint_url"]
    for name in one_line:
        if _CONTROL.search(getattr(settings, name)):
            return f"{name.upper()}: expected one line of text (it holds a line break or control)"
    for name in ("email_sender", "email_reply_to"):
        value = getattr(settings, name)
        if value and not is_plain_address(value):
            return f"{name.upper()}={value!r}: expected an ASCII address such as team@example.org"
    url = settings.imprint_url
    if url and not re.fullmatch(r"https?://[^\s<>\"]+", url):
        return f"IMPRINT_URL={url!r}: expected an address such as https://example.org/impressum"
    for name, demo in DEMO_SENDER.items():
        if not getattr(settings, name):  # set but empty: the demo value, as if not set
            object.__setattr__(settings, name, demo)
    if settings.production and (demo := settings.sender.demo_settings):
        return (
            f"APP_ENV=production: set {', '.join(demo)}: every email names its sender "
            "(organisation, postal address, phone, contact person, legal line, Reply-To); "
            "the defaults are demo values"
        )
    return ""


SMTP_SECURITY_CHOICES = ("starttls", "tls", "none")


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (no name is resolved)."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _smtp_problem(settings: Settings) -> str:
    security = settings.smtp_security
    if security not in SMTP_SECURITY_CHOICES:
        return f"SMTP_SECURITY={security!r}: expected one of {', '.join(SMTP_SECURITY_CHOICES)}"
    if security == "none" and not is_loopback_host(settings.smtp_host):
        return (
            "SMTP_SECURITY=none sends emails (health data) in clear text and is allowed only "
            "for an SMTP_HOST on the loopback (localhost, 127.0.0.1, ::1), not "
            f"{settings.smtp_host!r}: set SMTP_SECURITY=starttls or tls"
        )
    if settings.smtp_ca_file and not os.path.isfile(settings.smtp_ca_file):
        return f"SMTP_CA_FILE={settings.smtp_ca_file!r} is not a file"
    return ""


_NORMAL_FORMS = {
    "app_env": str.lower,
    **{name: str for name in (*DEMO_SENDER, "email_sender_name", "imprint_url")},
    "smtp_security": str.lower,
    "log_format": str.lower,
    "log_level": str.upper,
    "holiday_country": str.upper,
    "holiday_subdivision": str.upper,
}
_KIND = {"int": "an integer", "float": "a number"}
# (least, greatest) of each number; None: no bound. Zero where "none" is meaningful.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "max_content_length": (1024, None),
    "call_slot_minutes": (1, 60),
    "default_call_minutes": (1, 24 * 60),
    "call_lines": (0, None),
    "scheduling_horizon_days": (1, 366),
    "contact_interval_days": (0, None),
    "max_patients_per_email": (1, 100),
    "follow_up_after_days": (0, None),
    "max_call_attempts": (1, None),
    "cooling_period_days": (0, None),
    "smtp_port": (1, 65535),
    "smtp_timeout_seconds": (0.1, None),
    "max_email_retries": (0, None),
    "email_retry_base_seconds": (0, None),
    "sending_stale_after_seconds": (1, None),
}


def _range_problem(settings: Settings) -> str:
    for name, (least, greatest) in _RANGES.items():
        value = getattr(settings, name)
        if (least is not None and value < least) or (greatest is not None and value > greatest):
            bounds = f"at least {least}" if greatest is None else f"{least} to {greatest}"
            return f"{name.upper()}={value!r}: expected {bounds}"
    if settings.log_format not in ("text", "json"):
        return f"LOG_FORMAT={settings.log_format!r}: expected text or json"
    if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        return f"LOG_LEVEL={settings.log_level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
    return ""


def _calendar_problem(settings: Settings) -> str:
    """The time zone and the holiday calendar the scheduling engine will use."""
    import zoneinfo

    import holidays

    try:
        zoneinfo.ZoneInfo(settings.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"TIMEZONE={settings.timezone!r}: expected an IANA time zone such as Europe/Berlin"
    supported = holidays.list_supported_countries()
    country, subdivision = settings.holiday_country, settings.holiday_subdivision
    if not country:  # no public holidays at all
        return f"HOLIDAY_SUBDIVISION={subdivision!r} needs a HOLIDAY_COUNTRY" if subdivision else ""
    if country not in supported:
        return f"HOLIDAY_COUNTRY={country!r}: expected an ISO 3166-1 code such as DE"
    if subdivision:
        known = {code.upper(): code for code in supported[country]}
        if subdivision not in known:
            return (
                f"HOLIDAY_SUBDIVISION={subdivision!r}: not a subdivision of {country} "
                f"(one of {', '.join(sorted(known))})"
            )
        object.__setattr__(settings, "holiday_subdivision", known[subdivision])
    return ""


def _convert(f: dataclasses.Field, raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "bool":
        return _bool(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind.startswith("tuple"):
        return _tokens(raw)
    return raw


def as_sqlalchemy_url(url: str) -> str:
    """Use psycopg2 for ``postgres://``/``postgresql://`` URLs (SQLAlchemy 2.1 picks psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url
