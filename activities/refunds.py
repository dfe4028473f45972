"""The refund ledger of a charge, and its refunds still waiting for a customer (see
workflows/refund.py)."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.models import RefundLedger, UnattributedRefunds
from relance.storage import refunds as held
from relance.storage.database import session_scope
from relance.storage.documents import get_document, has_document, put_document

log = logging.getLogger("relance.refunds")


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
            if ledger.customer_id:
                held.release(session, ledger.key)

    @activity.defn
    def hold_unattributed_refunds(self, waiting: UnattributedRefunds) -> None:
        """No event has named the charge's customer yet: say so, and list the refunds for
        the operator (GET /v1/refunds?unattributed=true) until one does."""
        with session_scope(self.engine) as session:
            held.hold(session, waiting)
        log.info(
            "refund(s) %s of charge %s wait for a customer: no event has named one yet (the charge's "
            "charge.refunded event carries it)",
            ", ".join(r.id for r in waiting.refunds),
            waiting.charge_id,
            extra={"charge_id": waiting.charge_id},
        )
