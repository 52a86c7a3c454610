"""Bulk data for the benchmarks, loaded with set-based SQL (``generate_series``), not row by row.

Rows are written the way the other services write them: plain SQL with the required columns;
every other column takes its database default (SPEC §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg2

from benchmarks.infra import libpq_dsn

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


@dataclass(frozen=True)
class DataSize:
    therapists: int = 10_000
    patients: int = 50_000
    requests: int = 100_000

    def scaled(self, factor: float) -> DataSize:
        return DataSize(
            therapists=max(10, int(self.therapists * factor)),
            patients=max(10, int(self.patients * factor)),
            requests=max(10, int(self.requests * factor)),
        )


def connect(database_url: str):
    connection = psycopg2.connect(libpq_dsn(database_url))
    connection.autocommit = False
    return connection


def load_people_and_requests(database_url: str, size: DataSize) -> None:
    """Therapists (1 in 20 without email, 1 in 10 potentially available), patients with
    registration dates over two years, and open, never-contacted placement requests spread
    evenly over the therapists (each therapist's patients are distinct)."""
    variants = ", ".join(f"'{v}'::jsonb" for v in AVAILABILITY_VARIANTS)
    with connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO therapist_service.therapists
                (id, anrede, titel, vorname, nachname, email, telefon,
                 telefonische_erreichbarkeit, potentially_available, status, created_at)
            SELECT i,
                   CASE WHEN i %% 2 = 0 THEN 'Frau' ELSE 'Herr' END,
                   CASE WHEN i %% 5 = 0 THEN 'Dr.' END,
                   'Vorname' || i, 'Nachname' || i,
                   CASE WHEN i %% 20 = 0 THEN NULL ELSE 'praxis' || i || '@example.org' END,
                   '+49 30 ' || lpad(i::text, 7, '0'),
                   (ARRAY[{variants}])[1 + i %% {len(AVAILABILITY_VARIANTS)}],
                   i %% 10 = 0,
                   'ACTIVE', current_date
            FROM generate_series(1, %(therapists)s) AS i;

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
            """,
            {"therapists": size.therapists, "patients": size.patients, "requests": size.requests},
        )
        _reset_sequences(cursor)
    connection.close()


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
    with connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO communication_service.phone_calls
                (therapist_id, scheduled_date, scheduled_time, duration_minutes, status)
            SELECT %(low)s + k %% (%(high)s - %(low)s + 1),
                   %(first_day)s::date + k / %(per_day)s,
                   TIME '08:00' + (k %% %(per_day)s) * INTERVAL '5 minutes',
                   5,
                   %(status)s::phonecallstatus
            FROM generate_series(0, %(count)s - 1) AS k
            """,
            {
                "low": low,
                "high": high,
                "first_day": first_day,
                "per_day": SLOTS_PER_DAY,
                "status": status,
                "count": count,
            },
        )
        cursor.execute("ANALYZE communication_service.phone_calls")
    connection.close()


def load_call_sheet(database_url: str, *, day: date, calls: int, requests_per_call: int) -> None:
    """A staff call sheet for ``day``: ``calls`` scheduled calls from 09:00 on, one per
    therapist (ids 2, 3, ...), each carrying up to ``requests_per_call`` of that therapist's
    open requests (the shape ``GET /api/phone-calls/daily`` serves)."""
    with connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
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
    connection.close()


def analyze(database_url: str) -> None:
    connection = psycopg2.connect(libpq_dsn(database_url))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()


def _reset_sequences(cursor) -> None:
    for table in (
        "therapist_service.therapists",
        "patient_service.patients",
        "matching_service.placement_requests",
    ):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )


def row_counts(database_url: str) -> dict[str, int]:
    connection = psycopg2.connect(libpq_dsn(database_url))
    counts = {}
    with connection.cursor() as cursor:
        for table in (
            "therapist_service.therapists",
            "patient_service.patients",
            "matching_service.placement_requests",
            "communication_service.phone_calls",
            "communication_service.emails",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    connection.close()
    return counts
