"""The benchmark harness end to end, without wrk: data set, fresh copies, statement counts.

Speed is never asserted here. What is asserted are the statement counts the service must
keep whatever the table size (BENCHMARKS.md "Targets": constant queries per request, booking ≤ 5).
"""

from __future__ import annotations

import json

import pytest

from benchmarks import run


@pytest.mark.slow
def test_statement_counts_stay_constant_whatever_the_table_size(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "RESULTS_DIR", tmp_path)  # --only never writes BENCHMARKS.md

    exit_code = run.main(["--only", "SQL per", "--runs", "1", "--scale", "0.01"])

    assert exit_code == 0
    results = json.loads((tmp_path / "latest.json").read_text())
    (variant,) = results["variants"]
    rows = {name: cells[variant] for name, cells in results["rows"].items()}
    read = rows["SQL per GET /api/therapists/{id}"]
    assert [sample["status"] for sample in read["runs"]] == [200, 200, 200]
    assert read["figures"]["sql_statements"]["max"] == 1
    availability = rows["SQL per PUT /api/therapists/{id}/availability"]
    assert availability["figures"]["sql_statements"]["max"] == 1
    for existing in ("0", "5,000"):
        booking = rows[f"SQL per booking at {existing} existing calls"]
        assert {sample["status"] for sample in booking["runs"]} == {201}
        assert booking["figures"]["sql_statements"]["max"] <= 5
        assert booking["met"] == [True]
