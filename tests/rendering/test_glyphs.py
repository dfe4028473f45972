"""No missing glyphs: every shipped locale's invoice and receipt PDF, with a customer name
and address in that locale's script, draws every character with a real glyph.

Method. WeasyPrint writes text with Type 0 fonts whose codes are CIDs (Identity-H) and a
ToUnicode map for every glyph it drew. A CID names a glyph of the embedded program as a
viewer reads it: through the CIDToGIDMap for TrueType (Identity, or the stream
relance.rendering.pdf_fonts adds when it subsets a large font again), through the CFF
charset for CID-keyed CFF (Noto CJK), as the glyph id otherwise. A character no font
covers gets a code past the font's glyphs, and WeasyPrint then gives that font a custom
Encoding CMap sending it to glyph 0 (.notdef) instead of Identity-H. So, for every font
of the PDF:
- its Encoding is /Identity-H (no code was sent to .notdef);
- every code of its ToUnicode map is a glyph of the embedded program (fontTools: not
  .notdef, present) with an outline, unless it stands for blank or invisible text;
and the characters of the customer's name and address all appear in the ToUnicode maps,
so each one was drawn by some font. Text extraction alone would not do: the ToUnicode
map lists the missing characters too.

Fast: one PDF per locale and kind, rendered concurrently in the PDF pool (spawned
processes, as the worker renders them)."""

from __future__ import annotations

import io
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from relance.contracts.email_context import CustomerView
from relance.contracts.kinds import DocumentKind, EmailKind
from relance.rendering.custom import sample_context
from relance.rendering.i18n import supported_locales
from relance.rendering.pdf import DocumentContext
from relance.rendering.pdf_pool import render_pdf_in_pool, shutdown_pool

# A customer in each script. Keyed by language; a shipped locale without its own entry
# (en-GB, fr-CA...) takes its language's.
CUSTOMERS: dict[str, tuple[str, list[str]]] = {
    "en": ("Zoë O'Brien", ["221B Baker Street", "London NW1 6XE"]),
    "bg": ("Георги Иванов", ["ул. „Витоша“ 15", "1000 София"]),
    "cs": ("Jiří Dvořák", ["Náměstí Míru 12", "120 00 Praha 2"]),
    "da": ("Søren Ærø", ["Østergade 7", "1100 København K"]),
    "de": ("Jürgen Groß", ["Königstraße 5", "70173 Stuttgart"]),
    "el": ("Γιώργος Παπαδόπουλος", ["Οδός Ερμού 25", "105 63 Αθήνα"]),
    "es": ("Begoña Muñoz", ["Calle de Alcalá 42", "28014 Madrid"]),
    "et": ("Jüri Õunapuu", ["Pärnu mnt 10", "10148 Tallinn"]),
    "fi": ("Väinö Härkönen", ["Mannerheimintie 5", "00100 Helsinki"]),
    "fil": ("Ma. Niña Dela Cruz", ["123 Rizal Ave.", "Maynila"]),
    "fr": ("Zoé Lefèvre-Œuvray", ["12, rue de l’Église", "75004 Paris"]),
    "hr": ("Đurđa Šimić", ["Ilica 10", "10000 Zagreb"]),
    "hu": ("Győző Árvai", ["Andrássy út 22", "1061 Budapest"]),
    "id": ("Siti Nurhaliza", ["Jl. Merdeka No. 5", "Jakarta 10110"]),
    "it": ("Niccolò Ricciò", ["Via dell’Università 3", "00185 Roma"]),
    "lt": ("Žydrūnė Čepaitė", ["Gedimino pr. 9", "01103 Vilnius"]),
    "lv": ("Ģirts Ķēniņš", ["Brīvības iela 30", "Rīga LV-1050"]),
    "ms": ("Nurul Aisyah binti Ahmad", ["Jalan Ampang 12", "50450 Kuala Lumpur"]),
    "mt": ("Ġorġ Żammit", ["Triq il-Ħamrun 4", "Il-Ħamrun ĦMR 1010"]),
    "nb": ("Bjørn Åsheim", ["Karl Johans gate 1", "0154 Oslo"]),
    "nl": ("Geert van 't Hoff", ["Prinsengracht 263", "1016 GV Amsterdam"]),
    "pl": ("Łukasz Żółkiewski", ["ul. Świętokrzyska 14", "00-050 Warszawa"]),
    "pt": ("João Gonçalves", ["Rua Augusta 100", "1100-053 Lisboa"]),
    "ro": ("Ștefan Țăranu", ["Bd. Unirii 7", "030167 București"]),
    "ru": ("Пётр Чайковский", ["ул. Тверская, д. 7", "125009 Москва"]),
    "sk": ("Ľubomír Šťastný", ["Obchodná 2", "811 06 Bratislava"]),
    "sl": ("Čedomir Žagar", ["Slovenska cesta 9", "1000 Ljubljana"]),
    "sv": ("Åsa Öberg", ["Drottninggatan 71", "111 36 Stockholm"]),
    "tr": ("Çağrı Işıkoğlu", ["İstiklal Cd. 12", "34433 Beyoğlu/İstanbul"]),
    "uk": ("Ґанна Їжакевич", ["вул. Хрещатик, 22", "01001 Київ"]),
    "vi": ("Nguyễn Thị Hương", ["12 Đường Lê Lợi", "Quận 1, TP. Hồ Chí Minh"]),
    "ar": ("محمد عبد الله", ["شارع الملك فهد ١٢", "الرياض ١١٥٦٤"]),
    "he": ("דוד כהן", ["רחוב הרצל 15", "תל אביב-יפו"]),
    "hi": ("राजेश कुमार शर्मा", ["१२, महात्मा गांधी मार्ग", "नई दिल्ली ११०००१"]),
    "th": ("สมชาย ใจดี", ["123 ถนนสุขุมวิท", "กรุงเทพมหานคร 10110"]),
    "ja": ("山田 太郎 様", ["東京都千代田区丸の内１－１", "〒100-0005"]),
    "ko": ("김민준", ["서울특별시 중구 세종대로 110", "04524"]),
    "zh-Hans": ("王小明", ["北京市朝阳区建国路88号", "100022"]),
    "zh-Hant": ("陳大文", ["臺北市信義區市府路45號", "110"]),
}
# Rendered even before their catalog ships: the scripts most likely to lack a font.
FORCED = ["ar", "he", "ja", "zh-Hant", "zh-Hans", "ko", "th", "hi", "el", "ru", "bg", "uk"]


