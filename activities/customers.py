"""Customer records, written from customer events."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.models import CustomerSignal
from relance.storage.customers import record_customer_event
from relance.storage.database import session_scope


class CustomerActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def record_customer(self, signal: CustomerSignal) -> bool:
        with session_scope(self.engine) as session:
            return record_customer_event(session, signal.event_id, signal.type, signal.created, signal.customer)
