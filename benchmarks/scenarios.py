"""What is measured. Adding a figure = adding an entry to one of the three lists at the bottom.

- ``HTTP_SCENARIOS``: driven by wrk against a gunicorn (req/s, p50/p99, % of a ceiling).
- ``STATEMENT_SCENARIOS``: one request through the Flask test client on a fresh copy of the
  data, counting the SQL statements it sends.
- ``JOB_SCENARIOS``: ``flask comm`` jobs, each run in a fresh process on a fresh copy of the
  data (seconds, peak RSS, SQL statements, plus figures a step derives, e.g. emails/s).

Scenarios whose route or command the service does not have yet are listed as skipped, with
the reason, so the table shows the slot until the feature lands.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg2

from benchmarks.data import DataSize
from benchmarks.infra import EmbeddedDatabase, Load, libpq_dsn

# --- the data set every scenario sees -------------------------------------------------------

TODAY = date.today()
HISTORY_THERAPIST_ID = 1  # carries the 100,000 past calls of the list benchmark
# A day beyond the scheduling horizon, so its call sheet never blocks an automatic booking.
CALL_SHEET_DAY = TODAY + timedelta(days=60)
JOB_NOW = "2026-12-01T07:00:00"  # --now of the job benchmarks


@dataclass
class Context:
    """What the run has set up: the server, the migrated and loaded template, the sizes."""

    database: EmbeddedDatabase
    template: str  # name of the loaded template database; every copy starts from it
    http_url: str  # the copy the HTTP scenarios' gunicorns serve
    size: DataSize
    history_calls: int
    smtp_port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fresh_copy(self, name: str) -> str:
        return self.database.create_database(name, template=self.template)


def execute(database_url: str, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    connection = psycopg2.connect(libpq_dsn(database_url))
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    finally:
        connection.close()


@dataclass(frozen=True)
class Target:
    """A bar from issue 6: ``figure`` (a key of the scenario's result) compared to ``value``."""

    figure: str
    op: str  # ">=" or "<="
    value: float
    text: str

    def met(self, result: Mapping[str, Any]) -> bool | None:
        if result.get(self.figure) is None:
            return None
        compare = operator.ge if self.op == ">=" else operator.le
        return compare(result[self.figure], self.value)


# --- scenario kinds -------------------------------------------------------------------------

# The gunicorns a scenario can be served by: a WSGI spec and the path that says "ready".
SERVERS: dict[str, tuple[str, str]] = {
    "bare": ("benchmarks.ceiling_apps:bare_app", "/health"),
    "pk": ("benchmarks.ceiling_apps:pk_app", "/health"),
    "service": ("wsgi:app", "/health"),
}


@dataclass(frozen=True)
class HttpScenario:
    name: str
    server: str  # a key of SERVERS
    load: Callable[[Context], Load]  # built from the run's data sizes
    ratio_to: str | None = "bare"  # name of the ceiling scenario the req/s ratio is taken to
    targets: tuple[Target, ...] = ()
    server_env: Mapping[str, str] = field(default_factory=dict)  # extra settings of its gunicorn
    before_each_run: Callable[[Context], None] | None = None
    requires: tuple[str, str] | None = None  # (method, path) the service must route


@dataclass(frozen=True)
class StatementScenario:
    """Statements one request sends, on a fresh copy of the data after ``prepare``."""

    name: str
    method: str
    path: Callable[[Context], str]
    body: Callable[[Context], Any] | None = None
    prepare: Callable[[Context, str], None] | None = None
    requests: int = 3  # measured one after another; each is one sample
    targets: tuple[Target, ...] = ()
    requires: tuple[str, str] | None = None


@dataclass(frozen=True)
class JobStep:
    name: str  # shown as "<scenario> <step>"
    command: tuple[str, ...]  # arguments after ``flask --app wsgi``
    measured: bool = True
    before: Callable[[Context, str], None] | None = None  # runs on the database first
    settings: Callable[[Context], Mapping[str, str]] | None = None
    derive: Callable[[Context, str, dict[str, Any]], dict[str, Any]] | None = None
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True)
class JobScenario:
    """Steps run in order, every run on a fresh copy of the template database."""

    name: str
    steps: tuple[JobStep, ...]
    prepare: Callable[[Context, str], None] | None = None
    requires_command: str | None = None  # a ``comm`` sub-command the service must have