def _customer_for(locale: str) -> tuple[str, list[str]]:
    tag = locale.replace("_", "-")
    parts = tag.split("-")
    for n in range(len(parts), 0, -1):
        key = "-".join(parts[:n])
        if key in CUSTOMERS:
            return CUSTOMERS[key]
    if parts[0] == "zh":
        return CUSTOMERS["zh-Hant" if {"Hant", "TW", "HK", "MO"} & set(parts) else "zh-Hans"]
    raise AssertionError(f"add a customer in {tag}'s script to CUSTOMERS")


LOCALES = sorted({*supported_locales(), *FORCED})
CASES = [(locale, kind) for locale in LOCALES for kind in (DocumentKind.invoice, DocumentKind.receipt)]


def _context(locale: str) -> DocumentContext:
    name, address = _customer_for(locale)
    sample = sample_context(EmailKind.receipt)
    return DocumentContext(
        branding=sample.branding,
        customer=CustomerView(id="cus_1", name=name, email="client@example.test", address_lines=address),
        invoice=sample.invoice,
    )


@pytest.fixture(scope="module")
def pdfs() -> dict[tuple[str, DocumentKind], bytes]:
    try:
        with ThreadPoolExecutor(max_workers=8) as threads:
            futures = {case: threads.submit(render_pdf_in_pool, case[1], _context(case[0]), case[0]) for case in CASES}
            return {case: future.result() for case, future in futures.items()}
    finally:
        shutdown_pool()


def _resolve(obj: object) -> object:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _to_unicode(stream: object) -> dict[int, str]:
    """code -> text from a ToUnicode CMap as WeasyPrint writes it (bfchar entries)."""
    data = _resolve(stream).get_data().decode("latin-1")  # type: ignore[attr-defined]
    out: dict[int, str] = {}
    for block in data.split("beginbfchar")[1:]:
        for line in block.split("endbfchar")[0].strip().splitlines():
            code, _, text = line.strip().partition(" ")
            raw = bytes.fromhex(text.strip().strip("<>"))
            out[int(code.strip("<>"), 16)] = raw.decode("utf-16-be")
    return out


