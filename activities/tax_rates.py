"""Tax rates, written from `tax_rate.*` events."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.models import TaxRateSignal
from relance.storage.database import session_scope
from relance.storage.tax_rates import record_tax_rate_event


class TaxRateActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def record_tax_rate(self, signal: TaxRateSignal) -> bool:
        with session_scope(self.engine) as session:
            return record_tax_rate_event(session, signal.event_id, signal.type, signal.created, signal.tax_rate)
