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


@pytest.mark.parametrize("not_booked", [{}, {"no_free_slot": 146}, {"a": 2, "b": 3}])
def test_the_drill_reads_what_schedule_follow_ups_reports_it_could_not_book(not_booked):
    from collections import Counter

    from communication_service.services.follow_ups import FollowUpResult

    summary = FollowUpResult(
        emails_due=300,
        calls_scheduled=300 - sum(not_booked.values()),
        calls_not_booked=Counter(not_booked),
    ).summary()

    assert concurrent_jobs._not_booked_now(summary) == sum(not_booked.values())
