"""A realistic week for trying the service locally, built relative to today.

Six therapists, ten patients, sixteen placement requests; emails in every state; calls
yesterday (completed with an outcome, failed and re-planned), a sheet of calls today and an
overdue one; an absence next week once absences exist. The calls, replies and re-plans go
through the service functions with a clock set to when they happened, so they follow the
same rules as the API; only what no service function writes (an email being handed to SMTP)
is a plain update.

Idempotent by reset: the demo deletes its own therapists, patients and requests (and with
them every email, call and absence of its therapists) and builds the week again, with the
ids starting at 1, so the README's walk-through names the same rows after every run. It
refuses to touch a database holding anything else (``DemoDataRefused``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from communication_service.clock import FixedClock, utc_naive
from communication_service.context import Context
from communication_service.models import (
    CallBookedBy,
    Email,
    EmailStatus,
    Patient,
    PatientStatus,
    PhoneCall,
    PhoneCallBatch,
    PlacementRequest,
    PlacementRequestStatus,
    Therapist,
    TherapistStatus,
)
from communication_service.services import emails as email_service
from communication_service.services import phone_calls as call_service
from communication_service.services.scheduling import schedule_call
from communication_service.services.sending import Delivery, DeliveryResult, record_delivery

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
ABSENCES_TABLE = "communication_service.therapist_absences"


class DemoDataRefused(Exception):
    """The database holds rows the demo did not write: it is left as it is."""


THERAPISTS = [
    dict(
        id=1,
        anrede="Frau",
        titel="Dr.",
        vorname="Anna",
        nachname="Müller",
        email="praxis.mueller@example.org",
        telefon="+49 30 1234561",
        telefonische_erreichbarkeit={
            "monday": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "16:30"}],
            "wednesday": [{"start": "10:00", "end": "14:00"}],
            "friday": [{"start": "08:30", "end": "11:30"}],
        },
        potentially_available=True,
        potentially_available_notes="Hat im Januar voraussichtlich zwei Plätze frei.",
    ),
    dict(
        id=2,
        anrede="Herr",
        titel=None,
        vorname="Jörg",
        nachname="Köhler",
        email="koehler@example.org",
        telefon="+49 30 1234562",
        telefonische_erreichbarkeit={
            "tuesday": [{"start": "12:05", "end": "12:50"}],
            "thursday": [{"start": "16:00", "end": "17:00"}],
        },
    ),
    dict(  # no email address: reached by phone only (rule 6)
        id=3,
        anrede="Frau",
        titel="Dipl.-Psych.",
        vorname="Leonie",
        nachname="Schäfer",
        email=None,
        telefon="+49 30 1234563",
        telefonische_erreichbarkeit={day: [{"start": "09:00", "end": "12:00"}] for day in WEEKDAYS},
    ),
    dict(
        id=4,
        anrede="Herr",
        titel="Dr.",
        vorname="Markus",
        nachname="Weiß",
        email="weiss@example.org",
        telefon="+49 30 1234564",
        telefonische_erreichbarkeit={"monday": [{"start": "08:00", "end": "09:00"}]},
        status=TherapistStatus.BLOCKED,
    ),
    dict(  # away next week (an absence, where the service has absences)
        id=5,
        anrede="Frau",
        titel=None,
        vorname="Sophie",
        nachname="Jäger",
        email="jaeger@example.org",
        telefon="+49 30 1234565",
        telefonische_erreichbarkeit={day: [{"start": "13:00", "end": "14:00"}] for day in WEEKDAYS},
    ),
    dict(
        id=6,
        anrede="Herr",
        titel="Dr.",
        vorname="Lukas",
        nachname="Brückner",
        email="brueckner@example.org",
        telefon="+49 30 1234566",
        telefonische_erreichbarkeit={
            **{day: [{"start": "08:00", "end": "10:00"}] for day in WEEKDAYS},
            "saturday": [{"start": "10:00", "end": "11:00"}],
        },
    ),
]

PATIENTS = [
    dict(
        id=1,
        vorname="Lena",
        nachname="Meyer",
        geburtsdatum=date(1994, 3, 12),
        diagnose="F32.1",
        startdatum=date(2026, 6, 2),
        krankenkasse="AOK Nordost",
        plz="10115",
        offen_fuer_gruppentherapie=True,
        zeitliche_verfuegbarkeit={"monday": [{"start": "08:00", "end": "12:00"}]},
    ),
    dict(
        id=2,
        vorname="Tim",
        nachname="Schneider",
        geburtsdatum=date(1988, 11, 30),
        diagnose="F41.1",
        startdatum=date(2026, 7, 15),
        krankenkasse="Techniker Krankenkasse",
        plz="10247",
        offen_fuer_gruppentherapie=False,
        zeitliche_verfuegbarkeit={"tuesday": [{"start": "17:00", "end": "20:00"}]},
    ),
    dict(
        id=3,
        vorname="Mia",
        nachname="Fischer",
        geburtsdatum=date(2001, 1, 5),
        diagnose="F43.1",
        startdatum=date(2026, 5, 20),
        krankenkasse="Debeka",
        plz="12043",
        offen_fuer_gruppentherapie=None,
        zeitliche_verfuegbarkeit=None,
    ),
    dict(
        id=4,
        vorname="Paul",
        nachname="Weber",
        geburtsdatum=date(1979, 8, 17),
        diagnose="F33.0",
        startdatum=date(2026, 9, 1),
    ),
    dict(
        id=5,
        vorname="Emma",
        nachname="Wolf",
        geburtsdatum=date(1999, 4, 23),
        diagnose="F40.1",
        startdatum=date(2026, 8, 10),
    ),
    dict(
        id=6,
        vorname="Noah",
        nachname="Braun",
        geburtsdatum=date(1992, 12, 2),
        diagnose="F50.2",
        startdatum=date(2026, 10, 3),
    ),
    dict(
        id=7,
        vorname="Jonas",
        nachname="Krüger",
        geburtsdatum=date(1985, 6, 9),
        diagnose="F32.2",
        startdatum=date(2026, 4, 14),
    ),
    dict(
        id=8,
        vorname="Hannah",
        nachname="Schröder",
        geburtsdatum=date(1997, 2, 28),
        diagnose="F42.1",
        startdatum=date(2026, 10, 20),
    ),
    dict(
        id=9,
        vorname="Ben",
        nachname="Hoffmann",
        geburtsdatum=date(2003, 9, 15),
        diagnose="F41.0",
        startdatum=date(2026, 11, 2),
    ),
    dict(
        id=10,
        vorname="Clara",
        nachname="Böhm",
        geburtsdatum=date(1990, 7, 1),
        diagnose="F34.1",
        startdatum=date(2026, 9, 28),
    ),
]

# (id, patient, therapist, days waiting): who waits for whom, and since when.
PLACEMENT_REQUESTS = [
    (1, 1, 1, 40),  # in the sent, unanswered email 2; on its follow-up call today
    (2, 2, 1, 12),  # the same
    (3, 3, 1, 75),  # waiting: never contacted
    (4, 4, 2, 30),  # accepted in the reply to email 1
    (5, 7, 2, 30),  # rejected in the reply to email 1
    (6, 6, 3, 21),  # accepted on yesterday's completed call
    (7, 5, 3, 9),  # yesterday's failed call, re-planned
    (8, 8, 4, 5),  # waiting, but the therapist is blocked
    (9, 9, 5, 3),  # in the queued email 4
    (10, 10, 5, 18),  # the same
    (11, 1, 6, 40),  # in the failed email 3
    (12, 3, 5, 60),  # on the overdue call
    (13, 8, 6, 5),  # on today's call with Dr. Brückner
    (14, 2, 2, 12),  # on today's call with Herr Köhler
    (15, 9, 1, 1),  # waiting: arrived yesterday
    (16, 10, 6, 2),  # waiting
]

DEMO_TABLES = (Therapist, Patient, PlacementRequest)


def _identities(model: type) -> tuple[sa.ColumnElement, list[tuple[Any, ...]]]:
    """The columns that tell a demo row from another one, and the demo's values of them."""
    table = model.__table__
    if model is PlacementRequest:
        rows = [(rid, patient, therapist) for rid, patient, therapist, _ in PLACEMENT_REQUESTS]
        return sa.tuple_(table.c.id, table.c.patient_id, table.c.therapist_id), rows
    rows = [(row["id"], row["vorname"], row["nachname"]) for row in _rows_of(model)]
    return sa.tuple_(table.c.id, table.c.vorname, table.c.nachname), rows


