"""The OpenAPI 3.1 document, generated from the routes and the Marshmallow schemas.

Nothing is written by hand: every rule of ``app.url_map`` is walked, the view (a Flask-RESTful
resource method or a plain view function) says what it takes and gives with ``@arguments``
and ``@response`` (``api/boundary.py``), and ``apispec``'s Marshmallow plugin turns the
schemas into components.
The document is built once per application and served at ``GET /api/openapi.json``.

Client generators name their functions and types after it, so every name is derived to read
well without work on a new route: the operationId from the method and the resource
(``PhoneCallListResource``: ``listPhoneCalls``, ``createPhoneCall``; ``@response``'s
``operation_id`` where that reads badly), a named set of values (``Choice``, ``fields.Enum``)
is one enum component, a page of a list is the component ``<Item>Page``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow import resolver as schema_name_resolver
from flask import Flask, current_app
from flask_restful import Api, Resource
from marshmallow import fields, validate
from werkzeug.routing import Rule
from werkzeug.routing.converters import (
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    UUIDConverter,
)

from communication_service.api.boundary import response
from communication_service.schemas.api import ErrorSchema
from communication_service.schemas.common import MAX_PER_PAGE, Choice, PageQuerySchema

log = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
API_VERSION = "0.1.0"
SECURITY_SCHEME = "bearerAuth"
DOCUMENT_PATH = "/api/openapi.json"
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
# Routes behind the bearer token: the API and the metrics.
PROTECTED = ("/api/", "/metrics")
# Relative: the host that served the document (RFC 3986 resolution, OpenAPI 3.1 §4.8.5).
SERVERS = [{"url": "/", "description": "This service: the host that served this document."}]
# What an operation does, by method; a GET of a list (paginated or an array) is ``list``.
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
# Keys of a property that annotate it and stay beside the reference to a named enum.
ANNOTATIONS = ("description", "default", "readOnly", "writeOnly", "deprecated", "examples")
_EXTENSION_KEY = "openapi_document"
_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([A-Za-z_][A-Za-z0-9_]*)>")

# Error responses, one shared component each, all with the one error body.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The body is not JSON (or not valid UTF-8, or nested too deeply)."),
    401: ("Unauthorized", "No valid `Authorization: Bearer <token>` header."),
    404: ("NotFound", "No such route or id."),
    405: ("MethodNotAllowed", "The route does not allow this method."),
    409: ("Conflict", "The change conflicts with the current state."),
    413: ("PayloadTooLarge", "The body is larger than `MAX_CONTENT_LENGTH`."),
    415: ("UnsupportedMediaType", "The body is not `application/json`."),
    422: ("ValidationFailed", "Validation failed; `details` maps field paths to messages."),
    503: ("DatabaseUnavailable", "The database is not reachable; try again later."),
}

DESCRIPTION = f"""\
Contacts therapists for the psychotherapy placement platform: batching emails, scheduling
phone calls, recording replies and outcomes.

* **Auth**: every `/api` route needs `Authorization: Bearer <token>` (also this document);
  `/health` is open.
* **Errors** always have the body `{{"error": {{"code", "message", "details"}}}}`.
* **Lists** take `?page=1&per_page=50` (at most {MAX_PER_PAGE}) and answer
  `{{"data": [...], "page", "per_page", "total"}}`.
* Dates are `YYYY-MM-DD`, times `HH:MM` (24-hour, zero-padded; wall clock in the service's
  time zone), timestamps ISO 8601 with offset. Unknown or repeated query parameters and
  unknown body fields are rejected (422).
"""


@dataclass(frozen=True)
class Operation:
    """One (method, rule) of the URL map and the view that answers it."""

    method: str
    rule: Rule
    handler: Any
    owner: str  # the resource class, or the view function, answering it

    @property
    def apidoc(self) -> dict[str, Any] | None:
        return getattr(self.handler, "__apidoc__", None)

    @property
    def path(self) -> str:
        """``/api/therapists/<id:therapist_id>`` → ``/api/therapists/{therapist_id}``."""
        return _VARIABLE.sub(r"{\1}", self.rule.rule)


def iter_operations(app: Flask) -> Iterator[Operation]:
    """Every operation the application answers (HEAD, OPTIONS and static files left out)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        owner = (view_class or view).__name__
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            handler = getattr(view_class, method.lower(), None) if view_class else view
            yield Operation(method, rule, handler, owner)


