"""Benchmark ``flask comm batch-emails`` on a large data set (embedded PostgreSQL).

    .venv/bin/python benchmarks/batch_emails.py [--therapists 10000] [--patients 50000]
        [--requests 100000] [--without-email-every 0]

Creates a private embedded PostgreSQL in a temporary directory, applies the real migrations,
bulk-loads the data with ``INSERT … SELECT generate_series`` and runs the job twice, each
time in a fresh process: the first run queues the emails, the second (same ``--now``) must
create nothing. Prints wall time, peak RSS of the job process and SQL statements for both.
Targets (issue 6): first run ≤ 20 s and ≤ 300 MB, rerun ≤ 2 s.
"""

from __future__ import annotations

import argparse
import time

from email_jobs_support import JOB_NOW, EmbeddedDatabase, load_data, migrated_app, run_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--therapists", type=int, default=10_000)
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument(
        "--without-email-every",
        type=int,
        default=0,
        help="every N-th therapist has no email address (rule 6 calls); 0 = none",
    )
    args = parser.parse_args()

    with EmbeddedDatabase() as database:
        started = time.perf_counter()
        app = migrated_app(database.url)
        load_data(
            app,
            therapists=args.therapists,
            patients=args.patients,
            requests=args.requests,
            without_email_every=args.without_email_every,
        )
        print(
            f"data: {args.therapists:,} therapists, {args.patients:,} patients, "
            f"{args.requests:,} open requests"
            + (
                f", every {args.without_email_every}th therapist without email"
                if args.without_email_every
                else ""
            )
            + f" (migrated and loaded in {time.perf_counter() - started:.1f} s)"
        )
        print(f"{'run':<8} {'seconds':>8} {'peak RSS MB':>12} {'SQL statements':>15}  summary")
        for label in ("first", "rerun"):
            report = run_job(database.url, "comm", "batch-emails", "--now", JOB_NOW)
            if report["exit_code"] != 0:
                raise SystemExit(f"batch-emails failed: {report}")
            print(
                f"{label:<8} {report['seconds']:>8.2f} {report['peak_rss_mb']:>12.1f} "
                f"{report['sql_statements']:>15}  {report['output']}"
            )


if __name__ == "__main__":
    main()
