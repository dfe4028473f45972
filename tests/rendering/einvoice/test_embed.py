"""The e-invoice inside the PDF: the file under its standard name, with the
AFRelationship and XMP Factur-X asks for, read back as a reader would (pypdf and the
factur-x package's own reader); never an invalid one, never on a receipt."""

from __future__ import annotations

import io

import pytest
from facturx import get_facturx_xml_from_pdf, get_xml_from_pdf
from lxml import etree
from pypdf import PdfReader

from relance.contracts.documents import DocumentFacts
from relance.contracts.einvoice import EInvoiceOptions, EInvoiceProfile
from relance.contracts.email_context import Branding, CreditNoteView, CustomerView, InvoiceView
from relance.contracts.kinds import DocumentKind
from relance.rendering.einvoice.cii import NSMAP
from relance.rendering.einvoice.render import render_document
from relance.rendering.einvoice.validate import validate
from tests.rendering.einvoice import facts as cases

pytestmark = pytest.mark.usefixtures("schematrons")


def _ctx(facts: DocumentFacts, profile: EInvoiceProfile, attach_xml: bool = False) -> object:
    from relance.rendering.pdf import DocumentContext

    t = facts.totals
    view = InvoiceView(
        id=facts.id,
        number=facts.number,
        currency=facts.currency,
        subtotal=t.subtotal,
        tax=sum(x.amount for x in t.taxes),
        total=t.total,
        amount_due=t.total,
        amount_remaining=t.amount_remaining,
        created=facts.issue_date,
    )
    credit = None
    if facts.type == "credit_note":
        credit = CreditNoteView(
            id=facts.id, number=facts.number, currency=facts.currency, amount=t.total, created=facts.issue_date
        )
    return DocumentContext(
        branding=Branding(business_name="Acme SAS"),
        customer=CustomerView(id="cus_1", name=facts.buyer.name),
        invoice=None if credit else view,
        credit_note=credit,
        timezone="Europe/Paris",
        facts=facts,
        einvoice=EInvoiceOptions(profile=profile, attach_xml=attach_xml),
    )


def _catalog(pdf: bytes) -> tuple[PdfReader, dict]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, reader.trailer["/Root"]


def test_invoice_pdf_carries_factur_x_xml() -> None:
    facts = cases.multi_rate()
    rendered = render_document(DocumentKind.invoice, _ctx(facts, "en16931", attach_xml=True), "fr")
    assert rendered.einvoice is not None and rendered.einvoice.status == "embedded"
    assert rendered.einvoice.filename == "factur-x.xml"
    reader, root = _catalog(rendered.pdf)
    assert [a.name for a in reader.attachment_list] == ["factur-x.xml"]
    # One associated file, declared as an alternative rendering of the invoice.
    files = [f.get_object() for f in root["/AF"]]
    assert len(files) == 1 and files[0]["/AFRelationship"] == "/Alternative" and files[0]["/F"] == "factur-x.xml"
    embedded = files[0]["/EF"]["/F"].get_object()
    assert embedded["/Subtype"] == "/text/xml"
    xml = embedded.get_data()
    assert xml == rendered.xml  # the separate attachment is the same file
    assert validate(xml, "en16931") == []
    # XMP: still PDF/A-3b, plus the Factur-X properties and their extension schema.
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    assert "<fx:DocumentType>INVOICE</fx:DocumentType>" in xmp
    assert "<pdfaSchema:prefix>fx</pdfaSchema:prefix>" in xmp
    etree.fromstring(xmp.split("?>", 1)[1].rsplit("<?xpacket", 1)[0].encode())  # well-formed
    # The factur-x package's reader finds it and its XSD accepts it.
    name, found = get_facturx_xml_from_pdf(rendered.pdf, check_xsd=True)
    assert name == "factur-x.xml" and found == xml
    # What the XML says is what the page was rendered from.
    tree = etree.fromstring(xml)
    grand = tree.xpath("//ram:GrandTotalAmount", namespaces=NSMAP)[0].text
    assert grand == "159.56" and facts.totals.total == 15956


def test_credit_note_as_xrechnung() -> None:
    rendered = render_document(DocumentKind.credit_note, _ctx(cases.credit_note(), "xrechnung"), "de")
    assert rendered.einvoice is not None and rendered.einvoice.status == "embedded", rendered.einvoice
    assert "XRechnung" in (rendered.einvoice.checked_with or "")
    assert rendered.xml is None  # not asked for as a file of its own
    reader, root = _catalog(rendered.pdf)
    assert [a.name for a in reader.attachment_list] == ["xrechnung.xml"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert "<fx:ConformanceLevel>XRECHNUNG</fx:ConformanceLevel>" in xmp
    assert "<fx:DocumentFileName>xrechnung.xml</fx:DocumentFileName>" in xmp
    name, xml = get_xml_from_pdf(rendered.pdf, check_xsd=False, filenames=["xrechnung.xml"])
    assert name == "xrechnung.xml"
    assert etree.fromstring(xml).xpath("//rsm:ExchangedDocument/ram:TypeCode", namespaces=NSMAP)[0].text == "381"


def test_invalid_einvoice_is_not_embedded() -> None:
    facts = cases.multi_rate()
    facts.totals.total += 100
    rendered = render_document(DocumentKind.invoice, _ctx(facts, "en16931", attach_xml=True), "en")
    assert rendered.einvoice is not None and rendered.einvoice.status == "invalid"
    assert "BR-CO-15" in {f.rule for f in rendered.einvoice.failures}
    assert "BR-CO-15" in rendered.einvoice.summary()
    assert rendered.xml is None
    reader, root = _catalog(rendered.pdf)
    assert list(reader.attachment_list) == [] and "/AF" not in root
    assert "fx:" not in root["/Metadata"].get_object().get_data().decode()


def test_receipt_carries_no_einvoice() -> None:
    rendered = render_document(DocumentKind.receipt, _ctx(cases.paid(), "en16931"), "en")
    assert rendered.einvoice is None
    assert list(PdfReader(io.BytesIO(rendered.pdf)).attachment_list) == []
