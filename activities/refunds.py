"""The refund ledger of a charge (see workflows/refund.py)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.models import RefundLedger
from relance.storage.database import session_scope
from relance.storage.documents import get_document, has_document, put_document


class RefundActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def load_refund_ledger(self, key: str) -> RefundLedger:
        with session_scope(self.engine) as session:
            doc_key = f"refund-ledger:{key}"
            if not has_document(session, doc_key):
                return RefundLedger(key=key)
            return RefundLedger.model_validate_json(get_document(session, doc_key))

    @activity.defn
    def save_refund_ledger(self, ledger: RefundLedger) -> None:
        with session_scope(self.engine) as session:
            put_document(session, f"refund-ledger:{ledger.key}", ledger.model_dump_json().encode(), "application/json")
