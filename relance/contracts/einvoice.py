"""E-invoices (Factur-X / ZUGFeRD, XRechnung): which profile an invoice PDF carries, and
what became of it.

The profile is chosen in settings (`einvoice.profile`) and per customer
(`einvoice_profile`, which wins when set). The XML is built from the same
DocumentFacts as the page and validated (XSD and schematron) before any email carries
it; an invalid one is never sent, the plain PDF goes instead and the outcome names the
failed rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EInvoiceProfile = Literal["off", "basic", "en16931", "extended", "xrechnung"]
PROFILES: tuple[EInvoiceProfile, ...] = ("off", "basic", "en16931", "extended", "xrechnung")
# What a customer may say: a profile, or "default" (the account's).
CustomerEInvoiceProfile = Literal["default", "off", "basic", "en16931", "extended", "xrechnung"]


class EInvoiceSettings(BaseModel):
    """The `einvoice` settings group."""

    model_config = ConfigDict(extra="forbid")

    profile: EInvoiceProfile = "off"
    # The XML also as a file of its own beside the PDF (some buyers' systems read only that).
    attach_xml: bool = False


def effective_profile(settings: EInvoiceSettings, customer_profile: str | None) -> EInvoiceProfile:
    """The customer's profile when it has one, else the account's."""
    if customer_profile in PROFILES:
        return customer_profile
    return settings.profile


class EInvoiceOptions(BaseModel):
    """What the renderer needs to know to embed an e-invoice in one document."""

    profile: EInvoiceProfile
    attach_xml: bool = False


class RuleFailure(BaseModel):
    """One failed XSD check or schematron assertion."""

    rule: str  # BR-CO-15, BR-S-08, ... or "XSD"
    text: str
    location: str | None = None


class EInvoiceOutcome(BaseModel):
    """embedded: the PDF carries the XML. invalid: it does not (the plain PDF was sent),
    `failures` says why. skipped: the profile is on but the document has no facts to
    build one from."""

    profile: EInvoiceProfile
    status: Literal["embedded", "invalid", "skipped"]
    filename: str | None = None  # factur-x.xml, xrechnung.xml
    failures: list[RuleFailure] = Field(default_factory=list)
    # What the schematron check covered: XRechnung's own rules are not available offline,
    # so XRechnung documents are checked against EN 16931 (docs/einvoicing.md).
    checked_with: str | None = None

    def summary(self) -> str:
        """One line for the email log and the dashboard."""
        if self.status == "embedded":
            return f"{self.profile}: {self.filename} embedded (checked with {self.checked_with})"
        if self.status == "skipped":
            return f"{self.profile}: not built ({'; '.join(f.text for f in self.failures) or 'no document facts'})"
        rules = ", ".join(dict.fromkeys(f.rule for f in self.failures)) or "unknown"
        return f"{self.profile}: invalid, sent as a plain PDF; failed rules: {rules}"
