"""Logging in with the API key (a double-submit token on the form, failures counted per
client), logging out, and the dashboard's front door."""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from relance.api.dashboard.deps import CsrfSessionDep, SessionDep
from relance.api.dashboard.pages import PREFIX, form_text, page_router, redirect, render
from relance.api.dashboard.sessions import (
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    client_of,
    is_secure,
    issue_session,
    read_session,
    session_secret,
    state_of,
)
from relance.api.deps import ServicesDep, configured_key, key_matches
from relance.platform.config import Config

log = logging.getLogger("relance.dashboard")
router = page_router()


def generated_key_file(config: Config) -> Path | None:
    """The file holding the key in use, when `relance dev` generated it; None when the key
    came from RELANCE_API_KEY (or there is none)."""
    key = configured_key(config)
    path = config.dev_api_key_file  # written by relance.dev.with_dev_api_key
    try:
        stored = path.read_text().strip()
    except OSError:
        return None
    return path.resolve() if key and hmac.compare_digest(stored.encode(), key.encode()) else None


def _safe_next(value: str | None) -> str:
    # Only a page of the dashboard: never another host ("//evil", "/\\evil").
    if value and value.startswith(PREFIX + "/") and "\\" not in value and not value.startswith("//"):
        if not any(ord(c) < 0x21 for c in value):
            return value
    return f"{PREFIX}/customers"


def _login_page(request: Request, config: Config, status: int, error: str | None, next_url: str) -> HTMLResponse:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        error=error,
        login_token=token,
        next_url=next_url,
        key_file=generated_key_file(config),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        path=f"{PREFIX}/login",
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
    )
    return response


@router.get("/login")
async def login_form(request: Request, svc: ServicesDep) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    if read_session(session_secret(svc.config), request.cookies.get(SESSION_COOKIE), state_of(request).revoked):
        return redirect(next_url)
    return _login_page(request, svc.config, 200, None, next_url)


@router.post("/login")
async def login(request: Request, svc: ServicesDep) -> Response:
    form = await request.form()
    next_url = _safe_next(form_text(form, "next", 2000))
    cookie, presented = request.cookies.get(LOGIN_COOKIE, ""), form_text(form, "csrf_token", 200)
    if not cookie or not hmac.compare_digest(cookie.encode(), presented.encode()):
        return _login_page(request, svc.config, 403, "The form expired. Please try again.", next_url)
    state = state_of(request)
    if state.too_many_failures(client_of(request)):
        return _login_page(request, svc.config, 429, "Too many attempts. Wait a few minutes and try again.", next_url)
    secret = session_secret(svc.config)
    if secret is None or not key_matches(form_text(form, "api_key", 1000), configured_key(svc.config)):
        state.failed(client_of(request))
        log.warning("dashboard login refused from %s", client_of(request))
        return _login_page(request, svc.config, 401, "That key is not valid.", next_url)
    token, _ = issue_session(secret)
    response = redirect(next_url)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
    )
    response.delete_cookie(
        LOGIN_COOKIE, path=f"{PREFIX}/login", httponly=True, samesite="strict", secure=is_secure(request)
    )
    return response


@router.post("/logout")
async def logout(request: Request, session: CsrfSessionDep) -> Response:
    state_of(request).revoke(session)
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=is_secure(request))
    return response


@router.get("")
@router.get("/")
async def home(_session: SessionDep) -> Response:
    return redirect(f"{PREFIX}/customers")
