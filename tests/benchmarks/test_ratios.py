"""How the benchmark turns wrk runs into the ratio a target is held to (no wrk needed)."""

from __future__ import annotations

from benchmarks import run
from benchmarks.scenarios import HTTP_SCENARIOS


def _sample(req_per_s: float, paired: float | None = None) -> dict[str, float]:
    sample = {"req_per_s": req_per_s, "p50_ms": 1.0, "p99_ms": 2.0, "non_2xx_3xx": 0}
    if paired is not None:
        sample["paired_ceiling_req_per_s"] = paired
    return sample


def test_each_run_is_divided_by_the_ceiling_run_just_before_it():
    # The ceiling drifted from 2,000 to 4,000 req/s; each service run kept half its ceiling.
    samples = [_sample(1_000, 2_000), _sample(1_500, 3_000), _sample(2_000, 4_000)]

    assert run.paired_ratios(samples) == [50.0, 50.0, 50.0]


def test_runs_without_a_paired_ceiling_give_no_paired_ratio():
    assert run.paired_ratios([_sample(1_000), _sample(1_200)]) == []


def test_exactly_the_scenarios_with_a_ratio_target_are_paired():
    paired = {scenario.name for scenario in HTTP_SCENARIOS if run.held_to_ratio(scenario)}

    assert paired == {
        "GET /api/phone-calls/{id}",
        "GET /api/phone-calls?therapist_id= (page 1, 50 of 100,000)",
    }


def _entry(samples: list[dict[str, float]]) -> dict:
    entry = {"name": "GET /api/phone-calls/{id}", "status": "measured", "runs": samples}
    entry["figures"] = run.summarise(samples)
    return entry


def test_the_ratio_is_the_median_of_the_paired_ratios_and_the_table_shows_each_run():
    ceiling = _entry([_sample(4_000), _sample(4_000), _sample(4_000)])
    entry = _entry([_sample(1_000, 2_000), _sample(1_300, 2_000), _sample(900, 2_000)])

    run.add_ceiling_ratio(entry, ceiling)

    # Not 1,000 / 4,000 (the medians): each run against its own ceiling run.
    assert entry["pct_of_ceiling"] == 50.0
    assert entry["pct_of_ceiling_runs"] == [50.0, 65.0, 45.0]
    assert "50 % of bare (paired runs 50/65/45 %)" in run.describe(entry)


def test_without_paired_runs_the_ratio_is_that_of_the_medians():
    ceiling = _entry([_sample(4_000), _sample(3_000), _sample(5_000)])
    entry = _entry([_sample(1_000), _sample(1_200), _sample(800)])

    run.add_ceiling_ratio(entry, ceiling)

    assert entry["pct_of_ceiling"] == 25.0
    assert "pct_of_ceiling_runs" not in entry
