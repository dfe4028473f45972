"""Where a template puts two sentences in one paragraph or prints a month with its year,
the language's own way: no space after "。" in Japanese and Chinese, a space elsewhere;
Latvian's "2026. gada aprīlis" without CLDR's stray full stop."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from relance.contracts.kinds import EmailKind
from relance.rendering.custom import CustomTemplate, render_custom, sample_context
from relance.rendering.email import render_email


def _reminder(locale: str) -> tuple[str, str]:
    """The text part, and the HTML part's paragraphs a line each."""
    content = render_email(EmailKind.invoice_reminder, sample_context(EmailKind.invoice_reminder), locale)
    paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", content.html, re.S)
    html_text = "\n".join(htmllib.unescape(re.sub(r"<[^>]+>", "", p)) for p in paragraphs)
    return content.text, html_text


@pytest.mark.parametrize("locale", ["ja", "zh-Hans", "zh-Hant-TW", "zh-Hant-HK"])
def test_cjk_sentences_follow_each_other_without_a_space(locale: str) -> None:
    text, html_text = _reminder(locale)
    for part in (text, html_text):
        assert "。" in part
        assert not re.search(r"。[ \u00a0]+\S", part), part


def test_other_languages_keep_the_space_between_sentences() -> None:
    text, html_text = _reminder("en")
    joined = "This is a friendly reminder from"
    line = next(line for line in text.splitlines() if joined in line)
    assert re.search(r"\. Invoice \S+ for ", line), line
    assert re.search(r"\. Invoice \S+ for ", html_text), html_text


def test_an_escaped_name_is_not_escaped_twice() -> None:
    ctx = sample_context(EmailKind.invoice_reminder)
    ctx = ctx.model_copy(update={"branding": ctx.branding.model_copy(update={"business_name": "Bread & Butter"})})
    content = render_email(EmailKind.invoice_reminder, ctx, "ja")
    assert "Bread &amp; Butter" in content.html and "&amp;amp;" not in content.html
    assert "Bread & Butter" in content.text


@pytest.mark.parametrize("locale", ["lv", "lv-LV"])
def test_latvian_month_and_year(locale: str) -> None:
    ctx = sample_context(EmailKind.card_expiring)
    text = render_email(EmailKind.card_expiring, ctx, locale).text
    assert " gada " in text and "gada." not in text, text


@pytest.mark.parametrize(("locale", "joined"), [("ja", "A & B。C。"), ("en", "A & B. C.")])
def test_owners_templates_join_sentences_too(locale: str, joined: str) -> None:
    stop = "。" if locale == "ja" else "."
    source = f'<p>{{{{ [business ~ "{stop}", "C{stop}"]|sentences }}}}</p>'
    template = CustomTemplate(subject="Hi", html=source, text=source.replace("<p>", "").replace("</p>", ""))
    ctx = sample_context(EmailKind.invoice_finalized)
    ctx = ctx.model_copy(update={"branding": ctx.branding.model_copy(update={"business_name": "A & B"})})
    out = render_custom(EmailKind.invoice_finalized, template, ctx, locale)
    assert htmllib.escape(joined, quote=False) in out.html
    assert joined in out.text
