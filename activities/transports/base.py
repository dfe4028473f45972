"""The one interface every delivery transport implements, and its two failure modes.

A transport either accepts the message (returns a SendOutcome), fails in a way a later
attempt can fix (RetryableDeliveryError, optionally with the provider's Retry-After), or
fails for good (PermanentDeliveryError: bad address, bad key, message too large...).
The deliver activity maps the first to a Temporal retry and the second to a logged failure.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from relance.contracts.messages import OutgoingEmail, SendOutcome


def fingerprint(secret: str) -> str:
    """A hash that tells credentials apart without keeping them."""
    return hashlib.sha256(b"relance-transport-credentials:" + secret.encode()).hexdigest()[:32]


class DeliveryError(Exception):
    def __init__(self, message: str, *, status: int | None = None, credentials_refused: bool = False) -> None:
        super().__init__(message)
        self.status = status
        # The provider refused *our* account (SendGrid 401 or 403, SMTP 535): every email
        # would fail the same way, so the deliver activity holds them all rather than
        # failing each one (see relance/storage/transport_holds.py).
        self.credentials_refused = credentials_refused


class RetryableDeliveryError(DeliveryError):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    pass


class Transport(Protocol):
    name: str

    @property
    def credential_fingerprint(self) -> str | None:
        """A hash of the credentials in use (None without credentials): a hold opened for
        refused credentials applies only while the same ones are used."""

    async def send(self, email: OutgoingEmail) -> SendOutcome: ...
