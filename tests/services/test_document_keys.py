"""A stored PDF is reused while what it states stays the same: a tax rate learned after
the revision was rendered (tax_rate.created / updated) renders the PDF anew for the next
email, and a repeated or unchanged description does not. Real database, real PDFs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from relance.contracts.events import InvoiceEvent, TaxRateObject
from relance.contracts.kinds import DocumentKind
from relance.contracts.models import DocumentRequest, InvoiceSignal
from relance.rendering.pdf import render_document_pdf
from relance.services.documents import document_to_render, store_document
from relance.storage.database import get_engine, session_scope
from relance.storage.invoices import record_invoice_event
from relance.storage.tax_rates import record_tax_rate_event
from tests.rendering.test_pdf import pages_text
from tests.support.documents import tax_rate, two_rate_invoice
from tests.support.events import event, parse_one

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path) -> Engine:
    if request.param == "sqlite":
        return get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return get_engine(request.getfixturevalue("postgres_url"))


def revision_of(engine: Engine, invoice_id: str) -> str:
    parsed = parse_one(event("invoice.finalized", two_rate_invoice(invoice_id), created=T0), InvoiceEvent)
    with session_scope(engine) as s:
        state = record_invoice_event(
            s, InvoiceSignal(event_id=parsed.id, type=parsed.type, created=parsed.created, invoice=parsed.invoice)
        )
    return state.revision


def attach(engine: Engine, req: DocumentRequest) -> tuple[str, str | None]:
    """What an email attaching `req` does: reuse the stored PDF, or render and store it.
    The key, and the rendered PDF's text (None: reused)."""
    with session_scope(engine) as s:
        key, ctx = document_to_render(s, req)
    if ctx is None:
        return key, None
    pdf = render_document_pdf(req.kind, ctx, req.locale)
    with session_scope(engine) as s:
        store_document(s, key, pdf)
    return key, " ".join(pages_text(pdf))


def learn(engine: Engine, event_id: str, at: datetime, percentage: float, name: str) -> None:
    rate = TaxRateObject.model_validate(tax_rate("txr_fr55", percentage, name))
    with session_scope(engine) as s:
        record_tax_rate_event(s, event_id, "tax_rate.updated", at, rate)


def test_a_tax_rate_learned_after_the_first_render_renders_the_pdf_anew(engine: Engine) -> None:
    revision = revision_of(engine, "in_keys")
    req = DocumentRequest(
        kind=DocumentKind.invoice, invoice_id="in_keys", revision=revision, locale="en", filename="Invoice.pdf"
    )
    first, text = attach(engine, req)
    assert text is not None and "≈ 5.5%" in text and "TVA réduite" not in text
    assert attach(engine, req) == (first, None)  # nothing learned: reused

    learn(engine, "evt_rate1", T0 + timedelta(days=1), 5.5, "TVA réduite")
    second, text = attach(engine, req)
    assert second != first
    assert text is not None and "TVA réduite 5.5%" in text and "≈ 5.5%" not in text

    # The same description again (a duplicate, or an update that changes nothing shown).
    learn(engine, "evt_rate1", T0 + timedelta(days=1), 5.5, "TVA réduite")
    learn(engine, "evt_rate2", T0 + timedelta(days=2), 5.5, "TVA réduite")
    assert attach(engine, req) == (second, None)

    # A receipt of the same revision is keyed by the same rates.
    receipt = req.model_copy(update={"kind": DocumentKind.receipt, "filename": "Receipt.pdf"})
    receipt_key, _ = attach(engine, receipt)
    learn(engine, "evt_rate3", T0 + timedelta(days=3), 5.5, "TVA à taux réduit")
    assert attach(engine, receipt)[0] != receipt_key
    third, text = attach(engine, req)
    assert third not in (first, second) and text is not None and "TVA à taux réduit 5.5%" in text
