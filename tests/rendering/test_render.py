"""Email rendering: every kind in every shipped locale, with real templates and catalogs.

No Temporal, no database: these tests call `render_email` directly and read what a
customer would read (HTML entities decoded for the HTML part).
"""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from relance.contracts.email_context import (
    Branding,
    CardView,
    CreditNoteView,
    CustomerView,
    EmailContext,
    InvoiceView,
    LineItem,
    Links,
    RefundView,
    ReminderView,
    SubscriptionView,
)
from relance.contracts.kinds import EmailKind
from relance.rendering.email import (
    EMAIL_TEMPLATES_DIR,
    MAX_EMAIL_LINES,
    MAX_LOGO_CHARS,
    REQUIRED_CONTEXT,
    email_environment,
    one_line,
    render_email,
    text_environment,
)
from relance.rendering.formatting import format_money
from relance.rendering.i18n import LOCALES_DIR, SOURCE_LOCALE, get_translations, supported_locales

NNBSP, NBSP = "\u202f", "\u00a0"
PAY_URL = "https://pay.example.com/i/in_1?step=pay&src=email"
UPDATE_URL = "https://pay.example.com/update?customer=cus_1"
CONFIRM_URL = "https://pay.example.com/confirm/in_1"
INVOICE_URL = "https://invoice.example.com/i/acct_1/in_1"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_invoice(**overrides) -> InvoiceView:
    fields = dict(
        id="in_1",
        number="INV-2026-0042",
        currency="eur",
        amount_due=123450,
        amount_paid=123450,
        amount_remaining=123450,
        subtotal=102875,
        tax=20575,
        total=123450,
        created=utc(2026, 3, 1, 8),
        due_date=utc(2026, 3, 15, 12),
        paid_at=utc(2026, 3, 10, 9),
        receipt_number="2711-4455",
        next_payment_attempt=utc(2026, 3, 18, 10),
        lines=[
            LineItem(
                description="Pro plan",
                quantity=3,
                amount=90000,
                currency="eur",
                period_start=utc(2026, 3, 1),
                period_end=utc(2026, 3, 31),
            ),
            LineItem(description="Extra storage", quantity=1, amount=12875, currency="eur"),
        ],
    )
    fields.update(overrides)
    return InvoiceView(**fields)


def make_ctx(**overrides) -> EmailContext:
    fields = dict(
        branding=Branding(
            business_name="Atelier Lumen",
            brand_color="#0f766e",
            accent_color="#f59e0b",
            logo_data_uri="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
            address_lines=["12 rue des Arts", "69001 Lyon", "France"],
            support_email="billing@lumen.example",
            support_phone="+33 4 00 00 00 00",
            support_url="https://lumen.example/help",
            footer="Atelier Lumen SAS",
            legal_text="RCS Lyon 123 456 789",
        ),
        customer=CustomerView(id="cus_1", name="Camille Martin", email="camille@example.com"),
        invoice=make_invoice(),
        links=Links(
            pay_url=PAY_URL, update_payment_url=UPDATE_URL, confirm_payment_url=CONFIRM_URL, invoice_url=INVOICE_URL
        ),
        reminder=ReminderView(days_from_due=-3),
        card=CardView(brand="visa", last4="4242", exp_month=4, exp_year=2026),
        credit_note=CreditNoteView(
            id="cn_1",
            number="CN-0007",
            currency="eur",
            amount=5000,
            reason="duplicate",
            created=utc(2026, 3, 2),
            invoice_number="INV-2026-0042",
        ),
        refund=RefundView(
            id="re_1",
            currency="eur",
            amount=4200,
            created=utc(2026, 3, 3),
            reason="requested_by_customer",
            invoice_number="INV-2026-0042",
        ),
        subscription=SubscriptionView(
            id="sub_1", plan_name="Studio Pro", trial_end=utc(2026, 3, 20, 12), canceled_at=utc(2026, 3, 4, 12)
        ),
        timezone="Europe/Paris",
    )
    fields.update(overrides)
    return EmailContext(**fields)


def visible(html: str) -> str:
    """The HTML part as text a reader sees (tags dropped, entities decoded)."""
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


