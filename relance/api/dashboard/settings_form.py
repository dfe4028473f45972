"""The settings form and AccountSettings, both ways: the fields a form shows for the
settings (`form_values`, named after the settings' dotted paths, as SettingsError names
them), what a submitted form holds (`submitted_values`), and the patch it asks for
(`settings_patch`, which raises SettingsError naming the field)."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

from relance.api.dashboard.pages import form_text
from relance.contracts.account import REMINDER_PRESETS, AccountSettings
from relance.contracts.kinds import EmailKind
from relance.services.account import SettingsError

PRESET_LABELS = {
    "before": "Before the due date",
    "on_due_date": "On the due date",
    "after": "After the due date",
    "balanced": "Balanced",
}


LEGAL_MENTION_LABELS = {
    "fr_late_payment": "France: late payment penalties",
    "fr_recovery_indemnity": "France: 40 € recovery indemnity (business customers)",
    "fr_vat_franchise": "France: TVA non applicable, art. 293 B du CGI",
    "de_service_date": "Germany: date of supply (Leistungsdatum)",
}
_ADDRESS = ("line1", "line2", "postal_code", "city")


def _reminder_preset(reminders: list[int]) -> str:
    return next((name for name, days in REMINDER_PRESETS.items() if sorted(days) == sorted(reminders)), "custom")


def form_values(s: AccountSettings) -> dict[str, Any]:
    b, snd, links = s.branding, s.sender, s.links
    values: dict[str, Any] = {
        "reminders_preset": _reminder_preset(s.reminders),
        "reminders": ", ".join(str(d) for d in s.reminders),
        "send_hour": str(s.send_hour),
        "send_minute": str(s.send_minute),
        "timezone": s.timezone,
        "attach_pdf": s.attach_pdf,
        "remind_subscription_invoices": s.remind_subscription_invoices,
        "default_locale": s.default_locale,
        "trial_ending_days_before": str(s.trial_ending_days_before),
        "card_expiring_days_before_month_end": ""
        if s.card_expiring_days_before_month_end is None
        else str(s.card_expiring_days_before_month_end),
        "branding.business_name": b.business_name,
        "branding.brand_color": b.brand_color,
        "branding.accent_color": b.accent_color,
        "branding.address_lines": "\n".join(b.address_lines),
        "branding.support_email": b.support_email or "",
        "branding.support_phone": b.support_phone or "",
        "branding.support_url": b.support_url or "",
        "branding.footer": b.footer or "",
        "branding.legal_text": b.legal_text or "",
        "sender.from_name": snd.from_name or "",
        "sender.reply_to": snd.reply_to or "",
        "links.pay_url": links.pay_url or "",
        "links.update_payment_url": links.update_payment_url or "",
        "links.confirm_payment_url": links.confirm_payment_url or "",
        "einvoice.profile": s.einvoice.profile,
        "einvoice.attach_xml": s.einvoice.attach_xml,
    }
    for kind in EmailKind:
        values[f"emails.{kind.value}"] = s.email_enabled(kind)
    values.update(_seller_values(s))
    return values


def _seller_values(s: AccountSettings) -> dict[str, Any]:
    seller = s.seller
    address = seller.address.model_dump() if seller.address else {}
    chosen = seller.mentions()
    values: dict[str, Any] = {
        "seller.legal_name": seller.legal_name or "",
        "seller.country": seller.country or "",
        "seller.late_payment_rate": "" if seller.late_payment_rate is None else str(seller.late_payment_rate),
        "seller.tax_ids": "\n".join(f"{t.type} {t.value}" for t in seller.tax_ids),
        "seller.registration": "\n".join(seller.registration),
        "seller.legal_mentions_mode": "country" if seller.legal_mentions is None else "custom",
    }
    for name in _SELLER_TEXT:
        values[f"seller.{name}"] = getattr(seller, name) or ""
    for part in _ADDRESS:
        values[f"seller.address.{part}"] = address.get(part) or ""
    for code in LEGAL_MENTION_LABELS:
        values[f"seller.legal_mentions.{code}"] = code in chosen
    return values


# One-line seller fields, set as typed (empty: unset).
_SELLER_TEXT = ("contact_name", "contact_phone", "contact_email", "iban", "bic")

_CHECKBOXES = {
    "attach_pdf",
    "remind_subscription_invoices",
    "einvoice.attach_xml",
    *(f"emails.{k.value}" for k in EmailKind),
    *(f"seller.legal_mentions.{code}" for code in LEGAL_MENTION_LABELS),
}


def _tax_ids(text: str) -> list[dict[str, str]]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        kind, _, value = line.strip().partition(" ")
        if not value.strip():
            raise SettingsError(
                "seller.tax_ids", f"expected a type and a value, e.g. 'eu_vat FR12345678901', got {line!r}"
            )
        out.append({"type": kind.strip(), "value": value.strip()})
    return out


def _seller_patch(v: dict[str, Any]) -> dict[str, Any]:
    address = {part: v[f"seller.address.{part}"].strip() or None for part in _ADDRESS}
    country = v["seller.country"].strip().upper() or None
    mentions = None
    if v["seller.legal_mentions_mode"] == "custom":
        mentions = [code for code in LEGAL_MENTION_LABELS if v[f"seller.legal_mentions.{code}"]]
    rate = v["seller.late_payment_rate"].strip().replace(",", ".") or None
    return {
        "legal_name": v["seller.legal_name"].strip() or None,
        "country": country,
        "address": {**address, "country": country} if any(address.values()) else None,
        "tax_ids": _tax_ids(v["seller.tax_ids"]),
        "registration": [line.strip() for line in v["seller.registration"].splitlines() if line.strip()],
        "legal_mentions": mentions,
        "late_payment_rate": rate,
        **{name: v[f"seller.{name}"].strip() or None for name in _SELLER_TEXT},
    }


def submitted_values(form: FormData, current: AccountSettings) -> dict[str, Any]:
    values = form_values(current)
    for name in values:
        if name in _CHECKBOXES:
            values[name] = form.get(name) == "on"
        else:
            values[name] = form_text(form, name, 5000)
    return values


def _int(value: str, field: str, *, optional: bool = False) -> int | None:
    value = value.strip()
    if optional and not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SettingsError(field, "a whole number is required") from None


def settings_patch(v: dict[str, Any]) -> dict[str, Any]:
    preset = v["reminders_preset"]
    if preset in REMINDER_PRESETS:
        reminders = list(REMINDER_PRESETS[preset])
    else:
        try:
            reminders = [int(d) for d in re.split(r"[\s,;]+", v["reminders"].strip()) if d]
        except ValueError:
            raise SettingsError(
                "reminders", "whole numbers of days from the due date, separated by commas (e.g. -3, 0, 7)"
            ) from None
    locale = v["default_locale"].strip()
    # The select offers the catalogs Relance has, plus whatever is stored already (a tag
    # such as "fr-BE" reads "fr" with Belgian formats at send time), so saving never
    # changes it silently.
    if not re.fullmatch(r"[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8})*", locale):
        raise SettingsError("default_locale", "a language tag such as en, fr or pt-BR")

    def opt(name: str) -> str | None:
        return v[name].strip() or None

    return {
        "emails": {k.value: bool(v[f"emails.{k.value}"]) for k in EmailKind},
        "reminders": reminders,
        "send_hour": _int(v["send_hour"], "send_hour"),
        "send_minute": _int(v["send_minute"], "send_minute"),
        "timezone": v["timezone"].strip(),
        "attach_pdf": bool(v["attach_pdf"]),
        "remind_subscription_invoices": bool(v["remind_subscription_invoices"]),
        "default_locale": locale,
        "trial_ending_days_before": _int(v["trial_ending_days_before"], "trial_ending_days_before"),
        "card_expiring_days_before_month_end": _int(
            v["card_expiring_days_before_month_end"], "card_expiring_days_before_month_end", optional=True
        ),
        "branding": {
            "business_name": v["branding.business_name"].strip(),
            "brand_color": v["branding.brand_color"].strip(),
            "accent_color": v["branding.accent_color"].strip(),
            "address_lines": [line.strip() for line in v["branding.address_lines"].splitlines() if line.strip()],
            "support_email": opt("branding.support_email"),
            "support_phone": opt("branding.support_phone"),
            "support_url": opt("branding.support_url"),
            "footer": opt("branding.footer"),
            "legal_text": opt("branding.legal_text"),
        },
        "sender": {"from_name": opt("sender.from_name"), "reply_to": opt("sender.reply_to")},
        "seller": _seller_patch(v),
        "links": {
            "pay_url": opt("links.pay_url"),
            "update_payment_url": opt("links.update_payment_url"),
            "confirm_payment_url": opt("links.confirm_payment_url"),
        },
        "einvoice": {"profile": v["einvoice.profile"].strip(), "attach_xml": bool(v["einvoice.attach_xml"])},
    }
