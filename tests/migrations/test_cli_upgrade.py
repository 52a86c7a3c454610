"""Operators run ``flask --app wsgi db upgrade`` against a database given by DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.pg import drop_database, recreate_database

ROOT = Path(__file__).resolve().parents[2]


def test_flask_db_upgrade_with_database_url(pg_server_url, worker_id):
    name = f"cs_cli_upgrade_{worker_id}"
    url = recreate_database(pg_server_url, name)
    # Operators give plain libpq-style URLs; the service picks the driver itself.
    plain_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": plain_url, "API_TOKENS": "x"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db"]
    try:
        upgrade = subprocess.run(
            [*flask, "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert upgrade.returncode == 0, upgrade.stderr[-2000:]
        current = subprocess.run(
            [*flask, "current"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert "(head)" in current.stdout, current.stdout + current.stderr[-2000:]
        assert "embedded PostgreSQL" not in upgrade.stderr
    finally:
        drop_database(pg_server_url, name)
