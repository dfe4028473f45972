"""GET /healthz: for load balancers and `make run`; no key needed, nothing revealed."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from relance.api.deps import ServicesDep
from relance.api.schemas import ApiError, ErrorResponse, Health

router = APIRouter(tags=["health"])
log = logging.getLogger("relance.api")


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness and database check",
    responses={503: {"model": ErrorResponse, "description": "The database does not answer."}},
)
async def healthz(svc: ServicesDep) -> Health:
    """200 `{"status": "ok"}` when the application database answers a trivial query.
    Temporal is not checked: routes that need it answer 503 on their own."""

    def ping() -> None:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception as exc:  # any driver error means "not healthy", and says nothing more
        log.warning("health check failed: %s", exc)
        raise ApiError(503, "unavailable", "the database does not answer") from None
    return Health()
