"""Translations: gettext catalogs under `templates/locales/<catalog>/LC_MESSAGES/*.po`.

A customer's language is two things kept apart: the *tag* (their own BCP 47 tag, e.g.
`fr-BE`), from which Babel takes number, currency and date formats, and the *catalog*
(the shipped translation that fits it best, `fr`), from which the words come.

Catalog directories are named like Babel locale identifiers (`pt_BR`, `es_419`,
`zh_Hant_TW`). A tag finds its catalog by language, script and region, through CLDR's
parent locales (`es-MX` -> `es_419`, `en-AU` -> `en_GB`, `zh-MO` -> `zh_Hant_HK`).

Strings fall back one by one: a string a catalog lacks is taken from its parent catalog
(`fr_CA` -> `fr`, `pt_BR` -> `pt`) and finally from English, the msgids themselves, so a
missing or empty translation never shows as an empty string.

The `.po` files are the source of truth and are compiled in memory at first use, so
there is no build step to forget. Every `.po` file of a catalog is merged (emails and
PDFs keep separate files so they can be edited independently).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LOCALES_DIR = TEMPLATES_DIR / "locales"

# English is the source language: its strings are the msgids themselves.
SOURCE_LOCALE = "en"

# A catalog's parent for missing strings, when it is not English. `pt` is European
# Portuguese, the nearest written standard for a string `pt_BR` lacks; Traditional
# Chinese of Hong Kong falls back to Taiwan's, never to Simplified.
CATALOG_PARENTS = {
    "en_GB": SOURCE_LOCALE,
    "fr_CA": "fr",
    "es_419": "es",
    "pt_BR": "pt",
    "zh_Hant_HK": "zh_Hant_TW",
}

# CLDR locales with no catalog of their own that one catalog serves: international
# English writes British spelling; Portugal's Portuguese is the `pt` catalog.
CLDR_TO_CATALOG = {"en_001": "en_GB", "pt_PT": "pt"}

# Tags CLDR treats as separate languages but whose readers the catalog serves.
LANGUAGE_ALIASES = {"no": "nb", "iw": "he", "in": "id", "tl": "fil", "ji": "yi"}

# A bare tag whose catalog's region differs from CLDR's default for the language: `pt`
# is Brazil in CLDR, but the `pt` catalog (and Stripe's `pt`) is Portugal's Portuguese,
# so its dates and numbers are Portugal's too.
BARE_TAG_REGION = {"pt": "PT"}

_SUBTAG = re.compile(r"^[A-Za-z0-9]{1,8}$")


def supported_locales() -> list[str]:
    """The shipped catalogs' names (`pt_BR`), English first."""
    return list(_shipped())


@cache
def _shipped() -> tuple[str, ...]:
    # Read once per process: every email asks which catalog serves its customer, and the
    # catalogs ship with the code.
    found = sorted(p.name for p in LOCALES_DIR.iterdir() if p.is_dir()) if LOCALES_DIR.exists() else []
    return (SOURCE_LOCALE, *(loc for loc in found if loc != SOURCE_LOCALE))


@cache
def _by_lower_name() -> dict[str, str]:
    return {loc.lower(): loc for loc in _shipped()}


def bcp47(catalog: str) -> str:
    """A catalog's name as a BCP 47 tag: `pt_BR` -> `pt-BR`, `zh_Hant_TW` -> `zh-Hant-TW`."""
    return catalog.replace("_", "-")


def shipped_tags() -> list[str]:
    """The shipped locales in BCP 47 form, English first."""
    return [bcp47(loc) for loc in supported_locales()]


@dataclass(frozen=True)
class Subtags:
    language: str
    script: str | None = None
    territory: str | None = None

    @property
    def tag(self) -> str:
        return "-".join(p for p in (self.language, self.script, self.territory) if p)


