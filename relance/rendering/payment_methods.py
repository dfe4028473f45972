"""How a payment method is named to a customer, in emails and PDFs alike: "Visa •••• 4242",
"SEPA Debit •••• 3000", "PayPal". Brand and method names are names, not words: the same
in every language, as the customer sees them on their card and in their bank's app."""

from __future__ import annotations

from typing import Protocol

CARD_BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}

# Stripe's payment method types, as Stripe's own receipts and checkout name them.
METHOD_NAMES = {
    "acss_debit": "Pre-authorized debit",
    "affirm": "Affirm",
    "afterpay_clearpay": "Afterpay",
    "alipay": "Alipay",
    "amazon_pay": "Amazon Pay",
    "au_becs_debit": "BECS Direct Debit",
    "bacs_debit": "Bacs Direct Debit",
    "bancontact": "Bancontact",
    "blik": "BLIK",
    "boleto": "Boleto",
    "cashapp": "Cash App Pay",
    "customer_balance": "Bank transfer",
    "eps": "EPS",
    "giropay": "giropay",
    "ideal": "iDEAL",
    "kakao_pay": "Kakao Pay",
    "klarna": "Klarna",
    "konbini": "Konbini",
    "link": "Link",
    "mobilepay": "MobilePay",
    "multibanco": "Multibanco",
    "naver_pay": "Naver Pay",
    "oxxo": "OXXO",
    "p24": "Przelewy24",
    "paynow": "PayNow",
    "paypal": "PayPal",
    "pix": "Pix",
    "promptpay": "PromptPay",
    "revolut_pay": "Revolut Pay",
    "sepa_debit": "SEPA Debit",
    "sofort": "Sofort",
    "swish": "Swish",
    "twint": "TWINT",
    "us_bank_account": "ACH Direct Debit",
    "wechat_pay": "WeChat Pay",
    "zip": "Zip",
}

_CARD_TYPES = frozenset({"card", "card_present", "interac_present"})


class MethodFacts(Protocol):
    """What naming a method needs (relance.contracts.documents.PaymentFacts has it)."""

    method_type: str | None
    brand: str | None
    last4: str | None


def card_brand(code: str | None) -> str | None:
    if not code or code == "unknown":
        return None
    return CARD_BRANDS.get(code.lower(), code.replace("_", " ").title())


def method_name(method_type: str | None) -> str | None:
    if not method_type:
        return None
    return METHOD_NAMES.get(method_type, method_type.replace("_", " ").title())


def payment_method_label(facts: MethodFacts | None) -> str | None:
    """ "Visa •••• 4242" for a card, "SEPA Debit •••• 3000" for a bank debit, the method's
    name for the rest; None when the method is not known."""
    if facts is None or not facts.method_type:
        return None
    if facts.method_type in _CARD_TYPES:
        name = card_brand(facts.brand)
    else:
        name = method_name(facts.method_type)
    return " ".join(p for p in (name, f"•••• {facts.last4}" if facts.last4 else None) if p) or None
