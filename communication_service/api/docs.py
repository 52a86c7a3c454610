"""Documentation metadata on resource methods, read by the OpenAPI generator.

The same schemas parse requests and dump responses, so the document cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])


def documented(
    *,
    summary: str,
    query: Schema | type[Schema] | None = None,
    body: Schema | type[Schema] | None = None,
    response: Schema | type[Schema] | None = None,
    status: int = 200,
    paginated: bool = False,
    errors: Iterable[int] = (),
) -> Callable[[F], F]:
    def attach(method: F) -> F:
        method.__apidoc__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "query": query,
            "body": body,
            "response": response,
            "status": status,
            "paginated": paginated,
            "errors": tuple(errors),
        }
        return method

    return attach