def undocumented_operations(app: Flask) -> list[tuple[str, str]]:
    """``(method, rule)`` of every operation whose view lacks ``@response``."""
    return [(op.method, op.rule.rule) for op in iter_operations(app) if op.apidoc is None]


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document for ``app``, built on first use (the URL map is complete by then)."""
    document = app.extensions.get(_EXTENSION_KEY)
    if document is None:
        document = app.extensions[_EXTENSION_KEY] = build_openapi_document(app)
    return document


def build_openapi_document(app: Flask) -> dict[str, Any]:
    missing = undocumented_operations(app)
    if missing:
        # The completeness test fails on these; in production they are merely absent.
        log.warning(
            "operations without @response are missing from the OpenAPI document: %s",
            ", ".join(f"{method} {rule}" for method, rule in missing),
        )
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Communication Service API",
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": DESCRIPTION},
        servers=SERVERS,
        security=[{SECURITY_SCHEME: []}],
    )
    enums = NamedEnums()
    plugin.converter.add_attribute_function(enums.attribute_function())
    spec.components.security_scheme(
        SECURITY_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "A token from `API_TOKENS`."},
    )
    spec.components.schema("Error", schema=ErrorSchema)
    for name, description in ERROR_RESPONSES.values():
        spec.components.response(
            name, {"description": description, "content": _json_content(ErrorSchema)}
        )

    documented = [op for op in iter_operations(app) if op.apidoc is not None]
    _require_unique_operation_ids(documented)
    paths: dict[str, dict[str, dict[str, Any]]] = {}
    for operation in documented:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, plugin
        )
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    enums.register(spec)

    document = spec.to_dict()
    _require_every_output_field(document)
    _query_parameters_are_text(document)
    return document


def operation_id(operation: Operation) -> str:
    """``@response(operation_id=…)``, else verb and noun: ``listPhoneCalls`` (a GET answering
    a list), ``getPhoneCall``, ``createPhoneCall`` (POST), ``updatePhoneCall`` (PUT/PATCH),
    ``deletePhoneCall``; the noun is the resource class without ``Resource`` and ``List``
    (``PhoneCallListResource``), or the view function's name (``health``: ``getHealth``)."""
    doc = operation.apidoc or {}
    if doc.get("operation_id"):
        return doc["operation_id"]
    noun = _pascal(operation.owner.removesuffix("Resource").removesuffix("List"))
    if operation.method == "GET" and (doc.get("paginated") or doc.get("response_many")):
        return "list" + _plural(noun)
    return VERBS[operation.method] + noun


