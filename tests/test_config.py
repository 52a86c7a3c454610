"""Every setting is checked when the app is created: a value the service cannot use stops it
with one line naming the variable; values with an obvious normal form are normalised."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from communication_service.config import DEMO_SENDER, ConfigError, Settings
from tests.conftest import ApiClient
from tests.factories import make_therapist
from tests.gunicorn import REPO, server_env


def test_codes_are_taken_in_their_normal_form():
    settings = Settings.from_env(
        {"HOLIDAY_COUNTRY": "de", "HOLIDAY_SUBDIVISION": " by ", "LOG_FORMAT": "JSON"}
    )
    assert (settings.holiday_country, settings.holiday_subdivision) == ("DE", "BY")
    assert settings.log_format == "json"


def test_a_lower_case_state_books_calls(app_factory):
    """``HOLIDAY_SUBDIVISION=by`` made every automatic booking answer 500."""
    app = app_factory(holiday_subdivision="by")
    with app.app_context():
        from communication_service.extensions import db

        therapist = make_therapist(db.session)
        booked = ApiClient(app.test_client()).post(
            "/api/phone-calls", json={"therapist_id": therapist}
        )
    assert booked.status_code == 201, booked.get_json()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"HOLIDAY_SUBDIVISION": "XX"}, "HOLIDAY_SUBDIVISION='XX'"),
        ({"HOLIDAY_COUNTRY": "Narnia"}, "HOLIDAY_COUNTRY="),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE="),
        ({"CALL_LINES": "two"}, "CALL_LINES='two': expected an integer"),
        ({"CALL_SLOT_MINUTES": "0"}, "CALL_SLOT_MINUTES=0"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT=70000"),
        ({"LOG_FORMAT": "yaml"}, "LOG_FORMAT='yaml'"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='LOUD'"),
        ({"SMTP_TIMEOUT_SECONDS": "soon"}, "SMTP_TIMEOUT_SECONDS='soon': expected a number"),
    ],
)
def test_a_value_the_service_cannot_use_is_refused_naming_it(environ, named):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ)
    message = str(refused.value)
    assert named in message and "\n" not in message


def test_a_job_with_a_bad_setting_stops_with_one_line(database_url):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "comm", "batch-emails"],
        cwd=REPO,
        env=server_env(DATABASE_URL=database_url, HOLIDAY_SUBDIVISION="XX"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    named = [line for line in result.stderr.splitlines() if "HOLIDAY_SUBDIVISION" in line]
    assert len(named) == 1, result.stderr


# The sender's identity (every email's From, Reply-To and footer) -----------------------------

SENDER_ENV = {
    "EMAIL_SENDER": "vermittlung@beispiel-verein.de",
    "EMAIL_REPLY_TO": "team@beispiel-verein.de",
    "ORGANISATION_NAME": "Beispiel-Verein Psychotherapie e.V.",
    "ORGANISATION_ADDRESS": "Lindenstraße 12, 10969 Berlin",
    "ORGANISATION_PHONE": "030 1234567",
    "CONTACT_PERSON": "Maria Beispiel",
    "LEGAL_NOTICE": "Amtsgericht Charlottenburg VR 12345 B, Vorstand: Maria Beispiel",
}


def test_production_refuses_to_start_without_the_senders_identity_in_one_line():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"APP_ENV": "production", "EMAIL_SENDER": "team@verein.de"})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        "APP_ENV=production: set EMAIL_REPLY_TO, ORGANISATION_NAME, ORGANISATION_ADDRESS, "
        "ORGANISATION_PHONE, CONTACT_PERSON, LEGAL_NOTICE: "
    )


@pytest.mark.parametrize("name", list(SENDER_ENV))
def test_production_refuses_each_one_missing_empty_or_left_at_its_demo_value(name):
    for value in (None, "", " ", DEMO_SENDER[name.lower()]):
        environ = {**SENDER_ENV, "APP_ENV": "production"}
        if value is None:
            del environ[name]
        else:
            environ[name] = value
        with pytest.raises(ConfigError, match=rf"^APP_ENV=production: set {name}: "):
            Settings.from_env(environ)


def test_production_starts_with_the_senders_identity():
    settings = Settings.from_env({**SENDER_ENV, "APP_ENV": "PRODUCTION"})
    assert settings.production and settings.sender.demo_settings == ()
    assert settings.sender.display_name == "Beispiel-Verein Psychotherapie e.V."
    assert settings.sender.reply_to == "team@beispiel-verein.de"
    named = Settings.from_env({**SENDER_ENV, "EMAIL_SENDER_NAME": "Maria Beispiel (Verein)"})
    assert named.sender.display_name == "Maria Beispiel (Verein)"


def test_outside_production_marked_demo_values_with_a_full_postal_address():
    settings = Settings.from_env({"ORGANISATION_NAME": "Echter Verein e.V.", "LEGAL_NOTICE": ""})
    sender = settings.sender
    assert not settings.production
    assert sender.organisation == "Echter Verein e.V."
    assert sender.postal_address == "Musterstraße 1, 10115 Berlin"  # street, number, PLZ, city
    assert sender.legal_notice == DEMO_SENDER["legal_notice"]  # empty counts as not set
    assert sender.demo_settings == tuple(
        name for name in (n.upper() for n in DEMO_SENDER) if name != "ORGANISATION_NAME"
    )
    assert "(Demo)" in Settings().sender.display_name


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"APP_ENV": "prod"}, "APP_ENV='prod': expected production or development"),
        ({"ORGANISATION_NAME": "Verein\r\nBcc: x@y.z"}, "ORGANISATION_NAME: expected one line"),
        ({"EMAIL_SENDER_NAME": "A\nB"}, "EMAIL_SENDER_NAME: expected one line"),
        ({"EMAIL_REPLY_TO": "Team <team@verein.de>"}, "EMAIL_REPLY_TO='Team <team@verein.de>'"),
        ({"EMAIL_SENDER": "vermittlung@vereín.de"}, "EMAIL_SENDER="),
        ({"IMPRINT_URL": "javascript:alert(1)"}, "IMPRINT_URL='javascript:alert(1)'"),
    ],
)
def test_a_sender_setting_that_cannot_go_into_a_header_or_footer_is_refused(environ, named):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ)
    assert named in str(refused.value) and "\n" not in str(refused.value)


def test_production_job_without_the_senders_identity_stops_with_one_line(database_url):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "comm", "batch-emails"],
        cwd=REPO,
        env=server_env(DATABASE_URL=database_url, APP_ENV="production"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "APP_ENV" in line]
    assert line.startswith("configuration error: APP_ENV=production: set EMAIL_SENDER, ")


def test_the_docker_image_switches_production_on():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^\s+APP_ENV=production\s*$", dockerfile, re.MULTILINE)
