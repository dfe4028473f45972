"""Billing emails: subject, HTML and text for one kind in one locale.

Each kind has three templates under `templates/email/`: `<kind>.subject.txt`,
`<kind>.html` and `<kind>.txt`. The text part has its own template rather than being
derived from the HTML, so links are spelled out and nothing depends on how a converter
reads a table layout. Sentences that branch (reminder timing, next attempt...) live
once in `_phrases.jinja` and are shared by all three.

Customer and account text reaches these templates, so: HTML is rendered by an
environment that always autoescapes, colours and the logo are validated before they go
into `<style>` or `src`, links must be http(s), and the subject is forced onto one
header-safe line.

There are two environments per locale, one for HTML and one for text, rather than one
that picks autoescape by file name: Jinja marks a macro's output safe according to the
*caller's* mode, so a plain-text macro imported into an HTML template would print
customer text unescaped. With one mode per environment, a shared partial is compiled
twice, each time with the right escaping.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import css_inline
from babel.dates import format_date, format_skeleton
from jinja2 import Environment

from relance.contracts.email_context import Branding, EmailContext
from relance.contracts.kinds import EmailKind
from relance.contracts.messages import RenderedContent
from relance.rendering.bidi import isolation_filters, text_direction
from relance.rendering.environment import Filter, build_environment, locale_filters
from relance.rendering.formatting import babel_locale
from relance.rendering.i18n import TEMPLATES_DIR, supported_locales
from relance.rendering.payment_methods import card_brand, payment_method_label

EMAIL_TEMPLATES_DIR = TEMPLATES_DIR / "email"

# The PDF carries every line; past this the email says "and N more" instead of
# growing without bound (some invoices have hundreds of usage lines).
MAX_EMAIL_LINES = 20

# Which EmailContext parts a kind cannot be written without.
REQUIRED_CONTEXT: dict[EmailKind, tuple[str, ...]] = {
    EmailKind.invoice_finalized: ("invoice",),
    EmailKind.invoice_reminder: ("invoice", "reminder"),
    EmailKind.payment_failed: ("invoice",),
    EmailKind.payment_action_required: ("invoice",),
    EmailKind.receipt: ("invoice",),
    EmailKind.card_expiring: ("card",),
    EmailKind.credit_note_created: ("credit_note",),
    EmailKind.refund_issued: ("refund",),
    EmailKind.trial_ending: ("subscription",),
    EmailKind.subscription_canceled: ("subscription",),
}

_DEFAULT_BRAND = Branding()
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_LOGO = re.compile(r"data:image/(?:png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
# A logo rides inline in every email, and Gmail clips a message past 102 KB of HTML
# (hiding the footer and links below the cut), so a larger one is left out and the
# business name shows instead. 60,000 characters is a ~45 KB image.
MAX_LOGO_CHARS = 60_000
_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")

# keep_style_tags: inlined styles cover clients that drop <style>, and the kept block
# carries the @media rules, which cannot be inlined. No remote stylesheet is ever
# fetched: rendering must not touch the network.
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)

_lock = threading.Lock()
_environments: dict[tuple[str, bool], Environment] = {}


# ---- environment -------------------------------------------------------------------


# CLDR's Latvian year-month keeps the full stop of the abbreviation "g." after the word it
# spells out ("2026. gada. aprīlis").
_MONTH_YEAR_PATTERNS = {"lv": "y. 'gada' LLLL"}


def _month_year(month: int, year: int, locale: str) -> str:
    if not 1 <= month <= 12:
        return f"{month:02d}/{year}"
    loc = babel_locale(locale)
    if pattern := _MONTH_YEAR_PATTERNS.get(loc.language):
        return format_date(date(year, month, 1), pattern, locale=loc)
    return format_skeleton("yMMMM", date(year, month, 1), locale=loc)


def email_filters(locale: str) -> dict[str, Filter]:
    """The filters email templates use, bound to `locale` (custom templates share them)."""

    def month_year(month: int, year: int) -> str:
        return _month_year(month, year, locale)

    return {
        **locale_filters(locale),
        "month_year": month_year,
        "card_brand": card_brand,
        "payment_method": payment_method_label,
    }


def _build_environment(locale: str, html: bool) -> Environment:
    filters = email_filters(locale)
    return build_environment(
        locale,
        EMAIL_TEMPLATES_DIR,
        escaping="all" if html else "html-files",
        # Amounts, dates and ids isolated from right-to-left sentences: <bdi> in the HTML
        # part, Unicode isolates in the subject and text part.
        filters={**filters, **isolation_filters(locale, html, filters)},
    )


def _environment(locale: str, html: bool) -> Environment:
    with _lock:
        env = _environments.get((locale, html))
        if env is None:
            env = _environments[(locale, html)] = _build_environment(locale, html)
        return env


def email_environment(locale: str) -> Environment:
    """The environment for HTML parts in `locale` (autoescape always on), built once per
    process."""
    return _environment(locale, html=True)


def text_environment(locale: str) -> Environment:
    """The environment for subjects and text parts in `locale` (no autoescape)."""
    return _environment(locale, html=False)


def warm(locales: Sequence[str] | None = None) -> None:
    """Compile every email template ahead of the first send (e.g. at worker start)."""
    for locale in locales or supported_locales():
        html, text = email_environment(locale), text_environment(locale)
        for name in html.list_templates():
            if not name.endswith(".txt"):
                html.get_template(name)
            if not name.endswith(".html"):
                text.get_template(name)


# ---- context -----------------------------------------------------------------------


def check_context(kind: EmailKind, ctx: EmailContext) -> None:
    """Raise ValueError when `ctx` lacks a part `kind` needs."""
    missing = [part for part in REQUIRED_CONTEXT[kind] if getattr(ctx, part) is None]
    if missing:
        needs = ", ".join(f"ctx.{part}" for part in missing)
        raise ValueError(f"a {kind.value} email needs {needs}")


def _tz(name: str) -> str:
    try:
        ZoneInfo(name)
        return name
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"


def _http_url(url: str | None) -> str | None:
    # javascript:, data: or file: links have no place in a billing email.
    return url if url and _HTTP_URL.fullmatch(url) else None


def _color(value: str | None, default: str) -> str:
    # Colours go into a <style> element, where autoescape protects nothing.
    return value if value and _COLOR.fullmatch(value) else default


def _text_on(background: str) -> str:
    """Dark or light text, whichever reads on `background` (WCAG relative luminance)."""
    hex_ = background.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#111827" if luminance > 0.35 else "#ffffff"


def template_vars(kind: EmailKind, ctx: EmailContext, locale: str, attachments: Sequence[str]) -> dict[str, Any]:
    """What every email template sees (Relance's own and the owners'), made safe to print."""
    b = ctx.branding
    brand = _color(b.brand_color, _DEFAULT_BRAND.brand_color)
    accent = _color(b.accent_color, _DEFAULT_BRAND.accent_color)
    on_accent = _text_on(accent)
    logo = b.logo_data_uri
    lang = locale.replace("_", "-")
    direction = text_direction(locale)
    return dict(
        kind=kind.value,
        lang=lang if _LANG.fullmatch(lang) else "en",
        # Physical sides for the email's CSS, swapped for right-to-left: Outlook's Word
        # engine and older webmail ignore text-align: start/end.
        dir=direction,
        start="right" if direction == "rtl" else "left",
        end="left" if direction == "rtl" else "right",
        branding=b,
        business=b.business_name or _DEFAULT_BRAND.business_name,
        customer=ctx.customer,
        invoice=ctx.invoice,
        reminder=ctx.reminder,
        card=ctx.card,
        credit_note=ctx.credit_note,
        refund=ctx.refund,
        subscription=ctx.subscription,
        payment=ctx.payment,
        links=ctx.links.model_copy(
            update={name: _http_url(getattr(ctx.links, name)) for name in type(ctx.links).model_fields}
        ),
        support_url=_http_url(b.support_url),
        support_tel=re.sub(r"[^0-9+]", "", b.support_phone or "") or None,
        timezone=_tz(ctx.timezone),
        brand_color=brand,
        accent_color=accent,
        button_text_color=on_accent,
        # A light accent makes a fine button but unreadable link text on white.
        link_color=accent if on_accent == "#ffffff" else brand,
        logo=logo if logo and len(logo) <= MAX_LOGO_CHARS and _LOGO.match(logo) else None,
        attachments=list(attachments),
        max_lines=MAX_EMAIL_LINES,
    )


# ---- output ------------------------------------------------------------------------


# Control characters (C0, DEL, C1 with NEL) and the Unicode line separators mail
# libraries fold on. Not \s: French subjects keep their no-break spaces ("50,00\u00a0€").
_HEADER_BREAKS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """A header-safe subject: one line, no control characters, no RFC 2047 lookalikes.

    "=?" is split apart because the transport refuses anything shaped like an encoded
    word (CVE-2024-6923), and a business name should not make an email undeliverable.
    """
    return _HEADER_BREAKS.sub(" ", text).strip().replace("=?", "= ?")


def tidy_text(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_email(
    kind: EmailKind, ctx: EmailContext, locale: str, *, attachments: Sequence[str] = ()
) -> RenderedContent:
    """Subject, HTML (CSS inlined) and text for `kind` in `locale`.

    `attachments` are the file names of documents sent with the email; the email
    mentions attachments only when there are some.
    """
    kind = EmailKind(kind)
    check_context(kind, ctx)
    text_env = text_environment(locale)
    variables = template_vars(kind, ctx, locale, attachments)
    subject = one_line(text_env.get_template(f"{kind.value}.subject.txt").render(variables))
    if not subject:
        raise ValueError(f"the {kind.value} subject template rendered nothing")
    variables["subject"] = subject
    html = _INLINER.inline(email_environment(locale).get_template(f"{kind.value}.html").render(variables))
    text = tidy_text(text_env.get_template(f"{kind.value}.txt").render(variables))
    return RenderedContent(subject=subject, html=html, text=text)