# --- helpers the entries use ----------------------------------------------------------------


def _pct(value: float) -> Target:
    return Target("pct_of_ceiling", ">=", value, f"≥ {value:g} % of bare Flask")


def delete_booked_calls(ctx: Context) -> None:
    """Forget the calls a booking run made (they all lie inside the scheduling horizon)."""
    execute(
        ctx.http_url,
        "DELETE FROM communication_service.phone_calls "
        "WHERE scheduled_date BETWEEN %(today)s AND %(until)s",
        {"today": TODAY - timedelta(days=1), "until": TODAY + timedelta(days=40)},
    )


def load_existing_calls(count: int) -> Callable[[Context, str], None]:
    """``count`` calls already in the table: four fifths completed in the past, one fifth
    scheduled from tomorrow on (densely, so the slot search has to step over them)."""

    def prepare(ctx: Context, database_url: str) -> None:
        from benchmarks.data import SLOTS_PER_DAY, load_phone_calls

        past, future = count - count // 5, count // 5
        therapists = (2, ctx.size.therapists)
        if past:
            days = past // SLOTS_PER_DAY + 2
            load_phone_calls(
                database_url,
                count=past,
                first_day=TODAY - timedelta(days=days),
                therapist_ids=therapists,
            )
        if future:
            load_phone_calls(
                database_url,
                count=future,
                first_day=TODAY + timedelta(days=1),
                therapist_ids=therapists,
                status="scheduled",
            )

    return prepare


def _smtp_settings(ctx: Context) -> Mapping[str, str]:
    return {"smtp_host": "127.0.0.1", "smtp_port": str(ctx.smtp_port)}


SEND_EMAILS = 2_000  # delivered per send-emails run (the rest of the batch stays a draft)


def keep_queued(count: int) -> Callable[[Context, str], None]:
    """Leave only the first ``count`` queued emails queued (the others become drafts, which
    no job sends), so a delivery run has a fixed size whatever the batch produced."""

    def before(ctx: Context, database_url: str) -> None:
        execute(
            database_url,
            "UPDATE communication_service.emails SET status = 'draft' WHERE status = 'queued' "
            "AND id NOT IN (SELECT id FROM communication_service.emails WHERE status = 'queued' "
            "ORDER BY id LIMIT %(count)s)",
            {"count": count},
        )

    return before


def _emails_per_second(ctx: Context, database_url: str, report: dict[str, Any]) -> dict[str, Any]:
    (sent,) = execute(
        database_url, "SELECT count(*) FROM communication_service.emails WHERE status = 'sent'"
    )
    return {"emails_sent": sent, "emails_per_s": round(sent / report["seconds"], 1)}


# --- the entries ----------------------------------------------------------------------------

