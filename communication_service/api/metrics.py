"""``GET /metrics``: the counters of every worker and gauges read from the database.

Gauges read when Prometheus scrapes: the email queue (queued, age of the oldest due one,
stuck in ``sending``), overdue scheduled calls, calls flagged for staff. Protected like
``/api`` by a bearer token (Prometheus sends it with its ``authorization`` scrape setting).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from communication_service import current_settings
from communication_service.api.auth import require_bearer_token
from communication_service.api.boundary import response
from communication_service.api.parsing import reject_oversized_body
from communication_service.clock import utc_naive
from communication_service.models import (
    Email,
    EmailStatus,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
    PlacementRequest,
    PlacementRequestStatus,
)
from communication_service.reads import ReadQuery

emails = Email.__table__
calls = PhoneCall.__table__
batches = PhoneCallBatch.__table__
requests = PlacementRequest.__table__
_NOW = sa.bindparam("now", type_=sa.DateTime)
_QUEUED = emails.c.status == sa.bindparam("queued", type_=emails.c.status.type)


def _count(table: sa.Table, *conditions: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(table).where(*conditions).scalar_subquery()


_QUEUE_STATE = ReadQuery(
    sa.select(
        _count(emails, _QUEUED).label("queued"),
        sa.select(sa.func.min(emails.c.next_attempt_at))
        .where(_QUEUED, emails.c.next_attempt_at <= _NOW)
        .scalar_subquery()
        .label("oldest_due"),
        _count(
            emails,
            emails.c.status == sa.bindparam("sending", type_=emails.c.status.type),
            emails.c.sending_started_at < sa.bindparam("stale_before", type_=sa.DateTime),
        ).label("stuck_sending"),
        _count(
            calls,
            calls.c.status == sa.bindparam("scheduled", type_=calls.c.status.type),
            calls.c.scheduled_date + calls.c.scheduled_time
            < sa.bindparam("local_now", type_=sa.DateTime),
        ).label("overdue_calls"),
        sa.select(sa.func.count(sa.distinct(batches.c.phone_call_id)))
        .select_from(batches.join(requests, requests.c.id == batches.c.placement_request_id))
        .where(
            batches.c.follow_up_required.is_(True),
            requests.c.status == sa.bindparam("open", type_=requests.c.status.type),
        )
        .scalar_subquery()
        .label("flagged_calls"),
    )
)


class DatabaseGauges(Collector):
    """The queue and the call sheet as the database holds them at the scrape."""

    def collect(self) -> Iterator[Metric]:
        extensions = current_app.extensions
        clock, settings = extensions["clock"], extensions["settings"]
        now = utc_naive(clock)
        row = extensions["reader"].first(
            _QUEUE_STATE,
            now=now,
            queued=EmailStatus.QUEUED,
            sending=EmailStatus.SENDING,
            stale_before=now - timedelta(seconds=settings.sending_stale_after_seconds),
            scheduled=PhoneCallStatus.SCHEDULED,
            local_now=clock.now().replace(tzinfo=None),
            open=PlacementRequestStatus.OPEN,
        )
        oldest = row["oldest_due"]
        yield from (
            GaugeMetricFamily("comm_emails_queued", "Emails waiting to be sent.", row["queued"]),
            GaugeMetricFamily(
                "comm_email_oldest_due_age_seconds",
                "How long the oldest due queued email has waited (0: none due).",
                (now - oldest).total_seconds() if oldest else 0.0,
            ),
            GaugeMetricFamily(
                "comm_emails_stuck_sending",
                "Emails in 'sending' longer than SENDING_STALE_AFTER_SECONDS.",
                row["stuck_sending"],
            ),
            GaugeMetricFamily(
                "comm_calls_overdue",
                "Scheduled calls whose time has passed without an outcome.",
                row["overdue_calls"],
            ),
            GaugeMetricFamily(
                "comm_calls_flagged_for_staff",
                "Calls with an open request flagged follow_up_required.",
                row["flagged_calls"],
            ),
        )


class _ThisProcess(Collector):
    """Without multiprocess mode (``flask run``, tests): this process's own figures."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


metrics_blueprint = Blueprint("metrics", __name__)


@metrics_blueprint.before_request
def authenticate() -> None:
    require_bearer_token(current_settings())
    reject_oversized_body()


@metrics_blueprint.get("/metrics")
@response(
    summary="Prometheus metrics of all workers (needs a token like every /api route)",
    media_type="text/plain",
)
def metrics() -> Response:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseGauges())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
