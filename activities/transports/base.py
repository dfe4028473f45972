"""The one interface every delivery transport implements, and its two failure modes.

A transport either accepts the message (returns a SendOutcome), fails in a way a later
attempt can fix (RetryableDeliveryError, optionally with the provider's Retry-After), or
fails for good (PermanentDeliveryError: bad address, bad key, message too large...).
The deliver activity maps the first to a Temporal retry and the second to a logged failure.
"""

from __future__ import annotations

from typing import Protocol

from relance.messages import OutgoingEmail, SendOutcome


class DeliveryError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableDeliveryError(DeliveryError):
    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    pass


class Transport(Protocol):
    name: str

    async def send(self, email: OutgoingEmail) -> SendOutcome: ...