def _rows_of(model: type) -> list[dict[str, Any]]:
    return THERAPISTS if model is Therapist else PATIENTS


def _refuse_foreign_rows(session: Session) -> None:
    """Stop unless every therapist, patient and request is the demo's, and every email and
    call belongs to a demo therapist: a real database is never reset."""
    foreign = []
    for model in DEMO_TABLES:
        key, rows = _identities(model)
        count = session.execute(
            sa.select(sa.func.count()).select_from(model).where(key.not_in(rows))
        ).scalar_one()
        if count:
            foreign.append(f"{count} in {model.__table__.fullname}")
    therapist_ids = [row["id"] for row in THERAPISTS]
    for model in (Email, PhoneCall):
        count = session.execute(
            sa.select(sa.func.count())
            .select_from(model)
            .where(model.__table__.c.therapist_id.not_in(therapist_ids))
        ).scalar_one()
        if count:
            foreign.append(f"{count} in {model.__table__.fullname}")
    if foreign:
        session.rollback()
        raise DemoDataRefused(
            "demo-data: the database holds rows the demo did not write "
            f"({', '.join(foreign)}); nothing was changed. The demo resets only a database "
            "of its own (an empty one, or one it filled)."
        )


def _absences_exist(session: Session) -> bool:
    return session.execute(sa.select(sa.func.to_regclass(ABSENCES_TABLE))).scalar() is not None


