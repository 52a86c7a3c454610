"""Schemathesis fuzzes every operation of the OpenAPI document against the live application.

In-process WSGI (the real Flask app on the worker's real PostgreSQL), with a valid token. Each
generated request meets a database reset to a small seeded data set (a therapist, patients,
placement requests, an email, a phone call; all with id 1 or 2), so generated ids reach real
rows instead of stopping at 404. Checks: no 5xx, only documented status codes, documented
content type, and every body matches its schema. The run is seeded and bounded per operation.
"""

from __future__ import annotations

import functools
import json
import os

import pytest
import schemathesis
import sqlalchemy as sa
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from communication_service.extensions import db
from tests.api.contract import document
from tests.conftest import API_TOKEN, TABLES
from tests.factories import WEEKDAY_MORNINGS

# Bounds of the run (the fuzzing phase; the coverage phase adds its boundary cases): with ~20
# operations the fuzz tests stay well under two minutes on 2 cores. FUZZ_MAX_EXAMPLES raises
# the bound for a deeper run by hand; FUZZ_SEED picks other examples.
MAX_EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_MAX_EXAMPLES", "60"))
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # Invalid data (wrong type, unknown field, out of range) must not be accepted with a 2xx.
    negative_data_rejection,
]

schema = schemathesis.openapi.from_dict(
    document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # No example database: the same seed gives the same run everywhere.
            "generation": {"max-examples": MAX_EXAMPLES_PER_OPERATION, "database": "none"},
            "suppress-health-check": ["all"],
        }
    ),
)


SEED_ROWS = """
INSERT INTO therapist_service.therapists
    (anrede, vorname, nachname, email, telefon, telefonische_erreichbarkeit, potentially_available)
VALUES
    ('Frau', 'Anna', 'Becker', 'becker@example.org', '+49 30 5550001', '{availability}', true),
    (NULL, NULL, 'Ohnemail', NULL, '+49 30 5550002', '{availability}', false);
INSERT INTO patient_service.patients (vorname, nachname, startdatum)
VALUES ('Erika', 'Patientin', '2026-01-01'), ('Max', 'Patient', '2026-01-02');
INSERT INTO matching_service.placement_requests (therapist_id, patient_id)
VALUES (1, 1), (1, 2);
INSERT INTO communication_service.emails (therapist_id, subject, body_text, recipient_email)
VALUES (1, 'Anfrage', 'Guten Tag', 'becker@example.org');
INSERT INTO communication_service.email_batches (email_id, placement_request_id, priority)
VALUES (1, 1, 1);
INSERT INTO communication_service.phone_calls (therapist_id, scheduled_date, scheduled_time)
VALUES (1, '2026-12-01', '09:00');
INSERT INTO communication_service.phone_call_batches (phone_call_id, placement_request_id, priority)
VALUES (1, 2, 1);
""".format(availability=json.dumps(WEEKDAY_MORNINGS))


@functools.cache
def reset_script() -> str:
    """Empty every table, restart its ids at 1, insert the seed rows: one round trip.

    DELETE and ``setval`` rather than TRUNCATE: on tables this small it is 30 times faster.
    """
    sequences = db.session.execute(
        sa.text("SELECT pg_get_serial_sequence(t, 'id') FROM unnest(CAST(:tables AS text[])) t"),
        {"tables": list(TABLES)},
    ).scalars()
    deletes = "".join(f"DELETE FROM {table};\n" for table in TABLES)
    restarts = ", ".join(f"setval('{sequence}', 1, false)" for sequence in sequences)
    return f"{deletes}SELECT {restarts};\n{SEED_ROWS}"


def reset_and_seed() -> None:
    db.session.connection().exec_driver_sql(reset_script())
    db.session.commit()


@pytest.fixture
def fuzz_stats(request):
    """Generated requests of this operation, reported by ``pytest_terminal_summary``."""
    stats = {"requests": 0}
    request.node.user_properties.append(("fuzz", stats))
    return stats


@schema.parametrize()
def test_api_holds_its_contract(case, app, fuzz_stats):
    reset_and_seed()
    response = case.call(app=app, headers={"Authorization": f"Bearer {API_TOKEN}"})
    db.session.remove()
    fuzz_stats["requests"] += 1
    case.validate_response(response, checks=CHECKS)
