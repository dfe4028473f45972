"""Payment attempts: database writes for the payment workflow."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.models import PaymentSignal, RecordedPayment
from relance.storage.database import session_scope
from relance.storage.payments import record_payment_event


class PaymentActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def record_payment(self, signal: PaymentSignal) -> RecordedPayment:
        """Merges the event into its attempt and names the attempt's invoice when known."""
        with session_scope(self.engine) as session:
            return record_payment_event(session, signal)
