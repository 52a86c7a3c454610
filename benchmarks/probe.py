"""What one job or one request costs, measured in a fresh process on one tree's code.

    python benchmarks/probe.py URL [--setting name=value] job comm batch-emails --now ...
    python benchmarks/probe.py URL requests METHOD PATH JSON_BODY_OR_EMPTY

Run by ``harness.probe`` on a tree's code, so it imports nothing from ``benchmarks``. Prints
``PROBE_JSON <json>``. ``job``: seconds, CPU seconds of this process (user + system: what a
busy machine's load changes least), peak RSS of this whole process (as an operator sees it),
SQL statements at the DBAPI cursor (an ``executemany`` counts once), exit code, output.
``requests``: one uncounted request (a connection prepares a hot read the first time), then
3 counted ones through the test client: statements and status.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

from communication_service import create_app

statements = 0


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_: object) -> None:
    global statements
    statements += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--setting", action="append", default=[], help="name=value override")
    parser.add_argument("kind", choices=("job", "requests"))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting)
    app = create_app({"database_url": args.url, "log_level": "WARNING", **settings})
    global statements
    if args.kind == "job":
        started, cpu = time.perf_counter(), time.process_time()
        result = app.test_cli_runner().invoke(args=args.args, catch_exceptions=True)
        report = {
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "sql_statements": statements,
            "exit_code": result.exit_code,
            "output": result.output.strip()[-500:],
        }
        if result.exception and not isinstance(result.exception, SystemExit):
            report["error"] = repr(result.exception)
    else:
        method, path, body = args.args
        client = app.test_client()
        client.get("/health")  # connect and initialise the dialect outside the count
        report = []
        for counted in (False, True, True, True):
            statements = 0
            response = client.open(
                path,
                method=method,
                json=json.loads(body) if body else None,
                headers={"Authorization": f"Bearer {os.environ['API_TOKENS']}"},
            )
            if counted:
                report.append({"sql_statements": statements, "status": response.status_code})
    print("PROBE_JSON " + json.dumps(report))


if __name__ == "__main__":
    main()
