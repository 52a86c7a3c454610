"""URL converters."""

from werkzeug.routing import IntegerConverter

from communication_service.schemas.common import PG_INTEGER_MAX

__all__ = ["PG_INTEGER_MAX", "IdConverter"]


class IdConverter(IntegerConverter):
    """A row id: 1 … 2^31-1, so an id PostgreSQL's ``integer`` cannot hold is a plain 404."""

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, min=1, max=PG_INTEGER_MAX)
