"""Therapists: the list with its name search, one therapist, and their telephone hours.

Every therapist is read with their contact state, computed in the same statement by the
rules the jobs apply (``contact_rules``): the last contacts (rule 11), when the next batching
email may go out (rule 4), the cooling period (rule 9), their open requests not yet contacted
(as batching judges them), and their next scheduled call.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from communication_service.clock import today
from communication_service.context import Context
from communication_service.errors import NotFound
from communication_service.models import PhoneCall, PhoneCallStatus, PlacementRequest, Therapist
from communication_service.reads import ReadQuery, constant
from communication_service.services import contact_rules as rules
from communication_service.services.listing import EstimatedTotalListing, PagedStatements

therapists = Therapist.__table__
placement_requests = PlacementRequest.__table__
phone_calls = PhoneCall.__table__

# What the API shows of a therapist (the search key is the list's, not the therapist's).
SHOWN_COLUMNS = tuple(c.name for c in therapists.c if c.name != "name_search_key")
CONTACT_KEYS = (
    "has_email",
    "last_email_contact",
    "last_phone_contact",
    "next_email_allowed_on",
    "cooling_until",
    "open_requests",
    "open_requests_not_contacted",
)
NEXT_CALL_KEYS = ("id", "scheduled_date", "scheduled_time")
# A search is at most this many words (each one narrows it down).
MAX_SEARCH_WORDS = 5
_WORD_SEPARATORS = re.compile(r"[\s,;]+")


# ---------------------------------------------------------------------------- reads


def _with_contact_state(page: sa.Subquery) -> sa.Select:
    """The therapists of ``page`` with their contact state. Parameters: ``today`` and
    ``now_time`` (local), ``time_zone``, ``interval_days`` (rule 4), ``cooling_days`` (9)."""
    # Typed: PostgreSQL prepares the statement before it sees a value.
    today_ = sa.cast(sa.bindparam("today"), sa.Date)
    open_request, waiting = (placement_requests.alias(n) for n in ("open_request", "waiting"))
    # Counted as two scalar subqueries: "not yet contacted" in a WHERE becomes anti-joins,
    # which PostgreSQL runs at about half the cost of the same test per row in a FILTER.
    open_requests = sa.select(sa.func.count()).where(
        open_request.c.therapist_id == page.c.id, rules.request_is_open(open_request)
    )
    not_contacted = sa.select(sa.func.count()).where(
        waiting.c.therapist_id == page.c.id, rules.request_awaits_first_contact(waiting)
    )
    call = phone_calls.alias("next_call")
    next_call = (
        sa.select(*(call.c[name] for name in NEXT_CALL_KEYS))
        .where(
            call.c.therapist_id == page.c.id,
            call.c.status == constant(call.c.status, PhoneCallStatus.SCHEDULED),
            # Not started yet: a call still scheduled after its time is overdue, not next.
            sa.tuple_(call.c.scheduled_date, call.c.scheduled_time)
            >= sa.tuple_(today_, sa.cast(sa.bindparam("now_time"), sa.Time)),
        )
        .order_by(call.c.scheduled_date, call.c.scheduled_time, call.c.id)
        .limit(sa.literal_column("1"))
        .lateral("next_call")
    )
    allowed_on = rules.next_email_allowed_on(
        page.c.id,
        today_,
        sa.cast(sa.bindparam("time_zone"), sa.Text),
        sa.cast(sa.bindparam("interval_days"), sa.Integer),
    )
    cooling = rules.cooling_until(page.c.id, sa.cast(sa.bindparam("cooling_days"), sa.Integer))
    return sa.select(
        *(page.c[name] for name in SHOWN_COLUMNS),
        rules.has_email_address(page).label("has_email"),
        page.c.letzter_kontakt_email.label("last_email_contact"),
        page.c.letzter_kontakt_telefon.label("last_phone_contact"),
        rules.still_in_force(allowed_on, today_).label("next_email_allowed_on"),
        rules.still_in_force(cooling, today_).label("cooling_until"),
        open_requests.scalar_subquery().label("open_requests"),
        not_contacted.scalar_subquery().label("open_requests_not_contacted"),
        *(next_call.c[name].label(f"next_call_{name}") for name in NEXT_CALL_KEYS),
    ).select_from(page.outerjoin(next_call, sa.true()))


def _therapist_row(row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``_with_contact_state`` as the API shows it: the therapist with its
    ``contact_state`` (and the next call within it) as objects."""
    shown, contact_end = len(SHOWN_COLUMNS), len(SHOWN_COLUMNS) + len(CONTACT_KEYS)
    therapist = dict(zip(SHOWN_COLUMNS, row[:shown], strict=True))
    contact = dict(zip(CONTACT_KEYS, row[shown:contact_end], strict=True))
    call = row[contact_end : contact_end + len(NEXT_CALL_KEYS)]
    contact["next_scheduled_call"] = (
        None if call[0] is None else dict(zip(NEXT_CALL_KEYS, call, strict=True))
    )
    therapist["contact_state"] = contact
    return therapist


