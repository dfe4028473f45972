"""Text direction of a locale, and bidi isolation of the values set inside sentences.

In a right-to-left document (Arabic, Hebrew) an amount, a date, an invoice number or an
email address sits inside right-to-left text; without isolation the bidi algorithm
lets its neutral characters (spaces, dots, hyphens, "@") join the surrounding text and
reorders them ("INV-0001" can come out as "0001-INV"). Each such value is isolated:
`<bdi>` in HTML, U+2066/U+2068 ... U+2069 in plain text. Ids and emails are forced left to
right; amounts and dates take the direction of their first strong character, which
keeps the order CLDR wrote them in (an Arabic amount starts with U+200F, a Hebrew date
has a Hebrew month name), while their digits stay left to right in either case.

Left-to-right locales get the values unchanged, so their output does not move.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal

from babel import Locale, UnknownLocaleError
from jinja2 import Environment
from jinja2.runtime import Context
from markupsafe import Markup, escape

from relance.rendering.gettext_hooks import wrap_translations

Direction = Literal["ltr", "rtl"]

# Unicode isolates: LEFT-TO-RIGHT ISOLATE, FIRST STRONG ISOLATE, POP DIRECTIONAL ISOLATE.
LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"


@cache
def text_direction(locale: str) -> Direction:
    """ "rtl" or "ltr", from CLDR's character order for `locale` (BCP 47 or underscores)."""
    try:
        order = Locale.parse(locale.replace("-", "_")).character_order
    except (UnknownLocaleError, ValueError, TypeError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def isolate_html(value: object, direction: Direction | None = None) -> Markup:
    """`value` escaped inside `<bdi>` (`direction` None: its first strong character decides)."""
    text = escape(value)
    if not str(text):
        return text
    attr = Markup(' dir="{}"').format(direction) if direction else ""
    return Markup("<bdi{}>{}</bdi>").format(attr, text)


def isolate_text(value: object, direction: Direction | None = None) -> str:
    text = "" if value is None else str(value)
    if not text:
        return text
    return f"{LRI if direction == 'ltr' else FSI}{text}{PDI}"


def isolation_filters(locale: str, html: bool, base: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Filters for a template environment in `locale`: `bdi` (ids, emails: `|bdi("ltr")`;
    names, addresses: `|bdi`), and `money`, `date`, `datetime` from `base` wrapped in an
    isolate. Identity in left-to-right locales."""
    rtl = text_direction(locale) == "rtl"
    isolate: Callable[..., object] = isolate_html if html else isolate_text

    def bdi(value: object, direction: Direction | None = None) -> object:
        if not rtl or value is None or value == "" or (isinstance(value, str) and _isolated_already(value)):
            return value
        return isolate(value, direction)

    filters: dict[str, Callable[..., Any]] = {"bdi": bdi}
    if rtl:
        for name in ("money", "date", "datetime", "unit_money", "percent", "quantity"):
            if name in base:
                filters[name] = _isolated(base[name], isolate)
    return filters


def _isolated(fn: Callable[..., Any], isolate: Callable[[object], object]) -> Callable[..., Any]:
    # functools.wraps copies Jinja's pass_context mark along with the name.
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        return isolate(value) if value else value

    return wrapper


def _isolated_already(value: object) -> bool:
    text = str(value)
    return text.startswith(("<bdi", LRI, FSI))


def install_sentence_isolation(env: Environment, locale: str) -> None:
    """In a right-to-left locale, isolate every text value a translated sentence is filled
    with ("%(business)s has sent you an invoice"): a Latin business or customer name would
    otherwise pull the neutral characters around it into its own direction and move the
    sentence's punctuation. The HTML or text form is the template's: autoescaped templates
    get `<bdi>`, plain ones Unicode isolates. Numbers (plural counts) and values already
    isolated by a filter are left as they are. Left-to-right locales are not touched."""
    if text_direction(locale) != "rtl":
        return

    def around(context: Context, inner: Callable[..., Any], args: tuple[Any, ...], variables: dict[str, Any]) -> Any:
        isolate = isolate_html if context.eval_ctx.autoescape else isolate_text
        for key, value in variables.items():
            if isinstance(value, str) and value and not _isolated_already(value):
                variables[key] = isolate(value)
        return inner(context, *args, **variables)

    wrap_translations(env, around)
