"""Placement requests as staff look for them: the list and one request, each with its
patient as the emails show them, its therapist, and where its contact stands.

The matching service owns these rows: this module reads them, it never creates or deletes
one (outcomes change a request through ``outcomes.py``, rule 9).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from communication_service.context import Context
from communication_service.errors import NotFound
from communication_service.models import (
    Email,
    EmailBatch,
    EmailStatus,
    Patient,
    PhoneCallBatch,
    PlacementRequest,
    Therapist,
)
from communication_service.reads import ReadQuery, constant, prefixed
from communication_service.services import contact_rules as rules
from communication_service.services.email_content import patient_label, recipient_name
from communication_service.services.listing import EstimatedTotalListing, PagedStatements

placement_requests = PlacementRequest.__table__
patients = Patient.__table__
therapists = Therapist.__table__
emails = Email.__table__
email_batches = EmailBatch.__table__
phone_call_batches = PhoneCallBatch.__table__

REQUEST_COLUMNS = tuple(placement_requests.c.keys())


# ---------------------------------------------------------------------------- contact states
# Each state is one select or predicate of the request's id: the filter asks whether it holds,
# the row shows it (with the email or call it points to).


def _unanswered_emails(request_id: sa.ColumnElement[int]) -> sa.Select:
    """The sent emails carrying the request that have no recorded reply, latest first (read
    backwards from ``idx_email_batches_request_email``: the first one found is the answer)."""
    email, batch = emails.alias("unanswered_email"), email_batches.alias("unanswered_batch")
    return (
        sa.select(batch.c.email_id)
        .join(email, email.c.id == batch.c.email_id)
        .where(
            batch.c.placement_request_id == request_id,
            email.c.status == constant(email.c.status, EmailStatus.SENT),
            email.c.response_received.is_not(True),
        )
        .order_by(batch.c.email_id.desc())
    )


def _scheduled_calls(request_id: sa.ColumnElement[int]) -> sa.Select:
    """The ids of the scheduled calls carrying the request, earliest first."""
    carrying = rules.scheduled_calls_carrying(request_id)
    return carrying.with_only_columns(carrying.selected_columns.phone_call_id)


def _flagged_for_staff(request_id: sa.ColumnElement[int]) -> sa.Exists:
    """A call batch of the request has ``follow_up_required`` (rule 8, or set by staff)."""
    batch = phone_call_batches.alias("flagged_batch")
    return sa.exists().where(
        batch.c.placement_request_id == request_id, batch.c.follow_up_required.is_(True)
    )


CONTACT_STATES: dict[str, Callable[[sa.FromClause], sa.ColumnElement[bool]]] = {
    # Open and never contacted: what batching still takes once it is due.
    "waiting": rules.request_awaits_first_contact,
    "emailed": lambda request: sa.exists(_unanswered_emails(request.c.id)),
    "on_call": lambda request: sa.exists(_scheduled_calls(request.c.id)),
    "needs_staff": lambda request: _flagged_for_staff(request.c.id),
}


# ---------------------------------------------------------------------------- reads


def _shown(page: sa.Subquery) -> sa.Select:
    """The requests of ``page`` with their patient's and therapist's names and their state:
    whether it waits, the latest unanswered email and the next scheduled call carrying it,
    whether it needs staff."""
    one = sa.literal_column("1")
    latest_email = _unanswered_emails(page.c.id).limit(one)
    next_call = _scheduled_calls(page.c.id).limit(one)
    # Looked up by id for each row of the page (LIMIT keeps PostgreSQL from turning the
    # lookup into a join that hashes every patient or therapist for one page).
    patient = (
        sa.select(
            patients.c.vorname.label("patient_vorname"),
            sa.func.left(patients.c.nachname, one).label("patient_initial"),
        )
        .where(patients.c.id == page.c.patient_id)
        .limit(one)
        .lateral("patient")
    )
    therapist = (
        sa.select(*prefixed(therapists, "therapist_", ("titel", "vorname", "nachname")))
        .where(therapists.c.id == page.c.therapist_id)
        .limit(one)
        .lateral("therapist")
    )
    return sa.select(
        *(page.c[name] for name in REQUEST_COLUMNS),
        *patient.c,
        *therapist.c,
        CONTACT_STATES["waiting"](page).label("waiting"),
        latest_email.scalar_subquery().label("unanswered_email_id"),
        next_call.scalar_subquery().label("scheduled_call_id"),
        CONTACT_STATES["needs_staff"](page).label("needs_staff"),
    ).select_from(page.outerjoin(patient, sa.true()).outerjoin(therapist, sa.true()))


_REQUEST_BY_ID = ReadQuery(
    _shown(
        sa.select(placement_requests)
        .where(placement_requests.c.id == sa.bindparam("placement_request_id"))
        .subquery("page")
    )
)
_PATIENT = _REQUEST_BY_ID.keys.index("patient_vorname")
_STATE = _REQUEST_BY_ID.keys.index("waiting")


def _request_row(row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``_shown`` as the API shows it: the request, the names as the emails write
    them (``None`` when the patient's or therapist's row is gone), where it stands."""
    request = dict(zip(REQUEST_COLUMNS, row[:_PATIENT], strict=True))
    vorname, initial, titel, therapist_vorname, nachname = row[_PATIENT:_STATE]
    waiting, email_id, call_id, flagged = row[_STATE : _STATE + 4]
    # The platform's names are NOT NULL: a NULL is a missing row (no foreign keys).
    request["patient_display_name"] = None if vorname is None else patient_label(vorname, initial)
    request["therapist_display_name"] = (
        None if nachname is None else recipient_name(titel, therapist_vorname, nachname)
    )
    request["contact_states"] = [
        state
        for state, holds in (
            ("waiting", waiting),
            ("emailed", email_id is not None),
            ("on_call", call_id is not None),
            ("needs_staff", flagged),
        )
        if holds
    ]
    request["unanswered_email_id"], request["scheduled_call_id"] = email_id, call_id
    return request


def get_placement_request(ctx: Context, placement_request_id: int) -> dict[str, Any]:
    """The request with its names and contact state; 404 when unknown."""
    rows = ctx.reader.tuples(_REQUEST_BY_ID, {"placement_request_id": placement_request_id})
    if not rows:
        raise NotFound(
            f"Placement request {placement_request_id} does not exist.",
            details={"id": placement_request_id},
        )
    return _request_row(rows[0])


_BY_COLUMN = ("therapist_id", "patient_id", "status")


@functools.cache
def _request_list_statements(columns: tuple[str, ...], state: str | None) -> PagedStatements:
    """The list's statements for one combination of filters, compiled once."""
    conditions = [placement_requests.c[name] == sa.bindparam(name) for name in columns]
    if state is not None:
        conditions.append(CONTACT_STATES[state](placement_requests))
    matching = sa.select(placement_requests).where(*conditions)
    return PagedStatements(
        matching, ("id",), _shown, descending=True, planned_each_time=state is not None
    )


def list_placement_requests(ctx: Context, filters: Mapping[str, Any]) -> EstimatedTotalListing:
    """Requests newest first (by id), filtered by ``therapist_id``, ``patient_id``,
    ``status`` and ``contact_state`` (one of ``CONTACT_STATES``)."""
    params = {name: filters[name] for name in _BY_COLUMN if filters.get(name) is not None}
    statements = _request_list_statements(tuple(params), filters.get("contact_state"))
    return EstimatedTotalListing(ctx.reader, statements, params, _request_row)
