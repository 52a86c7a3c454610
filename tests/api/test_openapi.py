"""The OpenAPI document: valid, complete (every route, nothing else) and served behind auth."""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path

import pytest
from flask_restful import Resource
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_openapi

from communication_service import create_app
from communication_service.api import openapi as openapi_module
from communication_service.api.boundary import apply_body_limit, arguments, response
from communication_service.api.openapi import (
    build_openapi_document,
    openapi_document,
    undocumented_operations,
)
from communication_service.models import (
    EmailStatus,
    PhoneCallStatus,
    PlacementRequestStatus,
    TherapistStatus,
)
from communication_service.schemas.common import (
    PG_INTEGER_MAX,
    TIME_PATTERN,
    Choice,
    HourMinute,
    RowId,
    UniqueList,
)
from tests.api.contract import (
    api_operations,
    collection_app,
    document,
    operations,
    query_parameters,
    url_map_operations,
    walk_request_schemas,
)
from tests.conftest import API_TOKEN


def template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def documented_pairs(doc: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item}


def route_mismatches(app, doc) -> tuple[set, set]:
    """(routes missing from the document, documented operations without a route)."""
    routes = {(method, template(rule)) for method, rule in url_map_operations(app)}
    documented_ops = documented_pairs(doc)
    return routes - documented_ops, documented_ops - routes


def throwaway_app():
    return create_app(
        {"database_url": "postgresql://nobody@127.0.0.1:1/none", "api_tokens": API_TOKEN}
    )


def test_document_is_valid_openapi_3_1():
    validate_openapi(document())
    assert document()["openapi"] == "3.1.0"


