"""The time helpers: every one of them follows the injected clock, including the models'
``updated_at``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from communication_service.clock import (
    FixedClock,
    app_utc_naive,
    local_date,
    local_midnight_utc,
    to_utc_naive,
    utc_naive,
)
from communication_service.models import Email
from tests.conftest import BERLIN, DEFAULT_NOW
from tests.factories import make_email, make_therapist

CLOCK = FixedClock(datetime(2026, 3, 29, 12, 0), BERLIN)  # the day summer time begins


def test_utc_naive_is_the_clocks_now_as_stored():
    assert utc_naive(CLOCK) == datetime(2026, 3, 29, 10, 0)


def test_naive_input_means_the_clocks_zone():
    assert to_utc_naive(datetime(2026, 3, 29, 12, 0), CLOCK) == datetime(2026, 3, 29, 10, 0)
    aware = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    assert to_utc_naive(aware, CLOCK) == datetime(2026, 3, 29, 12, 0)


def test_local_midnight_and_local_date_follow_the_clocks_zone_across_dst():
    assert local_midnight_utc(date(2026, 3, 29), CLOCK) == datetime(2026, 3, 28, 23, 0)
    assert local_midnight_utc(date(2026, 3, 30), CLOCK) == datetime(2026, 3, 29, 22, 0)
    assert local_date(datetime(2026, 3, 29, 22, 30), CLOCK) == date(2026, 3, 30)
    assert local_date(datetime(2026, 3, 29, 21, 30), CLOCK) == date(2026, 3, 29)


def test_the_column_default_uses_the_system_clock_outside_an_app():
    before = datetime.now(UTC).replace(tzinfo=None)
    assert before <= app_utc_naive() <= datetime.now(UTC).replace(tzinfo=None)


def test_updated_at_on_update_comes_from_the_apps_clock(session, clock):
    email_id = make_email(session, therapist_id=make_therapist(session))
    clock.instant = DEFAULT_NOW + timedelta(days=400)
    session.execute(sa.update(Email).where(Email.id == email_id).values(subject="Neu"))
    session.commit()
    email = session.get(Email, email_id)
    assert email.updated_at == utc_naive(clock)
