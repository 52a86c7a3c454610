"""Bulk data for the benchmarks, loaded with set-based SQL (``generate_series``), not row by row.

Rows are written the way the other services write them: plain SQL with the required columns;
every other column takes its database default (docs/data-model.md).
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from benchmarks.harness import sql

# Monday-Friday telephone hours, three shapes so the scheduler sees variety.
AVAILABILITY_VARIANTS = (
    '{"monday": [{"start": "09:00", "end": "12:00"}], "wednesday": [{"start": "14:00", '
    '"end": "16:00"}], "friday": [{"start": "08:30", "end": "11:30"}]}',
    '{"tuesday": [{"start": "10:00", "end": "12:00"}, {"start": "13:00", "end": "15:00"}], '
    '"thursday": [{"start": "09:00", "end": "11:00"}]}',
    '{"monday": [{"start": "08:00", "end": "09:00"}], "tuesday": [{"start": "08:00", '
    '"end": "09:00"}], "wednesday": [{"start": "08:00", "end": "09:00"}], "thursday": '
    '[{"start": "08:00", "end": "09:00"}], "friday": [{"start": "08:00", "end": "09:00"}]}',
)
SLOTS_PER_DAY = 96  # 08:00-16:00 on the 5-minute grid
# The 100 most common German surnames (umlauts and ß included) and 20 first names: each
# surname is borne by 1 in 100 therapists, as a name search meets them.
SURNAMES = (  # noqa: SIM905 - a list of 100 names reads better as text
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
    "Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler "
    "Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn "
    "Schubert Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann "
    "Franke Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt "
    "Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich "
    "Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer"
).split()
FIRST_NAMES = (  # noqa: SIM905
    "Anna Jörg Sören Käthe Max Léa Bernd Ute Jürgen Maria Thomas Sabine Michael Petra Andreas "
    "Monika Stefan Birgit Frank Renée"
).split()


@dataclass(frozen=True)
class DataSize:
    therapists: int = 10_000
    patients: int = 50_000
    requests: int = 100_000

    def scaled(self, factor: float) -> DataSize:
        return DataSize(*(max(10, int(n * factor)) for n in vars(self).values()))


THERAPISTS_SQL = """
    INSERT INTO therapist_service.therapists
        (id, anrede, titel, vorname, nachname, email, telefon,
         telefonische_erreichbarkeit, potentially_available, status, created_at)
    SELECT i,
           CASE WHEN i %% 2 = 0 THEN 'Frau' ELSE 'Herr' END,
           CASE WHEN i %% 5 = 0 THEN 'Dr.' END,
           (ARRAY[{first_names}])[1 + (i / {surname_count}) %% {first_name_count}],
           (ARRAY[{surnames}])[1 + i %% {surname_count}],
           CASE WHEN i %% 20 = 0 THEN NULL ELSE 'praxis' || i || '@example.org' END,
           '+49 30 ' || lpad(i::text, 7, '0'),
           (ARRAY[{variants}])[1 + i %% {count}],
           i %% 10 = 0,
           'ACTIVE', current_date
    FROM generate_series(%(first)s, %(last)s) AS i;