def test_every_route_is_documented_and_every_documented_route_exists():
    missing, extra = route_mismatches(collection_app(), document())
    assert missing == set(), f"routes without @response: {sorted(missing)}"
    assert extra == set()
    assert undocumented_operations(collection_app()) == []
    # The walk is not vacuous: the known routes are there with their methods.
    pairs = documented_pairs(document())
    assert {
        ("GET", "/health"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/therapists/{therapist_id}"),
        ("PUT", "/api/therapists/{therapist_id}/availability"),
    } <= pairs
    assert ("DELETE", "/api/therapists/{therapist_id}") not in pairs


def test_docs_name_every_operation_id_a_client_is_generated_with():
    """docs/api.md promises the operation names; a new route must not be missing from it."""
    api_doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    named = set(re.findall(r"`([a-z]+[A-Z][A-Za-z]+)`", api_doc))
    operation_ids = {
        operation["operationId"]
        for item in document()["paths"].values()
        for operation in item.values()
    }
    assert len(operation_ids) > 30
    assert operation_ids - named == set()


def test_a_method_without_documented_fails_the_completeness_check():
    class Documented(Resource):
        @response(summary="fine")
        def get(self):
            return {}

        def delete(self):  # forgotten
            return {}

    app = throwaway_app()
    app.add_url_rule("/api/throwaway/<id:thing_id>", view_func=Documented.as_view("throwaway"))
    assert undocumented_operations(app) == [("DELETE", "/api/throwaway/<id:thing_id>")]
    missing, extra = route_mismatches(app, build_openapi_document(app))
    assert missing == {("DELETE", "/api/throwaway/{thing_id}")}
    assert extra == set()


def test_a_plain_view_function_without_documented_is_reported():
    app = throwaway_app()
    app.add_url_rule("/api/plain", view_func=lambda: {}, endpoint="plain", methods=["POST"])
    assert undocumented_operations(app) == [("POST", "/api/plain")]


def test_served_document_needs_a_token_and_is_the_generated_one(app, client):
    assert app.test_client().get("/api/openapi.json").status_code == 401
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == openapi_document(app)
    # The app the tests walk at collection time describes the same API.
    assert response.get_json() == document()


def test_document_is_built_once_per_app(monkeypatch):
    app = throwaway_app()
    calls = []
    real = openapi_module.build_openapi_document
    monkeypatch.setattr(
        openapi_module, "build_openapi_document", lambda a: calls.append(a) or real(a)
    )
    first = openapi_document(app)
    assert openapi_document(app) is first
    assert calls == [app]


def test_bearer_scheme_covers_every_api_operation_and_health_is_open():
    doc = document()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `API_TOKENS`.",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    for op in operations():
        if op.in_api:
            assert "security" not in op.spec, op.label
            assert op.spec["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
        else:
            assert op.spec["security"] == [], op.label
            assert "401" not in op.spec["responses"]


def test_every_error_response_has_the_one_error_schema():
    doc = document()
    error_ref = {"$ref": "#/components/schemas/Error"}
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["code", "details", "message"]
    for op in api_operations():
        for status, answer in op.spec["responses"].items():
            if int(status) < 400:
                continue
            if "$ref" in answer:
                answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
            assert answer["content"]["application/json"]["schema"] == error_ref, (op, status)


def test_id_path_parameters_are_bounded_integers():
    found = 0
    for op in api_operations():
        for parameter in op.parameters("path"):
            if parameter["name"].endswith("_id"):
                found += 1
                assert parameter["schema"] == {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": PG_INTEGER_MAX,
                }
                assert parameter["required"] is True
                assert "404" in op.spec["responses"]
    assert found >= 2


def test_body_operations_document_the_parsing_errors():
    for op in api_operations():
        if "requestBody" in op.spec:
            assert op.spec["requestBody"]["required"] is True
            assert {"400", "413", "415", "422"} <= set(op.spec["responses"]), op.label


def test_response_only_components_require_every_field():
    therapist = document()["components"]["schemas"]["Therapist"]
    assert set(therapist["required"]) == set(therapist["properties"])
    assert therapist["additionalProperties"] is False
    # An input component keeps the input's rules: nothing in the update is required.
    assert "required" not in document()["components"]["schemas"]["AvailabilityUpdate"]


def test_every_integer_a_client_sends_is_bounded():
    """PostgreSQL would answer a larger number with an error (a 500), not a 422."""
    for place, schema in walk_request_schemas():
        types = schema.get("type")
        if types == "integer" or (isinstance(types, list) and "integer" in types):
            assert schema.get("maximum") is not None, f"{place} has no maximum"


def test_every_list_of_ids_a_client_sends_is_unique():
    for place, schema in walk_request_schemas():
        if place.endswith("_ids") and "array" in str(schema.get("type")):
            assert schema.get("uniqueItems") is True, f"{place} allows duplicates"


# A throwaway resource using every feature of @arguments and @response.


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class ItemSchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    secret = fields.String(load_only=True)
    kind = Choice(("small", "large"), name="ItemKind", allow_none=True)
    color = fields.Enum(Color, by_value=True)
    due = HourMinute()
    state = fields.String(validate=validate.OneOf(["new", "old"]), allow_none=True)


class ItemQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(["open", "done"]))
    kind = Choice(("small", "large"), name="ItemKind", load_default=None)
    since = fields.Date(load_default=None, metadata={"description": "First day."})
    page = fields.Integer(validate=validate.Range(min=1, max=10))
    per_page = fields.Integer(validate=validate.Range(min=1, max=200))


class ItemCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=100))
    placement_request_ids = UniqueList(RowId(), load_default=list)


class ItemListResource(Resource):
    @arguments(ItemQuerySchema, location="query")
    @response(ItemSchema, summary="List items", paginated=True)
    def get(self, query):
        return {}

    @arguments(ItemCreateSchema)
    @response(ItemSchema, summary="Create an item", status=201, errors=(409,))
    def post(self, data):
        return {}


class ItemResource(Resource):
    @response(
        ItemSchema,
        summary="Item parts",
        many=True,
        path_params={"item_id": "The item."},
        responses={202: None},
        operation_id="listItemParts",  # derived, it would be listItems like the list's
    )
    def get(self, item_id, part):
        return []

    @response(summary="Delete", status=204)
    def delete(self, item_id, part):
        return None


