"""Outcomes of a contact on placement requests (docs/rules.md rule 9), whatever the channel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import sqlalchemy as sa

from communication_service.clock import today
from communication_service.context import Context
from communication_service.models import PlacementRequest, PlacementRequestStatus

placement_requests = PlacementRequest.__table__

DECISIVE_OUTCOMES = (PlacementRequestStatus.ACCEPTED, PlacementRequestStatus.REJECTED)


def record_outcomes(ctx: Context, outcomes: Mapping[int, str], *, response: str) -> None:
    """``accepted``/``rejected`` per placement request id → its status, response, response date.

    A rejection also sets ``next_contact_after`` = today + ``COOLING_PERIOD_DAYS``; the
    scheduling engine keeps automatic calls away from the therapist for that long (it reads
    the rejection's ``response_date``). Other outcome values change nothing. Does not commit;
    at most one statement per outcome value.
    """
    day = today(ctx.clock)
    for outcome in DECISIVE_OUTCOMES:
        ids = sorted(rid for rid, value in outcomes.items() if value == outcome.value)
        if not ids:
            continue
        values = {"status": outcome.value, "response": response, "response_date": day}
        if outcome is PlacementRequestStatus.REJECTED:
            values["next_contact_after"] = day + timedelta(days=ctx.settings.cooling_period_days)
        ctx.session.execute(
            sa.update(placement_requests).where(placement_requests.c.id.in_(ids)).values(**values)
        )
