"""Translations: gettext catalogs under `templates/locales/<locale>/LC_MESSAGES/*.po`.

The `.po` files are the source of truth and are compiled in memory at first use, so
there is no build step to forget. Every `.po` file of a locale is merged (emails and
PDFs keep separate files so they can be edited independently).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LOCALES_DIR = TEMPLATES_DIR / "locales"

# English is the source language: its strings are the msgids themselves.
SOURCE_LOCALE = "en"


def supported_locales() -> list[str]:
    found = sorted(p.name for p in LOCALES_DIR.iterdir() if p.is_dir()) if LOCALES_DIR.exists() else []
    return [SOURCE_LOCALE] + [loc for loc in found if loc != SOURCE_LOCALE]


def _canonical(tag: str) -> str:
    return tag.strip().replace("_", "-")


def match_locale(tag: str | None) -> str | None:
    """The shipped locale for one tag, BCP 47 (`pt-BR`) or with an underscore (`pt_BR`),
    any case; None when no catalog fits. `fr-CA` falls back to `fr`, `pt` to `pt_BR`."""
    if not tag or not tag.strip():
        return None
    available = {loc.lower().replace("_", "-"): loc for loc in supported_locales()}
    tag = _canonical(tag).lower()
    if tag in available:
        return available[tag]
    base = tag.split("-")[0]
    if base in available:
        return available[base]
    # A bare language asks for its first regional catalog (e.g. "pt" -> "pt_BR").
    for key, loc in available.items():
        if key.split("-")[0] == base:
            return loc
    return None


def email_locale(preferred: list[str] | None, default: str | None = None) -> tuple[str, bool]:
    """The locale a customer's emails go out in, and whether it matched one of the
    customer's own `preferred` tags (False: the account's default or English stands in,
    e.g. for a customer who prefers only `ja`)."""
    for tag in preferred or []:
        found = match_locale(tag)
        if found is not None:
            return found, True
    return (match_locale(default) or SOURCE_LOCALE), False


def resolve_locale(preferred: list[str] | None, default: str | None = None) -> str:
    """The first supported locale among the customer's preferences, then the account's
    default, then English. `fr-CA` falls back to `fr`; `pt-BR` matches `pt_BR`."""
    return email_locale(preferred, default)[0]


@cache
def get_translations(locale: str) -> NullTranslations:
    if locale == SOURCE_LOCALE:
        return NullTranslations()
    directory = LOCALES_DIR / locale / "LC_MESSAGES"
    merged: Translations | None = None
    for po_path in sorted(directory.glob("*.po")):
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        translations = Translations(buf)
        if merged is None:
            merged = translations
        else:
            merged.merge(translations)
    return merged or NullTranslations()
