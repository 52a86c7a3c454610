"""Emails carry health data: they leave encrypted (``SMTP_SECURITY``), against real aiosmtpd
servers with self-signed certificates, and clear text only to a server on the loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from communication_service import create_app
from communication_service.config import ConfigError, Settings, is_loopback_host
from communication_service.models import Email
from communication_service.services.sending import send_emails
from tests.conftest import with_settings
from tests.factories import make_email, make_therapist
from tests.smtp_sink import Certificate, SmtpSink, self_signed_certificate

ROOT = Path(__file__).resolve().parents[2]
# Never reached: the settings are refused before any database is opened.
UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:9/nothing"
GUNICORN = (sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Certificate]:
    directory = tmp_path_factory.mktemp("pki")
    return {
        "server": self_signed_certificate(directory, "server", "IP:127.0.0.1"),
        "other_name": self_signed_certificate(directory, "other", "DNS:mail.example.org"),
    }


@pytest.fixture
def starttls_sink(certificates: dict[str, Certificate]) -> Iterator[SmtpSink]:
    """A server that offers STARTTLS with the ``server`` certificate and accepts no mail
    without it."""
    sink = SmtpSink().start(
        tls_context=certificates["server"].server_context(), require_starttls=True
    )
    yield sink
    sink.stop()


def settings_for(sink: SmtpSink, base: Settings, **overrides: object) -> Settings:
    """``base`` pointed at ``sink``: STARTTLS and the system's CAs unless overridden."""
    defaults = {"smtp_security": "starttls", "smtp_ca_file": "", "smtp_timeout_seconds": 5.0}
    return base.replace(smtp_host=sink.host, smtp_port=sink.port, **{**defaults, **overrides})


def statuses(session) -> list[tuple[str, int, str | None]]:
    session.expire_all()
    return [
        tuple(row)
        for row in session.execute(
            sa.select(Email.status, Email.retry_count, Email.error_message).order_by(Email.id)
        )
    ]


def queue_two(session) -> None:
    therapist_id = make_therapist(session)
    make_email(session, therapist_id=therapist_id)
    make_email(session, therapist_id=therapist_id)


def test_the_default_is_starttls_verified_against_the_systems_cas():
    settings = Settings()
    assert settings.smtp_security == "starttls"
    assert settings.smtp_ca_file == ""
    assert settings.email_include_diagnosis is False


def test_starttls_with_a_trusted_self_signed_certificate_delivers(
    session, ctx, starttls_sink, certificates
):
    queue_two(session)
    settings = settings_for(
        starttls_sink, ctx.settings, smtp_ca_file=str(certificates["server"].cert_file)
    )

    result = send_emails(with_settings(ctx, settings))

    # The server refuses MAIL before STARTTLS ("530 Must issue a STARTTLS command first"):
    # what it accepted went over TLS.
    assert (result.sent, result.smtp_unavailable) == (2, False)
    assert len(starttls_sink.handler.received) == 2
    assert {status for status, _, _ in statuses(session)} == {"sent"}


def test_an_untrusted_certificate_is_refused_and_the_emails_stay_queued(
    app, session, ctx, starttls_sink, monkeypatch
):
    """No SMTP_CA_FILE: the system's CAs do not know the self-signed certificate."""
    queue_two(session)
    settings = settings_for(starttls_sink, ctx.settings)
    monkeypatch.setitem(app.extensions, "settings", settings)  # for the CLI run

    run = app.test_cli_runner().invoke(args=["comm", "send-emails"])

    assert run.exit_code == 1, run.output
    assert "SMTP server unavailable (SSLCertVerificationError" in run.output
    assert starttls_sink.handler.received == []
    (first_status, first_retries, error), second = statuses(session)
    assert (first_status, first_retries) == ("queued", 1)  # retried later, like a refusal
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert second == ("queued", 0, None)  # untried


def test_a_certificate_for_another_name_is_refused(session, ctx, certificates):
    """Trusted, but issued for mail.example.org while the service connects to 127.0.0.1."""
    sink = SmtpSink().start(
        tls_context=certificates["other_name"].server_context(), require_starttls=True
    )
    try:
        queue_two(session)
        settings = settings_for(
            sink, ctx.settings, smtp_ca_file=str(certificates["other_name"].cert_file)
        )
        result = send_emails(with_settings(ctx, settings))
        assert (result.sent, result.smtp_unavailable) == (0, True)
        assert "SSLCertVerificationError" in result.smtp_error
        assert "127.0.0.1" in result.smtp_error  # the name that did not match
        assert sink.handler.received == []
    finally:
        sink.stop()


