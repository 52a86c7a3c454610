"""How the benchmark turns wrk runs into the ratio a target is held to (no wrk needed)."""

from __future__ import annotations

from benchmarks import run

CALL = "GET /api/phone-calls/{random id}"


def _sample(req_per_s: float, paired: float | None = None) -> dict[str, float]:
    sample = {"req_per_s": req_per_s, "p50_ms": 1.0, "p99_ms": 2.0, "non_2xx_3xx": 0}
    if paired is not None:
        sample["paired_bare_req_per_s"] = paired
    return sample


def test_each_run_is_divided_by_the_bare_run_just_before_it():
    # Bare Flask drifted from 2,000 to 4,000 req/s; each service run kept half of it.
    samples = [_sample(1_000, 2_000), _sample(1_500, 3_000), _sample(2_000, 4_000)]

    assert run.paired_ratios(samples) == [50.0, 50.0, 50.0]


def test_runs_without_a_paired_bare_run_give_no_paired_ratio():
    assert run.paired_ratios([_sample(1_000), _sample(1_200)]) == []


def test_exactly_the_scenarios_with_a_ratio_target_are_paired():
    paired = run.PAIRED

    assert paired == {
        CALL,
        run.DEEP_LIST,
        run.LIST,
        "GET /api/emails/{random id}",
        run.SEARCH,
        run.REQUESTS,
    }
    assert paired <= {scenario.name for scenario in run.HTTP}


def test_the_ratio_is_the_median_of_the_paired_ratios_and_the_table_shows_each_run():
    bare = [_sample(4_000), _sample(4_000), _sample(4_000)]
    samples = [_sample(1_000, 2_000), _sample(1_300, 2_000), _sample(900, 2_000)]

    entry = run.cell(CALL, samples, bare)

    # Not 1,000 / 4,000 (the medians): each run against its own bare run.
    assert entry["pct_of_bare"] == 50.0
    assert entry["pct_of_bare_runs"] == [50.0, 65.0, 45.0]
    assert entry["met"] == [True]
    assert "50 % of bare (paired runs 50/65/45 %)" in run.describe(entry)


def test_without_paired_runs_the_ratio_is_that_of_the_medians():
    bare = [_sample(4_000), _sample(3_000), _sample(5_000)]

    entry = run.cell(CALL, [_sample(1_000), _sample(1_200), _sample(800)], bare)

    assert entry["pct_of_bare"] == 25.0
    assert "pct_of_bare_runs" not in entry
    assert entry["met"] == [False]


def test_an_ab_table_puts_both_trees_side_by_side():
    bare = [_sample(4_000)]
    rows = {
        run.HTTP[0].name: {"A": run.cell(run.HTTP[0].name, bare, bare)},
        CALL: {"A": run.cell(CALL, [_sample(2_400, 4_000)], bare),
               "B": run.cell(CALL, [_sample(1_600, 4_000)], bare)},
    }  # fmt: skip

    table = run.render_table(rows, ["A", "B"], runs=1)

    assert "| scenario | A | B | target | met |" in table
    assert "| ceiling: bare Flask {ok: true} | 4,000 req/s" in table
    assert "(as above)" in table
    assert "60 % of bare (paired runs 60 %)" in table and "40 % of bare" in table
    assert table.splitlines()[-1].endswith("| ≥ 50 % of bare Flask | yes / **no** |")
