"""The one benchmark command: ``.venv/bin/python -m benchmarks.run`` (``--help`` for options).

Starts a private embedded PostgreSQL in a temporary directory, migrates it with the real
migrations, bulk-loads the data set, serves the service and the two ceiling apps with the
project's gunicorn settings on 127.0.0.1, drives them all with wrk, runs the jobs, and prints
one table (median of ``--runs`` runs, min-max). Writes ``benchmarks/results/latest.json`` and,
after a full run, the table into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import data
from benchmarks.infra import (
    API_TOKEN,
    ROOT,
    EmbeddedDatabase,
    Gunicorn,
    ensure_wrk,
    migrate,
    route_missing,
    run_wrk,
    service_capabilities,
    smtp_sink,
    wrk_version,
)
from benchmarks.scenarios import (
    CALL_SHEET_DAY,
    HISTORY_THERAPIST_ID,
    HTTP_SCENARIOS,
    JOB_SCENARIOS,
    SERVERS,
    STATEMENT_SCENARIOS,
    TODAY,
    Context,
    HttpScenario,
    JobScenario,
    StatementScenario,
)

RESULTS_DIR = ROOT / "benchmarks" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"
TABLE_START = "<!-- bench:latest:start -->"
TABLE_END = "<!-- bench:latest:end -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk warm-up")
    parser.add_argument(
        "--connections", type=int, default=2 * workers, help="wrk connections (2 x workers)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor (1 = issue 6)")
    parser.add_argument("--only", action="append", default=[], help="name substring (repeatable)")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--no-markdown", action="store_true", help="do not write the table into BENCHMARKS.md"
    )
    args = parser.parse_args(argv)
    args.workers = workers
    return args


# --- selection -------------------------------------------------------------------------------


def selected(names: Iterable[str], only: list[str]) -> set[str]:
    wanted = [word.lower() for word in only]
    return {name for name in names if not wanted or any(word in name.lower() for word in wanted)}


# --- runs ------------------------------------------------------------------------------------


def summarise(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for key in samples[0] if samples else ():
        values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        if values:
            figures[key] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
    return figures


def run_http(ctx: Context, scenarios: list[HttpScenario], args: argparse.Namespace, wrk: str):
    """Every scenario gets a warm-up, then the runs go round-robin over all scenarios so that
    a noisy neighbour on a shared machine weighs on every figure alike.

    A scenario held to a ratio target (``pct_of_ceiling``) has its ceiling measured again
    right before each of its runs (``paired_ceiling_req_per_s`` in the sample): the machine's
    speed drifts by ±20 % within a minute, so a ratio is only as good as the two figures are
    close in time. Paired ceiling runs feed the ratio, not the ceiling's own figures."""
    servers: dict[tuple[str, tuple], Gunicorn] = {}
    results: dict[str, dict[str, Any]] = {}
    logs = RESULTS_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for scenario in scenarios:
            key = (scenario.server, tuple(sorted(scenario.server_env.items())))
            if key not in servers:
                app, ready = SERVERS[scenario.server]
                env = {"DATABASE_URL": ctx.http_url, **scenario.server_env}
                log_path = logs / f"gunicorn-{scenario.server}-{len(servers)}.log"
                log_path.unlink(missing_ok=True)
                servers[key] = Gunicorn(app, env=env, ready_path=ready, log_path=log_path).start()
            results[scenario.name] = {"server": servers[key], "samples": []}
        for scenario in scenarios:
            print(f"  warm-up  {scenario.name}", flush=True)
            if scenario.before_each_run:
                scenario.before_each_run(ctx)
            run_wrk(
                wrk,
                results[scenario.name]["server"].base_url,
                scenario.load(ctx),
                duration=args.warmup,
                connections=args.connections,
            )
        ceilings = {s.server: s for s in scenarios if s.ratio_to is None}

        def measure(scenario: HttpScenario) -> dict[str, Any]:
            return run_wrk(
                wrk,
                results[scenario.name]["server"].base_url,
                scenario.load(ctx),
                duration=args.duration,
                connections=args.connections,
            )

        for run in range(1, args.runs + 1):
            for scenario in scenarios:
                paired = ceilings.get(scenario.ratio_to) if held_to_ratio(scenario) else None
                if paired is not None:
                    paired_sample = measure(paired)
                    print(
                        f"  run {run}/{args.runs}  {paired.name} (paired with the next run):"
                        f" {paired_sample['req_per_s']:,.0f} req/s",
                        flush=True,
                    )
                if scenario.before_each_run:
                    scenario.before_each_run(ctx)
                sample = measure(scenario)
                if paired is not None:
                    sample["paired_ceiling_req_per_s"] = paired_sample["req_per_s"]
                results[scenario.name]["samples"].append(sample)
                print(
                    f"  run {run}/{args.runs}  {scenario.name}: {sample['req_per_s']:,.0f} req/s"
                    f"  p50 {sample['p50_ms']} ms  p99 {sample['p99_ms']} ms"
                    + (f"  non-2xx {sample['non_2xx_3xx']}" if sample["non_2xx_3xx"] else ""),
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
    return {name: result["samples"] for name, result in results.items()}


def held_to_ratio(scenario: HttpScenario) -> bool:
    return scenario.ratio_to is not None and any(
        target.figure == "pct_of_ceiling" for target in scenario.targets
    )


def paired_ratios(samples: list[dict[str, Any]]) -> list[float]:
    """Each run's req/s as a percentage of the ceiling run measured right before it."""
    return [
        100 * sample["req_per_s"] / sample["paired_ceiling_req_per_s"]
        for sample in samples
        if sample.get("paired_ceiling_req_per_s")
    ]


def add_ceiling_ratio(entry: dict[str, Any], ceiling: dict[str, Any] | None) -> None:
    """``pct_of_ceiling``: the median of the paired ratios (with each run's in
    ``pct_of_ceiling_runs``), or without paired runs the ratio of the two medians."""
    ratios = paired_ratios(entry["runs"])
    if ratios:
        entry["pct_of_ceiling"] = round(statistics.median(ratios), 1)
        entry["pct_of_ceiling_runs"] = [round(ratio, 1) for ratio in ratios]
    elif ceiling:
        entry["pct_of_ceiling"] = round(
            100
            * entry["figures"]["req_per_s"]["median"]
            / ceiling["figures"]["req_per_s"]["median"],
            1,
        )


def run_statements(ctx: Context, scenario: StatementScenario, runs: int) -> list[dict[str, Any]]:
    from sqlalchemy import event

    from communication_service import create_app
    from communication_service.extensions import db

    samples = []
    for _ in range(runs):
        database_url = ctx.fresh_copy("bench_statements")
        if scenario.prepare:
            scenario.prepare(ctx, database_url)
        app = create_app(
            {"database_url": database_url, "api_tokens": API_TOKEN, "log_level": "WARNING"}
        )
        client = app.test_client()
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        with app.app_context():
            # The session's engine and the reader's (hot reads, ``reads.py``).
            engines = (db.engine, app.extensions["reader"].engine)
        client.get("/health")  # connect and initialise the dialect outside the count
        # One request outside the count: a connection prepares a hot read the first time it
        # runs it (one PREPARE per connection and statement); the figures are the steady state.
        client.open(
            scenario.path(ctx),
            method=scenario.method,
            json=scenario.body(ctx) if scenario.body else None,
            headers=headers,
        )
        count = 0

        def counter(*_: object) -> None:
            nonlocal count
            count += 1

        for engine in engines:
            event.listen(engine, "before_cursor_execute", counter)
        try:
            for _ in range(scenario.requests):
                count = 0
                response = client.open(
                    scenario.path(ctx),
                    method=scenario.method,
                    json=scenario.body(ctx) if scenario.body else None,
                    headers=headers,
                )
                samples.append({"sql_statements": count, "status": response.status_code})
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", counter)
                engine.dispose()
    return samples


def run_job(ctx: Context, scenario: JobScenario, runs: int) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, list[dict[str, Any]]] = {step.name: [] for step in scenario.steps}
    for run in range(1, runs + 1):
        database_url = ctx.fresh_copy("bench_job")
        if scenario.prepare:
            scenario.prepare(ctx, database_url)
        for step in scenario.steps:
            if step.before:
                step.before(ctx, database_url)
            settings = step.settings(ctx) if step.settings else {}
            command = [
                sys.executable,
                "-m",
                "benchmarks.job_runner",
                "--database-url",
                database_url,
            ]
            for name, value in settings.items():
                command += ["--setting", f"{name}={value}"]
            command += ["--", *step.command]
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            report = next(
                (
                    json.loads(line[len("JOB_JSON ") :])
                    for line in result.stdout.splitlines()
                    if line.startswith("JOB_JSON ")
                ),
                None,
            )
            if report is None:
                raise RuntimeError(f"{scenario.name} {step.name}: {result.stderr[-2000:]}")
            if step.derive:
                report.update(step.derive(ctx, database_url, report))
            print(
                f"  run {run}/{runs}  {scenario.name} {step.name}: {report['seconds']} s, "
                f"{report['peak_rss_mb']} MB, {report['sql_statements']} SQL"
                + (f", exit {report['exit_code']}" if report["exit_code"] else ""),
                flush=True,
            )
            if step.measured:
                samples[step.name].append(report)
    ctx.database.admin('DROP DATABASE IF EXISTS "bench_job" WITH (FORCE)')
    return samples


