"""The benchmark harness end to end, without wrk: data set, fresh copies, statement counts.

Speed is never asserted here. What is asserted are the statement counts the service must
keep whatever the table size (issue 6: constant queries per request, booking ≤ 5).
"""

from __future__ import annotations

import json

import pytest

from benchmarks import run
from benchmarks.infra import route_missing, service_capabilities


@pytest.mark.slow
def test_statement_counts_stay_constant_whatever_the_table_size(tmp_path):
    results_path = tmp_path / "results.json"

    options = ["--only", "SQL per", "--runs", "1", "--scale", "0.01", "--no-markdown"]

    exit_code = run.main([*options, "--json", str(results_path)])

    assert exit_code == 0
    results = {entry["name"]: entry for entry in json.loads(results_path.read_text())["scenarios"]}
    read = results["SQL per GET /api/therapists/{id}"]
    assert [sample["status"] for sample in read["runs"]] == [200, 200, 200]
    assert read["figures"]["sql_statements"]["max"] == 1
    assert (
        results["SQL per PUT /api/therapists/{id}/availability"]["figures"]["sql_statements"]["max"]
        == 1
    )
    adapter, _ = service_capabilities()
    if route_missing(adapter, ("POST", "/api/phone-calls")):
        pytest.skip("the service has no POST /api/phone-calls")
    for existing in ("0", "5,000"):
        booking = results[f"SQL per booking at {existing} existing calls"]
        assert {sample["status"] for sample in booking["runs"]} == {201}
        assert booking["figures"]["sql_statements"]["max"] <= 5
        assert all(target["met"] for target in booking["targets"])
