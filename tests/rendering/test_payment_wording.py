"""The payment in the failure notice and the receipt: which method, why it failed, the
final attempt, in every shipped language. Real templates and catalogs, rendered by
`render_email`; no Temporal, no database."""

from __future__ import annotations

import pytest

from relance.contracts.documents import PaymentFacts
from relance.contracts.kinds import EmailKind
from relance.rendering.email import email_environment, render_email
from relance.rendering.i18n import SOURCE_LOCALE, supported_locales
from relance.rendering.payment_methods import payment_method_label
from tests.rendering.test_render import make_ctx, make_invoice

CARD = PaymentFacts(method_type="card", brand="visa", last4="4242", outcome="succeeded", receipt_number="2711-4455")

# Every decline code with a sentence of its own, the codes that share one together.
DECLINE_CODES = [
    "insufficient_funds",
    "expired_card",
    "card_declined",
    "do_not_honor",
    "generic_decline",
    "incorrect_cvc",
    "invalid_cvc",
    "authentication_required",
    "processing_error",
    "try_again_later",
    "issuer_not_available",
    "lost_card",
    "stolen_card",
    "pickup_card",
    "restricted_card",
    "card_not_supported",
    "currency_not_supported",
    "incorrect_number",
    "invalid_number",
    "card_velocity_exceeded",
    "withdrawal_count_limit_exceeded",
]
SHARED = [
    {"card_declined", "do_not_honor", "generic_decline"},
    {"incorrect_cvc", "invalid_cvc"},
    {"processing_error", "try_again_later", "issuer_not_available"},
    {"lost_card", "stolen_card", "pickup_card", "restricted_card"},
    {"incorrect_number", "invalid_number"},
    {"card_velocity_exceeded", "withdrawal_count_limit_exceeded"},
]
TRANSLATED = [loc for loc in supported_locales() if loc not in (SOURCE_LOCALE, "en_GB")]


def reason(code: str | None, locale: str) -> str:
    """The decline sentence the failure notice prints, through its own macro."""
    env = email_environment(locale)
    payment = PaymentFacts(method_type="card", brand="visa", last4="4242", outcome="failed", failure_code=code)
    module = env.get_template("_phrases.jinja").make_module({"payment": payment, "invoice": make_invoice()})
    return str(module.decline_reason()).strip()


def test_method_labels() -> None:
    assert payment_method_label(CARD) == "Visa •••• 4242"
    assert payment_method_label(PaymentFacts(method_type="sepa_debit", last4="3000")) == "SEPA Debit •••• 3000"
    assert (
        payment_method_label(PaymentFacts(method_type="us_bank_account", last4="6789")) == "ACH Direct Debit •••• 6789"
    )
    assert payment_method_label(PaymentFacts(method_type="paypal")) == "PayPal"
    assert payment_method_label(PaymentFacts(method_type="link")) == "Link"
    assert payment_method_label(PaymentFacts(method_type="some_new_wallet")) == "Some New Wallet"
    assert payment_method_label(PaymentFacts(method_type="card", brand="unknown", last4="1881")) == "•••• 1881"
    assert payment_method_label(PaymentFacts(method_type=None)) is None
    assert payment_method_label(None) is None


def test_each_decline_code_has_its_sentence_and_others_the_generic_one() -> None:
    sentences = {code: reason(code, "en") for code in DECLINE_CODES}
    generic = reason("something_new", "en")
    assert generic == "The payment was declined. Your bank or payment provider can tell you more."
    assert all(s and s != generic for s in sentences.values())
    groups = {frozenset(c for c in DECLINE_CODES if sentences[c] == s) for s in sentences.values()}
    assert groups == {frozenset(g) for g in SHARED} | {
        frozenset({c}) for c in DECLINE_CODES if not any(c in g for g in SHARED)
    }
    assert reason(None, "en") == ""
    # A lost or stolen card is a refusal like any other: nothing in it accuses the customer.
    assert not {"lost", "stolen", "fraud"} & set(sentences["stolen_card"].lower().split())


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_decline_sentence_is_translated(locale: str) -> None:
    english = {code: reason(code, "en") for code in [*DECLINE_CODES, "something_new"]}
    local = {code: reason(code, locale) for code in english}
    assert [c for c in english if local[c] == english[c] or not local[c]] == []
    # Codes with different sentences in English keep them apart in translation.
    assert len(set(local.values())) == len(set(english.values()))


