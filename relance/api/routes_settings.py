"""The account's settings: the same service as `relance settings`, so validation and
error fields are identical on both."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from fastapi import APIRouter, Body, Depends

from relance.account_service import SettingsError, logo_data_uri, patch_settings
from relance.api.app import Services, services
from relance.api.schemas import ApiError, SettingsOut, error_responses
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings

router = APIRouter(tags=["settings"])

_DATA_URI = re.compile(r"data:[a-z/]+;base64,(?P<data>[A-Za-z0-9+/=\s]*)", re.DOTALL)


def _check_logo(patch: dict[str, Any]) -> None:
    """`relance settings logo` checks the image; a raw PATCH must not bypass that and put a
    remote URL (fetched at render time) or an oversized blob into every email."""
    branding = patch.get("branding")
    if not isinstance(branding, dict) or branding.get("logo_data_uri") is None:
        return
    value = branding["logo_data_uri"]
    match = _DATA_URI.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise SettingsError("branding.logo_data_uri", "expected a data:image/...;base64 URI")
    try:
        content = base64.b64decode(match["data"], validate=False)
    except (binascii.Error, ValueError):
        raise SettingsError("branding.logo_data_uri", "invalid base64") from None
    branding["logo_data_uri"] = logo_data_uri(content)


def _out(settings, version: int) -> SettingsOut:
    return SettingsOut(version=version, settings=settings)


@router.get("/v1/settings", response_model=SettingsOut, summary="The account's settings",
            responses=error_responses(401))
def get_settings(svc: Services = Depends(services)) -> SettingsOut:
    """Defaults (version 0) until something is saved. Fields: docs/settings.md."""
    with session_scope(svc.engine) as session:
        current, version = load_settings(session)
    return _out(current, version)


@router.patch("/v1/settings", response_model=SettingsOut, summary="Change some settings",
              responses=error_responses(400, 401))
def patch_settings_route(
    patch: dict[str, Any] = Body(..., examples=[{"reminders": [-3, 0, 7], "send_hour": 9, "timezone": "Europe/Paris",
                                                 "emails": {"receipt": False},
                                                 "branding": {"business_name": "Acme"}}]),
    svc: Services = Depends(services),
) -> SettingsOut:
    """A partial JSON object, merged into the current settings (nested objects merge too)
    and validated as a whole: all or nothing. The sender domain is set and verified with
    `relance domain`, not here."""
    try:
        _check_logo(patch)
        with session_scope(svc.engine) as session:
            patch_settings(session, patch)
            current, version = load_settings(session)
    except SettingsError as exc:
        raise ApiError(400, "invalid_settings", exc.message, exc.field) from None
    return _out(current, version)
