"""Changing what the account wants: settings, logo, sender domain, customer recipients.

One code path for the CLI and the API; every change is validated as a whole and errors
name the field (`SettingsError.field`)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import dns.resolver
from pydantic import ValidationError
from sqlmodel import Session

from relance.contracts.account import AccountSettings, merge_settings
from relance.contracts.addresses import (
    InvalidAddress,
    TooManyRecipients,
    UnsafeHeader,
    check_recipient_count,
    normalize_address,
    normalize_addresses,
    safe_header_text,
)
from relance.contracts.einvoice import PROFILES
from relance.services.sender_domain import (
    DnsRecord,
    VerificationResult,
    new_token,
    normalize_domain,
    required_records,
    verify_domain,
)
from relance.storage.customers import get_customer
from relance.storage.settings_store import load_settings, save_settings
from relance.storage.tables import CustomerRecord, utcnow

MAX_LOGO_BYTES = 40_000  # the data URI must stay under the renderer's 60,000 characters
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class SettingsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _from_validation(exc: ValidationError) -> SettingsError:
    first = exc.errors()[0]
    return SettingsError(".".join(str(p) for p in first["loc"]) or "settings", first["msg"])


def patch_settings(session: Session, patch: dict[str, Any]) -> AccountSettings:
    current, _ = load_settings(session)
    if not isinstance(patch, dict):
        raise SettingsError("settings", "expected a JSON object")
    # The verification state is Relance's to set, not the user's.
    sender = patch.get("sender")
    if isinstance(sender, dict) and ({"domain_verified", "verification_token"} & sender.keys()):
        raise SettingsError("sender.domain_verified", "set by `domain verify`, not directly")
    if isinstance(sender, dict) and "domain" in sender:
        raise SettingsError("sender.domain", "use `relance domain set` (it issues a verification token)")
    branding = patch.get("branding")
    if isinstance(branding, dict) and branding.get("logo_data_uri"):
        # Only an embedded image of a known type and size: never a URL to fetch.
        uri = branding["logo_data_uri"]
        if not isinstance(uri, str) or not uri.startswith("data:image/") or ";base64," not in uri:
            raise SettingsError("branding.logo_data_uri", "a data:image/...;base64 URI (use the logo upload)")
        try:
            logo_data_uri(base64.b64decode(uri.split(",", 1)[1], validate=True))
        except SettingsError as exc:
            raise SettingsError("branding.logo_data_uri", exc.message) from None
        except (ValueError, binascii.Error):
            raise SettingsError("branding.logo_data_uri", "invalid base64") from None
    try:
        updated = merge_settings(current, patch)
    except ValidationError as exc:
        raise _from_validation(exc) from None
    _check_header_names(updated)
    for field, value in (
        ("sender.from_email", updated.sender.from_email),
        ("sender.reply_to", updated.sender.reply_to),
        ("branding.support_email", updated.branding.support_email),
    ):
        if value:
            try:
                normalize_address(value, allow_special_use=True)
            except InvalidAddress as exc:
                raise SettingsError(field, str(exc)) from None
    save_settings(session, updated)
    return updated


def _check_header_names(settings: AccountSettings) -> None:
    """The From name (the sender name, else the business name) goes into a header: CR,
    LF and RFC 2047 encoded words would become extra headers. Refused where the owner
    types them, rather than failing every email at send time."""
    for field, value in (
        ("sender.from_name", settings.sender.from_name),
        ("branding.business_name", settings.branding.business_name),
    ):
        if value:
            try:
                safe_header_text(value, "From")
            except UnsafeHeader as exc:
                raise SettingsError(field, str(exc)) from None


def logo_data_uri(content: bytes) -> str:
    media = next((m for magic, m in _IMAGE_MAGIC.items() if content.startswith(magic)), None)
    if media is None:
        raise SettingsError("branding.logo", "a PNG, JPEG or GIF image is required")
    if len(content) > MAX_LOGO_BYTES:
        raise SettingsError("branding.logo", f"the image is {len(content)} bytes; at most {MAX_LOGO_BYTES}")
    return f"data:{media};base64,{base64.b64encode(content).decode()}"


def set_logo(session: Session, content: bytes | None) -> AccountSettings:
    uri = logo_data_uri(content) if content is not None else None
    return patch_settings(session, {"branding": {"logo_data_uri": uri}})


def set_sender_domain(
    session: Session,
    domain: str,
    from_email: str,
    *,
    from_name: str | None = None,
    spf_include: str | None = None,
    dkim_target: str | None = None,
) -> tuple[AccountSettings, list[DnsRecord]]:
    """Start using a custom domain: it stays unverified (emails keep the default sender)
    until `verify_sender_domain` finds the records returned here."""
    try:
        normalized = normalize_domain(domain)
    except ValueError as exc:
        raise SettingsError("sender.domain", str(exc)) from None
    try:
        address = normalize_address(from_email)
    except InvalidAddress as exc:
        raise SettingsError("sender.from_email", str(exc)) from None
    if not address.lower().endswith("@" + normalized):
        raise SettingsError("sender.from_email", f"must be an address at {normalized}")
    current, _ = load_settings(session)
    sender = current.sender.model_copy(
        update={
            "domain": normalized,
            "from_email": address,
            "domain_verified": False,
            "verification_token": new_token(),
            "spf_include": spf_include,
            "dkim_target": dkim_target,
            **({"from_name": from_name} if from_name else {}),
        }
    )
    updated = current.model_copy(update={"sender": sender})
    _check_header_names(updated)
    save_settings(session, updated)
    return updated, sender_records(updated)


def sender_records(settings: AccountSettings) -> list[DnsRecord]:
    s = settings.sender
    if not s.domain or not s.verification_token:
        return []
    return required_records(s.domain, s.verification_token, dkim_target=s.dkim_target, spf_include=s.spf_include)


def verify_sender_domain(session: Session, resolver: dns.resolver.Resolver | None = None) -> VerificationResult:
    current, _ = load_settings(session)
    s = current.sender
    if not s.domain or not s.verification_token:
        raise SettingsError("sender.domain", "no custom domain is set (relance domain set ...)")
    result = verify_domain(
        s.domain, s.verification_token, resolver=resolver, dkim_target=s.dkim_target, spf_include=s.spf_include
    )
    # Re-checked on every verify: records removed later un-verify the domain.
    updated = current.model_copy(update={"sender": s.model_copy(update={"domain_verified": result.verified})})
    save_settings(session, updated)
    return result


def set_einvoice_profile(
    session: Session, customer_id: str, profile: str, buyer_reference: str | None = None
) -> CustomerRecord:
    """The customer's own e-invoice profile ("default" follows the account's) and, when
    given, its buyer reference ("" clears it)."""
    if profile != "default" and profile not in PROFILES:
        raise SettingsError("einvoice_profile", f"one of default, {', '.join(PROFILES)}")
    if buyer_reference is not None and (len(buyer_reference.strip()) > 100 or "\n" in buyer_reference):
        raise SettingsError("buyer_reference", "one line of at most 100 characters")
    rec = get_customer(session, customer_id)
    if rec is None:
        rec = CustomerRecord(id=customer_id)
        session.add(rec)
    rec.einvoice_profile = None if profile == "default" else profile
    if buyer_reference is not None:
        rec.buyer_reference = buyer_reference.strip() or None
    rec.updated_at = utcnow()
    session.flush()
    return rec


def set_recipients(
    session: Session, customer_id: str, *, to: list[str] | None = None, cc: list[str] | None = None
) -> CustomerRecord:
    """The customer's To list (replaces the account email) and CC list, for every billing
    email. None leaves a list unchanged, [] clears it."""
    rec = get_customer(session, customer_id)
    if rec is None:
        rec = CustomerRecord(id=customer_id)
        session.add(rec)
    for field, values in (("invoice_emails", to), ("cc_emails", cc)):
        if values is None:
            continue
        try:
            setattr(rec, field, normalize_addresses(values, allow_special_use=True))
        except InvalidAddress as exc:
            raise SettingsError(field, str(exc)) from None
        try:
            check_recipient_count(rec.invoice_emails, rec.cc_emails)
        except TooManyRecipients as exc:
            raise SettingsError(field, str(exc)) from None
    rec.updated_at = utcnow()
    session.flush()
    return rec
