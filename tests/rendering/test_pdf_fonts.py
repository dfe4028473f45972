"""Large fonts subset again (relance.rendering.pdf_fonts): a one-page CJK invoice stays
small, its text still reads back, and every character it draws still has its glyph.
Real WeasyPrint renders, in the PDF pool as the worker makes them; the TrueType and
fontTools paths, which the shipped fonts do not take, on a Latin invoice with the size
threshold lowered."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from relance.contracts.kinds import DocumentKind
from relance.rendering import pdf_fonts
from relance.rendering.pdf import render_document_pdf
from relance.rendering.pdf_pool import render_pdf_in_pool, shutdown_pool
from tests.rendering.test_glyphs import _check_fonts, _context, _customer_for
from tests.rendering.test_glyphs import _resolve as _resolved
from tests.rendering.test_pdf import pages_text

CJK = ["ja", "zh-Hant-TW", "ko"]
# Before: about 290 KB for ja (two Noto Sans CJK faces with ~63,000 glyph slots each).
LIMIT = 60_000


@pytest.fixture(scope="module")
def cjk_pdfs() -> dict[str, bytes]:
    try:
        with ThreadPoolExecutor(max_workers=len(CJK)) as threads:
            futures = {loc: threads.submit(render_pdf_in_pool, DocumentKind.invoice, _context(loc), loc) for loc in CJK}
            return {loc: future.result() for loc, future in futures.items()}
    finally:
        shutdown_pool()


def _resolve(obj: Any) -> Any:
    """A PDF object with its references followed (pypdf types them loosely)."""
    return _resolved(obj)


def _programs(pdf: bytes) -> list[tuple[str, object, bytes]]:
    """(descendant font subtype, its CIDToGIDMap, its font program) per font."""
    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for ref in _resolve(page["/Resources"])["/Font"].values():
            descendant = _resolve(_resolve(ref)["/DescendantFonts"][0])
            descriptor = _resolve(descendant["/FontDescriptor"])
            stream = descriptor.get("/FontFile2") or descriptor["/FontFile3"]
            out.append((str(descendant["/Subtype"]), descendant.get("/CIDToGIDMap"), _resolve(stream).get_data()))
    return out


def _glyph_count(program: bytes) -> int:
    return int(TTFont(io.BytesIO(program))["maxp"].numGlyphs)


@pytest.mark.parametrize("locale", CJK)
def test_a_one_page_cjk_invoice_is_small_and_reads_back(cjk_pdfs: dict[str, bytes], locale: str) -> None:
    pdf = cjk_pdfs[locale]
    assert len(pdf) < LIMIT, f"{locale}: {len(pdf)} bytes"
    programs = _programs(pdf)
    assert any(subtype == "/CIDFontType0" for subtype, _, _ in programs)  # Noto Sans CJK, CID-keyed CFF
    assert all(_glyph_count(program) < 1000 for _, _, program in programs)
    (text,) = pages_text(pdf)
    name, address = _customer_for(locale)
    for part in (name, *address):
        assert part in text, f"{part!r} not in {text!r}"
    drawn, problems = _check_fonts(pdf)
    assert not problems


@pytest.mark.parametrize("subsetter", ["harfbuzz", "fonttools"])
def test_truetype_fonts_get_a_cid_to_gid_map(monkeypatch: pytest.MonkeyPatch, subsetter: str) -> None:
    ctx = _context("en")
    before = render_document_pdf(DocumentKind.invoice, ctx, "en")
    assert all(cid_to_gid == "/Identity" for _, cid_to_gid, _ in _programs(before))  # under the threshold
    monkeypatch.setattr(pdf_fonts, "SMALL_PROGRAM", 0)
    if subsetter == "fonttools":
        monkeypatch.setattr(pdf_fonts, "harfbuzz", lambda: None)
    else:
        assert pdf_fonts.harfbuzz() is not None, "libharfbuzz-subset is installed where Relance renders PDFs"
    after = render_document_pdf(DocumentKind.invoice, ctx, "en")
    programs = _programs(after)
    assert programs and all(subtype == "/CIDFontType2" for subtype, _, _ in programs)  # DejaVu Sans
    assert all(cid_to_gid != "/Identity" for _, cid_to_gid, _ in programs)
    assert sum(_glyph_count(p) for _, _, p in programs) < sum(_glyph_count(p) for _, _, p in _programs(before)) / 4
    assert pages_text(after) == pages_text(before)
    drawn, problems = _check_fonts(after)
    assert not problems
    name, address = _customer_for("en")
    assert {c for c in name + "".join(address) if not c.isspace()} <= drawn


def test_cff_through_fonttools_keeps_the_cids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_fonts, "harfbuzz", lambda: None)
    pdf = render_document_pdf(DocumentKind.invoice, _context("ja"), "ja")
    assert len(pdf) < LIMIT
    assert not _check_fonts(pdf)[1]
    name, _ = _customer_for("ja")
    assert name in pages_text(pdf)[0]