# --- set-up ----------------------------------------------------------------------------------


def set_up(database: EmbeddedDatabase, scale: float) -> Context:
    size = data.DataSize().scaled(scale)
    history_calls = max(100, int(100_000 * scale))
    started = time.perf_counter()
    template_url = database.create_database("bench_template")
    migrate(template_url)
    data.load_people_and_requests(template_url, size)
    data.load_phone_calls(
        template_url,
        count=history_calls,
        # Entirely in the past: a call history, not a block on future slots.
        first_day=TODAY - timedelta(days=history_calls // data.SLOTS_PER_DAY + 7),
        therapist_ids=(HISTORY_THERAPIST_ID, HISTORY_THERAPIST_ID),
    )
    data.load_call_sheet(template_url, day=CALL_SHEET_DAY, calls=60, requests_per_call=3)
    data.analyze(template_url)
    counts = data.row_counts(template_url)
    print(
        f"data loaded in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{table.split('.')[-1]} {n:,}" for table, n in counts.items()),
        flush=True,
    )
    http_url = database.create_database("bench_http", template="bench_template")
    return Context(
        database=database,
        template="bench_template",
        http_url=http_url,
        size=size,
        history_calls=history_calls,
    )


def machine_info(database: EmbeddedDatabase, wrk: str | None, workers: int) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": database.version(),
        "wrk": wrk_version(wrk) if wrk else None,
        "gunicorn_workers": workers,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": commit,
    }


