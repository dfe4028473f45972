"""Settings that are valid but probably not what the account wants: said where settings
are shown (API, dashboard, CLI), never refused. Each names the field to change."""

from __future__ import annotations

from pydantic import BaseModel

from relance.contracts.account import AccountSettings
from relance.contracts.kinds import EmailKind

# Emails about the customer's payment method with no invoice behind them, so no
# hosted_invoice_url to fall back to: without links.update_payment_url they carry no link.
_NEED_UPDATE_LINK = (EmailKind.card_expiring, EmailKind.trial_ending)


class Advice(BaseModel):
    field: str
    message: str


def advise(settings: AccountSettings) -> list[Advice]:
    out: list[Advice] = []
    if not settings.links.update_payment_url:
        kinds = [k.value for k in _NEED_UPDATE_LINK if settings.email_enabled(k)]
        if kinds:
            out.append(
                Advice(
                    field="links.update_payment_url",
                    message=f"{' and '.join(kinds)} emails have no link to update the payment method: set "
                    "links.update_payment_url to your page for it (placeholders {customer_id}, {invoice_id}).",
                )
            )
    sender = settings.sender
    if sender.from_email and sender.verified_from_email() is None:
        why = (
            "its domain is not verified yet (relance domain verify, or the dashboard's sender domain)"
            if sender.from_email_on_domain()
            else "it is not on the sender domain"
        )
        out.append(
            Advice(
                field="sender.from_email",
                message=f"{sender.from_email} is not used: {why}; emails go from the default sender meanwhile.",
            )
        )
    if settings.einvoice.profile != "off" and not settings.attach_pdf:
        out.append(
            Advice(
                field="attach_pdf",
                message=f"einvoice.profile is {settings.einvoice.profile} but no PDF is attached, so no e-invoice "
                "is sent either: turn attach_pdf on.",
            )
        )
    return out
