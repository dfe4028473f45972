"""One email as it was sent: its headers and delivery, the HTML in a sandboxed frame
(served with EMAIL_CSP), the text part, and its PDFs."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from relance.api.dashboard.deps import SessionDep
from relance.api.dashboard.pages import EMAIL_CSP, check_id, not_found, page_router, render, temporal_url
from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError
from relance.api.sent_emails import attachment_response, email_out
from relance.storage.database import session_scope
from relance.storage.sent_emails import message_of
from relance.storage.tables import EmailLogEntry

router = page_router()


@router.get("/emails/{email_id}")
def email_page(email_id: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    try:
        email = email_out(svc.engine, check_id(request, session, email_id, "email")[:64])
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise not_found(request, session, "No such email.") from None
    return render(
        request,
        "email.html",
        session=session,
        email=email,
        temporal_url=temporal_url(svc, email.invoice) if email.invoice else None,
    )


@router.get("/emails/{email_id}/html")
def email_html(email_id: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    with session_scope(svc.engine) as db:
        entry = db.get(EmailLogEntry, email_id[:64])
        message = message_of(db, entry) if entry is not None else None
    if message is None or not message.html:
        raise not_found(request, session, "This email has no HTML part.")
    return HTMLResponse(message.html, headers={"Content-Security-Policy": EMAIL_CSP, "X-Frame-Options": "SAMEORIGIN"})


@router.get("/emails/{email_id}/attachments/{n}")
def email_attachment(email_id: str, n: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    if not n.isdigit() or len(n) > 4:
        raise not_found(request, session, "No such attachment.")
    try:
        return attachment_response(svc.engine, email_id[:64], int(n))
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise not_found(request, session, exc.message) from None
