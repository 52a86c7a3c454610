"""The API contract as tests see it: the OpenAPI document, known at collection time.

Tests parametrised over operations and parameters walk this document, so every route added
later is covered by the fuzzing and the hostile-input tests without touching them. The app
built here never connects to a database: it only lends its URL map to the generator
(``test_openapi.py`` proves the served document is the same).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from communication_service import create_app
from communication_service.api.openapi import IGNORED_METHODS, iter_operations, openapi_document
from tests.conftest import API_TOKEN, TABLES

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@functools.cache
def collection_app() -> Flask:
    return create_app(
        {"database_url": "postgresql://collection-only@127.0.0.1:1/none", "api_tokens": API_TOKEN}
    )


@functools.cache
def document() -> dict[str, Any]:
    return openapi_document(collection_app())


@dataclass(frozen=True)
class DocumentedOperation:
    method: str  # upper case
    path: str  # OpenAPI template, /api/therapists/{therapist_id}
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def in_api(self) -> bool:
        """Behind the bearer token, held to the API's input rules: ``/api`` and ``/metrics``."""
        return self.path.startswith("/api/") or self.path == "/metrics"

    def parameters(self, location: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == location]

    @property
    def body_media_type(self) -> str | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        return next(iter(content), None)

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The schema of a JSON body (None: no body, or a raw one such as message/rfc822)."""
        if self.body_media_type != "application/json":
            return None
        return resolve(self.spec["requestBody"]["content"]["application/json"]["schema"])

    def url(self, **overrides: Any) -> str:
        """The path with every path parameter filled (1, or the override)."""
        url = self.path
        for parameter in self.parameters("path"):
            name = parameter["name"]
            url = url.replace("{" + name + "}", str(overrides.get(name, 1)))
        return url


def operations() -> list[DocumentedOperation]:
    return [
        DocumentedOperation(method.upper(), path, spec)
        for path, item in document()["paths"].items()
        for method, spec in item.items()
        if method in HTTP_METHODS
    ]


def api_operations() -> list[DocumentedOperation]:
    return [op for op in operations() if op.in_api]


def body_operations() -> list[DocumentedOperation]:
    return [op for op in api_operations() if op.body_schema is not None]


def body_limit(op: DocumentedOperation) -> int:
    """The largest body ``op`` takes: its own (``@arguments(max_bytes=)``) or the app's."""
    app = collection_app()
    for operation in iter_operations(app):
        if operation.method == op.method and operation.path == op.path:
            own = (operation.apidoc or {}).get("body_max_bytes")
            return max(own or 0, app.config["MAX_CONTENT_LENGTH"])
    raise LookupError(op.label)


def raw_body_operations() -> list[DocumentedOperation]:
    """Operations whose body is not JSON (``message/rfc822``): bytes of their media type."""
    return [op for op in api_operations() if op.body_media_type not in (None, "application/json")]


def query_parameters() -> list[tuple[DocumentedOperation, dict[str, Any]]]:
    return [(op, p) for op in api_operations() for p in op.parameters("query")]


def path_parameters() -> list[tuple[DocumentedOperation, dict[str, Any]]]:
    return [(op, p) for op in api_operations() for p in op.parameters("path")]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` to the component it names."""
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = document()["components"]["schemas"][name]
    return node


def walk_request_schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (place, schema) a client sends: parameters and body properties, nested."""
    for op in api_operations():
        for parameter in op.spec.get("parameters", []):
            yield f"{op.label} {parameter['in']} {parameter['name']}", parameter["schema"]
        if op.body_schema is not None:
            yield from _walk(f"{op.label} body", op.body_schema, set())


def _walk(place: str, schema: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, dict]]:
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen = seen | {schema["$ref"]}
        schema = resolve(schema)
    yield place, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk(f"{place}.{name}", prop, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _walk(f"{place}[]", schema[key], seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _walk(place, sub, seen)


def url_map_operations(app: Flask) -> set[tuple[str, str]]:
    """(METHOD, rule) of every route the app answers, static files excepted."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.endswith("static")
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


def table_fingerprints(session: Session) -> dict[str, tuple[int, str | None]]:
    """Row count and a hash of all rows of every table: the same afterwards = nothing written."""
    fingerprints = {}
    for table in TABLES:
        query = f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
        fingerprints[table] = tuple(session.execute(sa.text(query)).one())
    session.rollback()
    return fingerprints


@dataclass
class CheckedByOpenApiCore:
    """WSGI middleware: every request to ``app`` and its answer held to ``document`` by
    openapi-core, a reading of the document independent of the generator and of schemathesis,
    whichever client sends them. ``checked`` lists the exchanges, ``problems`` what failed."""

    app: Any
    document: dict[str, Any]
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.openapi = OpenAPI.from_dict(self.document)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        request = Request({**environ, "wsgi.input": io.BytesIO(body)})
        environ["wsgi.input"] = io.BytesIO(body)
        response = Response.from_app(self.app, environ)
        self.check(request, response)
        return response(environ, start_response)

    def check(self, request: Request, response: Response) -> None:
        label = f"{request.method} {request.full_path.rstrip('?')} -> {response.status_code}"
        seen = WerkzeugOpenAPIRequest(request)
        for part, result in (
            ("request", self.openapi.unmarshal_request(seen)),
            ("response", self.openapi.unmarshal_response(seen, WerkzeugOpenAPIResponse(response))),
        ):
            if result.errors:
                self.problems.append(f"{label}: {part}: {[str(e) for e in result.errors]}")
        self.checked.append(label)
