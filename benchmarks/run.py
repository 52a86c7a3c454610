"""The one benchmark command: ``.venv/bin/python -m benchmarks.run`` (``--help`` for options).

Starts a private embedded PostgreSQL, migrates it with the real migrations, bulk-loads the data
set, serves the service and the two ceiling apps with the project's gunicorn settings on
127.0.0.1, drives them with wrk, counts statements, runs the jobs, and prints one table (median
of ``--runs`` runs, min-max). ``--tree PATH`` serves the service from a second checkout too
(an older worktree, this venv): every figure is measured for both, interleaved, side by side.
Writes ``benchmarks/results/latest.json`` and, after a full run, the table into BENCHMARKS.md.
A figure is one entry in ``HTTP``, ``STATEMENTS`` or ``job_rows``, its bar one in ``TARGETS``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import operator
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import data
from benchmarks.harness import (
    ROOT,
    Database,
    Gunicorn,
    ensure_wrk,
    migrate,
    one,
    probe,
    run_wrk,
    smtp_sink,
    sql,
)

RESULTS_DIR = ROOT / "benchmarks" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"
TABLE_START, TABLE_END = "<!-- bench:latest:start -->", "<!-- bench:latest:end -->"
TODAY = date.today()
CALL_SHEET_DAY = TODAY + timedelta(days=60)  # beyond the booking horizon: never in the way
JOB_NOW = "2026-12-01T07:00:00"
SEND_EMAILS = 2_000  # delivered per send-emails run (the rest of the batch stays a draft)


@dataclass(frozen=True)
class Http:
    """wrk against a gunicorn; ``{id}`` in path and body drawn at random from ``ids``,
    ``{seq}`` in the body a value new for every request."""

    name: str
    path: str
    ids: str | None = None  # a key of Context.ids
    server: str = "service"  # bare | pk | service
    method: str = "GET"
    body: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # extra settings of its gunicorn
    content_type: str = "application/json"


DEEP_LIST = "GET /api/phone-calls?therapist_id= (page 1, 50 of 100,000)"
LIST = "GET /api/phone-calls?therapist_id={random} (page 1, 50 of 100; 1,000 therapists)"
BOOKING = "POST /api/phone-calls (automatic booking, CALL_LINES=0)"
EMAILS = "GET /api/emails?therapist_id={random} (page 1, 10 emails each)"
SHEET = "GET /api/phone-calls/daily (60 calls, 3 requests each)"
# 1 in 100 of the 11,000 therapists is a Müller (benchmarks/data.py: SURNAMES).
SEARCH = "GET /api/therapists?q=müller (page 1, 50 of 110; 11,000 therapists)"
REQUESTS = "GET /api/placement-requests (page 1, 50 of 100,000)"
WAITING = "GET /api/placement-requests?contact_state=waiting (page 1, 50 of ~70,000)"
INBOUND = "POST /api/inbound-emails (a reply to a random sent email, message/rfc822)"
PAGE = "&page=1&per_page=50"
# A Thunderbird-like reply; each request a new message (Message-ID) answering email {id}.
INBOUND_REPLY = (
    "From: Praxis {id} <praxis{id}@example.org>\nTo: vermittlung@example.org\n"
    "Subject: AW: Anfrage\nDate: Mon, 30 Nov 2026 09:00:00 +0100\n"
    "Message-ID: <wrk-{seq}@praxis.example>\nIn-Reply-To: <bench-{id}@example.org>\n"
    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    "Für Frau M. hätte ich ab Januar einen Platz.\n\n"
    "Am 30.11.2026 um 08:00 schrieb Vermittlung:\n> Sehr geehrte Damen und Herren,\n"
    "> wir suchen einen Therapieplatz.\n"
)
HTTP = [
    Http("ceiling: bare Flask {ok: true}", "/", server="bare"),
    Http("ceiling: Flask + one PK SELECT (raw psycopg2)", "/therapists/{id}", "loaded", "pk"),
    Http("GET /health (service)", "/health"),
    Http("GET /api/therapists/{random id}", "/api/therapists/{id}", "therapists"),
    Http("GET /api/phone-calls/{random id}", "/api/phone-calls/{id}", "phone_calls"),
    Http(DEEP_LIST, "/api/phone-calls?therapist_id=1" + PAGE),  # therapist 1: the history
    Http(LIST, "/api/phone-calls?therapist_id={id}" + PAGE, "list"),
    Http("GET /api/emails/{random id}", "/api/emails/{id}", "emails"),
    Http(EMAILS, "/api/emails?therapist_id={id}", "loaded"),
    Http(SHEET, f"/api/phone-calls/daily?date={CALL_SHEET_DAY}"),
    Http(SEARCH, "/api/therapists?q=m%C3%BCller" + PAGE),
    Http(REQUESTS, "/api/placement-requests?page=1&per_page=50"),
    Http(WAITING, "/api/placement-requests?contact_state=waiting" + PAGE),
    # With one phone line the 28-day horizon holds ~2,000 calls in all: the run would mostly
    # measure "no slot available". Unlimited lines measure the booking itself.
    Http(BOOKING, "/api/phone-calls", "booking", "service", "POST", '{"therapist_id": {id}}',
         (("CALL_LINES", "0"),)),
    Http(INBOUND, "/api/inbound-emails", "emails", "service", "POST", INBOUND_REPLY,
         content_type="message/rfc822"),
]  # fmt: skip
# (name, method, path, body, calls already booked): statements per request (``probe.py``).
STATEMENTS = [
    ("SQL per GET /api/therapists/{id}", "GET", "/api/therapists/42", None, 0),
    ("SQL per PUT /api/therapists/{id}/availability", "PUT", "/api/therapists/42/availability",
     '{"potentially_available": true, "potentially_available_notes": "bench"}', 0),
    *((f"SQL per booking at {n:,} existing calls", "POST", "/api/phone-calls",
       '{"therapist_id": 7}', n) for n in (0, 5_000)),
]  # fmt: skip
JOB_ROWS = ["batch-emails first run", "batch-emails rerun", "send-emails 2,000 into aiosmtpd"]
IMPORT_MAIL = "import-mail 10,000 mixed messages from a Maildir"
JOB_ROWS.append(IMPORT_MAIL)
ROWS = [h.name for h in HTTP] + [s[0] for s in STATEMENTS] + JOB_ROWS


def pct(value: float) -> tuple[tuple, ...]:
    return (("pct_of_bare", ">=", value, f"≥ {value:g} % of bare Flask"),)


# Per row: (figure, ">=" or "<=", bar, text) for each target.
AT_MOST_5 = (("sql_statements", "<=", 5, "≤ 5 statements"),)
TARGETS = {
    "GET /api/phone-calls/{random id}": pct(50),
    DEEP_LIST: pct(30),
    LIST: pct(30),
    "GET /api/emails/{random id}": pct(40),
    SEARCH: pct(30),
    REQUESTS: pct(30),
    STATEMENTS[2][0]: AT_MOST_5,
    STATEMENTS[3][0]: AT_MOST_5,
    JOB_ROWS[0]: (("seconds", "<=", 20, "≤ 20 s"), ("peak_rss_mb", "<=", 300, "≤ 300 MB")),
    JOB_ROWS[1]: (("seconds", "<=", 2, "≤ 2 s"),),
    JOB_ROWS[2]: (("emails_per_s", ">=", 200, "≥ 200 emails/s"),),
    IMPORT_MAIL: (
        ("messages_per_s", ">=", 300, "≥ 300 messages/s"),
        ("peak_rss_mb", "<=", 300, "≤ 300 MB"),
    ),
}
PAIRED = {name for name, targets in TARGETS.items() if targets[0][0] == "pct_of_bare"}


@dataclass
class Variant:
    """A checkout the service is served from, with its own migrated and loaded databases."""

    label: str
    tree: Path
    template: str = ""  # the loaded template every fresh copy starts from
    http_url: str = ""  # the copy (with the read-only extras) its gunicorns serve


@dataclass
class Context:
    database: Database
    size: data.DataSize
    ids: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (min, max) id
    smtp_port: int = 0


def set_up(database: Database, variants: list[Variant], scale: float) -> Context:
    """Per variant: a template migrated by its tree's migrations with the data set the
    statement and job runs copy; and a copy with the read-only extras its gunicorns serve."""
    ctx = Context(database, data.DataSize().scaled(scale))
    therapists, history = ctx.size.therapists, max(100, int(100_000 * scale))
    extra = max(10, int(1_000 * scale))  # therapists with 100 calls each, for the list page
    for n, variant in enumerate(variants):
        started = time.perf_counter()
        variant.template = f"bench_template_{n}"
        url = database.create(variant.template)
        migrate(url, variant.tree)
        data.load_people_and_requests(url, ctx.size)
        # Therapist 1's history, all in the past: no block on slots.
        first_day = TODAY - timedelta(days=history // data.SLOTS_PER_DAY + 7)
        data.load_phone_calls(url, count=history, first_day=first_day, therapist_ids=(1, 1))
        data.load_call_sheet(url, day=CALL_SHEET_DAY, calls=60, requests_per_call=3)
        data.id_ranges(url)  # VACUUM ANALYZE
        variant.http_url = url = database.create(f"bench_http_{n}", template=variant.template)
        data.load_list_therapists(url, first=therapists + 1, count=extra, calls_each=100)
        data.load_emails(url, count=max(100, int(100_000 * scale)), therapists=therapists)
        ctx.ids = data.id_ranges(url)
        ranges = ", ".join(f"{t} {low:,}-{high:,}" for t, (low, high) in ctx.ids.items())
        print(f"{variant.label}: loaded in {time.perf_counter() - started:.0f} s; ids {ranges}")
    ctx.ids |= {
        "loaded": (1, therapists),
        "booking": (2, therapists),
        "list": (therapists + 1, therapists + extra),
    }
    return ctx


# --- runs ------------------------------------------------------------------------------------


def run_http(ctx: Context, variants: list[Variant], scenarios: list[Http], args, wrk: str):
    """A warm-up each, then the runs go round-robin over all scenarios (and over the variants
    within a scenario, alternating which goes first), so a noisy neighbour on a shared machine
    weighs on every figure alike. A scenario held to a ratio target gets a bare-Flask run right
    before each of its runs (``paired_bare_req_per_s``): the machine's speed drifts by ±20 %
    within a minute, so a ratio is only as good as its two figures are close in time."""
    servers: dict[tuple, Gunicorn] = {}
    apps = {"bare": "benchmarks.ceiling_apps:bare_app", "pk": "benchmarks.ceiling_apps:pk_app"}

    def measure(scenario: Http, variant: Variant, seconds: float) -> dict[str, Any]:
        own = scenario.server == "service"
        key = (scenario.server, scenario.env, variant.label if own else "")
        if key not in servers:
            env = {"DATABASE_URL": variant.http_url, **dict(scenario.env)}
            app, tree = apps.get(scenario.server, "wsgi:app"), variant.tree if own else ROOT
            servers[key] = stack.enter_context(Gunicorn(app, env, tree))
        if scenario.method == "POST":  # forget the calls the last run booked
            days = TODAY - timedelta(days=1), TODAY + timedelta(days=40)
            delete = "DELETE FROM communication_service.phone_calls WHERE scheduled_date BETWEEN"
            sql(variant.http_url, delete + " %s AND %s", days)
        return run_wrk(
            wrk, f"http://127.0.0.1:{servers[key].port}", scenario.path, method=scenario.method,
            body=scenario.body, ids=ctx.ids.get(scenario.ids or ""),
            token=scenario.path.startswith("/api"), duration=seconds,
            connections=args.connections, content_type=scenario.content_type,
        )  # fmt: skip

    def cells(scenario: Http) -> list[Variant]:
        return variants if scenario.server == "service" else variants[:1]

    samples = {s.name: {v.label: [] for v in cells(s)} for s in scenarios}
    with contextlib.ExitStack() as stack:
        for scenario in scenarios:
            for variant in cells(scenario):
                measure(scenario, variant, args.warmup)
        for run in range(1, args.runs + 1):
            for scenario in scenarios:
                for variant in cells(scenario)[:: 1 if run % 2 else -1]:
                    paired = scenario.name in PAIRED
                    bare = measure(HTTP[0], variants[0], args.duration) if paired else {}
                    sample = measure(scenario, variant, args.duration)
                    if bare:
                        sample["paired_bare_req_per_s"] = bare["req_per_s"]
                    samples[scenario.name][variant.label].append(sample)
                    print(f"  run {run}  {scenario.name} [{variant.label}]: {sample}", flush=True)
    return samples


def job_rows(ctx: Context, variant: Variant, url: str) -> dict[str, dict[str, Any]]:
    """batch-emails twice (the rerun must find nothing to do), then send-emails of the first
    ``SEND_EMAILS`` queued emails (the rest become drafts, never sent: a run of fixed size)."""

    def job(*command: str, **settings: Any) -> dict[str, Any]:
        args = ("job", "comm", *command, "--now", JOB_NOW)
        report = probe(url, *args, tree=variant.tree, settings=settings)
        if report["exit_code"]:
            raise RuntimeError(f"comm {command}: {report}")
        return report

    first, rerun = job("batch-emails"), job("batch-emails")
    queued = "SELECT id FROM communication_service.emails WHERE status = 'queued' ORDER BY id"
    draft = "UPDATE communication_service.emails SET status = 'draft' WHERE id IN"
    sql(url, f"{draft} ({queued} OFFSET %s)", (SEND_EMAILS,))
    send = job("send-emails", smtp_host="127.0.0.1", smtp_port=ctx.smtp_port)
    sent = one(url, "SELECT count(*) FROM communication_service.emails WHERE status = 'sent'")
    send["emails_per_s"] = round(sent / send["seconds"], 1)
    return dict(zip(JOB_ROWS[:3], (first, rerun, send), strict=True))


def import_mail_row(ctx: Context, variant: Variant, url: str) -> dict[str, Any] | None:
    """``comm import-mail`` on a Maildir of one message per therapist (10,000 at scale 1) in
    the shares of ``data.MAIL_MIX``, each answering another of as many sent emails. None for
    a tree without the command (an A/B run against an older checkout)."""
    if not (variant.tree / "communication_service" / "services" / "inbound_emails.py").exists():
        return None
    count = ctx.size.therapists
    data.load_emails(url, count=count, therapists=ctx.size.therapists)
    with tempfile.TemporaryDirectory(prefix="cs-bench-mail-") as folder:
        maildir = Path(folder) / "Maildir"
        data.write_maildir(url, maildir, count)
        args = ("job", "comm", "import-mail", "--maildir", str(maildir), "--now", JOB_NOW)
        report = probe(url, *args, tree=variant.tree)
    if report["exit_code"]:
        raise RuntimeError(f"comm import-mail: {report}")
    report["messages_per_s"] = round(count / report["seconds"], 1)
    # The importer's own CPU time: on a machine busy with other work, the figure that
    # changes least (the database's CPU is not in it).
    report["messages_per_cpu_s"] = round(count / max(report["cpu_seconds"], 0.001), 1)
    return report


def run_fresh(ctx: Context, variants: list[Variant], statements: list, chosen: set[str], runs: int):
    """Statement counts and jobs, every run on a fresh copy of each variant's template."""
    jobs = bool(chosen & set(JOB_ROWS[:3]))
    samples: dict[str, dict[str, list]] = {}
    for run in range(1, runs + 1):
        for variant in variants:
            for name, method, path, body, calls in statements:
                url = ctx.database.create("bench_fresh", template=variant.template)
                if calls:  # already booked: 4/5 done in the past, 1/5 from tomorrow on
                    data.load_existing_calls(url, calls, (2, ctx.size.therapists))
                found = probe(url, "requests", method, path, body or "", tree=variant.tree)
                samples.setdefault(name, {}).setdefault(variant.label, []).extend(found)
                print(f"  run {run}  {name} [{variant.label}]: {found}", flush=True)
            if jobs:
                url = ctx.database.create("bench_fresh", template=variant.template)
                for name, report in job_rows(ctx, variant, url).items():
                    samples.setdefault(name, {}).setdefault(variant.label, []).append(report)
                    print(f"  run {run}  {name} [{variant.label}]: {report['seconds']} s")
            if IMPORT_MAIL in chosen:
                url = ctx.database.create("bench_fresh", template=variant.template)
                report = import_mail_row(ctx, variant, url)
                if report is not None:
                    samples.setdefault(IMPORT_MAIL, {}).setdefault(variant.label, []).append(report)
                    print(f"  run {run}  {IMPORT_MAIL} [{variant.label}]: {report}", flush=True)
    return samples