def parse_tag(tag: str | None) -> Subtags | None:
    """Language, script and region of a BCP 47 tag (`pt-BR`) or a Babel identifier
    (`pt_BR`), any case; the script is inferred where CLDR knows it (`zh-TW` is Hant).
    None for an empty or malformed tag. Variants and extensions are ignored."""
    if not tag or not tag.strip():
        return None
    parts = tag.strip().replace("_", "-").split("-")
    if not all(_SUBTAG.match(p) for p in parts) or not parts[0].isalpha() or not 2 <= len(parts[0]) <= 3:
        return None
    language = parts[0].lower()
    script = territory = None
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha() and script is None and territory is None:
            script = part.title()
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            if territory is None:
                territory = part.upper()
        elif len(part) == 1:
            break  # an extension (-u-..., -x-...) starts here
    language = LANGUAGE_ALIASES.get(language, language)
    try:
        parsed = Locale.parse("_".join(p for p in (language, script, territory) if p))
        language = LANGUAGE_ALIASES.get(parsed.language, parsed.language)
        script = script or parsed.script
        territory = territory or parsed.territory
    except (UnknownLocaleError, ValueError):
        pass  # e.g. fr-US: no CLDR data for the pair, but the subtags still say French
    if script is None:
        likely = get_global("likely_subtags")
        guess = likely.get(f"{language}_{territory}") if territory else None
        guess = guess or likely.get(language)
        if guess:
            script = Locale.parse(guess).script
    return Subtags(language, script, territory)


def _cldr_chain(sub: Subtags) -> list[str]:
    """The CLDR identifiers from most to least specific: `es_MX`, `es_419`, `es`."""
    parents = get_global("parent_exceptions")
    chain: list[str] = []
    current: str | None = "_".join(p for p in (sub.language, sub.script, sub.territory) if p)
    while current and current != "root" and current not in chain:
        chain.append(current)
        if current in parents:
            current = parents[current]
        elif "_" in current:
            current = current.rsplit("_", 1)[0]
        else:
            current = None
    # Identifiers that also exist without the script (`sr_Latn_RS` -> `sr_RS`).
    if sub.script and sub.territory:
        chain.insert(1, f"{sub.language}_{sub.territory}")
    chain.append(sub.language)
    return chain


def _catalog_for(sub: Subtags) -> str | None:
    available = _by_lower_name()
    if sub.language == "zh":
        # The script decides, then the region: Traditional for Taiwan, Hong Kong, Macau.
        if sub.script == "Hant":
            wanted = "zh_Hant_HK" if sub.territory in ("HK", "MO") else "zh_Hant_TW"
        else:
            wanted = "zh_Hans"
        return available.get(wanted.lower())
    for ident in _cldr_chain(sub):
        ident = CLDR_TO_CATALOG.get(ident, ident)
        if ident.lower() in available:
            return available[ident.lower()]
    # No catalog on the way up: a sibling of the same language is better than none
    # (`pt-PT` reads `pt_BR` while only Brazil's catalog is there).
    siblings = [loc for key, loc in sorted(available.items()) if key.split("_")[0] == sub.language]
    return siblings[0] if siblings else None


def match_locale(tag: str | None) -> str | None:
    """The shipped catalog for one tag, BCP 47 (`pt-BR`) or with an underscore (`pt_BR`),
    any case; None when no catalog fits. `fr-BE` and `fr-CH` read `fr`, `es-MX` reads
    `es_419`, `zh-TW` reads `zh_Hant_TW`, `zh-CN` and `zh` read `zh_Hans`."""
    sub = parse_tag(tag)
    return None if sub is None else _catalog_for(sub)


@dataclass(frozen=True)
class LocaleChoice:
    """The language of one customer's emails: `tag` for formats (the customer's own,
    region included: `fr-BE`), `catalog` for words (`fr`), and whether it came from the
    customer's own preferences (False: the account's default or English stood in)."""

    tag: str
    catalog: str
    matched: bool


