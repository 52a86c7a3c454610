"""The ceilings the service is measured against, served by gunicorn with the service's settings.

- ``bare_app``: Flask returning ``{"ok": true}`` — what Flask + gunicorn + the load generator
  cost on this machine with no work at all.
- ``pk_app``: Flask doing one primary-key ``SELECT`` with raw psycopg2 (one connection per
  worker process, reused; ``DATABASE_URL``) and returning the row as JSON — the least a
  database read can cost.
"""

from __future__ import annotations

import os

import psycopg2
import psycopg2.extras
from flask import Flask, jsonify

from benchmarks.harness import libpq_dsn

bare_app, pk_app = Flask("bare_ceiling"), Flask("pk_ceiling")
_connection = None


@bare_app.get("/")
@bare_app.get("/health")
@pk_app.get("/health")
def ok():
    return jsonify({"ok": True})


def _cursor():
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg2.connect(libpq_dsn(os.environ["DATABASE_URL"]))
        _connection.autocommit = True
    return _connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor)


@pk_app.get("/therapists/<int:therapist_id>")
def therapist(therapist_id: int):
    with _cursor() as cursor:
        cursor.execute("SELECT * FROM therapist_service.therapists WHERE id = %s", (therapist_id,))
        row = cursor.fetchone()
    if row is None:
        return jsonify({"error": "not found"}), 404
    return jsonify(row)