def hrefs(html: str) -> list[str]:
    return [htmllib.unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


def money(amount: int, currency: str, locale: str) -> str:
    return format_money(amount, currency, locale)


def key_facts(kind: EmailKind, ctx: EmailContext, locale: str) -> tuple[list[str], str | None]:
    """What the reader must find in both parts, and the link the email is for."""
    inv = ctx.invoice
    return {
        EmailKind.invoice_finalized: ([money(inv.amount_due, "eur", locale), inv.number], PAY_URL),
        EmailKind.invoice_reminder: ([money(inv.amount_remaining, "eur", locale), inv.number], PAY_URL),
        EmailKind.payment_failed: ([money(inv.amount_remaining, "eur", locale), inv.number], UPDATE_URL),
        EmailKind.payment_action_required: ([money(inv.amount_remaining, "eur", locale), inv.number], CONFIRM_URL),
        EmailKind.receipt: ([money(inv.amount_paid, "eur", locale), inv.number, inv.receipt_number], INVOICE_URL),
        EmailKind.card_expiring: (["4242", "04/2026", "Visa"], UPDATE_URL),
        EmailKind.credit_note_created: ([money(5000, "eur", locale), "CN-0007", "INV-2026-0042"], None),
        EmailKind.refund_issued: ([money(4200, "eur", locale), "INV-2026-0042"], None),
        EmailKind.trial_ending: (["Studio Pro", {"en": "March 20, 2026", "fr": "20 mars 2026"}[locale]], UPDATE_URL),
        EmailKind.subscription_canceled: (["Studio Pro", {"en": "March 4, 2026", "fr": "4 mars 2026"}[locale]], None),
    }[kind]


# ---- every kind, every locale ------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_with_its_key_facts(kind: EmailKind, locale: str) -> None:
    ctx = make_ctx()
    out = render_email(kind, ctx, locale)

    assert out.subject.strip() and "\n" not in out.subject and "\r" not in out.subject
    assert out.subject == out.subject.strip() and "  " not in out.subject
    facts, link = key_facts(kind, ctx, locale)
    page = visible(out.html)
    for fact in facts:
        assert fact in page, f"{fact!r} missing from the HTML part"
        assert fact in out.text, f"{fact!r} missing from the text part"
    if link:
        assert link in hrefs(out.html)
        assert link in out.text
    assert "Atelier Lumen" in page and "Atelier Lumen" in out.text
    # Text comes from its own template, not from the HTML.
    assert "<" not in out.text
    assert out.html.lstrip().lower().startswith("<!doctype html>")
    assert f'lang="{locale}"' in out.html


@pytest.mark.parametrize("kind", list(EmailKind))
def test_french_emails_are_in_french(kind: EmailKind) -> None:
    en, fr = render_email(kind, make_ctx(), "en"), render_email(kind, make_ctx(), "fr")
    assert en.subject != fr.subject
    assert "Bonjour Camille Martin," in fr.text and "Hi Camille Martin," in en.text
    assert "Cordialement," in fr.text and "Best regards" not in fr.text
    assert "Vous recevez cet e-mail" in visible(fr.html)


@pytest.mark.parametrize("kind", list(EmailKind))
def test_a_bare_context_still_renders(kind: EmailKind) -> None:
    """Only the required parts, every optional field empty: no StrictUndefined error, no
    dangling labels, and no button without a link."""
    ctx = EmailContext(
        customer=CustomerView(id="cus_2"),
        invoice=InvoiceView(id="in_2", currency="usd", amount_due=500, amount_remaining=500, amount_paid=500),
        reminder=ReminderView(days_from_due=0),
        card=CardView(exp_month=1, exp_year=2027),
        credit_note=CreditNoteView(id="cn_2", currency="usd", amount=500),
        refund=RefundView(id="re_2", currency="usd", amount=500),
        subscription=SubscriptionView(id="sub_2"),
    )
    for locale in ("en", "fr"):
        out = render_email(kind, ctx, locale)
        assert out.subject
        assert 'class="button"' not in out.html
        assert "None" not in out.text and "None" not in visible(out.html)
    assert "Hello," in render_email(kind, ctx, "en").text


# ---- escaping and hostile input ----------------------------------------------------

HOSTILE = '<script>alert("x")</script>'


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("kind", list(EmailKind))
def test_customer_and_account_text_is_escaped_in_html(kind: EmailKind, locale: str) -> None:
    ctx = make_ctx(
        customer=CustomerView(id="cus_1", name=HOSTILE),
        branding=Branding(business_name="Tom & Jerry <b>Ltd</b>", footer="<iframe src=x>"),
        invoice=make_invoice(
            number='<img src=x onerror="alert(1)">',
            lines=[LineItem(description="<a href=javascript:1>x</a>", amount=1, currency="eur")],
        ),
        subscription=SubscriptionView(id="sub_1", plan_name="<svg onload=1>", trial_end=utc(2026, 3, 20)),
        card=CardView(brand="<u>", last4="<i>", exp_month=4, exp_year=2026),
    )
    out = render_email(kind, ctx, locale)
    for tag in ("<script", "<img src=x", "<b>", "<iframe", "<svg", "<a href=javascript", "<u>", "<i>"):
        assert tag not in out.html, f"{tag} reached the HTML unescaped"
    assert "&amp;amp;" not in out.html and "&amp;lt;" not in out.html, "escaped twice"
    # Shown as text, exactly once-escaped.
    assert HOSTILE in visible(out.html)
    assert "Tom & Jerry <b>Ltd</b>" in visible(out.html)
    # The text part is plain text: nothing to escape there.
    assert HOSTILE in out.text
    assert "&lt;" not in out.text and "&amp;" not in out.text


def test_unsafe_links_colours_and_logo_are_dropped() -> None:
    ctx = make_ctx(
        links=Links(pay_url="javascript:alert(1)", invoice_url="file:///etc/passwd"),
        branding=Branding(
            business_name="Lumen",
            brand_color="red;}</style><script>x</script>",
            accent_color="#12345g",
            logo_data_uri="https://tracker.example/logo.png",
            support_url="javascript:alert(2)",
        ),
    )
    out = render_email(EmailKind.invoice_finalized, ctx, "en")
    assert not [h for h in hrefs(out.html) if not h.startswith(("https://", "mailto:", "tel:"))]
    assert "javascript:" not in out.html and "file:" not in out.html
    assert "javascript:" not in out.text and "file:" not in out.text
    assert "tracker.example" not in out.html and "<img" not in out.html
    assert "</style><script>" not in out.html
    assert "#1f2937" in out.html and "#2563eb" in out.html  # the default colours instead
    assert 'class="button"' not in out.html  # no safe link, no button


def test_an_oversized_logo_is_left_out() -> None:
    huge = "data:image/png;base64," + "A" * MAX_LOGO_CHARS
    out = render_email(EmailKind.receipt, make_ctx(branding=Branding(business_name="Lumen", logo_data_uri=huge)), "en")
    assert "<img" not in out.html and 'class="business"' in out.html


def test_logo_is_a_data_uri_and_brand_colours_are_applied() -> None:
    out = render_email(EmailKind.receipt, make_ctx(), "en")
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', out.html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "#0f766e" in out.html  # brand
    assert re.search(r'class="button"[^>]*style="[^"]*color: #111827', out.html) or re.search(
        r'style="[^"]*color: #111827[^"]*"[^>]*class="button"', out.html
    ), "dark text on the light (amber) accent button"


def test_subject_is_one_header_safe_line() -> None:
    ctx = make_ctx(
        branding=Branding(business_name="Acme\r\nBcc: victim@example.com\u2028=?utf-8?q?x?="),
        invoice=make_invoice(number="INV\n1\t2"),
    )
    for kind in EmailKind:
        subject = render_email(kind, ctx, "en").subject
        assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", subject), subject
        assert "=?" not in subject
    assert render_email(EmailKind.invoice_finalized, ctx, "en").subject == (
        "New invoice INV 1 2 from Acme Bcc: victim@example.com = ?utf-8?q?x?="
    )
    assert one_line("  a \r\n\x85 b\u2029c  ") == "a b c"
    assert one_line(f"50,00{NBSP}€") == f"50,00{NBSP}€"


# ---- HTML structure ----------------------------------------------------------------


def test_css_is_inlined_and_media_queries_are_kept() -> None:
    out = render_email(EmailKind.invoice_finalized, make_ctx(), "en")
    assert re.search(r"<p[^>]*style=\"[^\"]*font-size: 16px", out.html)
    assert re.search(r'<td[^>]*class="button-cell"[^>]*style="[^"]*background-color: #f59e0b', out.html) or re.search(
        r'<td[^>]*style="[^"]*background-color: #f59e0b[^"]*"[^>]*class="button-cell"', out.html
    )
    assert "@media only screen and (max-width: 620px)" in out.html
    assert 'name="viewport"' in out.html
    assert "<link" not in out.html


def test_line_items_are_capped_with_a_count_of_the_rest() -> None:
    lines = [LineItem(description=f"Usage line {i:03d}", amount=100, currency="eur") for i in range(1, 31)]
    ctx = make_ctx(invoice=make_invoice(lines=lines))
    for locale, more in (("en", "…and 10 more lines"), ("fr", "… et 10 autres lignes")):
        out = render_email(EmailKind.invoice_finalized, ctx, locale)
        assert f"Usage line {MAX_EMAIL_LINES:03d}" in out.text
        assert f"Usage line {MAX_EMAIL_LINES + 1:03d}" not in out.text
        assert f"Usage line {MAX_EMAIL_LINES + 1:03d}" not in out.html
        assert more in out.text and more in visible(out.html)
    one_more = make_ctx(invoice=make_invoice(lines=lines[: MAX_EMAIL_LINES + 1]))
    assert "…and 1 more line" in render_email(EmailKind.receipt, one_more, "en").text
    assert "… et 1 autre ligne" in render_email(EmailKind.receipt, one_more, "fr").text


def test_totals_and_line_details() -> None:
    out = render_email(EmailKind.invoice_finalized, make_ctx(), "en")
    assert "3 × Pro plan: €900.00" in out.text
    assert "Extra storage: €128.75" in out.text
    assert "Mar 1, 2026 – Mar 31, 2026" in out.text
    for fact in ("Subtotal: €1,028.75", "Tax: €205.75", "Total: €1,234.50"):
        assert fact in out.text


def test_attachments_are_mentioned_only_when_there_are_some() -> None:
    without = render_email(EmailKind.invoice_finalized, make_ctx(), "en")
    assert "Attachment" not in without.text and "Attachment" not in without.html
    with_pdf = render_email(EmailKind.invoice_finalized, make_ctx(), "fr", attachments=["invoice-INV-2026-0042.pdf"])
    assert f"Pièce jointe{NNBSP}: invoice-INV-2026-0042.pdf" in with_pdf.text
    assert "invoice-INV-2026-0042.pdf" in visible(with_pdf.html)
    two = render_email(EmailKind.receipt, make_ctx(), "en", attachments=["invoice-1.pdf", "receipt-1.pdf"])
    assert "Attachments: invoice-1.pdf, receipt-1.pdf" in two.text


# ---- money and dates ---------------------------------------------------------------


def test_french_amounts_use_babel_spacing() -> None:
    out = render_email(EmailKind.invoice_finalized, make_ctx(), "fr")
    amount = f"1{NNBSP}234,50{NBSP}€"
    assert amount in out.text
    assert amount in visible(out.html)
    assert f"Montant dû{NNBSP}: {amount}" in out.text
    assert "à régler au plus tard le 15 mars 2026" in out.text


def test_jpy_amounts_have_no_decimals() -> None:
    inv = make_invoice(
        currency="jpy",
        amount_due=123450,
        amount_remaining=123450,
        subtotal=None,
        tax=None,
        total=123450,
        lines=[LineItem(description="Plan", amount=123450, currency="jpy")],
    )
    en = render_email(EmailKind.invoice_finalized, make_ctx(invoice=inv), "en")
    assert "¥123,450" in en.text and "¥123,450" in visible(en.html)
    assert "123,450.00" not in en.text and "1,234.50" not in en.text
    fr = render_email(EmailKind.invoice_finalized, make_ctx(invoice=inv), "fr")
    assert f"123{NNBSP}450" in fr.text and f"123{NNBSP}450,00" not in fr.text


def test_dates_are_shown_in_the_customers_time_zone() -> None:
    late = make_invoice(due_date=utc(2026, 3, 15, 23, 30))
    assert "due on March 16, 2026" in render_email(EmailKind.invoice_finalized, make_ctx(invoice=late), "en").text
    utc_ctx = make_ctx(invoice=late, timezone="UTC")
    assert "due on March 15, 2026" in render_email(EmailKind.invoice_finalized, utc_ctx, "en").text
    bogus = make_ctx(invoice=late, timezone="Mars/Olympus_Mons")
    assert "due on March 15, 2026" in render_email(EmailKind.invoice_finalized, bogus, "en").text


def test_card_expiry_month_is_localized() -> None:
    assert "at the end of April 2026" in render_email(EmailKind.card_expiring, make_ctx(), "en").text
    assert "expire fin avril 2026" in render_email(EmailKind.card_expiring, make_ctx(), "fr").text
    no_last4 = make_ctx(card=CardView(brand="mastercard", exp_month=12, exp_year=2030))
    out = render_email(EmailKind.card_expiring, no_last4, "en")
    assert out.subject == "Your card on file expires soon"
    assert "Card: Mastercard" in out.text and "12/2030" in out.text


# ---- wording per situation ---------------------------------------------------------


def reminder(days: int, manual: bool = False, locale: str = "en"):
    return render_email(
        EmailKind.invoice_reminder, make_ctx(reminder=ReminderView(days_from_due=days, manual=manual)), locale
    )


@pytest.mark.parametrize(
    ("days", "subject", "sentence"),
    [
        (-7, "Reminder: invoice INV-2026-0042 is due in 7 days", "is due in 7 days, on March 15, 2026."),
        (-1, "Reminder: invoice INV-2026-0042 is due in 1 day", "is due in 1 day, on March 15, 2026."),
        (0, "Reminder: invoice INV-2026-0042 is due today", "is due today."),
        (1, "Invoice INV-2026-0042 is 1 day overdue", "was due on March 15, 2026 and is now 1 day overdue."),
        (14, "Invoice INV-2026-0042 is 14 days overdue", "was due on March 15, 2026 and is now 14 days overdue."),
    ],
)
def test_reminder_wording_follows_the_due_date(days: int, subject: str, sentence: str) -> None:
    out = reminder(days)
    assert out.subject == subject
    assert sentence in out.text and sentence in visible(out.html)
    assert "This is a friendly reminder from Atelier Lumen." in out.text
    assert ("Overdue invoice" in out.text) == (days > 0)


@pytest.mark.parametrize(
    ("days", "subject", "sentence"),
    [
        (
            -3,
            f"Rappel{NNBSP}: la facture INV-2026-0042 arrive à échéance dans 3 jours",
            "dans 3 jours, le 15 mars 2026.",
        ),
        (-1, f"Rappel{NNBSP}: la facture INV-2026-0042 arrive à échéance dans 1 jour", "dans 1 jour, le 15 mars 2026."),
        (0, f"Rappel{NNBSP}: la facture INV-2026-0042 arrive à échéance aujourd’hui", "arrive à échéance aujourd’hui."),
        (1, "La facture INV-2026-0042 est en retard de 1 jour", "est en retard de 1 jour."),
        (30, "La facture INV-2026-0042 est en retard de 30 jours", "est en retard de 30 jours."),
    ],
)
def test_reminder_wording_in_french(days: int, subject: str, sentence: str) -> None:
    out = reminder(days, locale="fr")
    assert out.subject == subject
    assert sentence in out.text and sentence in visible(out.html)


def test_manual_reminder_wording() -> None:
    out = reminder(5, manual=True)
    assert out.subject == "Reminder from Atelier Lumen: invoice INV-2026-0042"
    assert "Atelier Lumen has sent you a reminder about an unpaid invoice." in out.text
    assert "is now 5 days overdue" in out.text
    assert "friendly reminder" not in out.text
    fr = reminder(0, manual=True, locale="fr")
    assert fr.subject == f"Rappel de la part d’Atelier Lumen{NNBSP}: facture INV-2026-0042"


def test_reminder_for_an_invoice_without_due_date() -> None:
    ctx = make_ctx(invoice=make_invoice(due_date=None), reminder=ReminderView(days_from_due=0))
    out = render_email(EmailKind.invoice_reminder, ctx, "en")
    assert out.subject == "Reminder: invoice INV-2026-0042 is still unpaid"
    assert "is still unpaid." in out.text and "due today" not in out.text


def test_payment_failed_with_a_next_attempt() -> None:
    out = render_email(EmailKind.payment_failed, make_ctx(), "en")
    assert "We'll try again on March 18, 2026." in out.text
    assert "Next payment attempt: March 18, 2026" in out.text
    assert "won't try" not in out.text
    # Update link is the button; the pay link is offered as well.
    assert hrefs(out.html).index(UPDATE_URL) < hrefs(out.html).index(PAY_URL)
    fr = render_email(EmailKind.payment_failed, make_ctx(), "fr")
    assert "Nous réessaierons le 18 mars 2026." in fr.text


def test_payment_failed_without_a_next_attempt() -> None:
    ctx = make_ctx(invoice=make_invoice(next_payment_attempt=None))
    out = render_email(EmailKind.payment_failed, ctx, "en")
    assert "We won't try to charge your payment method again automatically." in out.text
    assert "Next payment attempt" not in out.text and "try again on" not in out.text
    fr = render_email(EmailKind.payment_failed, ctx, "fr")
    assert "Nous ne tenterons plus de débiter automatiquement" in fr.text


def test_payment_action_required_falls_back_to_the_pay_link() -> None:
    ctx = make_ctx(links=Links(pay_url=PAY_URL))
    out = render_email(EmailKind.payment_action_required, ctx, "en")
    assert "3D Secure" in out.text
    assert f"Confirm payment: {PAY_URL}" in out.text


def test_receipt_without_receipt_number() -> None:
    out = render_email(EmailKind.receipt, make_ctx(invoice=make_invoice(receipt_number=None)), "en")
    assert out.subject == "Your receipt from Atelier Lumen"
    assert "Receipt number" not in out.text
    assert "We received your payment of €1,234.50 on March 10, 2026. Thank you!" in out.text


def test_charge_automatically_invoice_is_not_a_pay_request() -> None:
    ctx = make_ctx(invoice=make_invoice(collection_method="charge_automatically", due_date=None))
    out = render_email(EmailKind.invoice_finalized, ctx, "en")
    assert "will be charged automatically" in out.text
    assert "Pay this invoice" not in out.text
    assert f"View invoice: {INVOICE_URL}" in out.text


# ---- required context --------------------------------------------------------------


def test_every_kind_declares_its_required_context() -> None:
    assert set(REQUIRED_CONTEXT) == set(EmailKind)
    assert REQUIRED_CONTEXT[EmailKind.invoice_reminder] == ("invoice", "reminder")


@pytest.mark.parametrize(("kind", "part"), [(kind, part) for kind, parts in REQUIRED_CONTEXT.items() for part in parts])
def test_missing_required_context_is_refused(kind: EmailKind, part: str) -> None:
    ctx = make_ctx(**{part: None})
    with pytest.raises(ValueError, match=rf"{kind.value} email needs ctx\.{part}"):
        render_email(kind, ctx, "en")


# ---- environments ------------------------------------------------------------------


def test_environments_are_built_once_and_escape_html() -> None:
    assert email_environment("fr") is email_environment("fr")
    assert text_environment("fr") is text_environment("fr")
    assert email_environment("fr") is not email_environment("en")
    assert email_environment("en").autoescape is True
    text = text_environment("en")
    assert text.autoescape("x.html") and not text.autoescape("x.txt")
    template = email_environment("en").get_template("receipt.html")
    render_email(EmailKind.receipt, make_ctx(), "en")
    assert email_environment("en").get_template("receipt.html") is template


def test_warm_compiles_every_template_so_no_email_compiles_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker warms before polling: the first emails then pay no compilation, and
    neither do the activities beside them; each template compiles once for every locale."""
    from jinja2 import Environment

    from relance.rendering.email import warm

    # Locales no other test renders, so their environments start empty here.
    warm(["de-LI"])
    compiled: list[str | None] = []
    original = Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(Environment, "compile", counting)
    for kind in EmailKind:
        assert render_email(kind, make_ctx(), "de-LI").subject
    assert compiled == []
    # A locale nobody warmed reuses the code compiled for the others (its words differ,
    # the code does not), and still reads in its own language.
    out = render_email(EmailKind.receipt, make_ctx(), "nl-SR")
    assert compiled == [] and 'lang="nl-SR"' in out.html
    assert render_email(EmailKind.receipt, make_ctx(), "de-LI").subject != out.subject


def test_regional_locale_uses_the_base_catalog() -> None:
    out = render_email(EmailKind.invoice_finalized, make_ctx(), "fr-CA")
    assert out.subject == "Nouvelle facture INV-2026-0042 de la part d’Atelier Lumen"
    assert 'lang="fr-CA"' in out.html


def test_every_kind_has_its_three_templates() -> None:
    names = {p.name for p in EMAIL_TEMPLATES_DIR.iterdir()}
    for kind in EmailKind:
        for suffix in (".subject.txt", ".html", ".txt"):
            assert f"{kind.value}{suffix}" in names


# ---- translations ------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _email_messages() -> dict[str, tuple[str, ...]]:
    """msgid -> (singular[, plural]) for every translatable string in templates/email."""
    extracted = extract_from_dir(
        str(EMAIL_TEMPLATES_DIR),
        method_map=[
            ("**.html", "jinja2.ext:babel_extract"),
            ("**.txt", "jinja2.ext:babel_extract"),
            ("**.jinja", "jinja2.ext:babel_extract"),
        ],
        options_map={"**": {"trimmed": "true"}},
    )
    messages = {}
    for _, _, msg, _, _ in extracted:
        forms = msg if isinstance(msg, tuple) else (msg,)
        messages[forms[0]] = forms
    return messages


def test_extraction_sees_every_template() -> None:
    messages = _email_messages()
    assert len(messages) > 80
    for msgid in (
        "Hi %(name)s,",
        "Pay this invoice",
        "Reminder: invoice %(number)s is due today",
        "Your trial ends soon",
        "Attachment: %(files)s",
    ):
        assert msgid in messages


@pytest.mark.parametrize("locale", [loc for loc in supported_locales() if loc != SOURCE_LOCALE])
def test_email_catalog_is_complete(locale: str) -> None:
    # The emails' strings: emails.po, and the payment sentences in payments.po.
    catalog = None
    for name in ("emails.po", "payments.po"):
        path = LOCALES_DIR / locale / "LC_MESSAGES" / name
        assert path.exists(), f"{locale} ships no {name}"
        with path.open("rb") as fh:
            part = read_po(fh, locale=locale)
        if catalog is None:
            catalog = part
        else:
            for message in part:
                if message.id:
                    catalog[message.id] = message
    assert catalog is not None
    runtime = get_translations(locale)
    problems = []
    for msgid, forms in _email_messages().items():
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r}")
        if len(forms) == 2 and (not entry.pluralizable or len(strings) != catalog.num_plurals):
            problems.append(f"plural forms: {msgid!r}")
        expected = {name for form in forms for name in _PLACEHOLDER.findall(form)}
        for s in strings:
            if set(_PLACEHOLDER.findall(s)) != expected:
                problems.append(f"placeholders differ: {msgid!r} -> {s!r}")
        # All of a locale's .po files are merged at run time: another catalog giving the
        # same msgid a different translation would silently win.
        if len(forms) == 1 and strings[0] and runtime.gettext(msgid) != strings[0]:
            problems.append(f"overridden at run time: {msgid!r} -> {runtime.gettext(msgid)!r}")
    stale = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id} - set(_email_messages())
    problems += [f"stale (no longer in any template): {msgid!r}" for msgid in sorted(stale)]
    problems += [f"{m.id!r}: {errors}" for m, errors in catalog.check()]
    assert problems == []


@pytest.mark.parametrize("locale", [loc for loc in supported_locales() if loc != SOURCE_LOCALE])
@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_in_every_shipped_locale(kind: EmailKind, locale: str) -> None:
    """Each kind renders in each locale, translated (not the English text), with the amount
    formatted for that locale in both parts and no markup left in the text part."""
    ctx = make_ctx()
    english = render_email(kind, ctx, SOURCE_LOCALE)
    rendered = render_email(kind, ctx, locale)
    assert rendered.subject and "\n" not in rendered.subject
    if not locale.startswith("en"):  # British English mostly reads as the source
        assert rendered.subject != english.subject
        assert rendered.text != english.text
    assert "<" not in rendered.text
    if kind in (EmailKind.invoice_finalized, EmailKind.invoice_reminder, EmailKind.receipt):
        amount = money(
            ctx.invoice.amount_due if kind != EmailKind.receipt else ctx.invoice.amount_paid,
            ctx.invoice.currency,
            locale,
        )
        assert amount in rendered.text and amount in visible(rendered.html)
