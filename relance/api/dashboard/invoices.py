"""One invoice: its facts, its reminder plan in the customer's local time, and its
timeline (events, status changes, payments, emails, webhooks), as GET /v1/invoices/{id}."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from relance.api.dashboard.deps import SessionDep
from relance.api.dashboard.pages import check_id, not_found, page_router, render
from relance.api.deps import ServicesDep
from relance.rules.manual_reminders import refusal
from relance.services.invoice_timeline import invoice_known, invoice_page, workflow_view
from workflows.ids import invoice_workflow_id

router = page_router()


@router.get("/invoices/{invoice_id}")
async def invoice(invoice_id: str, request: Request, session: SessionDep, svc: ServicesDep) -> Response:
    check_id(request, session, invoice_id, "invoice")
    if not await run_in_threadpool(invoice_known, svc.engine, invoice_id):
        raise not_found(request, session, f"Relance has no invoice {invoice_id!r}.")
    workflow_id = invoice_workflow_id(invoice_id)
    workflow = await workflow_view(svc.client.temporal, workflow_id, timeout=min(svc.temporal_timeout, 5.0))
    page = await run_in_threadpool(invoice_page, svc.engine, svc.config, invoice_id, workflow_id, workflow)
    if page is None:
        raise not_found(request, session, f"Relance has no invoice {invoice_id!r}.")
    return render(
        request,
        "invoice.html",
        session=session,
        page=page,
        inv=page.invoice,
        can_remind=refusal(page.invoice, invoice_id) is None,
        request_id=f"dashboard-{uuid.uuid4().hex}",
    )
