"""Every JSON response body is encoded by orjson (C, much faster than ``json.dumps`` on a
page of 50 calls). Request bodies are still read by ``api/parsing.py``'s strict parser.

Dates and timestamps are written by the encoder too (``schemas/dumping.py`` hands them over
as objects): ISO 8601, a naive timestamp as UTC (``+00:00``: the database stores UTC),
exactly as marshmallow's fields write them."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import orjson
from flask import Response, current_app
from flask.json.provider import DefaultJSONProvider


def encode(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC)
    except TypeError:
        # A value orjson refuses (a lone surrogate, a type it does not know): the standard
        # encoder, with dates as orjson writes them and Flask's defaults for the rest.
        return json.dumps(obj, default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + ("+00:00" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    return DefaultJSONProvider.default(value)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's provider (``jsonify``, ``app.json``) with orjson for output."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(encode(obj), mimetype=self.mimetype)


def output_json(data: Any, code: int, headers: Any = None) -> Response:
    """Flask-RESTful's JSON representation, through the same encoder."""
    response = current_app.response_class(encode(data), status=code, mimetype="application/json")
    response.headers.extend(headers or {})
    return response
