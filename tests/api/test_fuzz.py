"""Schemathesis fuzzes every operation of the OpenAPI document against the live application.

In-process WSGI (the real Flask app on the worker's real PostgreSQL), with a valid token. Each
generated request meets a database reset to a small seeded data set (a therapist, patients,
placement requests, an email, a phone call; all with id 1 or 2), so generated ids reach real
rows instead of stopping at 404. Checks: no 5xx, only documented status codes, documented
content type, every body matches its schema, and no schema-violating request gets a 2xx. The
run is seeded (the same cases everywhere) and bounded per operation; the number of generated
requests is printed at the end of the pytest run ("fuzzing: N generated requests ...").
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
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
# (ignored_auth is left out: it doubles the run, and test_auth.py sends every route five kinds
# of missing or wrong credentials.)


class LiveApp:
    """The WSGI app schemathesis calls: the test's app, set when the test starts.

    The schema is built at collection time (one test per operation, spread over the xdist
    workers), before any app exists; every request, including those the checks send on their
    own, goes through this in-process.
    """

    target: Flask | None = None

    def __call__(self, environ, start_response):
        assert self.target is not None, "the fuzz test sets the app first"
        return self.target(environ, start_response)


@st.composite
def raw_messages(draw: st.DrawFn) -> bytes:
    """Bodies of ``message/rfc822``: header blocks with fuzzed values and markers, bytes in
    any encoding, and bytes that are no message at all."""
    header = draw(
        st.sampled_from(
            [
                "In-Reply-To: <seed@example.org>",
                "Auto-Submitted: auto-replied",
                "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
                "Content-Type: text/html; charset=iso-8859-1",
                "Content-Type: text/plain; charset=x-no-such-charset",
                "Content-Transfer-Encoding: base64",
                "Message-ID: <seed-1@praxis.example>",
                "Date: Mon, 99 Foo 99999 99:99:99 +9999",
            ]
        )
    )
    sender = draw(st.sampled_from(["praxis@example.net", "becker@example.org", "<>", "a@b@c"]))
    subject = draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")
    body = draw(st.binary(max_size=300))
    return (
        b"From: "
        + sender.encode()
        + b"\nSubject: "
        + subject
        + b"\n"
        + header.encode()
        + (b"\n\n" + body)
    )


# A body of this media type is drawn from these, not from its schema (binary).
schemathesis.openapi.media_type(
    "message/rfc822", st.one_of(raw_messages(), st.binary(max_size=200))
)
live_app = LiveApp()
schema = schemathesis.openapi.from_dict(
    document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # No example database: the same seed gives the same run everywhere.
            "generation": {"max-examples": MAX_EXAMPLES_PER_OPERATION, "database": "none"},
            "suppress-health-check": ["all"],
            # The token goes in as the document's bearer scheme, so schemathesis knows which
            # requests carry it and which it deliberately sent without (those must get 401).
            "auth": {"openapi": {"bearerAuth": {"bearer": API_TOKEN}}},
        }
    ),
)
schema.app = live_app


@pytest.fixture
def fuzz_stats(request):
    """Generated requests of this operation, reported by ``pytest_terminal_summary``."""
    stats = {"requests": 0}
    request.node.user_properties.append(("fuzz", stats))
    return stats


@schema.parametrize()
def test_api_holds_its_contract(case, app, fuzz_stats):
    live_app.target = app
    reset_and_seed(db.session)
    fuzz_stats["requests"] += 1
    try:
        case.call_and_validate(checks=CHECKS)
    finally:
        db.session.remove()
