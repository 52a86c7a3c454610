"""The one boundary between HTTP and the services, as flask-smorest draws it.

A resource method carries two decorators, and they are the only place where requests are
read and answers written:

- ``@arguments(Schema, location="json" | "query")`` names the input. The view receives it
  parsed and validated (422 names field and rule), after the body or query string is held
  to what the service can take (``api/parsing.py``). A body that is not JSON is
  ``location="body"`` with its ``media_type``: a loader (any class with ``load(bytes)``,
  raising ``ValidationError``) turns the raw bytes into what the view receives; ``max_bytes``
  lets that one operation take a body larger than ``MAX_CONTENT_LENGTH``.
- ``@response(Schema, status=…, summary=…)`` (``paginated=True`` for the list envelope,
  ``many=True`` for a plain array, ``status=204`` for no body) dumps what the view returns
  with the fast dumper compiled from that schema (``schemas/dumping.py``).

Both record what they do on the view (``__apidoc__``); the OpenAPI document
(``api/openapi.py``) is generated from exactly those objects, so what is documented is what
runs. The view itself reads like a flaskr view: it calls one service and returns its rows or
domain values; a view may return ``(value, status)`` where the status depends on the outcome.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, TypeVar

from flask import Response, current_app, request
from marshmallow import Schema, ValidationError

from communication_service.api.parsing import (
    JSON,
    parse_body,
    parse_query,
    parse_raw_body,
    printable,
    require_utf8_query,
)
from communication_service.schemas.common import PageQuerySchema
from communication_service.schemas.dumping import row_dumper

F = TypeVar("F", bound=Callable[..., Any])


class Listing(Protocol):
    """What a paginated view returns: pages of rows, and how many rows there are."""

    def page(self, limit: int, offset: int) -> list[Any]: ...

    def total(self) -> int: ...


def _apidoc(view: Callable[..., Any]) -> dict[str, Any]:
    doc = getattr(view, "__apidoc__", None)
    if doc is None:
        doc = {"query": None, "body": None, "responses": {}, "path_params": {}, "errors": ()}
        view.__apidoc__ = doc  # type: ignore[attr-defined]
    return doc


class BodyLoader(Protocol):
    """What ``@arguments(…, location="body")`` takes: raw bytes in, the view's input out."""

    def load(self, raw: bytes) -> Any: ...


def arguments(
    schema: type[Schema] | type[BodyLoader],
    *,
    location: Literal["json", "query", "body"] = "json",
    media_type: str = JSON,
    max_bytes: int | None = None,
) -> Callable[[F], F]:
    """The view's input: a JSON body or the query string, loaded by ``schema``; or a raw body
    of ``media_type`` (``location="body"``; 415 for any other) given to the loader
    ``schema``, at most ``max_bytes`` when that is larger than ``MAX_CONTENT_LENGTH``."""
    if location == "body" and media_type == JSON:
        raise ValueError("a raw body names its media type; a JSON body is location='json'")

    def record(view: F) -> F:
        doc = _apidoc(view)
        if location == "query":
            doc["query"] = schema
        else:
            doc.update(body=schema, body_media_type=media_type, body_max_bytes=max_bytes)
        return view

    return record


def apply_body_limit() -> None:
    """Before the view: the request's body limit is its operation's ``max_bytes`` when that
    is larger than ``MAX_CONTENT_LENGTH`` (every other request keeps the app's limit)."""
    view = current_app.view_functions.get(request.endpoint or "")
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)
    larger = (getattr(handler, "__apidoc__", None) or {}).get("body_max_bytes")
    limit = request.max_content_length
    if larger is not None and limit is not None and larger > limit:
        request.max_content_length = larger


def response(
    schema: type[Schema] | None = None,
    *,
    summary: str,
    status: int = 200,
    paginated: bool = False,
    many: bool = False,
    errors: Iterable[int] = (),
    description: str | None = None,
    path_params: Mapping[str, str] | None = None,
    responses: Mapping[int, type[Schema] | None] | None = None,
    media_type: str = "application/json",
    operation_id: str | None = None,
    page_lists: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """The view's answer (see the module docstring); ``errors``: statuses answered in the one
    error format besides those every such route has (the generator adds those);
    ``operation_id``: the operation's name where the one derived from the resource and method
    reads badly (``api/openapi.py``); ``page_lists``: further lists of the same items in the
    page envelope, by key (with their description), which the listing holds in ``extras``."""

    def wrap(view: F) -> F:
        doc = _apidoc(view)
        doc.update(
            summary=summary,
            description=description,
            response=schema,
            status=status,
            paginated=paginated,
            response_many=many,
            errors=tuple(errors),
            path_params=dict(path_params or {}),
            responses=dict(responses or {}),
            media_type=media_type,
            operation_id=operation_id,
            page_lists=dict(page_lists or {}),
        )
        run: Callable[..., Any] | None = None

        @functools.wraps(view)
        def endpoint(*args: Any, **kwargs: Any) -> Any:
            nonlocal run
            if run is None:  # the decorators may stack in either order: read them at first use
                run = _runner(view, doc)
            return run(args, kwargs)

        return endpoint  # type: ignore[return-value]

    return wrap


def _runner(view: Callable[..., Any], doc: dict[str, Any]) -> Callable[..., Any]:
    """How one operation runs: parse its input, call the view, answer."""
    query_schema = doc["query"] or (PageQuerySchema if doc["paginated"] else None)
    query = query_schema() if query_schema else None
    body = doc["body"]() if doc["body"] else None
    body_media_type = doc.get("body_media_type", JSON)
    dump = row_dumper(doc["response"]()) if doc["response"] else None
    status, paginated, many = doc["status"], doc["paginated"], doc["response_many"]
    page_lists = doc["page_lists"]
    passes_query = doc["query"] is not None

    def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inputs: list[Any] = []
        paging = None
        if query is not None:
            parsed = parse_query(query)
            if paginated:
                paging = parsed.pop("page"), parsed.pop("per_page")
            if passes_query:
                inputs.append(parsed)
        else:
            _reject_any_query()
        if body is not None:
            raw = body_media_type != JSON
            inputs.append(parse_raw_body(body, body_media_type) if raw else parse_body(body))
        result = view(*args, *inputs, **kwargs)
        answered = status
        if type(result) is tuple:
            result, answered = result
        if answered == 204:
            return Response(status=204)
        if paginated:
            assert paging is not None
            envelope = paginate(result, *paging, dump)
            for key in page_lists:
                rows = result.extras[key]
                envelope[key] = rows if dump is None else [dump(row) for row in rows]
            return envelope, answered
        if dump is None:
            return result, answered
        if many:
            return [dump(item) for item in result], answered
        return dump(result), answered

    return run


def _reject_any_query() -> None:
    """An operation that documents no query string takes none (400 if it is not UTF-8);
    ``/health`` ignores one, as load balancers and probes may add their own."""
    if request.query_string and request.blueprint != "health":
        require_utf8_query()
        if request.args:
            raise ValidationError({printable(key): ["Unknown parameter."] for key in request.args})


def paginate(
    listing: Listing, page: int, per_page: int, dump: Callable[[Any], Any] | None
) -> dict[str, Any]:
    """``{"data", "page", "per_page", "total"}``; the total is asked for only when the page
    does not tell it (a first page that is not full has it already)."""
    offset = (page - 1) * per_page
    rows = listing.page(per_page, offset)
    known = 0 < len(rows) < per_page or (page == 1 and not rows)
    total = offset + len(rows) if known else listing.total()
    data = rows if dump is None else [dump(row) for row in rows]
    return {"data": data, "page": page, "per_page": per_page, "total": total}