# --- output ----------------------------------------------------------------------------------


def _fmt(value: float, unit: str = "") -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return text + unit


def _range(figure: dict[str, float], unit: str = "") -> str:
    return f"{_fmt(figure['median'], unit)} ({_fmt(figure['min'])}-{_fmt(figure['max'])})"


def describe(entry: dict[str, Any]) -> str:
    f = entry.get("figures", {})
    parts: list[str] = []
    if "req_per_s" in f:
        parts.append(_range(f["req_per_s"], " req/s"))
        parts.append(f"p50 {f['p50_ms']['median']:.1f} ms")
        parts.append(f"p99 {f['p99_ms']['median']:.1f} ms")
        if entry.get("pct_of_ceiling_runs"):
            runs = "/".join(f"{ratio:.0f}" for ratio in entry["pct_of_ceiling_runs"])
            parts.append(f"{entry['pct_of_ceiling']:.0f} % of bare (paired runs {runs} %)")
        elif entry.get("pct_of_ceiling") is not None:
            parts.append(f"{entry['pct_of_ceiling']:.0f} % of bare")
        if f.get("non_2xx_3xx", {}).get("max"):
            parts.append(f"non-2xx up to {f['non_2xx_3xx']['max']:,.0f}/run")
    if "seconds" in f:
        parts.append(_range(f["seconds"], " s"))
        parts.append(_range(f["peak_rss_mb"], " MB"))
    if "emails_per_s" in f:
        parts.append(_range(f["emails_per_s"], " emails/s"))
    if "sql_statements" in f:
        parts.append(_range(f["sql_statements"], " SQL"))
    if f.get("status", {}).get("max", 0) >= 400:
        statuses = sorted({run["status"] for run in entry["runs"]})
        parts.append(f"answered {statuses}")
    return " · ".join(parts)


