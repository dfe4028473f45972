"""The FastAPI application. Everything it talks to is injected, so tests hand it their
own engine and RelanceClient and `relance.api.server.serve` hands it the real ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from relance.api.auth import require_api_key
from relance.api.schemas import ApiError
from relance.client import Accepted, RelanceClient
from relance.contracts.events import Event
from relance.platform.config import Config

log = logging.getLogger("relance.api")
T = TypeVar("T")

# Statuses that mean "Temporal is not there right now", as opposed to a bug in the request.
_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
RETRY_AFTER_SECONDS = 5

DESCRIPTION = """\
Relance's HTTP API: hand it billing events, manage customers' recipients and the
account's settings, ask for a reminder, and read the log of what was sent.

Every route except `POST /v1/webhooks/stripe` (verified by its Stripe signature) and
`GET /healthz` needs `Authorization: Bearer <RELANCE_API_KEY>`. With no key configured
the API refuses them all. Errors are `{"error": {"type", "message", "field"}}`.
"""


@dataclass
class Services:
    """What the routes use, in one place (app.state.services)."""

    config: Config
    engine: Engine
    client: RelanceClient
    temporal_timeout: float = 15.0
    apply_wait: float = 3.0

    async def send_event(self, event: Event) -> Accepted:
        return await self.temporal(self.client.send_event(event))

    async def send_reminder_now(self, invoice_id: str, customer_id: str, request_id: str | None) -> str:
        return await self.temporal(self.client.send_reminder_now(invoice_id, customer_id, request_id))

    async def temporal(self, call: Awaitable[T]) -> T:
        """Temporal being away is the caller's cue to retry (503), not a server error: a
        handed-over event is durable, and one that was not will come again."""
        try:
            return await asyncio.wait_for(call, self.temporal_timeout)
        except TimeoutError:
            log.warning("Temporal did not answer within %.0fs", self.temporal_timeout)
        except RPCError as exc:
            if exc.status not in _UNREACHABLE:
                raise
            log.warning("Temporal unavailable: %s", exc)
        except RuntimeError as exc:
            # A lazily connected client reports a failed (re)connect this way.
            if "Failed client connect" not in str(exc):
                raise
            log.warning("Temporal unreachable: %s", exc)
        raise ApiError(
            503,
            "temporal_unavailable",
            "Relance cannot reach Temporal right now; retry later "
            "(anything already handed over is recognised as a duplicate)",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def services(request: Request) -> Services:
    return request.app.state.services


def _error(
    status: int, type_: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return _error(exc.status, exc.type, exc.message, exc.field, exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # 400 rather than FastAPI's 422: one status for "fix your request", as everywhere else.
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [str(p) for p in first.get("loc", ())]
    if first.get("type") == "json_invalid":
        return _error(400, "invalid_json", "the body is not valid JSON")
    if loc and loc[0] == "body":
        loc = loc[1:]
    return _error(400, "invalid_request", first.get("msg", "invalid request"), ".".join(loc) or None)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # 400: FastAPI's own "error parsing the body" (e.g. JSON nested too deeply to decode).
    kinds = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
    return _error(
        exc.status_code,
        kinds.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=getattr(exc, "headers", None),
    )


def create_app(
    config: Config,
    engine: Engine,
    relance_client: RelanceClient,
    *,
    temporal_timeout: float = 15.0,
    apply_wait: float = 3.0,
) -> FastAPI:
    """The API. `temporal_timeout` bounds each hand-over to Temporal (then 503);
    `apply_wait` is how long PUT /v1/customers waits to see its change stored."""
    from relance.api import (
        dashboard,
        routes_codec,
        routes_customers,
        routes_emails,
        routes_events,
        routes_health,
        routes_invoices,
        routes_refunds,
        routes_settings,
        routes_templates,
        routes_webhooks,
    )

    app = FastAPI(
        title="Relance API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "events", "description": "Billing events in (your backend, or Stripe's webhook)."},
            {"name": "customers", "description": "Who receives a customer's billing emails."},
            {"name": "settings", "description": "What the account wants (see docs/settings.md)."},
            {"name": "invoices", "description": "Actions on one invoice."},
            {"name": "emails", "description": "The log of emails, and each email as sent."},
            {"name": "health"},
        ],
    )
    app.state.services = Services(
        config=config, engine=engine, client=relance_client, temporal_timeout=temporal_timeout, apply_wait=apply_wait
    )
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]

    authenticated = [Depends(require_api_key)]
    app.include_router(routes_health.router)
    app.include_router(routes_events.webhook_router)
    app.include_router(routes_events.router, dependencies=authenticated)
    app.include_router(routes_customers.router, dependencies=authenticated)
    app.include_router(routes_settings.router, dependencies=authenticated)
    app.include_router(routes_invoices.router, dependencies=authenticated)
    app.include_router(routes_emails.router, dependencies=authenticated)
    app.include_router(routes_refunds.router, dependencies=authenticated)
    app.include_router(routes_templates.router, dependencies=authenticated)
    app.include_router(routes_codec.router, dependencies=authenticated)
    app.include_router(routes_webhooks.router)  # its routes carry the key check, except the SendGrid receiver
    # The Temporal UI calls the codec endpoint from the browser, from its own origin.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[config.temporal_ui_url.rstrip("/")],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    app.include_router(dashboard.router)  # the ops pages: a session cookie and CSRF tokens, not the bearer key

    def openapi() -> dict[str, Any]:
        # FastAPI documents a 422 it never sends here (validation errors are 400s).
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    # The 400 that replaces FastAPI's 422 for bad parameters or bodies.
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {
                            "description": "Invalid request; `error.field` names the offending input.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                        }
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
