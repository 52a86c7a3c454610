"""Placement requests as the lists show them, and the list's query."""

from __future__ import annotations

from marshmallow import Schema, fields

from communication_service.models import PlacementRequestStatus
from communication_service.schemas.common import Choice, PageQuerySchema, RowId
from communication_service.services.placement_requests import CONTACT_STATES


class PlacementRequestSchema(Schema):
    id = fields.Integer()
    patient_id = fields.Integer()
    therapist_id = fields.Integer()
    status = Choice(PlacementRequestStatus, allow_none=True)
    created_at = fields.Date(allow_none=True)
    email_contact_date = fields.Date(allow_none=True)
    phone_contact_date = fields.Date(allow_none=True)
    response = fields.String(allow_none=True)
    response_date = fields.Date(allow_none=True)
    next_contact_after = fields.Date(allow_none=True)
    priority = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True)
    patient_display_name = fields.String(
        allow_none=True,
        metadata={"description": "As the emails show the patient: 'Anna M.' (rule 5)."},
    )
    therapist_display_name = fields.String(
        allow_none=True, metadata={"description": "Title, first and last name."}
    )
    contact_states = fields.List(
        Choice(CONTACT_STATES, name="RequestContactState"),
        metadata={
            "description": "Where it stands (none, one or several): waiting = open and never "
            "contacted; emailed = in a sent email without reply; on_call = on a scheduled "
            "call; needs_staff = follow_up_required on a call batch."
        },
    )
    unanswered_email_id = fields.Integer(
        allow_none=True, metadata={"description": "The latest sent email without reply."}
    )
    scheduled_call_id = fields.Integer(
        allow_none=True, metadata={"description": "The earliest scheduled call carrying it."}
    )


class PlacementRequestListQuerySchema(PageQuerySchema):
    therapist_id = RowId()
    patient_id = RowId()
    status = Choice(PlacementRequestStatus)
    contact_state = Choice(CONTACT_STATES, name="RequestContactState")
