"""Every setting is checked when the app is created: a value the service cannot use stops it
with one line naming the variable; values with an obvious normal form are normalised."""

from __future__ import annotations

import subprocess
import sys

import pytest

from communication_service.config import ConfigError, Settings
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