""".format(
    variants=", ".join(f"'{v}'::jsonb" for v in AVAILABILITY_VARIANTS),
    count=len(AVAILABILITY_VARIANTS),
    first_names=", ".join(f"'{name}'" for name in FIRST_NAMES),
    first_name_count=len(FIRST_NAMES),
    surnames=", ".join(f"'{name}'" for name in SURNAMES),
    surname_count=len(SURNAMES),
)


def load_people_and_requests(database_url: str, size: DataSize) -> None:
    """Therapists (1 in 20 without email, 1 in 10 potentially available, named from
    ``SURNAMES``), patients with registration dates over two years, and open, never-contacted
    placement requests spread evenly over the therapists (each therapist's patients are
    distinct)."""
    params = {"first": 1, "last": size.therapists, "therapists": size.therapists}
    sql(
        database_url,
        THERAPISTS_SQL
        + """
        INSERT INTO patient_service.patients
            (id, vorname, nachname, geburtsdatum, diagnose, startdatum, status, created_at)
        SELECT i, 'Patientin' || i, 'Nachname' || i,
               DATE '1960-01-01' + (i * 37) %% 20000,
               'F3' || (i %% 10) || '.' || (i %% 3),
               DATE '2024-06-01' + (i * 7919) %% 730,
               'SEARCHING', current_date
        FROM generate_series(1, %(patients)s) AS i;

        INSERT INTO matching_service.placement_requests
            (id, patient_id, therapist_id, status, created_at, priority)
        SELECT i + 1,
               1 + ((i %% %(therapists)s) * 37 + (i / %(therapists)s) * 5011) %% %(patients)s,
               1 + i %% %(therapists)s,
               'OPEN', current_date, 1
        FROM generate_series(0, %(requests)s - 1) AS i;
        """
        + RESET_SEQUENCES,
        {**params, "patients": size.patients, "requests": size.requests},
    )


def load_list_therapists(database_url: str, *, first: int, count: int, calls_each: int) -> None:
    """``count`` more therapists (ids from ``first`` on) with ``calls_each`` past calls each:
    the list page a staff member opens for any therapist."""
    last = first + count - 1
    sql(database_url, THERAPISTS_SQL + RESET_SEQUENCES, {"first": first, "last": last})
    load_phone_calls(
        database_url,
        count=count * calls_each,
        first_day=date.today() - timedelta(days=count * calls_each // SLOTS_PER_DAY + 7),
        therapist_ids=(first, last),
    )


def load_emails(database_url: str, *, count: int, therapists: int) -> None:
    """``count`` sent emails as ``batch-emails`` writes them, round-robin over therapists
    ``1..therapists``, each carrying 1-3 of its therapist's requests (``email_batches``)."""
    sql(
        database_url,
        """
        WITH new_emails AS (
            INSERT INTO communication_service.emails
                (therapist_id, subject, body_text, body_html, recipient_email, recipient_name,
                 sender_email, sender_name, status, queued_at, next_attempt_at, sent_at,
                 message_id, batch_id, created_at, updated_at)
            SELECT t.id, 'Anfrage Therapieplatz', 'Sehr geehrte Damen und Herren, ' || k,
                   '<p>Sehr geehrte Damen und Herren, ' || k || '</p>',
                   coalesce(t.email, 'praxis' || t.id || '@example.org'),
                   t.vorname || ' ' || t.nachname, 'bench@example.org', 'Bench',
                   'sent', s.at, s.at, s.at + INTERVAL '1 minute',
                   '<bench-' || k || '@example.org>', 'bench-' || k / 1000, s.at, s.at
            FROM generate_series(0, %(count)s - 1) AS k
            JOIN therapist_service.therapists AS t ON t.id = 1 + k %% %(therapists)s
            CROSS JOIN LATERAL (
                SELECT TIMESTAMP '2025-01-01 07:00' + k * INTERVAL '5 minutes' AS at
            ) AS s
            RETURNING id, therapist_id
        )
        INSERT INTO communication_service.email_batches
            (email_id, placement_request_id, priority)
        SELECT e.id, r.id, r.rank
        FROM new_emails AS e
        JOIN LATERAL (
            SELECT pr.id, row_number() OVER (ORDER BY pr.id) AS rank
            FROM matching_service.placement_requests AS pr
            WHERE pr.therapist_id = e.therapist_id
            ORDER BY pr.id
            LIMIT 1 + e.id %% 3
        ) AS r ON true
        """,
        {"count": count, "therapists": therapists},
    )


def load_phone_calls(
    database_url: str,
    *,
    count: int,
    first_day: date,
    therapist_ids: tuple[int, int],
    status: str = "completed",
) -> None:
    """``count`` calls, one every 5 minutes 08:00-16:00 from ``first_day`` on, round-robin over
    therapists ``therapist_ids[0]..[1]``. No two calls overlap at all, so both the per-therapist
    exclusion constraint and ``CALL_LINES=1`` hold whatever ``status`` is."""
    low, high = therapist_ids
    sql(
        database_url,
        """
            INSERT INTO communication_service.phone_calls
                (therapist_id, scheduled_date, scheduled_time, duration_minutes, status)
            SELECT %(low)s + k %% (%(high)s - %(low)s + 1),
                   %(first_day)s::date + k / %(per_day)s,
                   TIME '08:00' + (k %% %(per_day)s) * INTERVAL '5 minutes',
                   5,
                   %(status)s::phonecallstatus
            FROM generate_series(0, %(count)s - 1) AS k;
            ANALYZE communication_service.phone_calls
        """,
        {"low": low, "high": high, "first_day": first_day, "per_day": SLOTS_PER_DAY,
         "status": status, "count": count},
    )  # fmt: skip


