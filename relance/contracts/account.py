"""What the account wants: which emails, when reminders go out, how they look.

Stored in the database (one row, versioned), read by activities at send time.
`AccountSettings.model_validate` is the single validation path for the CLI, the API and
simulator overrides, so errors name the field the same way everywhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from schwifty import BIC, IBAN

from relance.contracts.addresses import normalize_address
from relance.contracts.documents import PostalAddress, TaxId
from relance.contracts.einvoice import EInvoiceSettings
from relance.contracts.email_context import Branding
from relance.contracts.kinds import EmailKind

# Stripe sends all of these by default except the card-expiry reminder, which a Stripe
# account opts into; Relance sends every kind unless turned off.
DEFAULT_EMAILS: dict[EmailKind, bool] = {kind: True for kind in EmailKind}

REMINDER_PRESETS: dict[str, list[int]] = {
    "before": [-7, -3, -1],
    "on_due_date": [0],
    "after": [1, 3, 7, 14, 30],
    "balanced": [-3, 0, 7],
}
MAX_REMINDERS = 10
REMINDER_RANGE = (-60, 120)  # whole days from the due date


class LinkTemplates(BaseModel):
    """URL templates for hosted pages. Placeholders: {invoice_id}, {customer_id},
    {hosted_invoice_url}. Unset means the invoice's own hosted_invoice_url."""

    model_config = ConfigDict(extra="forbid")

    pay_url: str | None = None
    update_payment_url: str | None = None
    confirm_payment_url: str | None = None


