"""CI-sized run of benchmarks/drills/mixed_load.py (the script runs 60 s)."""

from __future__ import annotations

import pytest

from benchmarks.drills import mixed_load
from tests.conftest import TEMPLATE_DB
from tests.pg import drop_database, recreate_database


@pytest.mark.slow
def test_mixed_load_against_four_workers_has_no_5xx(pg_server_url, worker_id):
    name = f"cs_drill_mixed_{worker_id}"
    database_url = recreate_database(pg_server_url, name, template=TEMPLATE_DB)
    try:
        checks = mixed_load.run(seconds=6, clients=3, workers=4, database_url=database_url)
    finally:
        drop_database(pg_server_url, name)

    print(checks.render())
    assert checks.passed, checks.failures()
