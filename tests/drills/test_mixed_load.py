"""CI-sized run of benchmarks/drills/mixed_load.py (the script runs 60 s)."""

from __future__ import annotations

import pytest

from benchmarks.drills import mixed_load


@pytest.mark.slow
def test_mixed_load_against_four_workers_has_no_5xx(drill_database_url):
    checks = mixed_load.run(seconds=6, clients=3, workers=4, database_url=drill_database_url)

    assert checks.passed, checks.render()
