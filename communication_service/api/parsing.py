"""Request parsing: every input goes through a Marshmallow schema (422 names field and rule).

Before a schema sees anything, the raw input is held to what PostgreSQL and the schemas can
take: JSON bodies are strict UTF-8 JSON (no ``NaN``/``Infinity``, at most ``MAX_JSON_DEPTH``
levels deep), query strings are UTF-8 with each parameter known and given once, and no text
holds a NUL character or an unpaired surrogate (PostgreSQL rejects both, which would be a 500).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import request
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import RequestEntityTooLarge

from communication_service.errors import ApiError, UnsupportedMediaType
from communication_service.schemas.common import StrictInteger

# Deep enough for every schema of the API (availability is 4 levels), far below the recursion
# limits of the JSON parser and of Marshmallow.
MAX_JSON_DEPTH = 32
_DECIMAL_DIGITS = re.compile(r"-?[0-9]{1,30}")


JSON = "application/json"


def parse_body(schema: Schema) -> dict[str, Any]:
    """The JSON body, validated by ``schema``: 415 not JSON, 400 unreadable, 422 invalid."""
    if not request.is_json:
        raise UnsupportedMediaType("The request body must be JSON.", details={"Content-Type": JSON})
    payload = _read_json()
    _check_json_values(payload)
    return schema.load(payload)


def parse_raw_body(loader: Any, media_type: str) -> Any:
    """A body of ``media_type``, read whole within the request's limit (413) and given to
    ``loader.load(bytes)``: 415 another media type, 422 when the loader refuses it."""
    if request.mimetype != media_type:
        raise UnsupportedMediaType(
            f"The request body must be {media_type}.", details={"Content-Type": media_type}
        )
    return loader.load(_read_body())


def parse_query(schema: Schema) -> dict[str, Any]:
    """The query string, validated by ``schema``.

    A parameter may be repeated only where the schema declares a list; a parameter the schema
    does not know is rejected whatever the schema's ``unknown`` setting.
    """
    require_utf8_query()
    by_key = {field.data_key or name: field for name, field in schema.load_fields.items()}
    data: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for key, values in request.args.lists():
        field = by_key.get(key)
        label = printable(key)
        if field is None:
            problems[label] = ["Unknown parameter."]
        elif len(values) > 1 and not isinstance(field, fields.List):
            problems[label] = ["Given more than once; give it once."]
        else:
            for value in (key, *values):
                if message := _text_problem(value):
                    problems[label] = [message]
            data[key] = values if isinstance(field, fields.List) else values[0]
    if problems:
        raise ValidationError(problems)
    return schema.load({key: _from_text(by_key[key], value) for key, value in data.items()})


def _from_text(field: fields.Field, value: str | list[str]) -> Any:
    """Query strings are text: an integer field takes exactly its ASCII digits (``"5"``, not
    ``" 5"``, ``"5_0"`` or ``"1e3"``, which stay text and fail the field's check)."""
    if isinstance(field, fields.List):
        return [_from_text(field.inner, item) for item in value]
    if isinstance(field, StrictInteger) and _DECIMAL_DIGITS.fullmatch(value):
        return int(value)
    return value


def reject_oversized_body() -> None:
    """413 for any request announcing more than its limit (``MAX_CONTENT_LENGTH``, or its
    operation's own), read by a view or not."""
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def require_utf8_query() -> None:
    try:
        unquote_to_bytes(request.query_string).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("The query string is not valid UTF-8.", code="invalid_query") from None


def _read_body() -> bytes:
    raw = request.get_data(cache=True)  # 413 when Content-Length is past the limit
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit, not refused: whatever was cut off is too much.
        raise RequestEntityTooLarge()
    return raw


def _read_json() -> Any:
    raw = _read_body()
    try:
        text = raw.decode("utf-8")  # RFC 8259: JSON exchanged between systems is UTF-8
    except UnicodeDecodeError:
        raise ApiError("The request body is not valid UTF-8.", code="invalid_json") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise ApiError("The request body is not valid JSON.", code="invalid_json") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _too_deep() -> ApiError:
    return ApiError(
        f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.",
        code="invalid_json",
        details={"max_depth": MAX_JSON_DEPTH},
    )


def _check_json_values(payload: Any) -> None:
    """Depth and text checks over the whole document, without recursion."""
    problems: dict[str, list[str]] = {}
    pending: list[tuple[Any, str, int]] = [(payload, "", 1)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                child = f"{path}.{printable(key)}" if path else printable(key)
                if isinstance(key, str) and (message := _text_problem(key)):
                    problems[child] = [message]
                pending.append((value, child, depth + 1))
        elif isinstance(node, str) and (message := _text_problem(node)):
            problems[path or "_schema"] = [message]
    if problems:
        raise ValidationError(problems)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "Must not contain NUL characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text (no unpaired surrogates)."
    return None


def printable(key: Any) -> str:
    """A key as it can appear in an error's field path (bad characters escaped)."""
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
