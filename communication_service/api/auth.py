"""Bearer-token auth for every ``/api`` route; fails closed when no token is configured."""

from __future__ import annotations

import hmac

from flask import request

from communication_service.config import Settings
from communication_service.errors import Unauthorized


def require_bearer_token(settings: Settings) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented_bytes = presented.strip().encode()
    # Compare against every token (no early exit) so timing does not reveal which one matched.
    matched = False
    for token in settings.api_tokens:
        matched |= hmac.compare_digest(presented_bytes, token.encode())
    if scheme.lower() != "bearer" or not presented_bytes or not matched:
        raise Unauthorized(
            "A valid bearer token is required.",
            details={"header": "Authorization: Bearer <token>"},
        )