def load_existing_calls(database_url: str, count: int, therapist_ids: tuple[int, int]) -> None:
    """``count`` calls already booked: 4/5 completed in the past, 1/5 scheduled densely from
    tomorrow on (the slot search has to step over them)."""
    past, future = count - count // 5, count // 5
    first_day = date.today() - timedelta(days=past // SLOTS_PER_DAY + 2)
    load_phone_calls(database_url, count=past, first_day=first_day, therapist_ids=therapist_ids)
    tomorrow = date.today() + timedelta(days=1)
    load_phone_calls(database_url, count=future, first_day=tomorrow,
                     therapist_ids=therapist_ids, status="scheduled")  # fmt: skip


def load_call_sheet(database_url: str, *, day: date, calls: int, requests_per_call: int) -> None:
    """A staff call sheet for ``day``: ``calls`` scheduled calls from 09:00 on, one per
    therapist (ids 2, 3, ...), each carrying up to ``requests_per_call`` of that therapist's
    open requests (the shape ``GET /api/phone-calls/daily`` serves)."""
    sql(
        database_url,
        """
            WITH new_calls AS (
                INSERT INTO communication_service.phone_calls
                    (therapist_id, scheduled_date, scheduled_time, duration_minutes)
                SELECT 2 + k, %(day)s, TIME '09:00' + k * INTERVAL '5 minutes', 5
                FROM generate_series(0, %(calls)s - 1) AS k
                RETURNING id, therapist_id
            )
            INSERT INTO communication_service.phone_call_batches
                (phone_call_id, placement_request_id, priority)
            SELECT c.id, r.id, r.rank
            FROM new_calls AS c
            JOIN LATERAL (
                SELECT pr.id, row_number() OVER (ORDER BY pr.id) AS rank
                FROM matching_service.placement_requests AS pr
                WHERE pr.therapist_id = c.therapist_id
                ORDER BY pr.id
                LIMIT %(per_call)s
            ) AS r ON true
            """,
        {"day": day, "calls": calls, "per_call": requests_per_call},
    )


PEOPLE = ("therapist_service.therapists", "patient_service.patients",
          "matching_service.placement_requests")  # fmt: skip
RESET_SEQUENCES = "".join(
    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}));"
    for t in PEOPLE
)


def id_ranges(database_url: str) -> dict[str, tuple[int, int]]:
    """After ``VACUUM ANALYZE``, (lowest, highest) id of each table scenarios draw ids from."""
    sql(database_url, "VACUUM ANALYZE")
    tables = ("communication_service.phone_calls", "communication_service.emails", *PEOPLE[:2])
    return {
        table.split(".")[1]: tuple(sql(database_url, f"SELECT min(id), max(id) FROM {table}")[0])
        for table in tables
    }


# --- inbound mail: a Maildir of mixed messages ----------------------------------------------

# The shares of the import-mail benchmark's mailbox, in tenths of a percent (sum 1000).
MAIL_MIX = (
    ("reply", 500),  # In-Reply-To a sent email
    ("reply_by_sender", 100),  # no thread headers: matched by the sender
    ("auto_reply", 150),
    ("bounce", 50),  # permanent, 5.1.1
    ("delayed", 50),  # 4.4.1
    ("unknown", 100),  # a stranger
    ("attachment", 50),  # a reply carrying a 200 KB PDF
)
_PDF = base64.encodebytes(b"%PDF-1.4\n" + bytes(range(256)) * 800)  # ~200 KB, 76-char lines