# --- figures ---------------------------------------------------------------------------------


def summarise(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    figures = {}
    for key in samples[0] if samples else ():
        v = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        if v:
            figures[key] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
    return figures


def paired_ratios(samples: list[dict[str, Any]]) -> list[float]:
    """Each run's req/s as a percentage of the bare-Flask run measured right before it."""
    bare = "paired_bare_req_per_s"
    return [100 * s["req_per_s"] / s[bare] for s in samples if s.get(bare)]


def cell(name: str, samples: list[dict[str, Any]], bare: list[dict[str, Any]] | None) -> dict:
    """One row's figures for one variant: medians, % of bare Flask (the median of the paired
    ratios, or without paired runs the ratio of the two medians) and the targets' verdicts."""
    entry: dict[str, Any] = {"runs": samples, "figures": summarise(samples)}
    ratios = paired_ratios(samples)
    if ratios:
        entry["pct_of_bare"] = round(statistics.median(ratios), 1)
        entry["pct_of_bare_runs"] = [round(ratio, 1) for ratio in ratios]
    elif bare and "req_per_s" in entry["figures"] and name != HTTP[0].name:
        ratio = entry["figures"]["req_per_s"]["median"] / summarise(bare)["req_per_s"]["median"]
        entry["pct_of_bare"] = round(100 * ratio, 1)
    flat = {key: value["median"] for key, value in entry["figures"].items()}
    flat["pct_of_bare"] = entry.get("pct_of_bare")
    if "sql_statements" in entry["figures"]:  # a statement bar holds for every sample
        flat["sql_statements"] = entry["figures"]["sql_statements"]["max"]
    failed = entry["figures"].get("status", {}).get("max", 0) >= 400  # a bar needs answers
    compare = {">=": operator.ge, "<=": operator.le}
    entry["met"] = [
        False if failed else None if flat.get(key) is None else compare[op](flat[key], bar)
        for key, op, bar, _ in TARGETS.get(name, ())
    ]
    return entry


UNITS = {"req_per_s": " req/s", "seconds": " s", "peak_rss_mb": " MB", "emails_per_s": " emails/s",
         "messages_per_s": " messages/s", "messages_per_cpu_s": " messages per CPU-second",
         "sql_statements": " SQL"}  # fmt: skip


def describe(entry: dict[str, Any]) -> str:
    def fmt(value: float, unit: str = "") -> str:
        return (f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}") + unit

    f, parts = entry["figures"], []
    for key, unit in UNITS.items():
        if key in f:
            low, high = fmt(f[key]["min"]), fmt(f[key]["max"])
            parts.append(f"{fmt(f[key]['median'], unit)} ({low}-{high})")
        if key == "req_per_s" and key in f:
            parts += [f"p50 {f['p50_ms']['median']:.1f} ms", f"p99 {f['p99_ms']['median']:.1f} ms"]
            if entry.get("pct_of_bare") is not None:
                runs = "/".join(f"{ratio:.0f}" for ratio in entry.get("pct_of_bare_runs", ()))
                paired = f" (paired runs {runs} %)" if runs else ""
                parts.append(f"{entry['pct_of_bare']:.0f} % of bare{paired}")
            if f["non_2xx_3xx"]["max"]:
                parts.append(f"non-2xx up to {f['non_2xx_3xx']['max']:,.0f}/run")
    if f.get("status", {}).get("max", 0) >= 400:
        parts.append(f"answered {sorted({run['status'] for run in entry['runs']})}")
    return " · ".join(parts)


def render_table(rows: dict[str, dict[str, dict]], labels: list[str], runs: int) -> str:
    heads = labels if len(labels) > 1 else [f"median of {runs} runs (min-max)"]
    lines = [f"| scenario | {' | '.join(heads)} | target | met |"]
    lines.append("|---|" + "---|" * (len(heads) + 2))
    for name in (name for name in ROWS if name in rows):
        cells = [describe(rows[name][v]) if v in rows[name] else "(as above)" for v in labels]
        verdicts = [c["met"] for c in rows[name].values() if c["met"]]
        met = " / ".join("yes" if all(v) else "**no**" for v in verdicts)
        targets = ", ".join(t[3] for t in TARGETS.get(name, ())) or "—"
        lines.append(f"| {name} | {' | '.join(cells)} | {targets} | {met} |")
    return "\n".join(lines)


def label_of(tree: Path) -> str:
    git = ["git", "describe", "--always", "--dirty"]
    return subprocess.run(git, cwd=tree, capture_output=True, text=True).stdout.strip() or str(tree)


def machine_info(database: Database, wrk: str | None, workers: int) -> dict[str, Any]:
    cpuinfo, meminfo = Path("/proc/cpuinfo").read_text(), Path("/proc/meminfo").read_text()
    version = subprocess.run([wrk or "true", "--version"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpuinfo.split("model name")[1].split(":", 1)[1].split("\n")[0].strip(),
        "ram_gib": round(int(meminfo.split("MemTotal:")[1].split()[0]) / 1024**2, 1),
        "python": platform.python_version(),
        "postgresql": one(database.url, "SHOW server_version"),
        "wrk": " ".join((version.stdout or version.stderr).split()[:2]) if wrk else None,
        "gunicorn_workers": workers,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": label_of(ROOT),
    }


def write_markdown(table: str, results: dict[str, Any]) -> None:
    m, s = results["machine"], results["settings"]
    block = (
        f"{TABLE_START}\nRun {results['finished_at']} on commit `{m['commit']}`: {m['nproc']} "
        f"cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, PostgreSQL "
        f"{m['postgresql']}, {m['wrk']}, gunicorn {m['gunicorn_workers']} sync workers, load "
        f"average {m['load_average_at_start']} at start, {m['load_average_at_end']} at the end "
        f"(1/5/15 min).\n\nCommand: `{results['command']}` — {s['duration']:g} s per wrk run, "
        f"{s['connections']} connections, data scale {s['scale']:g}.\n\n{table}\n{TABLE_END}"
    )
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    MARKDOWN.write_text(pattern.sub(lambda _: block, MARKDOWN.read_text()))


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    add = parser.add_argument
    add("--runs", type=int, default=3, help="runs per figure (default 3)")
    add("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    add("--scale", type=float, default=1.0, help="data size factor (1 = BENCHMARKS.md sizes)")
    add("--quick", action="store_true", help="smoke run: 1 run of 2 s per figure, scale 0.1")
    add("--tree", type=Path, help="A/B: serve the service from this checkout too, side by side")
    add("--only", action="append", default=[], help="name substring (repeatable)")
    add("--list", action="store_true", help="list the rows and exit")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.scale = 1, 2, 0.1
    if args.list:
        print("\n".join(ROWS))
        return 0
    workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
    args.warmup, args.connections = min(2, args.duration / 2), 2 * workers
    words = [word.lower() for word in args.only]
    chosen = {name for name in ROWS if not words or any(w in name.lower() for w in words)}
    http = [s for s in HTTP if s.name in chosen]
    http = [HTTP[0], *http] if http and HTTP[0] not in http else http  # ratios are to bare
    wrk = ensure_wrk() if http else None
    if http and not wrk:
        print("wrk is not installed: the HTTP figures are skipped", file=sys.stderr)
        http = []
    variants = [Variant(label_of(ROOT), ROOT)]
    if args.tree:
        variants.append(Variant(label_of(args.tree.resolve()), args.tree.resolve()))
    started_at = datetime.now(UTC)
    with Database() as database, smtp_sink() as sink:
        ctx = set_up(database, variants, args.scale)
        ctx.smtp_port = sink.port
        machine = machine_info(database, wrk, workers)
        samples = run_http(ctx, variants, http, args, wrk) if http else {}
        statements = [s for s in STATEMENTS if s[0] in chosen]
        samples |= run_fresh(ctx, variants, statements, chosen, args.runs)

    bare = samples.get(HTTP[0].name, {}).get(variants[0].label)
    rows = {name: {v: cell(name, s, bare) for v, s in samples[name].items()} for name in samples}
    labels = [v.label for v in variants]
    table = render_table(rows, labels, args.runs)
    command = shlex.join(argv if argv is not None else sys.argv[1:])
    results = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": f".venv/bin/python -m benchmarks.run {command}".strip(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "variants": labels,
        "rows": rows,
    }
    print(f"\n{table}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    if not (args.only or args.quick or args.tree):
        write_markdown(table, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