def test_generator_features_on_a_throwaway_app():
    app = throwaway_app()
    app.add_url_rule("/api/items", view_func=ItemListResource.as_view("items"))
    app.add_url_rule("/api/items/<id:item_id>/parts/<part>", view_func=ItemResource.as_view("item"))
    doc = build_openapi_document(app)
    validate_openapi(doc)
    items = doc["paths"]["/api/items"]

    listing = items["get"]
    names = [p["name"] for p in listing["parameters"]]
    assert names == ["status", "kind", "since", "page", "per_page"]
    status, kind, since = listing["parameters"][:3]
    # An unnamed set (OneOf) is a component too, named after schema and field.
    assert status["schema"] == {"$ref": "#/components/schemas/ItemQueryStatus"}
    assert doc["components"]["schemas"]["ItemQueryStatus"] == {
        "type": "string",
        "enum": ["open", "done"],
    }
    # A query parameter is given or absent, never null (load_default=None means absent).
    assert kind["schema"] == {"$ref": "#/components/schemas/ItemKind"}
    assert since["schema"] == {"type": "string", "format": "date"}
    assert since["description"] == "First day."
    # The page envelope is a component named after the item.
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/ItemPage"}
    envelope = doc["components"]["schemas"]["ItemPage"]
    assert envelope["required"] == ["data", "page", "per_page", "total"]
    assert envelope["properties"]["data"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Item"},
    }
    assert {"400", "401", "422", "503"} <= set(listing["responses"])
    assert "404" not in listing["responses"]  # no path parameter, no 404 listed

    create = items["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ItemCreate"
    }
    assert set(create["responses"]) == {"201", "400", "401", "409", "413", "415", "422", "503"}
    ids = doc["components"]["schemas"]["ItemCreate"]["properties"]["placement_request_ids"]
    assert ids["uniqueItems"] is True
    assert ids["items"] == {"type": "integer", "minimum": 1, "maximum": PG_INTEGER_MAX}

    item = doc["paths"]["/api/items/{item_id}/parts/{part}"]
    item_id, part = item["get"]["parameters"]
    assert item_id["description"] == "The item."
    assert part["schema"] == {"type": "string", "pattern": "^[^/]+$"}
    parts = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert parts == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
    assert item["get"]["responses"]["202"] == {"description": "HTTP 202"}
    assert item["delete"]["responses"]["204"] == {"description": "Done; no body."}
    assert item["delete"]["parameters"][0]["description"] == "Id of the item."

    # Item is only ever sent: every field it dumps is required; load-only ones are not.
    item_component = doc["components"]["schemas"]["Item"]
    assert item_component["required"] == ["color", "due", "id", "kind", "name", "state"]
    assert item_component["properties"]["secret"]["writeOnly"] is True

    # Named sets of values are one component each, referenced (nullable: anyOf null).
    properties = item_component["properties"]
    assert properties["kind"] == {
        "anyOf": [{"$ref": "#/components/schemas/ItemKind"}, {"type": "null"}]
    }
    assert properties["color"] == {"$ref": "#/components/schemas/Color"}
    assert properties["state"] == {
        "anyOf": [{"$ref": "#/components/schemas/ItemState"}, {"type": "null"}]
    }
    assert doc["components"]["schemas"]["ItemKind"] == {
        "type": "string",
        "enum": ["small", "large"],
    }
    assert doc["components"]["schemas"]["Color"] == {"type": "string", "enum": ["red", "blue"]}
    assert properties["due"] == {"type": "string", "pattern": TIME_PATTERN}

    # operationIds: verb from the method (a GET of a list: list), noun from the resource;
    # the override where the derived one would clash.
    assert [items["get"]["operationId"], items["post"]["operationId"]] == [
        "listItems",
        "createItem",
    ]
    assert [item["get"]["operationId"], item["delete"]["operationId"]] == [
        "listItemParts",
        "deleteItem",
    ]