def _mail(kind: str, n: int, message_id: str, address: str, sent_at: datetime) -> bytes:
    """One message of ``kind`` answering the email ``message_id`` sent to ``address``."""
    date = format_datetime((sent_at + timedelta(days=1)).replace(tzinfo=UTC))
    head = f"From: Praxis {n} <{address}>\nTo: vermittlung@example.org\nDate: {date}\n"
    own = f"Message-ID: <in-{n}@praxis.example>\nMIME-Version: 1.0\n"
    thread = f"In-Reply-To: {message_id}\nReferences: {message_id}\n"
    quote = "\n\nAm 01.12.2026 um 08:00 schrieb Vermittlung <vermittlung@example.org>:\n" + (
        "> Sehr geehrte Damen und Herren, wir suchen einen Therapieplatz.\n" * 8
    )
    latin1 = "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
    text = f"Für Frau M. hätte ich ab Januar einen Platz, Grüße aus München ({n}).{quote}"
    if kind == "reply":
        return (head + own + thread + "Subject: AW: Anfrage\n" + latin1 + text).encode("latin-1")
    if kind == "reply_by_sender":
        return (head + own + "Subject: Platz frei\n" + latin1 + text).encode("latin-1")
    if kind == "auto_reply":
        subject = "Subject: =?iso-8859-1?Q?Automatische_Antwort:_Anfrage?=\n"
        auto = "Auto-Submitted: auto-generated\n"
        return (head + own + thread + subject + auto + latin1 + "Bis 4.1. abwesend.").encode(
            "latin-1"
        )
    if kind in ("bounce", "delayed"):
        status, action = ("5.1.1", "failed") if kind == "bounce" else ("4.4.1", "delayed")
        return (
            f"From: MAILER-DAEMON@mx.example.org\nTo: vermittlung@example.org\nDate: {date}\n"
            f"{own}Subject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report;"
            f' report-type=delivery-status; boundary="b{n}"\n\n--b{n}\nContent-Type: text/plain'
            f"\n\nThe mail system\n\n--b{n}\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; {address}\n"
            f"Action: {action}\nStatus: {status}\nDiagnostic-Code: smtp; 550 {status} User "
            f"unknown\n\n--b{n}\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}"
            f"\nSubject: Anfrage\n\n--b{n}--\n"
        ).encode()
    if kind == "unknown":
        stranger = f"From: newsletter{n}@example.net\nTo: vermittlung@example.org\nDate: {date}\n"
        return (stranger + own + "Subject: Angebot\n" + latin1 + "Neu im Programm").encode()
    return (
        (
            f"{head}{own}{thread}Subject: AW: Anfrage\nContent-Type: multipart/mixed; "
            f'boundary="m{n}"\n\n--m{n}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n'
            f"--m{n}\nContent-Type: application/pdf\nContent-Disposition: attachment; "
            f'filename="Befund-{n}.pdf"\nContent-Transfer-Encoding: base64\n\n'
        ).encode()
        + _PDF
        + f"--m{n}--\n".encode()
    )


def write_maildir(database_url: str, path: Path, count: int) -> Counter[str]:
    """A Maildir (new/, cur/, tmp/) of ``count`` messages in the shares of ``MAIL_MIX``, each
    answering a different sent email of the database; written as an MTA delivers (tmp/ then
    a rename into new/). The kinds written, counted."""
    for folder in ("tmp", "new", "cur"):
        (path / folder).mkdir(parents=True, exist_ok=True)
    emails = sql(
        database_url,
        "SELECT message_id, recipient_email, sent_at FROM communication_service.emails "
        "WHERE status = 'sent' ORDER BY id LIMIT %s",
        (count,),
    )
    if len(emails) < count:
        raise ValueError(f"{count} messages need as many sent emails, found {len(emails)}")
    kinds = [kind for kind, share in MAIL_MIX for _ in range(share)]
    written: Counter[str] = Counter()
    for n, (message_id, address, sent_at) in enumerate(emails):
        kind = kinds[(n * 7919) % len(kinds)]  # spread the kinds over the folder
        name = f"{1764547200 + n}.M{n}P1.bench"
        (path / "tmp" / name).write_bytes(_mail(kind, n, message_id, address, sent_at))
        os.rename(path / "tmp" / name, path / "new" / name)
        written[kind] += 1
    return written