HTTP_SCENARIOS: list[HttpScenario] = [
    # Ceilings: the same gunicorn settings and the same load generator as the service.
    HttpScenario(
        "ceiling: bare Flask {ok: true}", "bare", lambda ctx: Load("/", token=False), ratio_to=None
    ),
    HttpScenario(
        "ceiling: Flask + one PK SELECT (raw psycopg2)",
        "pk",
        lambda ctx: Load("/therapists/{id}", ids=(1, ctx.size.therapists), token=False),
    ),
    HttpScenario("GET /health (service)", "service", lambda ctx: Load("/health", token=False)),
    HttpScenario(
        "GET /api/therapists/{id}",
        "service",
        lambda ctx: Load("/api/therapists/{id}", ids=(1, ctx.size.therapists)),
    ),
    # ---- SLOT issue-phone: implemented against SPEC §6; skipped until the routes exist. ----
    HttpScenario(
        "GET /api/phone-calls/{id}",
        "service",
        lambda ctx: Load("/api/phone-calls/{id}", ids=(1, ctx.history_calls)),
        targets=(_pct(50),),
        requires=("GET", "/api/phone-calls/1"),
    ),
    HttpScenario(
        "GET /api/phone-calls?therapist_id= (page 1, 50 of 100,000)",
        "service",
        lambda ctx: Load(
            f"/api/phone-calls?therapist_id={HISTORY_THERAPIST_ID}&page=1&per_page=50"
        ),
        targets=(_pct(30),),
        requires=("GET", "/api/phone-calls"),
    ),
    HttpScenario(
        "GET /api/phone-calls/daily (60 calls, 3 requests each)",
        "service",
        lambda ctx: Load(f"/api/phone-calls/daily?date={CALL_SHEET_DAY.isoformat()}"),
        requires=("GET", "/api/phone-calls/daily"),
    ),
    HttpScenario(
        "POST /api/phone-calls (automatic booking, CALL_LINES=0)",
        "service",
        lambda ctx: Load(
            "/api/phone-calls",
            method="POST",
            body='{"therapist_id": {id}}',
            ids=(2, ctx.size.therapists),
        ),
        # With one phone line the 28-day horizon holds ~2,000 calls in all: a booking benchmark
        # would mostly measure "no slot available". Unlimited lines measure the booking itself.
        server_env={"CALL_LINES": "0"},
        before_each_run=delete_booked_calls,
        requires=("POST", "/api/phone-calls"),
    ),
]

STATEMENT_SCENARIOS: list[StatementScenario] = [
    StatementScenario("SQL per GET /api/therapists/{id}", "GET", lambda ctx: "/api/therapists/42"),
    StatementScenario(
        "SQL per PUT /api/therapists/{id}/availability",
        "PUT",
        lambda ctx: "/api/therapists/42/availability",
        body=lambda ctx: {"potentially_available": True, "potentially_available_notes": "bench"},
    ),
    # ---- SLOT issue-phone: booking must stay ≤ 5 statements whatever the table size. ----
    *(
        StatementScenario(
            f"SQL per booking at {existing:,} existing calls",
            "POST",
            lambda ctx: "/api/phone-calls",
            body=lambda ctx: {"therapist_id": 7},
            prepare=load_existing_calls(existing),
            targets=(Target("sql_statements", "<=", 5, "≤ 5 statements"),),
            requires=("POST", "/api/phone-calls"),
        )
        for existing in (0, 5_000)
    ),
]

JOB_SCENARIOS: list[JobScenario] = [
    # ---- SLOT issue-email: 100,000 open requests / 10,000 therapists / 50,000 patients. ----
    JobScenario(
        "batch-emails",
        steps=(
            JobStep(
                "first run",
                ("comm", "batch-emails", "--now", JOB_NOW),
                targets=(
                    Target("seconds", "<=", 20, "≤ 20 s"),
                    Target("peak_rss_mb", "<=", 300, "≤ 300 MB"),
                ),
            ),
            JobStep(
                "rerun",
                ("comm", "batch-emails", "--now", JOB_NOW),
                targets=(Target("seconds", "<=", 2, "≤ 2 s"),),
            ),
        ),
        requires_command="batch-emails",
    ),
    JobScenario(
        "send-emails",
        steps=(
            JobStep("batch", ("comm", "batch-emails", "--now", JOB_NOW), measured=False),
            JobStep(
                f"{SEND_EMAILS:,} into aiosmtpd",
                ("comm", "send-emails", "--now", JOB_NOW),
                before=keep_queued(SEND_EMAILS),
                settings=_smtp_settings,
                derive=_emails_per_second,
                targets=(Target("emails_per_s", ">=", 200, "≥ 200 emails/s"),),
            ),
        ),
        requires_command="send-emails",
    ),
]