def test_paginated_without_query_schema_takes_page_parameters():
    class Pages(Resource):
        @response(ItemSchema, summary="Pages", paginated=True)
        def get(self):
            return {}

    app = throwaway_app()
    app.add_url_rule("/api/pages", view_func=Pages.as_view("pages"))
    listing = build_openapi_document(app)["paths"]["/api/pages"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["page", "per_page"]
    assert listing["parameters"][1]["schema"]["maximum"] == 200


@pytest.mark.parametrize("op", operations(), ids=lambda op: op.label)
def test_every_operation_has_a_summary_and_a_success_response(op):
    assert op.spec["summary"]
    assert any(int(status) < 300 for status in op.spec["responses"])


# What a generated client relies on: names, enums, times, query parameters.

# The operations of the main flows and the names clients call them by. New routes get theirs
# from the same rule (test_generator_features_on_a_throwaway_app).
KNOWN_OPERATION_IDS = {
    ("GET", "/api/therapists/{therapist_id}"): "getTherapist",
    ("PUT", "/api/therapists/{therapist_id}/availability"): "updateTherapistAvailability",
    ("GET", "/api/therapists/{therapist_id}/slots"): "listTherapistSlots",
    ("GET", "/api/phone-calls"): "listPhoneCalls",
    ("POST", "/api/phone-calls"): "createPhoneCall",
    ("GET", "/api/phone-calls/daily"): "getCallSheet",
    ("GET", "/api/phone-calls/{call_id}"): "getPhoneCall",
    ("PUT", "/api/phone-calls/{call_id}"): "updatePhoneCall",
    ("DELETE", "/api/phone-calls/{call_id}"): "deletePhoneCall",
    ("PUT", "/api/phone-call-batches/{batch_id}"): "updatePhoneCallBatch",
    ("GET", "/api/emails"): "listEmails",
    ("POST", "/api/emails"): "createEmail",
    ("GET", "/api/emails/{email_id}"): "getEmail",
    ("PUT", "/api/emails/{email_id}"): "updateEmail",
    ("DELETE", "/api/emails/{email_id}"): "deleteEmail",
    ("GET", "/api/emails/{email_id}/batches"): "listEmailBatches",
    ("POST", "/api/emails/{email_id}/batches"): "createEmailBatch",
    ("DELETE", "/api/email-batches/{batch_id}"): "deleteEmailBatch",
    ("PUT", "/api/emails/{email_id}/response"): "recordEmailResponse",
    (
        "GET",
        "/api/placement-requests/{placement_request_id}/communications",
    ): "listPlacementRequestCommunications",
    ("GET", "/api/therapists/{therapist_id}/absences"): "listTherapistAbsences",
    ("POST", "/api/therapists/{therapist_id}/absences"): "createTherapistAbsence",
    ("DELETE", "/api/therapist-absences/{absence_id}"): "deleteTherapistAbsence",
    ("GET", "/api/openapi.json"): "getOpenApiDocument",
    ("GET", "/health"): "getHealth",
    ("GET", "/metrics"): "getMetrics",
}


def test_every_operation_has_a_readable_unique_operation_id():
    ids = {(op.method, op.path): op.spec.get("operationId") for op in operations()}
    for (method, path), operation_id in ids.items():
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)+", operation_id or ""), (method, path)
    assert len(set(ids.values())) == len(ids)
    assert {key: ids.get(key) for key in KNOWN_OPERATION_IDS} == KNOWN_OPERATION_IDS


def test_a_clash_of_operation_ids_fails_the_build():
    class Twin(Resource):
        @response(ItemSchema, summary="One", many=True)
        def get(self):
            return []

    app = throwaway_app()
    app.add_url_rule("/api/twins", view_func=Twin.as_view("twins"))
    app.add_url_rule("/api/twin-list", view_func=Twin.as_view("twin_list"))
    clash = "listTwins: GET /api/twins; listTwins: GET /api/twin-list"
    with pytest.raises(ValueError, match=clash):
        build_openapi_document(app)


def test_the_document_names_its_server():
    """Relative: the host that served the document (where a client read it from)."""
    assert document()["servers"] == [
        {"url": "/", "description": "This service: the host that served this document."}
    ]


