"""Languages named in their own language, for people choosing one: "Deutsch",
"Português (Brasil)", "日本語", never a code."""

from __future__ import annotations

import unicodedata

from babel import Locale, UnknownLocaleError

from relance.rendering.i18n import BARE_TAG_REGION, bcp47, supported_locales


def native_name(locale: str) -> str:
    """`pt_BR` -> "Português (Brasil)", `zh_Hant_TW` -> "中文 (繁體, 台灣)"; the tag itself
    only for a tag Babel does not know."""
    ident = locale.strip().replace("-", "_")
    if ident.lower() in BARE_TAG_REGION:  # "pt" is Portugal's Portuguese here
        ident = f"{ident.lower()}_{BARE_TAG_REGION[ident.lower()]}"
    try:
        loc = Locale.parse(ident)
    except (ValueError, UnknownLocaleError):
        return locale
    name = loc.get_display_name(loc) or locale
    # Languages that capitalise nothing mid-sentence still start a menu entry with a capital.
    return name[:1].upper() + name[1:]


def language_choices() -> list[tuple[str, str]]:
    """(BCP 47 tag, native name) for every shipped catalog, sorted by name."""
    return sorted(((bcp47(loc), native_name(loc)) for loc in supported_locales()), key=lambda c: _sort_key(c[1]))


def _sort_key(name: str) -> str:
    # "Čeština" sorts with the Cs, before the scripts other than Latin.
    return "".join(ch for ch in unicodedata.normalize("NFD", name.casefold()) if not unicodedata.combining(ch))
