"""E-invoices end to end, through a real worker: with the setting on, the invoice email's
PDF carries factur-x.xml (and the XML beside it when asked); an invoice whose totals do
not add up goes as a plain PDF, with the failed rules on the email log, on the
dashboard's email page and in an `einvoice.invalid` webhook.

The facts an e-invoice is built from come from the document facts builder
(relance.rules.document_facts) and its Stripe-shaped test invoices."""

from __future__ import annotations

import email.message

import pytest
from facturx import get_facturx_xml_from_pdf, get_xml_from_pdf
from lxml import etree

from relance.api.sent_emails import attachment_response, email_out
from relance.rendering.einvoice.cii import NSMAP
from relance.rendering.einvoice.validate import validate
from relance.storage import webhooks_store
from relance.storage.database import session_scope
from relance.storage.sent_emails import sent_files
from tests.support.events import customer, event
from tests.support.harness import Harness
from tests.workflows.test_webhooks_out import Receiver, delivered

documents = pytest.importorskip(
    "tests.support.documents", reason="needs the document facts builder the e-invoice is built from"
)


IBAN = "FR7630006000011234567890189"
XRECHNUNG_SELLER = {
    "contact_name": "Service facturation",
    "contact_phone": "+33 1 23 45 67 89",
    "contact_email": "facturation@acme.test",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "bic": "BNPAFRPP",
}


def _parts(msg: email.message.EmailMessage) -> dict[str, tuple[str, bytes]]:
    return {
        part.get_filename() or "": (part.get_content_type(), part.get_payload(decode=True))
        for part in msg.iter_attachments()
    }


async def _finalize(h: Harness, obj: dict, **customer_fields: object) -> None:
    await h.send(
        event("customer.created", customer("cus_facts", **customer_fields)),
        event("invoice.finalized", obj, created=await h.now()),
    )


async def test_invoice_email_carries_factur_x(harness: Harness) -> None:
    h = harness
    h.save_settings(seller=documents.SELLER_FR, einvoice={"profile": "en16931", "attach_xml": True})
    await _finalize(h, documents.two_rate_invoice("in_fx_ok"))
    [sent] = h.sent("invoice_finalized")
    assert sent.einvoice is not None and sent.einvoice.startswith("en16931: factur-x.xml embedded"), sent.einvoice
    [msg] = h.outbox_messages()
    parts = _parts(msg)
    [pdf_name] = [n for n, (ctype, _) in parts.items() if ctype == "application/pdf"]
    name, xml = get_facturx_xml_from_pdf(parts[pdf_name][1], check_xsd=True)
    assert name == "factur-x.xml"
    assert parts["factur-x.xml"] == ("text/xml", xml)  # the same XML, as a file of its own
    # The email log names it beside the PDF, as the API and the dashboard's email page list them.
    with session_scope(h.engine) as session:
        files = [(f.filename, f.content_type, f.size) for f in sent_files(session, sent)]
    assert files == [(pdf_name, "application/pdf", len(parts[pdf_name][1])), ("factur-x.xml", "text/xml", len(xml))]
    shown = email_out(h.engine, sent.id)  # GET /v1/emails/{id} and the dashboard's email page
    assert [(a.filename, a.content_type, a.url) for a in shown.attachments] == [
        (pdf_name, "application/pdf", f"/v1/emails/{sent.id}/attachments/0"),
        ("factur-x.xml", "text/xml", f"/v1/emails/{sent.id}/attachments/1"),
    ]
    download = attachment_response(h.engine, sent.id, 1)
    assert (download.media_type, download.body) == ("text/xml", xml)
    assert validate(xml, "en16931") == []
    tree = etree.fromstring(xml)
    assert tree.xpath("//rsm:ExchangedDocument/ram:ID", namespaces=NSMAP)[0].text == "F-2026-0042"
    per_rate = {
        el.findtext("ram:RateApplicablePercent", namespaces=NSMAP): el.findtext("ram:BasisAmount", namespaces=NSMAP)
        for el in tree.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NSMAP)
    }
    assert per_rate == {"20.00": "102.50", "5.50": "200.00"}


