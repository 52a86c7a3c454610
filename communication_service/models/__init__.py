"""The mapped tables: one module per aggregate."""

from communication_service.models.email import Email, EmailBatch, EmailStatus
from communication_service.models.inbound_email import (
    InboundEmail,
    InboundEmailKind,
    MatchedBy,
    UndeliverableAddress,
)
from communication_service.models.patient import Patient, PatientStatus
from communication_service.models.phone_call import (
    CallBookedBy,
    PhoneCall,
    PhoneCallBatch,
    PhoneCallStatus,
)
from communication_service.models.placement_request import (
    PlacementRequest,
    PlacementRequestStatus,
)
from communication_service.models.therapist import Therapist, TherapistStatus
from communication_service.models.therapist_absence import TherapistAbsence

__all__ = [
    "CallBookedBy",
    "Email",
    "EmailBatch",
    "EmailStatus",
    "InboundEmail",
    "InboundEmailKind",
    "MatchedBy",
    "Patient",
    "PatientStatus",
    "PhoneCall",
    "PhoneCallBatch",
    "PhoneCallStatus",
    "PlacementRequest",
    "PlacementRequestStatus",
    "Therapist",
    "TherapistAbsence",
    "TherapistStatus",
    "UndeliverableAddress",
]