class Sender(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_name: str | None = None
    from_email: str | None = None  # only used once its domain is verified
    reply_to: str | None = None
    domain: str | None = None
    domain_verified: bool = False
    verification_token: str | None = None
    # The sending provider's records to ask for (e.g. SendGrid: "sendgrid.net" and its
    # "s1.domainkey.uNNN.wl.sendgrid.net" target); unset means ownership only.
    spf_include: str | None = None
    dkim_target: str | None = None

    def from_email_on_domain(self) -> bool:
        return bool(self.from_email and self.domain and self.from_email.lower().endswith("@" + self.domain.lower()))

    def verified_from_email(self) -> str | None:
        """from_email, if it is on the domain and the domain is verified; else None (the
        default sender is used)."""
        return self.from_email if self.domain_verified and self.from_email_on_domain() else None


# Legal mentions a seller's country asks of its invoices, by code; each template
# translates its text. `fr_vat_franchise` only applies to a seller under the French VAT
# franchise (art. 293 B du CGI), so no country turns it on by default.
LegalMention = Literal["fr_late_payment", "fr_recovery_indemnity", "fr_vat_franchise", "de_service_date"]
LEGAL_MENTION_PRESETS: dict[str, list[LegalMention]] = {
    "FR": ["fr_late_payment", "fr_recovery_indemnity"],
    "DE": ["de_service_date"],
}


class Seller(BaseModel):
    """Who issues the documents, as an accountant reads them on each invoice. The
    invoice's own `account_name` and `account_country` win when Stripe sends them."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str | None = Field(default=None, max_length=300)
    address: PostalAddress | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    tax_ids: list[TaxId] = Field(default_factory=list, max_length=10)
    # Lines as written: "RCS Paris 123 456 789", "SAS au capital de 10 000 €".
    registration: list[str] = Field(default_factory=list, max_length=10)
    # None: the presets of the seller's country (LEGAL_MENTION_PRESETS); a list: exactly these.
    legal_mentions: list[LegalMention] | None = None
    # fr_late_payment: the annual penalty rate in percent; None states the legal minimum
    # (three times the legal interest rate).
    late_payment_rate: Decimal | None = Field(default=None, ge=0, le=100)
    # Whom a buyer asks about an invoice (XRechnung's seller contact, BG-6); email and
    # phone default to branding's support ones.
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=50)
    contact_email: str | None = Field(default=None, max_length=254)
    # The account buyers pay into by bank transfer (payment means 58 in e-invoices).
    iban: str | None = None
    bic: str | None = None

    @field_validator("contact_name", "contact_phone", "contact_email")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        v = (v or "").strip()
        if any(c in v for c in "\r\n"):
            raise ValueError("must be one line")
        return v or None

    @field_validator("contact_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        # Printed on invoices, never sent to: a reserved domain (example.com) does no harm.
        return normalize_address(v, allow_special_use=True) if v is not None else None

    @field_validator("iban")
    @classmethod
    def _iban(cls, v: str | None) -> str | None:
        # Each country's length and structure, and the check digits (ISO 13616).
        return IBAN(v).compact if v and v.strip() else None

    @field_validator("bic")
    @classmethod
    def _bic(cls, v: str | None) -> str | None:
        return BIC(v).compact if v and v.strip() else None

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if len(v) != 2 or not v.isalpha():
            raise ValueError("must be a two-letter ISO 3166-1 code such as FR")
        return v.upper()

    def mentions(self, country: str | None = None) -> list[LegalMention]:
        """The mentions chosen, or the presets of `country` (default: the seller's)."""
        if self.legal_mentions is not None:
            return list(self.legal_mentions)
        return list(LEGAL_MENTION_PRESETS.get((country or self.country or "").upper(), []))


class AccountSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    timezone: str = "UTC"
    send_hour: int = Field(default=9, ge=0, le=23)
    # Minutes past send_hour: reminders and notices go out at send_hour:send_minute local.
    send_minute: int = Field(default=0, ge=0, le=59)
    reminders: list[int] = Field(default_factory=lambda: [-3, 0, 7])
    # False: invoices a subscription billed get no reminder plan (Stripe reminds one-off
    # invoices only); a manual reminder still goes out.
    remind_subscription_invoices: bool = True
    emails: dict[EmailKind, bool] = Field(default_factory=lambda: dict(DEFAULT_EMAILS))
    attach_pdf: bool = True
    default_locale: str = "en"
    branding: Branding = Field(default_factory=Branding)
    sender: Sender = Field(default_factory=Sender)
    seller: Seller = Field(default_factory=Seller)
    links: LinkTemplates = Field(default_factory=LinkTemplates)
    # Card expiry notice: on the 1st of the expiry month (None), or this many days before
    # the end of that month.
    card_expiring_days_before_month_end: int | None = Field(default=None, ge=0, le=60)
    trial_ending_days_before: int = Field(default=7, ge=1, le=30)
    # Factur-X / ZUGFeRD or XRechnung inside the invoice and credit note PDFs (docs/einvoicing.md).
    einvoice: EInvoiceSettings = Field(default_factory=EInvoiceSettings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Paris)") from None
        return v

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, v: list[int]) -> list[int]:
        if len(v) > MAX_REMINDERS:
            raise ValueError(f"at most {MAX_REMINDERS} reminders")
        if len(set(v)) != len(v):
            raise ValueError("duplicate day offsets")
        lo, hi = REMINDER_RANGE
        for d in v:
            if not lo <= d <= hi:
                raise ValueError(f"offset {d} is outside {lo}..{hi} days from the due date")
        return sorted(v)

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: dict[EmailKind, bool]) -> dict[EmailKind, bool]:
        # A partial map means "change these"; unspecified kinds keep their default.
        return {**DEFAULT_EMAILS, **v}

    def email_enabled(self, kind: EmailKind) -> bool:
        return self.emails.get(kind, True)


def merge_settings(base: AccountSettings, patch: dict[str, Any]) -> AccountSettings:
    """Apply a partial update (nested dicts merge) and validate the result as a whole."""

    def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, val in b.items():
            out[k] = deep_merge(out[k], val) if isinstance(val, dict) and isinstance(out.get(k), dict) else val
        return out

    return AccountSettings.model_validate(deep_merge(base.model_dump(mode="json"), patch))