@pytest.mark.parametrize(
    ("locale", "paid", "method_row"),
    [
        ("en", "Date paid", "Payment method: Visa •••• 4242"),
        ("fr", "Date de paiement", "Moyen de paiement\u202f: Visa •••• 4242"),
        ("de", "Zahlungsdatum", "Zahlungsmethode: Visa •••• 4242"),
    ],
)
def test_receipt_names_the_card_the_date_and_the_receipt_number(locale: str, paid: str, method_row: str) -> None:
    out = render_email(EmailKind.receipt, make_ctx(payment=CARD), locale)
    assert method_row in out.text
    assert "Visa •••• 4242" in out.html
    assert "2711-4455" in out.text
    assert paid in out.text


def test_a_receipt_with_no_payment_known_has_no_method_row() -> None:
    out = render_email(EmailKind.receipt, make_ctx(payment=None), "en")
    assert "Payment method" not in out.text and "••••" not in out.text


def test_final_attempt_is_said_in_subject_and_body() -> None:
    failed = PaymentFacts(
        method_type="card", brand="mastercard", last4="4444", outcome="failed", failure_code="insufficient_funds"
    )
    final = make_ctx(
        payment=failed, invoice=make_invoice(collection_method="charge_automatically", next_payment_attempt=None)
    )
    out = render_email(EmailKind.payment_failed, final, "en")
    assert out.subject.startswith("Final payment attempt failed for invoice")
    assert "Your final payment attempt didn't go through" in out.text
    assert "This was our final automatic attempt to collect this payment." in out.text
    assert "with Mastercard •••• 4444." in out.text
    assert "because of insufficient funds" in out.text
    assert "Update payment method" in out.text  # the link to fix it stays
    earlier = make_ctx(payment=failed, invoice=make_invoice(collection_method="charge_automatically"))
    out = render_email(EmailKind.payment_failed, earlier, "en")
    assert out.subject.startswith("Payment failed for invoice")
    assert "We'll try again on" in out.text and "final" not in out.text.lower()
    fr = render_email(EmailKind.payment_failed, final, "fr")
    assert fr.subject.startswith("Échec de la dernière tentative de paiement")
    assert "solde insuffisant" in fr.text


def test_a_send_invoice_failure_without_retry_is_not_called_final() -> None:
    ctx = make_ctx(payment=None, invoice=make_invoice(collection_method="send_invoice", next_payment_attempt=None))
    out = render_email(EmailKind.payment_failed, ctx, "en")
    assert "Final" not in out.subject
    assert "We won't try to charge your payment method again automatically." in out.text


@pytest.mark.parametrize("locale", ["en", *TRANSLATED])
def test_the_3d_secure_notice_names_the_method_to_confirm_in_every_language(locale: str) -> None:
    card = PaymentFacts(method_type="card", brand="visa", last4="4242", outcome="failed")
    named = render_email(EmailKind.payment_action_required, make_ctx(payment=card), locale)
    generic = render_email(EmailKind.payment_action_required, make_ctx(payment=None), locale)
    assert "Visa •••• 4242" in named.text and "Visa •••• 4242" in named.html
    assert "••••" not in generic.text and "••••" not in generic.html
    # The method is named in the opening sentence, not only in the summary below it.
    [opening] = [p for p in named.text.split("\n\n") if "Visa •••• 4242" in p][:1]
    assert opening not in generic.text and len(opening.splitlines()) == 1
    if locale == "en":
        assert opening.endswith("for invoice INV-2026-0042 with Visa •••• 4242.")