async def test_a_customer_profile_wins_and_receipts_carry_none(harness: Harness) -> None:
    h = harness
    seller = {**documents.SELLER_FR, **XRECHNUNG_SELLER}
    h.save_settings(seller=seller, einvoice={"profile": "off"})
    # The Leitweg-ID as a Stripe customer carries it, in its metadata.
    await _finalize(
        h,
        documents.two_rate_invoice("in_fx_cus"),
        einvoice_profile="xrechnung",
        metadata={"buyer_reference": "04011000-12345-34"},
    )
    [sent] = h.sent("invoice_finalized")
    assert sent.einvoice is not None and sent.einvoice.startswith("xrechnung: xrechnung.xml embedded"), sent.einvoice
    parts = _parts(h.outbox_messages()[0])
    assert "xrechnung.xml" not in parts  # inside the PDF only: attach_xml is off
    with session_scope(h.engine) as session:
        assert [f.filename for f in sent_files(session, sent)] == [_pdf_name(parts)]
    name, xml = get_xml_from_pdf(parts[_pdf_name(parts)][1], check_xsd=False, filenames=["xrechnung.xml"])
    tree = etree.fromstring(xml)
    assert tree.xpath("//ram:BuyerReference", namespaces=NSMAP)[0].text == "04011000-12345-34"
    [means] = tree.xpath("//ram:SpecifiedTradeSettlementPaymentMeans", namespaces=NSMAP)
    assert means.findtext("ram:TypeCode", namespaces=NSMAP) == "58"
    assert means.findtext("ram:PayeePartyCreditorFinancialAccount/ram:IBANID", namespaces=NSMAP) == IBAN


async def test_xrechnung_without_its_fields_goes_plain(harness: Harness) -> None:
    h = harness
    h.save_settings(seller=documents.SELLER_FR, einvoice={"profile": "xrechnung"})
    await _finalize(h, documents.two_rate_invoice("in_fx_xr"))
    [sent] = h.sent("invoice_finalized")
    assert sent.einvoice is not None and "invalid, sent as a plain PDF" in sent.einvoice
    for rule in ("BR-DE-15", "BR-DE-5", "BR-DE-6", "BR-DE-7"):
        assert rule in sent.einvoice, sent.einvoice


async def test_invalid_einvoice_goes_plain_and_is_reported(harness: Harness) -> None:
    h = harness
    h.save_settings(seller=documents.SELLER_FR, einvoice={"profile": "en16931", "attach_xml": True})
    with Receiver() as receiver:
        with session_scope(h.engine) as session:
            secret = webhooks_store.create_endpoint(session, url=receiver.url, event_types=["einvoice.invalid"]).secret
        obj = documents.two_rate_invoice("in_fx_bad")
        obj["total"] += 100  # one euro more than the lines, discounts and taxes make
        await _finalize(h, obj)
        [sent] = h.sent("invoice_finalized")
        assert sent.einvoice is not None and "invalid, sent as a plain PDF" in sent.einvoice
        assert "BR-CO-15" in sent.einvoice
        parts = _parts(h.outbox_messages()[0])
        assert "factur-x.xml" not in parts
        [pdf] = [body for ctype, body in parts.values() if ctype == "application/pdf"]
        assert get_facturx_xml_from_pdf(pdf, check_xsd=False) == (False, False)
        outcome = await delivered(h, f"{sent.idempotency_key}:einvoice.invalid:{_pdf_name(parts)}")
        assert [d.status for d in outcome.deliveries] == ["delivered"]
        [hook] = receiver.of_type("einvoice.invalid")
        data = hook.verify(secret)["data"]
        assert data["invoice_id"] == "in_fx_bad" and data["profile"] == "en16931" and data["sent_as"] == "plain_pdf"
        assert "BR-CO-15" in data["rules"]


def _pdf_name(parts: dict[str, tuple[str, bytes]]) -> str:
    return next(n for n, (ctype, _) in parts.items() if ctype == "application/pdf")
