"""Benchmark ``flask comm send-emails`` throughput into a local aiosmtpd sink.

    .venv/bin/python benchmarks/send_emails.py [--emails 2000] [--runs 3]

Creates a private embedded PostgreSQL (real migrations), queues ``--emails`` real batching
emails (10 patients each, rendered by ``batch-emails``), starts an aiosmtpd sink in its own
process on 127.0.0.1 and runs ``send-emails`` in a fresh process; prints emails/s, peak RSS
and SQL statements. With ``--runs`` > 1 the emails are re-queued between runs and the
median is reported as well. "job CPU s" is the sending process's own CPU time: on a busy
machine the wall time also holds the sink's and PostgreSQL's share of the cores.
Target (issue 6): ≥ 200 emails/s.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time

from email_jobs_support import JOB_NOW, EmbeddedDatabase, execute_sql, migrated_app, run_job


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return sink
        except OSError:
            time.sleep(0.1)
    sink.kill()
    raise SystemExit("the aiosmtpd sink did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with EmbeddedDatabase() as database:
        app = migrated_app(database.url)
        therapists, per_email = args.emails, 10
        execute_sql(
            app,
            f"""
            INSERT INTO therapist_service.therapists (vorname, nachname, anrede, titel, email,
                                                      status, created_at)
            SELECT 'Vorname' || g, 'Nachname' || g, 'Frau', 'Dr.', 'praxis' || g || '@example.org',
                   'ACTIVE', current_date
            FROM generate_series(1, {therapists}) AS g
            """,
            f"""
            INSERT INTO patient_service.patients (vorname, nachname, geburtsdatum, diagnose,
                                                  startdatum, status, created_at)
            SELECT 'Patient' || g, 'Familie' || g, date '1960-01-01' + g % 15000, 'F32.1',
                   date '2025-01-01' + g % 600, 'SEARCHING', current_date
            FROM generate_series(1, {therapists * per_email}) AS g
            """,
            f"""
            INSERT INTO matching_service.placement_requests
                (patient_id, therapist_id, status, created_at, priority)
            SELECT g, 1 + (g - 1) / {per_email}, 'OPEN', current_date, 1
            FROM generate_series(1, {therapists * per_email}) g
            """,
            "ANALYZE",
        )
        queued = run_job(database.url, "comm", "batch-emails", "--now", JOB_NOW)
        print(f"queued: {queued['output'].split(';')[0]}")

        port = free_port()
        sink = start_sink(port)
        rates = []
        try:
            print(
                f"{'run':<5} {'emails':>7} {'seconds':>8} {'emails/s':>9} {'job CPU s':>10} "
                f"{'peak RSS MB':>12} {'SQL statements':>15}"
            )
            for run in range(1, args.runs + 1):
                if run > 1:  # the same emails again, as if freshly queued
                    execute_sql(
                        app,
                        "UPDATE communication_service.emails SET status = 'queued', "
                        "sent_at = NULL, next_attempt_at = queued_at",
                    )
                report = run_job(
                    database.url,
                    "comm",
                    "send-emails",
                    "--now",
                    JOB_NOW,
                    settings={"smtp_host": "127.0.0.1", "smtp_port": port},
                )
                if report["exit_code"] != 0:
                    raise SystemExit(f"send-emails failed: {report}")
                sent = int(report["output"].split("send-emails: ")[1].split(" sent")[0])
                rate = sent / report["seconds"]
                rates.append(rate)
                print(
                    f"{run:<5} {sent:>7} {report['seconds']:>8.2f} {rate:>9.0f} "
                    f"{report['cpu_seconds']:>10.2f} "
                    f"{report['peak_rss_mb']:>12.1f} {report['sql_statements']:>15}"
                )
        finally:
            sink.terminate()
            sink.wait(timeout=10)
        if len(rates) > 1:
            print(
                f"median {statistics.median(rates):.0f} emails/s "
                f"(min {min(rates):.0f}, max {max(rates):.0f})"
            )


if __name__ == "__main__":
    main()
