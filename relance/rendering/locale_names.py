"""Languages named in their own language, for people choosing one: "Deutsch",
"Português (Brasil)", "日本語", never a code."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from relance.rendering.i18n import bcp47, supported_locales


def native_name(locale: str) -> str:
    """`pt_BR` -> "Português (Brasil)", `zh_Hant_TW` -> "中文 (繁體, 台灣)"; the tag itself
    only for a tag Babel does not know."""
    try:
        loc = Locale.parse(locale.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return locale
    name = loc.get_display_name(loc) or locale
    # Languages that capitalise nothing mid-sentence still start a menu entry with a capital.
    return name[:1].upper() + name[1:]


def language_choices() -> list[tuple[str, str]]:
    """(BCP 47 tag, native name) for every shipped catalog, sorted by name."""
    return sorted(((bcp47(loc), native_name(loc)) for loc in supported_locales()), key=lambda c: c[1].casefold())
