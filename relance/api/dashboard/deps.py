"""What dashboard pages depend on: the session from its cookie (`SessionDep`, or a
redirect to the login form), the same checked against the POST's CSRF token
(`CsrfSessionDep`, or 403 and nothing happens), and the submitted form (`FormDep`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from starlette.datastructures import FormData

from relance.api.dashboard.pages import PREFIX, PageExit, message_page, redirect
from relance.api.dashboard.sessions import (
    SESSION_COOKIE,
    DashboardSession,
    csrf_matches,
    read_session,
    session_secret,
    state_of,
)
from relance.api.deps import ServicesDep


async def current_session(request: Request, svc: ServicesDep) -> DashboardSession:
    session = read_session(session_secret(svc.config), request.cookies.get(SESSION_COOKIE), state_of(request).revoked)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PageExit(
            redirect(f"{PREFIX}/login?{urlencode({'next': target})}" if request.method == "GET" else f"{PREFIX}/login")
        )
    return session


SessionDep = Annotated[DashboardSession, Depends(current_session)]


async def _presented_csrf(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def csrf_session(request: Request, session: SessionDep) -> DashboardSession:
    """The session of a POST that carries its CSRF token; 403 otherwise."""
    if not csrf_matches(await _presented_csrf(request), session):
        raise PageExit(
            message_page(
                request,
                403,
                "Refused",
                "This form has expired or did not come from the dashboard. Go back, reload the page and try again.",
                session,
            )
        )
    return session


CsrfSessionDep = Annotated[DashboardSession, Depends(csrf_session)]


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]