def _reset(session: Session) -> None:
    """Delete the demo's rows and restart this service's ids at 1 (nothing else is there)."""
    therapist_ids = [row["id"] for row in THERAPISTS]
    session.execute(
        sa.delete(Email.__table__).where(Email.__table__.c.therapist_id.in_(therapist_ids))
    )
    # Calls, call batches and absences go with their therapist (ON DELETE CASCADE).
    for model in (PlacementRequest, Therapist, Patient):
        session.execute(sa.delete(model.__table__))
    own = ["phone_call_batches", "email_batches", "phone_calls", "emails"]
    if _absences_exist(session):
        own.append("therapist_absences")
    for name in own:
        session.execute(
            sa.text("SELECT setval(pg_get_serial_sequence(:table, 'id'), 1, false)"),
            {"table": f"communication_service.{name}"},
        )


def _insert_platform_rows(session: Session, today: date) -> None:
    """Therapists, patients and requests as their services write them (status and creation
    date on every row; the platform's columns have no defaults)."""
    for row in THERAPISTS:
        values = {"status": TherapistStatus.ACTIVE, "created_at": today - timedelta(days=400)}
        session.execute(sa.insert(Therapist.__table__).values({**values, **row}))
    for row in PATIENTS:
        session.execute(
            sa.insert(Patient.__table__).values(
                {**row, "status": PatientStatus.SEARCHING, "created_at": today - timedelta(90)}
            )
        )
    for request_id, patient_id, therapist_id, waiting in PLACEMENT_REQUESTS:
        session.execute(
            sa.insert(PlacementRequest.__table__).values(
                id=request_id,
                patient_id=patient_id,
                therapist_id=therapist_id,
                status=PlacementRequestStatus.OPEN,
                created_at=today - timedelta(days=waiting),
                priority=1,
            )
        )
    # Ids were given explicitly; move the sequences past them so new rows do not collide.
    for model in DEMO_TABLES:
        table = model.__table__.fullname
        session.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                f"(SELECT MAX(id) FROM {table}))"
            ),
            {"table": table},
        )


class _Week:
    """Contexts standing at given moments of the demo's week (the caller's reader and
    settings, the clock at that moment)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tz = ZoneInfo(ctx.settings.timezone)
        self.today = ctx.clock.now().astimezone(self.tz).date()

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)

    def at(self, offset: int, hhmm: str) -> Context:
        moment = datetime.combine(self.day(offset), time.fromisoformat(hhmm), tzinfo=self.tz)
        return replace(self.ctx, clock=FixedClock(moment, self.tz))


def _sent_email(ctx: Context, therapist_id: int, request_ids: list[int], subject: str) -> int:
    """A staff email, queued and handed to SMTP at ``ctx``'s moment, and sent (rule 11)."""
    email_id = _queued_email(ctx, therapist_id, request_ids, subject)
    _deliver(ctx, email_id, DeliveryResult(Delivery.SENT))
    return email_id


def _queued_email(ctx: Context, therapist_id: int, request_ids: list[int], subject: str) -> int:
    email = email_service.create_email(
        ctx,
        {
            "therapist_id": therapist_id,
            "subject": subject,
            "body_text": (
                "Guten Tag,\n\nwir suchen für die folgenden Patientinnen und Patienten einen "
                "Therapieplatz. Hätten Sie in den nächsten Wochen Kapazität?\n\n"
                "Mit freundlichen Grüßen"
            ),
            "placement_request_ids": request_ids,
            "status": EmailStatus.QUEUED,
        },
    )
    return email["id"]


def _deliver(ctx: Context, email_id: int, delivery: DeliveryResult) -> None:
    # What the sender's claim does (queued -> sending); the outcome is recorded by the sender's
    # own function.
    emails = Email.__table__
    ctx.session.execute(
        sa.update(emails)
        .where(emails.c.id == email_id)
        .values(status=EmailStatus.SENDING, sending_started_at=utc_naive(ctx.clock))
    )
    record_delivery(ctx, {"id": email_id, "retry_count": 0}, delivery)


