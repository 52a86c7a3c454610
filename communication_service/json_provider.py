"""Every JSON response body is encoded by orjson (C, much faster than ``json.dumps`` on a
page of 50 calls). Request bodies are still read by ``api/parsing.py``'s strict parser."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response, current_app
from flask.json.provider import DefaultJSONProvider


def encode(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        # A value orjson refuses (a lone surrogate, a type it does not know): the standard
        # encoder with Flask's defaults, as before.
        return json.dumps(obj, default=DefaultJSONProvider.default).encode()


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
