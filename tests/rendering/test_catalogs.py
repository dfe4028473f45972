"""Every shipped catalog is complete and well-formed (Babel's checkers, the plural count
CLDR gives the language, the Jinja placeholders of the source), and a customer's tag
finds its catalog and keeps its own formats, each missing string falling back to the
parent catalog and then English. Reads .po files only: no rendering beyond one email."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from relance.rendering import i18n
from relance.rendering.formatting import format_date, format_money
from relance.rendering.i18n import (
    LOCALES_DIR,
    SOURCE_LOCALE,
    TEMPLATES_DIR,
    catalog_chain,
    choose_locale,
    email_locale,
    get_translations,
    match_locale,
    supported_locales,
)

CATALOGS = [loc for loc in supported_locales() if loc != SOURCE_LOCALE]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted(folder: str) -> dict[str, tuple[str, ...]]:
    method = "jinja2.ext:babel_extract"
    found = extract_from_dir(
        str(TEMPLATES_DIR / folder),
        method_map=[("**.html", method), ("**.txt", method), ("**.jinja", method)],
        options_map={"**": {"trimmed": "true", "extensions": "jinja2.ext.i18n"}},
    )
    return {(m if isinstance(m, tuple) else (m,))[0]: (m if isinstance(m, tuple) else (m,)) for _, _, m, _, _ in found}


SOURCES = {"emails": _extracted("email"), "pdf": _extracted("pdf")}


def _read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parts[-3])


def catalog_problems(catalog: Catalog, source: dict[str, tuple[str, ...]]) -> list[str]:
    """What keeps a catalog from shipping: missing, empty, fuzzy or stale entries,
    placeholders unlike the source's, and a plural count other than Babel's."""
    expected_plurals = Catalog(locale=catalog.locale).num_plurals
    problems = []
    if catalog.num_plurals != expected_plurals:
        problems.append(f"Plural-Forms says {catalog.num_plurals} forms, CLDR has {expected_plurals}")
    for msgid, forms in source.items():
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r}")
        if (len(forms) == 2) != entry.pluralizable or (len(forms) == 2 and len(strings) != expected_plurals):
            problems.append(f"plural forms: {msgid!r} has {len(strings)}")
        wanted = {name for form in forms for name in _PLACEHOLDER.findall(form)}
        problems += [f"placeholders: {msgid!r} -> {s!r}" for s in strings if set(_PLACEHOLDER.findall(s)) != wanted]
        try:
            python_format(catalog, entry)
        except Exception as exc:  # TranslationError: what Babel's checker says is wrong
            problems.append(f"python-format: {msgid!r}: {exc}")
    ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id}
    problems += [f"stale: {msgid!r}" for msgid in sorted(ids - set(source))]
    problems += [f"{m.id!r}: {errors}" for m, errors in catalog.check()]
    return problems


def test_the_sources_have_strings() -> None:
    assert len(SOURCES["emails"]) > 80 and len(SOURCES["pdf"]) > 30


# Strings of one template folder may live in several .po files of a catalog (every .po
# is merged at load): the PDFs' first strings in pdf.po, the document facts' in
# documents.po, the emails' payment sentences (methods, decline reasons, the final
# attempt) in payments.po. A file's entries are checked against its folder's source; together the
# files of a folder must hold every string of it, and no string twice.
CATALOG_FILES = {"emails": ("emails", "payments"), "pdf": ("pdf", "documents")}


@pytest.mark.parametrize("locale", CATALOGS)
def test_every_shipped_catalog_is_complete(locale: str) -> None:
    problems = []
    for folder, names in CATALOG_FILES.items():
        source = SOURCES[folder]
        held: set[str] = set()
        for name in names:
            path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{name}.po"
            assert path.exists(), f"{locale} ships no {name}.po"
            catalog = _read(path)
            ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id}
            problems += [f"{name}.po: twice: {msgid!r}" for msgid in sorted(ids & held)]
            held |= ids
            own = {msgid: forms for msgid, forms in source.items() if msgid in ids or msgid not in held}
            problems += [f"{name}.po: {p}" for p in catalog_problems(catalog, own) if not p.startswith("missing: ")]
        problems += [f"{folder}: missing: {msgid!r}" for msgid in source if msgid not in held]
    assert problems == []


def test_the_check_catches_what_it_should() -> None:
    """A fuzzy entry, a renamed placeholder, a missing string and a wrong plural count."""
    source = {"Hi %(name)s,": ("Hi %(name)s,",), "Total": ("Total",), "%(n)s day": ("%(n)s day", "%(n)s days")}
    catalog = Catalog(locale="ru")
    catalog.add("Hi %(name)s,", "Здравствуйте, %(nom)s!")
    catalog.add("Total", "Итого", flags=["fuzzy"])
    catalog.add(("%(n)s day", "%(n)s days"), ("%(n)s день", "%(n)s дня"))
    problems = catalog_problems(catalog, source)
    assert any(p.startswith("placeholders: 'Hi") for p in problems)
    assert "fuzzy: 'Total'" in problems
    assert any(p.startswith("plural forms: '%(n)s day'") for p in problems)
    del catalog["Total"]
    assert "missing: 'Total'" in catalog_problems(catalog, source)


# ---- resolution ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "catalog"),
    [
        ("fr-BE", "fr"),
        ("fr_CA", "fr_CA"),
        ("es-MX", "es_419"),
        ("es-419", "es_419"),
        ("es-ES", "es"),
        ("en-AU", "en_GB"),
        ("en-US", SOURCE_LOCALE),
        ("pt-BR", "pt_BR"),
        ("pt-PT", "pt"),
        ("zh", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh-TW", "zh_Hant_TW"),
        ("zh-Hant", "zh_Hant_TW"),
        ("zh-HK", "zh_Hant_HK"),
        ("zh-MO", "zh_Hant_HK"),
        ("ja-JP", "ja"),
        ("xx", None),
        ("", None),
    ],
)
def test_a_tag_finds_its_catalog(tag: str, catalog: str | None) -> None:
    if catalog is not None and catalog != SOURCE_LOCALE and catalog not in CATALOGS:
        pytest.skip(f"{catalog} is not shipped")
    assert match_locale(tag) == catalog


def test_a_regional_tag_reads_its_language_with_its_own_formats() -> None:
    choice = choose_locale(["fr-BE"], "de")
    assert (choice.tag, choice.catalog, choice.matched) == ("fr-BE", "fr", True)
    assert get_translations(choice.tag).gettext("Amount due") == get_translations("fr").gettext("Amount due")
    # The tag, not the catalog, decides formats: Belgium writes short dates its own way.
    assert format_date(date(2027, 4, 5), choice.tag, "UTC", "short") == "5/04/27"
    assert format_date(date(2027, 4, 5), choice.catalog, "UTC", "short") == "05/04/2027"
    assert format_money(123456, "eur", "fr-CH") == "1'234,56\u00a0€"


def test_traditional_chinese_for_taiwan_and_hong_kong() -> None:
    if "zh_Hant_TW" not in CATALOGS:
        pytest.skip("no Traditional Chinese catalog")
    tw = get_translations(choose_locale(["zh-TW"]).tag)
    cn = get_translations(choose_locale(["zh-CN"]).tag)
    assert tw.gettext("Invoice") == "發票" and cn.gettext("Invoice") == "发票"


def test_unknown_preferences_take_the_account_default_then_english() -> None:
    assert choose_locale(["xx", "tlh"], "de-AT") == i18n.LocaleChoice("de-AT", "de", False)
    assert choose_locale(["xx"], "xx") == i18n.LocaleChoice(SOURCE_LOCALE, SOURCE_LOCALE, False)
    assert choose_locale([], None).catalog == SOURCE_LOCALE
    assert email_locale(["xx", "pt-BR"], "de") == ("pt_BR", True)


def test_a_bare_pt_is_portugal() -> None:
    if "pt" not in CATALOGS:
        pytest.skip("no European Portuguese catalog")
    choice = choose_locale(["pt"])
    assert (choice.tag, choice.catalog) == ("pt-PT", "pt")


# ---- string-by-string fallback ---------------------------------------------------------


def test_parents() -> None:
    assert catalog_chain("fr_CA") == ["fr_CA", "fr", SOURCE_LOCALE]
    assert catalog_chain("pt_BR") == ["pt_BR", "pt", SOURCE_LOCALE]
    assert catalog_chain("zh_Hant_HK") == ["zh_Hant_HK", "zh_Hant_TW", SOURCE_LOCALE]
    assert catalog_chain("de") == ["de", SOURCE_LOCALE]


def test_a_missing_string_comes_from_the_parent_then_english(tmp_path, monkeypatch) -> None:
    """fr_CA without "Amount due" reads French; an empty one too; with French also lacking
    it, English; never an empty string."""
    locales = tmp_path / "locales"
    for loc in ("fr", "fr_CA"):
        shutil.copytree(LOCALES_DIR / loc, locales / loc)
    ca = locales / "fr_CA" / "LC_MESSAGES" / "emails.po"
    text = ca.read_text()
    text = re.sub(r'msgid "Amount due"\nmsgstr "[^"]*"', 'msgid "Amount due"\nmsgstr ""', text)
    text = re.sub(r'msgid "Pay this invoice"\nmsgstr "[^"]*"\n', "", text)
    ca.write_text(text)
    (locales / "fr_CA" / "LC_MESSAGES" / "pdf.po").write_text(
        re.sub(r'msgid "Amount due"\nmsgstr "[^"]*"\n', "", (locales / "fr_CA" / "LC_MESSAGES" / "pdf.po").read_text())
    )
    fr = locales / "fr" / "LC_MESSAGES" / "emails.po"
    fr.write_text(re.sub(r'msgid "Pay this invoice"\nmsgstr "[^"]*"\n', "", fr.read_text()))
    monkeypatch.setattr(i18n, "LOCALES_DIR", locales)
    for cached in (i18n.get_translations, i18n._compiled):
        cached.cache_clear()
    try:
        ca_tr = i18n.get_translations("fr-CA")
        assert ca_tr.gettext("Amount due") == "Montant dû"  # from fr
        assert ca_tr.gettext("Pay this invoice") == "Pay this invoice"  # neither has it: English
        assert ca_tr.gettext("Update payment method") == "Mettre à jour le mode de paiement"  # its own
        assert ca_tr.ngettext("…and %(num)d more line", "…and %(num)d more lines", 3) == "… et %(num)d autres lignes"
    finally:
        for cached in (i18n.get_translations, i18n._compiled):
            cached.cache_clear()