def _book(
    ctx: Context, therapist_id: int, request_ids: list[int], day: date, hhmm: str, **kw: Any
) -> int:
    """An explicit booking, as staff make it through the API (committed)."""
    call_id = schedule_call(
        ctx,
        therapist_id=therapist_id,
        placement_request_ids=request_ids,
        scheduled_date=day,
        scheduled_time=time.fromisoformat(hhmm),
        **kw,
    )
    ctx.session.commit()
    return call_id


def _batch_id(session: Session, call_id: int, request_id: int) -> int:
    batches = PhoneCallBatch.__table__
    return session.execute(
        sa.select(batches.c.id).where(
            batches.c.phone_call_id == call_id, batches.c.placement_request_id == request_id
        )
    ).scalar_one()


def _build_week(ctx: Context) -> None:
    week = _Week(ctx)
    session = ctx.session

    # Six days ago: an email to Herr Köhler, answered two days later (one placement, one no).
    email_1 = _sent_email(week.at(-6, "08:05"), 2, [4, 5], "Anfrage Therapieplätze")
    email_service.record_response(
        week.at(-4, "10:30"),
        email_1,
        {
            "response_content": "Herrn Weber kann ich ab Januar aufnehmen, für Herrn Krüger "
            "habe ich leider keinen Platz.",
            "outcomes": {4: "accepted", 5: "rejected"},
        },
    )
    # Three days ago: an email to Dr. Müller, not answered; followed up by a call today.
    email_2 = _sent_email(week.at(-3, "08:05"), 1, [1, 2], "Anfrage Therapieplätze")
    # Two days ago: an email to Dr. Brückner the mail server refused; a call on the same
    # afternoon that nobody closed (overdue).
    email_3 = _queued_email(week.at(-2, "08:05"), 6, [11], "Anfrage Therapieplatz")
    _deliver(
        week.at(-2, "08:06"),
        email_3,
        DeliveryResult(Delivery.PERMANENT, "550 5.1.1 Recipient address rejected: user unknown"),
    )
    _book(week.at(-3, "00:00"), 5, [12], week.day(-2), "13:30", notes="Rückruf erbeten")

    # Yesterday: a call with Frau Schäfer (no email) that placed Herr Braun, and one that
    # did not get through, re-planned by the service (rule 8).
    completed = _book(week.at(-2, "00:00"), 3, [6], week.day(-1), "09:30")
    call_service.update_call(
        week.at(-1, "09:40"),
        completed,
        {"status": "completed", "outcome": "Erreicht; Herr Braun kann im Januar beginnen."},
    )
    call_service.update_batch(
        week.at(-1, "09:41"), _batch_id(session, completed, 6), {"outcome": "accepted"}
    )
    failed = _book(week.at(-2, "00:00"), 3, [7], week.day(-1), "11:00")
    call_service.update_call(
        week.at(-1, "11:06"), failed, {"status": "failed", "outcome": "Nicht erreicht (besetzt)."}
    )

    # Today's sheet, whatever the weekday (explicit times may lie outside the hours).
    midnight = week.at(0, "00:00")
    _book(
        midnight,
        1,
        [1, 2],
        week.day(0),
        "10:00",
        follow_up_email_id=email_2,
        booked_by=CallBookedBy.AUTOMATIC,
        notes="Nachfassen: E-Mail ohne Antwort",
    )
    session.execute(
        sa.update(Email.__table__)
        .where(Email.__table__.c.id == email_2)
        .values(followed_up_at=utc_naive(midnight.clock))
    )
    session.commit()
    _book(midnight, 6, [13], week.day(0), "11:00")
    _book(
        midnight, 2, [14], week.day(0), "14:00", notes="Nach Kapazität für Herrn Schneider fragen"
    )

    # Now: an email to Frau Jäger waits in the queue (the next send-emails sends it).
    _queued_email(ctx, 5, [9, 10], "Anfrage Therapieplätze")

    # Next week (Monday to Friday) Frau Jäger is away.
    if _absences_exist(session):
        monday = week.day(7 - week.today.weekday())
        session.execute(
            sa.text(
                f"INSERT INTO {ABSENCES_TABLE} (therapist_id, starts_on, ends_on, note) "
                "VALUES (5, :starts_on, :ends_on, 'Urlaub')"
            ),
            {"starts_on": monday, "ends_on": monday + timedelta(days=4)},
        )
        session.commit()


def load_demo_data(ctx: Context) -> dict[str, int]:
    """Reset the demo's rows and build the week around ``ctx``'s today; the rows per table."""
    session = ctx.session
    _refuse_foreign_rows(session)
    _reset(session)
    _insert_platform_rows(session, _Week(ctx).today)
    session.commit()
    _build_week(ctx)
    counted = {
        "therapists": Therapist,
        "patients": Patient,
        "placement_requests": PlacementRequest,
        "emails": Email,
        "phone_calls": PhoneCall,
    }
    return {
        name: session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for name, model in counted.items()
    }
