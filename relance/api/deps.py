"""What routes depend on: the services container (`ServicesDep`) and the API key check
(`require_api_key`). Routes import from here; `app.py` imports the routes.

The key: every route but the signed webhook receivers and /healthz needs
`Authorization: Bearer <RELANCE_API_KEY>`. Fail closed: with no key configured nothing
authenticated is reachable. Every refusal has the same body, so a caller cannot tell a
wrong key from a missing configuration."""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from temporalio.service import RPCError, RPCStatusCode

from relance.api.schemas import ApiError
from relance.client import Accepted, RelanceClient
from relance.contracts.addresses import TooManyRecipients
from relance.contracts.events import Event
from relance.contracts.models import InvoiceState, OperatorEmailRequest
from relance.platform.config import Config
from relance.rules.manual_reminders import refusal
from relance.services.operator_emails import Refusal, check_resend, check_test, resend_request, test_request
from relance.storage.database import session_scope
from relance.storage.invoices import load_invoice_state
from relance.storage.tables import utcnow

log = logging.getLogger("relance.api")
T = TypeVar("T")

# Statuses that mean "Temporal is not there right now", as opposed to a bug in the request.
_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
RETRY_AFTER_SECONDS = 5


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

    async def request_reminder(self, invoice_id: str, request_id: str | None) -> str:
        """A reminder for an open invoice now, for the API and the dashboard alike: 409
        (`refusal`'s code) when Relance does not know the invoice, it is not open, or it is
        charged automatically with no failed payment yet; 503 when Temporal is away."""

        def load() -> InvoiceState | None:
            with session_scope(self.engine) as session:
                return load_invoice_state(session, invoice_id)

        state = await run_in_threadpool(load)
        if (refused := refusal(state, invoice_id)) is not None:
            raise ApiError(409, refused.code, refused.message)
        assert state is not None
        return await self.send_reminder_now(invoice_id, state.customer_id, request_id)

    async def resend(
        self, email_id: str, to: list[str] | None, cc: list[str] | None, request_id: str | None
    ) -> OperatorEmailRequest:
        """A logged email again, for the API and the dashboard alike: 404 for no such email,
        409 for one that was never sent (its kind off) or rendered, 400 for a bad address."""
        request_id = request_id or uuid.uuid4().hex

        def check() -> OperatorEmailRequest:
            with session_scope(self.engine) as session:
                entry, to_, cc_ = check_resend(session, email_id, to, cc)
                return resend_request(entry, request_id, to_, cc_, utcnow())

        req = await self._checked(check)
        await self.temporal(self.client.send_operator_email(req))
        return req

    async def test_send(self, kind: str, to: str, locale: str, request_id: str | None) -> OperatorEmailRequest:
        """A kind on sample data with the account's branding, to `to`; 400 for a bad kind,
        address or locale."""
        request_id = request_id or uuid.uuid4().hex

        def check() -> OperatorEmailRequest:
            email_kind, address, wanted = check_test(kind, to, locale)
            return test_request(email_kind, address, wanted, request_id, utcnow())

        req = await self._checked(check)
        await self.temporal(self.client.send_operator_email(req))
        return req

    async def _checked(self, check: Callable[[], T]) -> T:
        try:
            return await run_in_threadpool(check)
        except Refusal as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
        except TooManyRecipients as exc:
            raise ApiError(400, "too_many_recipients", str(exc)) from None

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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


# ---- the API key -------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="`Authorization: Bearer <RELANCE_API_KEY>`")

# Compared against when no key is configured, so refusing takes the same path either way.
_NO_KEY = b"\x00relance-no-api-key-configured"


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})


def key_matches(presented: str | None, expected: str | None) -> bool:
    configured = bool(expected)
    want = expected.encode() if expected else _NO_KEY
    got = (presented or "").encode()
    return hmac.compare_digest(got, want) and configured


def configured_key(config: Config) -> str | None:
    return config.api_key.get_secret_value() if config.api_key is not None else None


async def require_api_key(
    svc: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if not key_matches(credentials.credentials if credentials else None, configured_key(svc.config)):
        raise unauthorized()


API_KEY = [Depends(require_api_key)]
