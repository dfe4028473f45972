"""The e-invoice inside the PDF, as Factur-X / ZUGFeRD ask of a PDF/A-3 file: the XML
embedded under its standard name with AFRelationship /Alternative (the XML is an
equivalent rendering of the invoice, which is what makes the file an e-invoice in
Germany; /Data is for MINIMUM and BASIC WL, which Relance does not make), and the fx:
properties with their PDF/A extension schema in the document's XMP.

WeasyPrint writes the file and the AFRelationship itself; its XMP is patched by a
finisher, so everything stays in one rdf:RDF and the PDF is written once.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

FX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
RELATIONSHIP = "Alternative"


@dataclass(frozen=True)
class EmbeddedXml:
    filename: str  # factur-x.xml, xrechnung.xml
    xml: bytes
    conformance_level: str  # BASIC, EN 16931, EXTENDED, XRECHNUNG
    issued: datetime  # the attachment's dates: the same PDF for the same document


def xmp_descriptions(filename: str, level: str) -> bytes:
    """The Factur-X properties and the PDF/A extension schema that declares them."""
    props = "".join(
        f"""<rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name>"""
        f"""<pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external"""
        f"""</pdfaProperty:category><pdfaProperty:description>{desc}</pdfaProperty:description></rdf:li>"""
        for name, desc in (
            ("DocumentFileName", "The name of the embedded XML document"),
            ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
            ("Version", "The actual version of the standard applying to the embedded XML document"),
            ("ConformanceLevel", "The conformance level of the embedded XML document"),
        )
    )
    return (
        f"""<rdf:Description xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" rdf:about="" """
        f"""xmlns:fx="{FX_NAMESPACE}"><fx:DocumentType>INVOICE</fx:DocumentType>"""
        f"""<fx:DocumentFileName>{escape(filename)}</fx:DocumentFileName><fx:Version>1.0</fx:Version>"""
        f"""<fx:ConformanceLevel>{escape(level)}</fx:ConformanceLevel></rdf:Description>"""
        f"""<rdf:Description xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" rdf:about="" """
        """xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" """
        """xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" """
        """xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#"><pdfaExtension:schemas><rdf:Bag>"""
        """<rdf:li rdf:parseType="Resource"><pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>"""
        f"""<pdfaSchema:namespaceURI>{FX_NAMESPACE}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx"""
        f"""</pdfaSchema:prefix><pdfaSchema:property><rdf:Seq>{props}</rdf:Seq></pdfaSchema:property>"""
        """</rdf:li></rdf:Bag></pdfaExtension:schemas></rdf:Description>"""
    ).encode()


def write_options(embedded: EmbeddedXml, fetcher: Any) -> dict[str, Any]:
    """WeasyPrint's write_pdf options that embed `embedded`."""
    from weasyprint import Attachment

    # A data: URL (the only kind the locked fetcher serves) carrying the MIME type
    # Factur-X asks for (/Subtype /text#2fxml).
    url = "data:text/xml;base64," + base64.b64encode(embedded.xml).decode()
    attachment = Attachment(
        url=url,
        url_fetcher=fetcher,
        name=embedded.filename,
        description=f"{embedded.conformance_level} e-invoice",
        created=embedded.issued,
        modified=embedded.issued,
        relationship=RELATIONSHIP,
    )
    xmp = xmp_descriptions(embedded.filename, embedded.conformance_level)

    def finisher(document: Any, pdf: Any) -> None:
        ref = pdf.catalog["Metadata"]  # b"25 0 R"
        reference = int((ref.decode() if isinstance(ref, bytes) else str(ref)).split()[0])
        stream = pdf.objects[reference]
        content = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in stream.stream)
        if b"</rdf:RDF>" not in content:
            raise ValueError("the PDF's XMP has no rdf:RDF element to extend")
        stream.stream = [content.replace(b"</rdf:RDF>", xmp + b"</rdf:RDF>", 1)]
        # WeasyPrint lists an embedded file in /AF once per way it finds it (the name
        # tree and the object list): once is what PDF/A-3 means.
        files = pdf.catalog.get("AF")
        if files is not None:
            unique = list(dict.fromkeys(files))
            files.clear()
            files.extend(unique)

    return {"attachments": [attachment], "finisher": finisher}
