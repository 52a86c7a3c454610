"""Documentation metadata on resource methods, read by the OpenAPI generator (``api/openapi.py``).

The same schemas parse requests and dump responses, so the document cannot drift. A route whose
view carries no ``@documented`` is missing from the document, and the completeness test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])
SchemaLike = Schema | type[Schema]


def documented(
    *,
    summary: str,
    query: SchemaLike | None = None,
    body: SchemaLike | None = None,
    response: SchemaLike | None = None,
    status: int = 200,
    paginated: bool = False,
    errors: Iterable[int] = (),
    description: str | None = None,
    path_params: Mapping[str, str] | None = None,
    response_many: bool = False,
    responses: Mapping[int, SchemaLike | None] | None = None,
) -> Callable[[F], F]:
    """Attach what the OpenAPI document says about one operation.

    ``query``: schema of the query string (``parse_query``; an ``/api`` operation documenting
    no query string answers any query parameter with 422); ``body``: schema of the JSON body
    (``parse_body``); ``response``: schema of the ``status`` response (``None`` with 204 = no
    body); ``paginated``: the response is the list envelope ``{data, page, per_page, total}``
    of ``response`` items (``query=None`` then means ``PageQuerySchema``); ``response_many``: the
    response is a plain JSON array of ``response`` items; ``errors``: statuses answered in the
    one error format besides those every such route has (401, 503, and 400/413/415/422 for
    bodies, 422 for query strings, 404 for path parameters: added by the generator);
    ``path_params``: descriptions of URL parameters by name; ``responses``: further non-error
    responses with their own schema (e.g. ``{503: HealthSchema}``).
    """

    def attach(method: F) -> F:
        method.__apidoc__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "description": description,
            "query": query,
            "body": body,
            "response": response,
            "status": status,
            "paginated": paginated,
            "response_many": response_many,
            "errors": tuple(errors),
            "path_params": dict(path_params or {}),
            "responses": dict(responses or {}),
        }
        return method

    return attach