def _plural(noun: str) -> str:
    if noun.endswith("s"):  # TherapistSlots, PlacementRequestCommunications
        return noun
    if noun.endswith(("ch", "sh", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _require_unique_operation_ids(documented: list[Operation]) -> None:
    """Clients name a function after each operationId: two alike would collide."""
    taken = Counter(operation_id(op) for op in documented)
    clashes = [
        f"{operation_id(op)}: {op.method} {op.rule.rule}"
        for op in documented
        if taken[operation_id(op)] > 1
    ]
    if clashes:
        raise ValueError(
            "operationIds must be unique (set @response(operation_id=...)): " + "; ".join(clashes)
        )


class NamedEnums:
    """Each set of values as one component, referenced wherever a field holds it; a nullable
    field refers to it ``anyOf`` it or ``null``. The name: a ``Choice``'s, a ``fields.Enum``'s
    class name, else schema and field (``OneOf`` on ``status`` of ``ItemQuerySchema``:
    ``ItemQueryStatus``), so a generated client never falls back to names like ``…Type0``."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[Any, ...]] = {}

    def attribute_function(self):
        enums = self

        def named_enum(converter: Any, field: fields.Field, ret: dict[str, Any], **kwargs: Any):
            named = enums.name_and_values(field)
            if named is None:
                return {}
            reference = {"$ref": f"#/components/schemas/{enums.add(*named)}"}
            annotations = {key: ret[key] for key in ANNOTATIONS if key in ret}
            ret.clear()
            if field.allow_none:
                return {"anyOf": [reference, {"type": "null"}], **annotations}
            # A sibling of $ref is not read by every tool (a default would be lost): allOf.
            return {"allOf": [reference], **annotations} if annotations else reference

        return named_enum

    @staticmethod
    def name_and_values(field: fields.Field) -> tuple[str, tuple[Any, ...]] | None:
        if isinstance(field, Choice):
            return field.enum_name, field.choices
        if isinstance(field, fields.Enum):
            members = list(field.enum)
            values = [m.value for m in members] if field.by_value else [m.name for m in members]
            return field.enum.__name__, tuple(values)
        for validator in field.validators:
            if isinstance(validator, validate.OneOf):
                return _owner_name(field) + _pascal(field.name or ""), tuple(validator.choices)
        return None

    def add(self, name: str, values: tuple[Any, ...]) -> str:
        known = self.values.setdefault(name, values)
        if known != values:
            raise ValueError(f"two sets of values named {name}: {known} and {values}")
        return name

    def register(self, spec: APISpec) -> None:
        for name, values in sorted(self.values.items()):
            types = sorted({_JSON_TYPES[type(v)] for v in values})
            spec.components.schema(
                name, {"type": types[0] if len(types) == 1 else types, "enum": list(values)}
            )


_JSON_TYPES = {str: "string", int: "integer", bool: "boolean", float: "number"}


def _owner_name(field: fields.Field) -> str:
    """The component name of the schema holding ``field`` (through List and Dict fields)."""
    owner: Any = field
    while isinstance(owner, fields.Field):
        owner = owner.parent
    return schema_name_resolver(type(owner)) if owner is not None else ""


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _operation(operation: Operation, plugin: MarshmallowPlugin) -> dict[str, Any]:
    doc = operation.apidoc or {}
    in_api = operation.rule.rule.startswith(PROTECTED)
    result: dict[str, Any] = {
        "operationId": operation_id(operation),
        "summary": doc["summary"],
        "tags": [_tag(operation.rule.rule)],
    }
    if doc.get("description"):
        result["description"] = doc["description"]
    if not in_api:
        result["security"] = []

    parameters: list[dict[str, Any]] = _path_parameters(operation)
    query = doc.get("query")
    if query is None and doc.get("paginated"):
        query = PageQuerySchema
    if query is not None:
        parameters.append({"in": "query", "schema": query})
    if parameters:
        result["parameters"] = parameters

    body = doc.get("body")
    if body is not None:
        result["requestBody"] = _request_body(body, doc.get("body_media_type", "application/json"))

    responses: dict[str, Any] = {str(doc["status"]): _success_response(doc, plugin)}
    for status, schema in doc.get("responses", {}).items():
        responses[str(status)] = {
            "description": f"HTTP {status}",
            **({"content": _json_content(schema)} if schema is not None else {}),
        }
    for status in sorted(_error_statuses(operation, in_api)):
        if str(status) in responses:
            continue
        name = ERROR_RESPONSES.get(status, (None, None))[0]
        responses[str(status)] = name or {
            "description": f"HTTP {status}",
            "content": _json_content(ErrorSchema),
        }
    result["responses"] = responses
    return result


def _error_statuses(operation: Operation, in_api: bool) -> set[int]:
    """The statuses the author listed, plus those the framework answers on such a route."""
    doc = operation.apidoc or {}
    statuses = set(doc.get("errors", ()))
    if in_api:
        statuses |= {401, 503}  # auth for every /api route; any database access may fail
        statuses |= {400, 422}  # query strings: not UTF-8; unknown, repeated or invalid
        if doc.get("body") is not None:
            statuses |= {400, 413, 415, 422}  # parse_body
        if operation.rule.arguments:
            statuses.add(404)  # ids out of range never match; unknown ids are not found
    return statuses


def _success_response(doc: dict[str, Any], plugin: MarshmallowPlugin) -> dict[str, Any]:
    status, schema = doc["status"], doc.get("response")
    if status == 204:
        return {"description": "Done; no body."}
    if schema is None:
        media_type = doc.get("media_type", "application/json")
        body_schema = {"type": "string"} if media_type.startswith("text/") else {}
        return {"description": doc["summary"], "content": {media_type: {"schema": body_schema}}}
    if doc.get("paginated"):
        body: Any = _page_component(schema, plugin, doc.get("page_lists") or {})
    elif doc.get("response_many"):
        body = {"type": "array", "items": schema}
    else:
        body = schema
    return {"description": doc["summary"], "content": {"application/json": {"schema": body}}}


def _page_component(
    schema: Any, plugin: MarshmallowPlugin, page_lists: dict[str, str]
) -> dict[str, str]:
    """A reference to ``<Item>Page``, the envelope of a list of ``schema`` (with the further
    lists of ``page_lists``), made on first use."""
    item = plugin.converter.resolve_nested_schema(schema)
    name = item["$ref"].rsplit("/", 1)[-1] + "Page"
    if name not in plugin.spec.components.schemas:
        extra = {
            key: {"type": "array", "items": item, "description": description}
            for key, description in page_lists.items()
        }
        plugin.spec.components.schema(
            name,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["data", "page", "per_page", "total", *extra],
                "properties": {
                    "data": {"type": "array", "items": item},
                    "page": {"type": "integer", "minimum": 1},
                    "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                    "total": {"type": "integer", "minimum": 0},
                    **extra,
                },
            },
        )
    return {"$ref": f"#/components/schemas/{name}"}


def _request_body(body: Any, media_type: str) -> dict[str, Any]:
    """A JSON body by its schema; a raw body (``location="body"``) as binary of its media
    type, described by its loader's ``description``."""
    if media_type == "application/json":
        return {"required": True, "content": _json_content(body)}
    raw = {
        "required": True,
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
    }
    if getattr(body, "description", None):
        raw["description"] = body.description
    return raw


def _json_content(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _tag(rule: str) -> str:
    """The first path segment after ``/api`` (``phone-calls``), without a file extension."""
    parts = [p for p in rule.split("/") if p and not p.startswith("<")]
    if parts and parts[0] == "api":
        parts = parts[1:]
    return parts[0].split(".")[0] if parts else "service"


def _path_parameters(operation: Operation) -> list[dict[str, Any]]:
    descriptions = (operation.apidoc or {}).get("path_params", {})
    converters: dict[str, BaseConverter] = getattr(operation.rule, "_converters", {})
    parameters = []
    for name in _VARIABLE.findall(operation.rule.rule):
        parameters.append(
            {
                "in": "path",
                "name": name,
                "required": True,
                "description": descriptions.get(name) or _default_description(name),
                "schema": _converter_schema(converters.get(name)),
            }
        )
    return parameters


def _default_description(name: str) -> str:
    if name.endswith("_id"):
        return f"Id of the {name[:-3].replace('_', ' ')}."
    return name.replace("_", " ").capitalize() + "."


def _converter_schema(converter: BaseConverter | None) -> dict[str, Any]:
    if isinstance(converter, IntegerConverter):
        schema: dict[str, Any] = {"type": "integer"}
        minimum = converter.min if converter.min is not None else (None if converter.signed else 0)
        if minimum is not None:
            schema["minimum"] = minimum
        if converter.max is not None:
            schema["maximum"] = converter.max
        return schema
    if isinstance(converter, FloatConverter):
        return {"type": "number"}
    if isinstance(converter, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    # The default converter matches any text without a slash.
    return {"type": "string", "pattern": "^[^/]+$"}


def _query_parameters_are_text(document: dict[str, Any]) -> None:
    """A query parameter is given or absent, never null: ``null`` leaves its type and its
    default (a schema's ``load_default=None`` means "absent" to the service, not a value)."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    parameter["schema"] = _without_null(parameter["schema"])


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if schema.get("default", ...) is None:
        del schema["default"]
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        schema["type"] = types[0] if len(types) == 1 else types
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) > 1:
        schema["anyOf"] = options
    elif options and "$ref" in options[0] and schema:  # annotations beside a reference
        schema["allOf"] = options
    elif options:
        schema.update(options[0])
    return schema


def _require_every_output_field(document: dict[str, Any]) -> None:
    """Mark every field of response-only components as required.

    ``dump`` writes every declared field, so a client may rely on each being present (possibly
    ``null``); a component that is also used for input keeps the input's ``required`` list.
    """
    components = document.get("components", {}).get("schemas", {})
    operations = [op for item in document.get("paths", {}).values() for op in item.values()]
    inputs = _referenced(
        [op.get("parameters", []) for op in operations]
        + [op.get("requestBody", {}) for op in operations],
        components,
    )
    outputs = _referenced(
        [op.get("responses", {}) for op in operations]
        + list(document.get("components", {}).get("responses", {}).values()),
        components,
    )
    for name in outputs - inputs:
        schema = components[name]
        properties = schema.get("properties", {})
        required = [key for key, prop in properties.items() if not prop.get("writeOnly")]
        if required:
            schema["required"] = sorted(required)


def _referenced(roots: list[Any], components: dict[str, Any]) -> set[str]:
    """Names of the schema components reachable from ``roots`` (through nested references)."""
    prefix = "#/components/schemas/"
    found: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                name = ref[len(prefix) :]
                if name not in found:
                    found.add(name)
                    pending.append(components.get(name, {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


class OpenApiResource(Resource):
    @response(
        summary="This OpenAPI document (needs a token like every /api route)",
        operation_id="getOpenApiDocument",
    )
    def get(self):
        return openapi_document(current_app)


def register(api: Api) -> None:
    api.add_resource(OpenApiResource, DOCUMENT_PATH.removeprefix("/api"))