def render_table(entries: list[dict[str, Any]], runs: int) -> str:
    lines = [
        f"| scenario | median of {runs} runs (min-max) | target | met |",
        "|---|---|---|---|",
    ]
    for entry in entries:
        if entry["status"] == "skipped":
            result, met = f"skipped: {entry['reason']}", ""
        else:
            result = describe(entry)
            verdicts = [t["met"] for t in entry["targets"]]
            met = "" if not verdicts else ("yes" if all(verdicts) else "**no**")
        targets = ", ".join(t["text"] for t in entry["targets"]) or "—"
        lines.append(f"| {entry['name']} | {result} | {targets} | {met} |")
    return "\n".join(lines)


def write_markdown(table: str, results: dict[str, Any]) -> None:
    m = results["machine"]
    block = "\n".join(
        [
            TABLE_START,
            f"Run {results['finished_at']} on commit `{m['commit']}`: {m['nproc']} cores "
            f"({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, PostgreSQL "
            f"{m['postgresql']}, {m['wrk']}, gunicorn {m['gunicorn_workers']} sync workers, "
            f"load average {m['load_average_at_start']} at start, "
            f"{m['load_average_at_end']} at the end (1/5/15 min).",
            "",
            f"Command: `{results['command']}` — {results['settings']['duration']:g} s per wrk "
            f"run, {results['settings']['connections']} connections, data scale "
            f"{results['settings']['scale']:g}.",
            "",
            table,
            TABLE_END,
        ]
    )
    text = (
        MARKDOWN.read_text()
        if MARKDOWN.exists()
        else f"# Benchmarks\n\n{TABLE_START}\n{TABLE_END}\n"
    )
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    MARKDOWN.write_text(pattern.sub(lambda _: block, text))


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    all_names = [s.name for s in (*HTTP_SCENARIOS, *STATEMENT_SCENARIOS, *JOB_SCENARIOS)]
    if args.list:
        print("\n".join(all_names))
        return 0
    chosen = selected(all_names, args.only)
    # A service figure needs the ceiling it is compared to.
    for scenario in HTTP_SCENARIOS:
        if scenario.name in chosen and scenario.ratio_to:
            chosen |= {s.name for s in HTTP_SCENARIOS if s.server == scenario.ratio_to}

    adapter, commands = service_capabilities()
    wrk = ensure_wrk() if any(s.name in chosen for s in HTTP_SCENARIOS) else None
    entries: dict[str, dict[str, Any]] = {}

    def skip(name: str, reason: str, targets=()) -> None:
        entries[name] = {
            "name": name,
            "status": "skipped",
            "reason": reason,
            "targets": [{"text": t.text, "met": None} for t in targets],
        }

    http = []
    for s in HTTP_SCENARIOS:
        if s.name not in chosen:
            continue
        missing = route_missing(adapter, s.requires) or (None if wrk else "wrk is not installed")
        if missing:
            skip(s.name, missing, s.targets)
        else:
            http.append(s)
    statements = []
    for s in STATEMENT_SCENARIOS:
        if s.name in chosen:
            missing = route_missing(adapter, s.requires)
            if missing:
                skip(s.name, missing, s.targets)
            else:
                statements.append(s)
    jobs = []
    for s in JOB_SCENARIOS:
        if s.name in chosen:
            if s.requires_command and s.requires_command not in commands:
                for step in s.steps:
                    if step.measured:
                        skip(
                            f"{s.name} {step.name}",
                            f"the service has no `comm {s.requires_command}` yet",
                            step.targets,
                        )
            else:
                jobs.append(s)

    started_at = datetime.now(UTC)
    with EmbeddedDatabase() as database:
        print(f"PostgreSQL {database.version()} in {database.directory}", flush=True)
        ctx = set_up(database, args.scale)
        machine = machine_info(database, wrk, args.workers)
        if http:
            print(f"HTTP: wrk, {args.connections} connections, {args.workers} workers", flush=True)
            for name, samples in run_http(ctx, http, args, wrk).items():
                entries[name] = {"name": name, "status": "measured", "runs": samples}
        for scenario in statements:
            print(f"  {scenario.name}", flush=True)
            entries[scenario.name] = {
                "name": scenario.name,
                "status": "measured",
                "runs": run_statements(ctx, scenario, args.runs),
            }
        if jobs:
            with smtp_sink() as sink:
                ctx.smtp_port = sink.port
                for scenario in jobs:
                    for step_name, samples in run_job(ctx, scenario, args.runs).items():
                        name = f"{scenario.name} {step_name}"
                        if samples:
                            entries[name] = {"name": name, "status": "measured", "runs": samples}

    # Figures, ratios to the ceilings, verdicts.
    targets_by_name = {s.name: s.targets for s in (*HTTP_SCENARIOS, *STATEMENT_SCENARIOS)}
    for scenario in JOB_SCENARIOS:
        for step in scenario.steps:
            targets_by_name[f"{scenario.name} {step.name}"] = step.targets
    ratio_to = {s.name: s.ratio_to for s in HTTP_SCENARIOS}
    server_of = {s.name: s.server for s in HTTP_SCENARIOS}
    for entry in entries.values():
        if entry["status"] != "measured":
            continue
        entry["figures"] = summarise(entry["runs"])
        ceiling = next(
            (
                e
                for e in entries.values()
                if ratio_to.get(entry["name"])
                and server_of.get(e["name"]) == ratio_to[entry["name"]]
                and e.get("figures")
            ),
            None,
        )
        add_ceiling_ratio(entry, ceiling)
        flat = {key: value["median"] for key, value in entry["figures"].items()}
        flat["pct_of_ceiling"] = entry.get("pct_of_ceiling")
        if "sql_statements" in entry["figures"]:  # a statement bar holds for every sample
            flat["sql_statements"] = entry["figures"]["sql_statements"]["max"]
        entry["targets"] = [
            {"text": t.text, "met": t.met(flat)} for t in targets_by_name.get(entry["name"], ())
        ]

    ordered = sorted(entries.values(), key=lambda e: _order(e["name"]))
    results = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            [
                ".venv/bin/python -m benchmarks.run",
                shlex.join(argv if argv is not None else sys.argv[1:]),
            ]
        ).strip(),
        "settings": {
            "runs": args.runs,
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "scale": args.scale,
        },
        "machine": {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "scenarios": ordered,
    }
    table = render_table(ordered, args.runs)
    print()
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nJSON: {args.json}")
    if not args.only and not args.no_markdown:
        write_markdown(table, results)
        print(f"table written into {MARKDOWN}")
    return 0


def _order(name: str) -> int:
    names = [s.name for s in (*HTTP_SCENARIOS, *STATEMENT_SCENARIOS)]
    for scenario in JOB_SCENARIOS:
        names += [f"{scenario.name} {step.name}" for step in scenario.steps]
    return names.index(name) if name in names else len(names)


if __name__ == "__main__":
    sys.exit(main())