def test_a_server_without_starttls_fails_the_run_never_clear_text(
    app, session, ctx, smtp_sink, certificates, monkeypatch
):
    queue_two(session)
    settings = settings_for(
        smtp_sink, ctx.settings, smtp_ca_file=str(certificates["server"].cert_file)
    )
    monkeypatch.setitem(app.extensions, "settings", settings)

    run = app.test_cli_runner().invoke(args=["comm", "send-emails"])

    assert run.exit_code == 1, run.output
    assert "SMTPNotSupportedError" in run.output
    assert smtp_sink.handler.connections == 1  # it connected, saw no STARTTLS and left
    assert smtp_sink.handler.data_commands == 0 and smtp_sink.handler.received == []
    (first_status, first_retries, error), second = statuses(session)
    assert (first_status, first_retries) == ("queued", 1)
    assert "STARTTLS extension not supported" in error
    assert second == ("queued", 0, None)
    assert "sent" not in {status for status, _, _ in statuses(session)}


def test_implicit_tls_delivers_and_verifies_the_certificate(session, ctx, certificates):
    sink = SmtpSink().start(ssl_context=certificates["server"].server_context())
    try:
        queue_two(session)
        untrusted = settings_for(sink, ctx.settings, smtp_security="tls")
        refused = send_emails(with_settings(ctx, untrusted))
        assert (refused.sent, refused.smtp_unavailable) == (0, True)
        assert "CERTIFICATE_VERIFY_FAILED" in refused.smtp_error
        assert sink.handler.received == []

        trusted = untrusted.replace(smtp_ca_file=str(certificates["server"].cert_file))
        session.execute(sa.update(Email).values(next_attempt_at=None))  # no back-off wait
        session.commit()
        assert send_emails(with_settings(ctx, trusted)).sent == 2
        assert len(sink.handler.received) == 2
    finally:
        sink.stop()


# --- the settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"]
)
def test_clear_text_is_accepted_for_a_loopback_host(host):
    assert is_loopback_host(host)
    assert Settings(smtp_host=host, smtp_security="none").smtp_security == "none"


@pytest.mark.parametrize(
    "host", ["mail.example.org", "10.0.0.5", "0.0.0.0", "::", "localhost.example.org", ""]
)
def test_clear_text_to_any_other_host_is_refused(host):
    assert not is_loopback_host(host)
    with pytest.raises(ConfigError, match=r"SMTP_SECURITY=none .* loopback") as refused:
        Settings.from_env({"SMTP_HOST": host, "SMTP_SECURITY": "none"})
    assert "\n" not in str(refused.value)


def test_security_values_are_checked_and_normalised():
    assert Settings.from_env({"SMTP_SECURITY": " TLS "}).smtp_security == "tls"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SMTP_SECURITY": "ssl"})
    assert str(refused.value) == "SMTP_SECURITY='ssl': expected one of starttls, tls, none"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"SMTP_CA_FILE": "/nonexistent/ca.pem"})
    assert str(refused.value) == "SMTP_CA_FILE='/nonexistent/ca.pem' is not a file"
    # Overrides are checked too: a test or a job cannot slip past the rule.
    with pytest.raises(ConfigError):
        Settings(smtp_host="127.0.0.1", smtp_security="none").replace(smtp_host="mail.example.org")
    with pytest.raises(ConfigError):
        create_app({"smtp_host": "mail.example.org", "smtp_security": "none"})


REFUSAL = (
    "configuration error: SMTP_SECURITY=none sends emails (health data) in clear text and "
    "is allowed only for an SMTP_HOST on the loopback (localhost, 127.0.0.1, ::1), not "
    "'mail.example.org': set SMTP_SECURITY=starttls or tls"
)


def start_env() -> dict[str, str]:
    """This environment without the service's settings, plus clear text to a remote host."""
    own = ("SMTP_", "EMAIL_", "DATABASE_URL", "FLASK_", "GUNICORN_", "WEB_CONCURRENCY")
    env = {key: value for key, value in os.environ.items() if not key.startswith(own)}
    return {
        **env,
        "DATABASE_URL": UNREACHABLE_DATABASE,
        "SMTP_HOST": "mail.example.org",
        "SMTP_SECURITY": "none",
    }


def test_a_flask_command_stops_at_start_with_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "comm", "send-emails"],
        cwd=ROOT,
        env=start_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip().splitlines() == [REFUSAL]
    assert result.stdout == ""


@pytest.mark.slow
def test_gunicorn_stops_at_start_with_one_line():
    result = subprocess.run(
        [*GUNICORN, "--bind", "127.0.0.1:0", "--workers", "2", "wsgi:app"],
        cwd=ROOT,
        env=start_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 4, result.stderr  # as gunicorn's "App failed to load"
    # One line (a log line of the master's, communication_service/serving.py), no traceback,
    # no worker booted again and again.
    assert len([line for line in result.stderr.splitlines() if REFUSAL in line]) == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("Booting worker") <= 2
