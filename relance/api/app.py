"""The FastAPI application: the routers, the error shape, the OpenAPI document. Everything
it talks to is injected, so tests hand it their own engine and RelanceClient and
`relance.api.server.serve` hands it the real ones."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from relance.api import dashboard
from relance.api.deps import API_KEY, Services
from relance.api.inbound import sendgrid, stripe
from relance.api.routes import (
    analytics,
    codec,
    customers,
    email_log,
    emails,
    events,
    health,
    invoices,
    refunds,
    settings,
    suppressions,
    templates,
    test_emails,
    webhook_endpoints,
)
from relance.api.schemas import ApiError
from relance.client import RelanceClient
from relance.platform.config import Config

DESCRIPTION = """\
Relance's HTTP API: hand it billing events, manage customers' recipients and the
account's settings, ask for a reminder, and read the log of what was sent.

Every route except `POST /v1/webhooks/stripe` (verified by its Stripe signature) and
`GET /healthz` needs `Authorization: Bearer <RELANCE_API_KEY>`. With no key configured
the API refuses them all. Errors are `{"error": {"type", "message", "field"}}`.
"""


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
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
    loc = [str(p) for p in first.get("loc", ())]
    if first.get("type") == "json_invalid":
        return _error(400, "invalid_json", "the body is not valid JSON")
    if loc and loc[0] == "body":
        loc = loc[1:]
    return _error(400, "invalid_request", str(first.get("msg", "invalid request")), ".".join(loc) or None)


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
    app = FastAPI(
        title="Relance API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "events", "description": "Billing events in (your backend, or Stripe's webhook)."},
            {"name": "customers", "description": "Who receives a customer's billing emails."},
            {"name": "settings", "description": "What the account wants (see docs/settings.md)."},
            {"name": "invoices", "description": "One invoice: its timeline and reminder plan, a reminder now."},
            {"name": "emails", "description": "The log of emails, and each email as sent."},
            {"name": "analytics", "description": "What the reminders recovered."},
            {"name": "health"},
        ],
    )
    app.state.services = Services(
        config=config, engine=engine, client=relance_client, temporal_timeout=temporal_timeout, apply_wait=apply_wait
    )
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]

    app.include_router(health.router)
    app.include_router(stripe.router)
    for routes in (
        events,
        customers,
        settings,
        invoices,
        email_log,
        emails,
        test_emails,
        refunds,
        templates,
        codec,
        webhook_endpoints,
        suppressions,
        analytics,
    ):
        app.include_router(routes.router, dependencies=API_KEY)
    app.include_router(sendgrid.router)
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
