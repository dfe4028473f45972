"""The template editor's starting point: Relance's own template of a kind in a locale,
rewritten for the sandbox (relance.rendering.custom.starter), compiles there and renders
the same email as the shipped one."""

from __future__ import annotations

import re

import pytest

from relance.contracts.email_context import EmailContext, ReminderView
from relance.contracts.kinds import EmailKind
from relance.rendering.custom import render_custom, sample_context, validate_template
from relance.rendering.custom.budget import metered
from relance.rendering.custom.compiler import compiled
from relance.rendering.custom.samples import sparse_context
from relance.rendering.custom.starter import _plural_rule, default_template
from relance.rendering.custom.text import html_to_text
from relance.rendering.email import render_email
from relance.rendering.i18n import get_translations, supported_locales

# Compared apart (test_right_to_left_values_are_isolated_as_in_the_shipped_email): bidi
# isolation (<bdi> in the HTML, U+2066..U+2069 in the text). Left out: blank lines and
# indentation, which no reader sees.
_ISOLATES = re.compile("[\u2066-\u2069]")
_ISOLATED_TEXT = re.compile("([\u2066\u2068])(.*?)\u2069", re.DOTALL)
# English; French and Italian (articles elide before values); Polish (three plural
# forms); Arabic (six, right to left); Japanese (one).
LOCALES = ["en", "fr", "it", "pl", "ar", "ja"]


def _visible(text: str) -> list[str]:
    return [line.strip() for line in _ISOLATES.sub("", text).splitlines() if line.strip()]


def _same_email(kind: EmailKind, ctx: EmailContext, locale: str) -> None:
    starter = default_template(kind, locale)
    mine = render_custom(kind, starter, ctx, locale, attachments=["invoice.pdf"])
    shipped = render_email(kind, ctx, locale, attachments=["invoice.pdf"])
    where = f"{kind.value} in {locale}"
    assert _ISOLATES.sub("", mine.subject) == _ISOLATES.sub("", shipped.subject), where
    assert _visible(mine.text) == _visible(shipped.text), where
    assert _visible(html_to_text(mine.html)) == _visible(html_to_text(shipped.html)), where


@pytest.mark.parametrize("kind", list(EmailKind))
def test_the_starter_is_the_shipped_email_written_for_the_sandbox(kind: EmailKind) -> None:
    validate_template(kind, default_template(kind, "en"))  # what saving it checks
    starter = default_template(kind, "fr")
    assert "{% extends" not in starter.html and "{% import" not in starter.html and "_(" not in starter.html
    assert "\n" not in starter.subject  # the editor's subject field is one line
    for locale in LOCALES:
        _same_email(kind, sample_context(kind), locale)
        _same_email(kind, sparse_context(kind), locale)


def test_a_reminder_starter_says_every_plural_and_timing_as_the_shipped_one() -> None:
    kind = EmailKind.invoice_reminder
    for days in (-3, -1, 0, 1, 2, 5, 22, 101):
        ctx = sample_context(kind).model_copy(update={"reminder": ReminderView(days_from_due=days)})
        for locale in ("pl", "ar", "cy" if "cy" in supported_locales() else "ru"):
            _same_email(kind, ctx, locale)


def test_every_catalogs_plural_rule_reads_the_same_in_the_sandbox() -> None:
    for locale in supported_locales():
        translations = get_translations(locale)
        layer = translations
        while getattr(layer, "_info", None) is None and getattr(layer, "_fallback", None) is not None:
            layer = layer._fallback
        header = getattr(layer, "_info", {}).get("plural-forms", "")
        if not header:
            continue
        rule = compiled(locale, "text", "{{ (" + _plural_rule(header) + ")|int }}")
        with metered():
            for n in (*range(0, 250), 1000, 1001, 1_000_000, 2_000_000):
                assert int(rule.render(n=n)) == layer.plural(n), (locale, n)


def test_a_starter_in_every_locale_renders_the_shipped_email() -> None:
    kind = EmailKind.receipt
    for locale in supported_locales():
        _same_email(kind, sample_context(kind), locale)


def test_french_and_italian_articles_elide_before_a_value_as_in_the_shipped_email() -> None:
    for kind in (EmailKind.invoice_finalized, EmailKind.invoice_reminder, EmailKind.refund_issued):
        ctx = sample_context(kind)
        ctx = ctx.model_copy(update={"branding": ctx.branding.model_copy(update={"business_name": "Acme SAS"})})
        for locale in ("fr", "it"):
            _same_email(kind, ctx, locale)
    reminder = default_template(EmailKind.invoice_reminder, "fr")
    ctx = sample_context(EmailKind.invoice_reminder)
    ctx = ctx.model_copy(
        update={
            "branding": ctx.branding.model_copy(update={"business_name": "Acme SAS"}),
            "reminder": ReminderView(days_from_due=3, manual=True),
        }
    )
    assert "d’Acme SAS" in render_custom(EmailKind.invoice_reminder, reminder, ctx, "fr").subject


def _isolated(kind: EmailKind, ctx: EmailContext, locale: str, starter: bool) -> dict[str, list[object]]:
    """Every isolated value of the email, in order: the bdi elements (with their dir) of
    the HTML, the isolates (LRI or FSI) of the subject and the text."""
    if starter:
        email = render_custom(kind, default_template(kind, locale), ctx, locale, attachments=["invoice.pdf"])
    else:
        email = render_email(kind, ctx, locale, attachments=["invoice.pdf"])
    return {
        "subject": _ISOLATED_TEXT.findall(email.subject),
        "text": _ISOLATED_TEXT.findall(email.text),
        "html": re.findall(r"<bdi[^>]*>.*?</bdi>", email.html, re.DOTALL),
    }


@pytest.mark.parametrize("locale", ["ar", "he"])
def test_right_to_left_values_are_isolated_as_in_the_shipped_email(locale: str) -> None:
    assert "|bdi" in default_template(EmailKind.invoice_finalized, locale).html
    for kind in EmailKind:
        for ctx in (sample_context(kind), sparse_context(kind)):
            mine, shipped = _isolated(kind, ctx, locale, True), _isolated(kind, ctx, locale, False)
            assert shipped["text"] and shipped["html"], kind
            for part in ("subject", "text", "html"):
                assert mine[part] == shipped[part], f"{kind.value} {part} in {locale}"


def test_left_to_right_starters_print_values_as_they_are() -> None:
    # bdi is the identity there: the same bytes as the shipped email, no isolates.
    kind = EmailKind.invoice_finalized
    ctx = sample_context(kind)
    email = render_custom(kind, default_template(kind, "en"), ctx, "en", attachments=["invoice.pdf"])
    assert "<bdi" not in email.html and not _ISOLATES.search(email.text + email.subject)