def test_query_parameters_are_never_null():
    """A query parameter is given or absent; openapi-core refuses null declarations on them."""
    found = 0
    for op, parameter in query_parameters():
        found += 1
        schema = parameter["schema"]
        assert "null" not in json.dumps(schema), (op.label, parameter)
        assert schema.get("default", "absent") is not None, (op.label, parameter)
    assert found >= 10
    slots = next(op for op in api_operations() if op.path.endswith("/slots"))
    assert [p["schema"] for p in slots.parameters("query")] == [
        {"type": "string", "format": "date"},
        {"type": "integer", "minimum": 1, "maximum": 92},
        {"type": "integer", "minimum": 1, "maximum": 480},
    ]


def _enum(name: str) -> list[str]:
    return document()["components"]["schemas"][name]["enum"]


def _property(component: str, name: str) -> dict:
    return document()["components"]["schemas"][component]["properties"][name]


def _ref(name: str, *, nullable: bool = False) -> dict:
    reference = {"$ref": f"#/components/schemas/{name}"}
    return {"anyOf": [reference, {"type": "null"}]} if nullable else reference


def test_statuses_and_outcomes_are_named_enums_in_requests_and_responses():
    assert _enum("PhoneCallStatus") == [s.value for s in PhoneCallStatus]
    assert _enum("EmailStatus") == [s.value for s in EmailStatus]
    assert _enum("TherapistStatus") == [s.value for s in TherapistStatus]
    assert _enum("PlacementRequestStatus") == [s.value for s in PlacementRequestStatus]
    assert _enum("BatchOutcome") == ["accepted", "rejected", "undecided"]
    assert _enum("SettableEmailStatus") == ["draft", "queued"]
    assert _enum("DecisiveOutcome") == ["accepted", "rejected"]
    assert set(_enum("CommunicationStatus")) == {*_enum("EmailStatus"), *_enum("PhoneCallStatus")}

    # responses
    for component in ("PhoneCall", "PhoneCallUpdateResult", "CallSheetCall"):
        assert _property(component, "status") == _ref("PhoneCallStatus"), component
    for component in ("PhoneCallBatch", "CallSheetBatch", "Communication"):
        assert _property(component, "outcome") == _ref("BatchOutcome", nullable=True), component
    for component in ("Email", "EmailSummary", "EmailResponseResult"):
        assert _property(component, "status") == _ref("EmailStatus"), component
    assert _property("Therapist", "status") == _ref("TherapistStatus", nullable=True)
    assert _property("CallSheetBatch", "placement_request_status") == _ref(
        "PlacementRequestStatus", nullable=True
    )
    assert _property("Communication", "status") == _ref("CommunicationStatus")
    assert _property("Communication", "type") == _ref("CommunicationType")
    # the same components on the request side
    assert _property("PhoneCallUpdate", "status")["allOf"] == [_ref("PhoneCallStatus")]
    assert _property("PhoneCallBatchUpdate", "outcome")["allOf"] == [_ref("BatchOutcome")]
    assert _property("EmailCreate", "status") == {
        "allOf": [_ref("SettableEmailStatus")],
        "default": "draft",
    }
    assert _property("EmailResponse", "outcomes")["additionalProperties"] == _ref("DecisiveOutcome")
    statuses = {
        op.label: parameter["schema"]
        for op, parameter in query_parameters()
        if parameter["name"] == "status"
    }
    expected = {
        "GET /api/emails": _ref("EmailStatus"),
        "GET /api/phone-calls": _ref("PhoneCallStatus"),
        "GET /api/phone-calls/daily": _ref("PhoneCallStatus"),
    }
    assert {label: statuses.get(label) for label in expected} == expected


def test_telephone_hours_answer_in_the_schema_the_update_takes():
    assert _property("Therapist", "telefonische_erreichbarkeit") == {
        **_ref("Availability", nullable=True),
        "description": "null or {}: no telephone hours.",
    }
    assert _property("AvailabilityUpdate", "telefonische_erreichbarkeit") == _ref("Availability")


