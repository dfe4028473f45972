"""Refunds the operator should know about: those no event has tied to a customer yet,
held by their charge's workflow until one does (workflows/refund.py)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, error_responses
from relance.contracts.models import UnattributedRefunds
from relance.storage import refunds as held
from relance.storage.database import session_scope

router = APIRouter(tags=["refunds"])


@router.get(
    "/v1/refunds",
    response_model=list[UnattributedRefunds],
    responses=error_responses(400, 401),
    summary="Refunds waiting for a customer",
)
def list_refunds(
    svc: ServicesDep,
    unattributed: bool = Query(description="Only `true` is supported: the refunds waiting for a customer."),
    limit: int = Query(100, ge=1, le=500),
) -> list[UnattributedRefunds]:
    """Per charge, the refunds Relance has seen that no event has tied to a customer yet
    (e.g. a `refund.created` whose `charge.refunded` has not arrived). They are emailed
    once the charge's customer is known."""
    if not unattributed:
        raise ApiError(
            400, "invalid_request", "only unattributed refunds are listed: pass unattributed=true", "unattributed"
        )
    with session_scope(svc.engine) as session:
        return held.held_refunds(session, limit=limit)
