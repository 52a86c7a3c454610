"""Drill: ``send-emails`` is killed with SIGKILL part-way; the next run delivers the rest.

    .venv/bin/python -m benchmarks.drills.kill_send [--therapists 300]

A private embedded PostgreSQL (real migrations, bulk data), ``batch-emails`` queues one email
per therapist, then ``flask --app wsgi comm send-emails`` delivers into a local aiosmtpd sink
that records every message's ``Message-ID``. Once about a third has arrived the process is
killed with SIGKILL. The next scheduled run (20 minutes later, past
``SENDING_STALE_AFTER_SECONDS``, so rows the dead worker left in ``sending`` are recovered)
delivers the rest.

Checked: the kill really landed mid-send; every email arrived at least once; at most one
arrived twice (the one in flight at the kill); no email is ``sent`` whose Message-ID the sink
never accepted; every message carries the Message-ID
stored for its email (a repeat has the same one); nothing is left queued or sending.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

from benchmarks.data import DataSize, load_people_and_requests
from benchmarks.drills.common import cli, later
from benchmarks.harness import Checks, Job, migrated_database, smtp_sink, sql


def _emails(url: str) -> list[tuple[int, str, str | None]]:
    return sql(url, "SELECT id, status::text, message_id FROM communication_service.emails")


def run(
    *, therapists: int = 300, kill_fraction: float = 0.33, database_url: str | None = None
) -> Checks:
    """Against ``database_url`` (migrated, empty), or a private embedded PostgreSQL."""
    checks = Checks("send-emails killed with SIGKILL mid-send")
    size = DataSize(therapists=therapists, patients=therapists * 5, requests=therapists * 10)
    with migrated_database(database_url) as url, smtp_sink() as sink:
        load_people_and_requests(url, size)
        batch = Job("batch-emails", url, later()).wait()
        queued = [row for row in _emails(url) if row[1] == "queued"]
        checks.figures["emails queued"] = len(queued)
        batched = batch.process.returncode == 0 and bool(queued)
        checks.check("batch-emails queued emails", batched, "" if batched else batch.output)
        if not queued:
            return checks

        messages = sink.messages
        kill_at = max(1, int(len(queued) * kill_fraction))
        sender = Job("send-emails", url, later(), smtp_port=sink.port)
        deadline = time.monotonic() + 300
        while len(messages) < kill_at and sender.process.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        sender.process.send_signal(signal.SIGKILL)
        sender.wait()
        delivered_before_kill = len(messages)
        after_kill = Counter(row[1] for row in _emails(url))
        checks.figures["at the kill"] = (
            f"{delivered_before_kill} messages received; emails by status {dict(after_kill)}"
        )
        checks.check(
            "the kill landed mid-send (some delivered, some not)",
            sender.process.returncode == -signal.SIGKILL
            and 0 < delivered_before_kill < len(queued),
            f"exit {sender.process.returncode}, {delivered_before_kill} of {len(queued)}",
        )

        # The next scheduled run, past the stale-'sending' threshold (900 s by default).
        rerun = Job("send-emails", url, later(minutes=20), smtp_port=sink.port).wait()
        clean = rerun.process.returncode == 0
        checks.check("the next run exited cleanly", clean, "" if clean else rerun.output)
        checks.figures["next run said"] = rerun.output.strip().splitlines()[-1:]
        emails = _emails(url)
        received = Counter(message_id for message_id, _ in messages)

    ids = {row[0]: row[2] for row in emails}
    statuses = Counter(row[1] for row in emails)
    checks.figures["emails by status"] = dict(statuses)
    checks.figures["messages received"] = (
        f"{len(messages)} ({len(messages) - len(received)} repeats)"
    )
    repeats = len(messages) - len(received)
    checks.check(
        "at most the email in flight at the kill arrived twice", repeats <= 1, f"{repeats}"
    )
    never = [i for i, mid in ids.items() if not mid or received[mid] == 0]
    checks.check("every email arrived at least once", not never, f"{len(never)} never arrived")
    unaccepted = [row[0] for row in emails if row[1] == "sent" and received[row[2]] == 0]
    checks.check(
        "no email is 'sent' without the sink having accepted it",
        not unaccepted,
        f"{len(unaccepted)}",
    )
    foreign = [mid for mid in received if mid not in set(ids.values())]
    checks.check(
        "every message carries its email's stored Message-ID (repeats reuse it)",
        not foreign,
        f"{len(foreign)} messages with an unknown Message-ID",
    )
    per_recipient: dict[tuple[str, ...], set[str | None]] = {}
    for message_id, recipients in messages:
        per_recipient.setdefault(recipients, set()).add(message_id)
    checks.check(
        "no recipient got the same email under two Message-IDs",
        all(len(mids) == 1 for mids in per_recipient.values()),
    )
    checks.check(
        "nothing left queued or sending",
        statuses.get("queued", 0) == 0 and statuses.get("sending", 0) == 0,
        str(dict(statuses)),
    )
    return checks


if __name__ == "__main__":
    cli(run)