def test_every_time_of_day_is_hh_mm_with_the_pattern():
    """Requests and responses: every ``*_time`` field and the windows' and slots' start/end."""
    components = document()["components"]["schemas"]
    found = []
    for name, component in components.items():
        for key, prop in component.get("properties", {}).items():
            if key.endswith("_time") or (name in ("TimeWindow", "FreeSlot") and key != "date"):
                found.append(f"{name}.{key}")
                assert prop["pattern"] == TIME_PATTERN, f"{name}.{key}"
                assert "string" in prop["type"], f"{name}.{key}"
    assert {
        "PhoneCall.scheduled_time",
        "PhoneCall.actual_time",
        "PhoneCallCreate.scheduled_time",
        "PhoneCallUpdate.scheduled_time",
        "PhoneCallUpdate.actual_time",
        "Communication.scheduled_time",
        "TimeWindow.start",
        "TimeWindow.end",
        "FreeSlot.start",
        "FreeSlot.end",
    } <= set(found)
    assert re.fullmatch(TIME_PATTERN, "07:00") and not re.fullmatch(TIME_PATTERN, "7:0")


def test_lists_answer_named_pages():
    for op in api_operations():
        answer = op.spec["responses"].get("200", {}).get("content", {}).get("application/json")
        ref = (answer or {}).get("schema", {}).get("$ref", "")
        if ref.endswith("Page"):
            page = document()["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            assert {"data", "page", "per_page", "total"} <= set(page["required"])
    sheet = document()["components"]["schemas"]["CallSheetCallPage"]
    assert "overdue" in sheet["required"]
    assert sheet["properties"]["overdue"]["items"] == _ref("CallSheetCall")
    listing = next(op for op in api_operations() if op.label == "GET /api/phone-calls")
    assert listing.spec["responses"]["200"]["content"]["application/json"]["schema"] == _ref(
        "PhoneCallPage"
    )


class CsvLoader:
    """A raw body loader: bytes in, rows out, 422 for what is not CSV."""

    description = "Rows as comma-separated text."

    def load(self, raw: bytes) -> list[list[str]]:
        from marshmallow import ValidationError

        if b"," not in raw:
            raise ValidationError({"body": ["Not comma-separated."]})
        return [line.split(",") for line in raw.decode().splitlines()]


class CsvResource(Resource):
    @arguments(CsvLoader, location="body", media_type="text/csv", max_bytes=4 * 1024 * 1024)
    @response(summary="Count rows", status=200)
    def post(self, rows):
        return {"rows": len(rows)}


def test_a_raw_body_is_documented_by_its_media_type_and_may_be_larger():
    app = throwaway_app()
    app.add_url_rule("/api/csv", view_func=CsvResource.as_view("csv"))
    operation = build_openapi_document(app)["paths"]["/api/csv"]["post"]
    assert operation["requestBody"] == {
        "required": True,
        "description": "Rows as comma-separated text.",
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
    assert {"413", "415", "422"} <= set(operation["responses"])

    app.before_request(apply_body_limit)  # as the /api blueprint does for its routes
    client = app.test_client()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "text/csv"}
    two_megabytes = b"a,b\n" * (512 * 1024)  # past MAX_CONTENT_LENGTH, within max_bytes
    answer = client.post("/api/csv", data=two_megabytes, headers=headers)
    assert answer.status_code == 200 and answer.get_json() == {"rows": 512 * 1024}
    refused = client.post("/api/csv", data=b"no commas", headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"] == {"body": ["Not comma-separated."]}
    wrong = client.post("/api/csv", data=b"a,b", headers={**headers, "Content-Type": "text/plain"})
    assert wrong.status_code == 415
    too_big = client.post("/api/csv", data=b"a," * (2 * 1024 * 1024 + 1), headers=headers)
    assert too_big.status_code == 413


def test_a_raw_body_names_its_media_type():
    with pytest.raises(ValueError, match="media type"):
        arguments(CsvLoader, location="body")
