"""Schemathesis fuzzes every operation of the OpenAPI document against the live application.

In-process WSGI (the real Flask app on the worker's real PostgreSQL), with a valid token. Each
generated request meets a database reset to a small seeded data set (a therapist, patients,
placement requests, an email, a phone call; all with id 1 or 2), so generated ids reach real
rows instead of stopping at 404. Checks: no 5xx, only documented status codes, documented
content type, and every body matches its schema. The run is seeded and bounded per operation.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from communication_service.extensions import db
from tests.api.contract import document
from tests.conftest import API_TOKEN
from tests.factories import reset_and_seed

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


@pytest.fixture
def fuzz_stats(request):
    """Generated requests of this operation, reported by ``pytest_terminal_summary``."""
    stats = {"requests": 0}
    request.node.user_properties.append(("fuzz", stats))
    return stats


@schema.parametrize()
def test_api_holds_its_contract(case, app, fuzz_stats):
    reset_and_seed(db.session)
    response = case.call(app=app, headers={"Authorization": f"Bearer {API_TOKEN}"})
    db.session.remove()
    fuzz_stats["requests"] += 1
    case.validate_response(response, checks=CHECKS)