def _invisible(text: str) -> bool:
    return all(c.isspace() or unicodedata.category(c) in ("Cf", "Zs", "Mn") for c in text)


def _glyph_names(font: TTFont, cids: set[int], cid_to_gid: object) -> dict[int, str]:
    """CID -> the name of the glyph a viewer draws for it (absent: none, or .notdef)."""
    order = font.getGlyphOrder()
    if "CFF " in font and hasattr(font["CFF "].cff.topDictIndex[0], "ROS"):
        names = set(order)  # fontTools names a CID-keyed font's glyphs after their CIDs
        return {cid: f"cid{cid:05d}" for cid in cids if f"cid{cid:05d}" in names}
    gids = {cid: cid for cid in cids}
    if cid_to_gid not in (None, "/Identity"):
        table = _resolve(cid_to_gid).get_data()  # type: ignore[attr-defined]
        gids = {cid: int.from_bytes(table[2 * cid : 2 * cid + 2], "big") for cid in cids if 2 * cid + 2 <= len(table)}
    return {cid: order[gid] for cid, gid in gids.items() if 0 < gid < len(order)}


def _outlined(program: bytes, cids: set[int], cid_to_gid: object = None) -> set[int]:
    """The CIDs among `cids` whose glyph the font program has and draws something for."""
    font = TTFont(io.BytesIO(program))
    glyph_set = font.getGlyphSet()
    found = set()
    for cid, name in _glyph_names(font, cids, cid_to_gid).items():
        if name != ".notdef":
            pen = BoundsPen(glyph_set)
            glyph_set[name].draw(pen)
            if pen.bounds is not None:
                found.add(cid)
    return found


def _check_fonts(pdf: bytes) -> tuple[set[str], list[str]]:
    """(every character drawn, problems found)."""
    reader = PdfReader(io.BytesIO(pdf))
    drawn: set[str] = set()
    problems: list[str] = []
    seen: set[int] = set()
    for page in reader.pages:
        for ref in _resolve(page["/Resources"])["/Font"].values():  # type: ignore[index]
            if ref.idnum in seen:
                continue
            seen.add(ref.idnum)
            font = _resolve(ref)
            name = str(font["/BaseFont"])
            if font["/Encoding"] != "/Identity-H":
                problems.append(f"{name}: custom Encoding, some codes go to .notdef")
            descendant = _resolve(font["/DescendantFonts"][0])
            descriptor = _resolve(descendant["/FontDescriptor"])
            program = _resolve(descriptor.get("/FontFile2") or descriptor["/FontFile3"]).get_data()
            visible = {}
            for gid, text in _to_unicode(font["/ToUnicode"]).items():
                # One glyph can serve two characters, and the map names only the first text
                # it drew: Thai sara am (ำ) is nikhahit plus the very glyph of sara aa (า).
                drawn.update(text, unicodedata.normalize("NFKD", text))
                if not _invisible(text):
                    visible[gid] = text
            outlined = _outlined(program, set(visible), descendant.get("/CIDToGIDMap"))
            problems += [
                f"{name}: {t!r} drawn with glyph {g}, which it lacks" for g, t in visible.items() if g not in outlined
            ]
    return drawn, problems


@pytest.mark.parametrize(("locale", "kind"), CASES, ids=[f"{loc}-{kind.value}" for loc, kind in CASES])
def test_every_character_has_a_glyph(
    pdfs: dict[tuple[str, DocumentKind], bytes], locale: str, kind: DocumentKind
) -> None:
    drawn, problems = _check_fonts(pdfs[(locale, kind)])
    assert not problems
    name, address = _customer_for(locale)
    expected = {c for c in name + "".join(address) if not _invisible(c)}
    assert expected <= drawn, f"not drawn: {sorted(expected - drawn)}"


def test_the_check_catches_a_missing_glyph() -> None:
    # A character in no installed font (private use): WeasyPrint draws .notdef.
    from relance.rendering.pdf import render_document_pdf

    ctx = _context("en")
    ctx.customer.name = "Zoë \U0010fffd"
    _, problems = _check_fonts(render_document_pdf(DocumentKind.invoice, ctx, "en"))
    assert problems
