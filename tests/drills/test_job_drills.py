"""CI-sized runs of the job drills (benchmarks/drills/kill_send.py, concurrent_jobs.py)."""

from __future__ import annotations

import pytest

from benchmarks.drills import concurrent_jobs, kill_send


@pytest.mark.slow
def test_send_emails_killed_mid_send_loses_and_duplicates_nothing(drill_database_url):
    checks = kill_send.run(therapists=60, database_url=drill_database_url)

    assert checks.passed, checks.render()


@pytest.mark.slow
def test_every_job_started_twice_does_its_work_once(drill_database_url):
    checks = concurrent_jobs.run(therapists=60, database_url=drill_database_url)

    assert checks.passed, checks.render()


@pytest.mark.parametrize(
    "not_booked", [{}, {"all_windows_full": 146}, {"no_telephone_hours": 2, "holidays": 3}]
)
def test_the_drill_reads_what_schedule_follow_ups_reports_it_could_not_book(not_booked):
    from communication_service.config import Settings
    from communication_service.services.follow_ups import FollowUpResult

    result = FollowUpResult(emails_due=300, calls_scheduled=300 - sum(not_booked.values()))
    therapist_ids = iter(range(1, 1000))
    for cause, n in not_booked.items():
        result.calls_not_booked.add(cause, [next(therapist_ids) for _ in range(n)], Settings())
    result.skipped.add("cooling_period", [7, 8], Settings())  # a clause after it
    summary = result.summary()

    assert concurrent_jobs._not_booked_now(summary) == sum(not_booked.values())
