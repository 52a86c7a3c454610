"""CI-sized run of benchmarks/drills/db_restart.py (the script's defaults are longer)."""

from __future__ import annotations

import pytest

from benchmarks.drills import db_restart


@pytest.mark.slow
def test_database_restart_under_load_loses_nothing_and_recovers():
    checks = db_restart.run(warm=1.5, outage=2, after=1.5, clients=2)

    assert checks.passed, checks.render()
