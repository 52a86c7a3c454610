"""Run one ``flask comm`` job in this (fresh) process and report what it cost, as JSON.

    python -m benchmarks.job_runner --database-url URL [--setting smtp_port=2525] -- \
        comm batch-emails --now 2026-12-01T07:00

Prints ``JOB_JSON {"seconds", "peak_rss_mb", "sql_statements", "exit_code", "output"}``.
Statements are counted at the DBAPI cursor (an ``executemany`` counts once); peak RSS is this
whole process's high-water mark (interpreter and imports included), as an operator sees it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--setting", action="append", default=[], help="name=value override")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [part for part in args.command if part != "--"]

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from communication_service import create_app

    settings = dict(item.split("=", 1) for item in args.setting)
    app = create_app({"database_url": args.database_url, "log_level": "WARNING", **settings})
    statements = 0

    @event.listens_for(Engine, "before_cursor_execute")
    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    runner = app.test_cli_runner()
    started = time.perf_counter()
    result = runner.invoke(args=command, catch_exceptions=True)
    seconds = time.perf_counter() - started
    report = {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sql_statements": statements,
        "exit_code": result.exit_code,
        "output": result.output.strip()[-500:],
    }
    if result.exception and not isinstance(result.exception, SystemExit):
        report["error"] = type(result.exception).__name__
    print("JOB_JSON " + json.dumps(report))
    return 0 if result.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
