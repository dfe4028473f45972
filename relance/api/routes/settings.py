"""The account's settings: the same service as `relance settings`, so validation and
error fields are identical on both."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, SettingsOut, error_responses
from relance.contracts.account import AccountSettings
from relance.rules.settings_advice import advise
from relance.services.account import SettingsError, patch_settings
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings

router = APIRouter(tags=["settings"])


def _out(settings: AccountSettings, version: int) -> SettingsOut:
    return SettingsOut(version=version, settings=settings, advice=advise(settings))


@router.get(
    "/v1/settings", response_model=SettingsOut, summary="The account's settings", responses=error_responses(401)
)
def get_settings(svc: ServicesDep) -> SettingsOut:
    """Defaults (version 0) until something is saved. Fields: docs/settings.md."""
    with session_scope(svc.engine) as session:
        current, version = load_settings(session)
    return _out(current, version)


@router.patch(
    "/v1/settings", response_model=SettingsOut, summary="Change some settings", responses=error_responses(400, 401)
)
def patch_settings_route(
    svc: ServicesDep,
    patch: dict[str, Any] = Body(
        ...,
        examples=[
            {
                "reminders": [-3, 0, 7],
                "send_hour": 9,
                "timezone": "Europe/Paris",
                "emails": {"receipt": False},
                "branding": {"business_name": "Acme"},
            }
        ],
    ),
) -> SettingsOut:
    """A partial JSON object, merged into the current settings (nested objects merge too)
    and validated as a whole: all or nothing. The sender domain is set and verified with
    `relance domain`, not here."""
    try:
        with session_scope(svc.engine) as session:
            patch_settings(session, patch)
            current, version = load_settings(session)
    except SettingsError as exc:
        raise ApiError(400, "invalid_settings", exc.message, exc.field) from None
    return _out(current, version)