def _contact_params(ctx: Context) -> dict[str, Any]:
    now, settings = ctx.clock.now(), ctx.settings
    return {
        "today": now.date(),
        "now_time": now.time().replace(tzinfo=None),
        "time_zone": ctx.clock.tz.key,
        "interval_days": settings.contact_interval_days,
        "cooling_days": settings.cooling_period_days,
    }


_THERAPIST_BY_ID = ReadQuery(
    _with_contact_state(
        sa.select(therapists).where(therapists.c.id == sa.bindparam("therapist_id")).subquery()
    )
)


def get_therapist(ctx: Context, therapist_id: int) -> dict[str, Any]:
    """The therapist with their contact state; 404 when unknown."""
    rows = ctx.reader.tuples(
        _THERAPIST_BY_ID, {"therapist_id": therapist_id, **_contact_params(ctx)}
    )
    if not rows:
        raise NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})
    return _therapist_row(rows[0])


def _has_open_requests() -> sa.Exists:
    request = placement_requests.alias("any_open_request")
    return sa.exists().where(
        request.c.therapist_id == therapists.c.id, rules.request_is_open(request)
    )


def _matches_word(position: int) -> sa.ColumnElement[bool]:
    """The name contains the ``q<position>`` word (``name_search_pattern``, revision
    e7c3a9d5f2b4); the pattern is made once per statement, not once per row."""
    pattern = sa.select(
        sa.func.communication_service.name_search_pattern(
            sa.bindparam(f"q{position}", type_=sa.Text)
        )
    ).scalar_subquery()
    return therapists.c.name_search_key.op("~")(pattern)


@functools.cache
def _therapist_list_statements(
    words: int,
    by_status: bool,
    potentially_available: bool | None,
    has_open_requests: bool | None,
) -> PagedStatements:
    """The list's statements for one combination of filters, compiled once."""
    conditions = [_matches_word(position) for position in range(words)]
    if by_status:
        conditions.append(therapists.c.status == sa.bindparam("status"))
    if potentially_available is not None:
        flag = therapists.c.potentially_available  # NULL: not flagged
        conditions.append(flag.is_(True) if potentially_available else flag.is_not(True))
    if has_open_requests is not None:
        conditions.append(_has_open_requests() if has_open_requests else ~_has_open_requests())
    matching = sa.select(therapists).where(*conditions)
    return PagedStatements(
        matching,
        ("name_search_key", "id"),
        _with_contact_state,
        planned_each_time=has_open_requests is not None,
    )


def search_words(q: str) -> list[str]:
    """The words of a name search (separated by spaces, commas or semicolons)."""
    return [word for word in _WORD_SEPARATORS.split(q) if word]


def list_therapists(ctx: Context, filters: Mapping[str, Any]) -> EstimatedTotalListing:
    """Therapists by name (``name_search_key``: "Müller" as "mueller"), id breaking ties,
    each with their contact state; filtered by every word of ``q`` (a substring of
    "nachname vorname", case, accents and umlauts ignored), ``status``,
    ``potentially_available`` and ``has_open_requests``."""
    words = search_words(filters.get("q") or "")
    params = {f"q{position}": word for position, word in enumerate(words)}
    if filters.get("status") is not None:
        params["status"] = filters["status"]
    statements = _therapist_list_statements(
        len(words),
        "status" in params,
        filters.get("potentially_available"),
        filters.get("has_open_requests"),
    )
    return EstimatedTotalListing(
        ctx.reader, statements, {**params, **_contact_params(ctx)}, _therapist_row
    )


# ---------------------------------------------------------------------------- writes


def update_availability(
    ctx: Context, therapist_id: int, changes: Mapping[str, Any]
) -> sa.RowMapping:
    """Apply validated availability changes in one statement; 404 when the therapist is unknown.

    ``updated_at`` is the day, as the therapist service keeps it (a ``date`` column)."""
    session = ctx.session
    row = (
        session.execute(
            sa.update(therapists)
            .where(therapists.c.id == therapist_id)
            .values(**changes, updated_at=today(ctx.clock))
            .returning(*therapists.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        session.rollback()
        raise NotFound(f"Therapist {therapist_id} does not exist.", details={"id": therapist_id})
    session.commit()
    return row
