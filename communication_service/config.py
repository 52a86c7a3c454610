"""Settings: the environment is read once, into one immutable object.

Every setting is named here with its default (README "Configuration", docs/rules.md).
``create_app`` accepts overrides (a mapping of field names) so tests and jobs never touch
``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _tokens(value: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in value.split(",") if token.strip())


@dataclass(frozen=True)
class Settings:
    # Database: empty means "start the embedded PostgreSQL under instance/".
    database_url: str = ""
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
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = 10.0
    email_sender: str = "vermittlung@example.org"
    email_sender_name: str = "Psychotherapie-Vermittlung"
    email_subject: str = "Anfrage: Psychotherapieplätze für unsere Patientinnen und Patienten"
    email_signature: str = "Mit freundlichen Grüßen\nIhr Team der Psychotherapie-Vermittlung"
    max_email_retries: int = 5
    email_retry_base_seconds: int = 60
    sending_stale_after_seconds: int = 900

    # Anything not from the environment (e.g. a fixed clock in tests).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables named like the fields, upper-cased."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or f.name == "extra":
                continue
            values[f.name] = _convert(f, raw)
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
