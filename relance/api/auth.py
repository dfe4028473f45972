"""The API key check. Every route but the signed webhook receivers and /healthz needs
`Authorization: Bearer <RELANCE_API_KEY>`.

Fail closed: with no key configured nothing authenticated is reachable. Every refusal
has the same body, so a caller cannot tell a wrong key from a missing configuration."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from relance.api.schemas import ApiError

_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="`Authorization: Bearer <RELANCE_API_KEY>`")

# Compared against when no key is configured, so refusing takes the same path either way.
_NO_KEY = b"\x00relance-no-api-key-configured"


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})


def key_matches(presented: str | None, expected: str | None) -> bool:
    configured = bool(expected)
    want = expected.encode() if configured else _NO_KEY
    got = (presented or "").encode()
    return hmac.compare_digest(got, want) and configured


async def require_api_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    secret = request.app.state.services.config.api_key
    expected = secret.get_secret_value() if secret is not None else None
    if not key_matches(credentials.credentials if credentials else None, expected):
        raise unauthorized()
