"""Drill: every job started twice at the same moment, as two containers would.

    .venv/bin/python -m benchmarks.drills.concurrent_jobs [--therapists 300]

A private embedded PostgreSQL (real migrations, bulk data) and a local aiosmtpd sink. Two
``batch-emails`` start together, then two ``send-emails``, then two ``schedule-follow-ups``
(8 days later, so every unanswered email is due), each a real ``flask --app wsgi comm``
process.

Checked: every process exits 0; each therapist got one email and each request sits in one
email or one call; every email was delivered exactly once (one message per Message-ID, as
many messages as emails) and is ``sent``; every unanswered email got exactly one follow-up
call, or (no free slot left in the horizon) is reported "not booked now" by the next run and
stays due; no two scheduled calls overlap; a third ``schedule-follow-ups`` creates nothing.
"""

from __future__ import annotations

import re
from collections import Counter

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.common import check_no_overlapping_calls, cli, later
from benchmarks.harness import Checks, Job, migrated_database, one, smtp_sink, sql

CALL_LINES = 1  # the service's default (docs/rules.md rule 2)
FOLLOW_UPS = """SELECT count(*), count(DISTINCT follow_up_email_id)
    FROM communication_service.phone_calls WHERE follow_up_email_id IS NOT NULL"""


def _not_booked_now(output: str) -> int:
    """What a job's summary line reports it could not book now (0 when it says nothing)."""
    found = re.search(r"(\d+) not booked now", output)
    return int(found.group(1)) if found else 0


def _twice(checks: Checks, name: str, url: str, now: str, smtp_port: int | None = None) -> None:
    """Two ``name`` processes started together; both must exit 0."""
    jobs = [Job(name, url, now, smtp_port) for _ in range(2)]
    codes = [job.wait().process.returncode for job in jobs]
    checks.figures[f"two {name}"] = [job.output.strip().splitlines()[-1:] for job in jobs]
    outputs = "" if codes == [0, 0] else "; " + " | ".join(j.output[-800:] for j in jobs)
    checks.check(f"both {name} exited 0", codes == [0, 0], f"exit codes {codes}{outputs}")


def run(*, therapists: int = 300, database_url: str | None = None) -> Checks:
    """Against ``database_url`` (migrated, empty), or a private embedded PostgreSQL."""
    checks = Checks("two of every job started together")
    size = DataSize(therapists=therapists, patients=therapists * 5, requests=therapists * 10)
    with migrated_database(database_url) as url, smtp_sink() as sink:
        load_people_and_requests(url, size)
        with_email = one(
            url, "SELECT count(*) FROM therapist_service.therapists WHERE email IS NOT NULL"
        )

        _twice(checks, "batch-emails", url, later())
        emails, therapists_emailed = sql(
            url, "SELECT count(*), count(DISTINCT therapist_id) FROM communication_service.emails"
        )[0]
        checks.check(
            "each therapist with an address got exactly one email",
            emails == therapists_emailed == with_email,
            f"{emails} emails to {therapists_emailed} of {with_email} therapists with an address",
        )
        in_two = one(
            url,
            "SELECT count(*) FROM (SELECT placement_request_id FROM ("
            " SELECT placement_request_id FROM communication_service.email_batches"
            " UNION ALL SELECT placement_request_id FROM communication_service.phone_call_batches"
            ") AS carried GROUP BY placement_request_id HAVING count(*) > 1) AS d",
        )
        checks.check(
            "each request is in one email or one call, never two", in_two == 0, str(in_two)
        )

        _twice(checks, "send-emails", url, later(), smtp_port=sink.port)
        messages = sink.messages
        per_id = Counter(message_id for message_id, _ in messages)
        sent = one(url, "SELECT count(*) FROM communication_service.emails WHERE status = 'sent'")
        checks.check(
            "every email delivered exactly once",
            len(messages) == emails == sent and all(n == 1 for n in per_id.values()),
            f"{len(messages)} messages, {len(per_id)} Message-IDs, {sent} of {emails} sent",
        )

        _twice(checks, "schedule-follow-ups", url, later(days=8))
        follow_ups, distinct = sql(url, FOLLOW_UPS)[0]
        check_no_overlapping_calls(checks, url, CALL_LINES)
        third = Job("schedule-follow-ups", url, later(days=8, minutes=5)).wait()
        # An email whose therapist has no free slot left in the horizon gets no call now: the
        # job says so ("N not booked now") and the email stays due for the next run.
        unbooked = _not_booked_now(third.output)
        checks.check(
            "every unanswered email got exactly one follow-up call, or is reported unbookable",
            follow_ups == distinct and distinct + unbooked == sent,
            f"{follow_ups} follow-up calls for {distinct} emails; {sent} emails unanswered; "
            f"{unbooked} reported not bookable now by the next run (still due)",
        )
        again = sql(url, FOLLOW_UPS)[0][0]
        checks.check(
            "a third schedule-follow-ups creates nothing",
            third.process.returncode == 0 and again == follow_ups,
            f"exit {third.process.returncode}, {again - follow_ups} new",
        )
    return checks


if __name__ == "__main__":
    cli(run)