def _format_tag(sub: Subtags) -> str:
    if sub.territory is None and sub.language in BARE_TAG_REGION:
        sub = Subtags(sub.language, sub.script, BARE_TAG_REGION[sub.language])
    # The script is implied for most languages; keep it only where it tells scripts apart.
    script = sub.script if sub.language in ("zh", "sr", "bs", "uz", "az", "pa") else None
    return Subtags(sub.language, script, sub.territory).tag


def choose_locale(preferred: list[str] | None, default: str | None = None) -> LocaleChoice:
    """The customer's `preferred` tags in order, the first with a catalog wins; then the
    account's `default`; then English."""
    for tag in preferred or []:
        sub = parse_tag(tag)
        catalog = None if sub is None else _catalog_for(sub)
        if sub is not None and catalog is not None:
            return LocaleChoice(_format_tag(sub), catalog, True)
    sub = parse_tag(default)
    catalog = None if sub is None else _catalog_for(sub)
    if sub is not None and catalog is not None:
        return LocaleChoice(_format_tag(sub), catalog, False)
    return LocaleChoice(SOURCE_LOCALE, SOURCE_LOCALE, False)


def email_locale(preferred: list[str] | None, default: str | None = None) -> tuple[str, bool]:
    """The catalog a customer's emails are worded from, and whether it matched one of the
    customer's own `preferred` tags (False: the account's default or English stands in,
    e.g. for a customer who prefers only `xx`). Formats use `choose_locale(...).tag`."""
    choice = choose_locale(preferred, default)
    return choice.catalog, choice.matched


def resolve_locale(preferred: list[str] | None, default: str | None = None) -> str:
    """The catalog for the customer's preferences, then the account's default, then English."""
    return choose_locale(preferred, default).catalog


def catalog_chain(catalog: str) -> list[str]:
    """`catalog` and the catalogs its missing strings come from, English last:
    `fr_CA` -> `["fr_CA", "fr", "en"]`."""
    chain = [catalog]
    while chain[-1] != SOURCE_LOCALE:
        chain.append(CATALOG_PARENTS.get(chain[-1], SOURCE_LOCALE))
    return chain


def _complete_messages(catalog: Catalog) -> Catalog:
    """Only the entries worth showing: translated in every plural form and not fuzzy, so
    an empty or doubtful one falls back to the parent rather than printing nothing."""
    kept = Catalog(locale=catalog.locale, domain=catalog.domain)
    kept.mime_headers = catalog.mime_headers
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            continue
        kept[message.id] = message
    return kept


@cache
def _compiled(catalog: str) -> tuple[bytes, ...]:
    """One catalog's `.po` files compiled, in merge order."""
    compiled = []
    for po_path in sorted((LOCALES_DIR / catalog / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as fh:
            messages = _complete_messages(read_po(fh, locale=catalog))
        buf = io.BytesIO()
        write_mo(buf, messages)
        compiled.append(buf.getvalue())
    return tuple(compiled)


def _own_translations(catalog: str) -> Translations | None:
    """One catalog's own strings, every `.po` file of it merged; None for none. A new
    object each time: `add_fallback` changes it, and chains must not share links."""
    merged: Translations | None = None
    for mo in _compiled(catalog):
        translations = Translations(io.BytesIO(mo))
        if merged is None:
            merged = translations
        else:
            merged.merge(translations)
    return merged


@cache
def get_translations(locale: str) -> NullTranslations:
    """The translations for a catalog name or any tag (`fr-BE` reads `fr`), each missing
    string taken from the parent catalogs and then English."""
    catalog = match_locale(locale) or SOURCE_LOCALE
    head: NullTranslations | None = None
    for name in catalog_chain(catalog):
        own = None if name == SOURCE_LOCALE else _own_translations(name)
        layer: NullTranslations = own if own is not None else NullTranslations()
        if head is None:
            head = layer
        else:
            head.add_fallback(layer)
        if name == SOURCE_LOCALE:
            break
    assert head is not None
    return head
