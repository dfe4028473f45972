"""Every email kind, as the customer sees it: rendered with the sample data `relance
preview` uses and laid out by Debian's Chromium (Playwright) at a phone's width (375 px)
and a desktop's (800 px). The checks read element geometry, not markup: line amounts and
totals share their right edge, nothing is wider than the viewport, and the "if the button
doesn't work" sentence wraps between words (only its URL may break anywhere).

Screenshots go to test-artifacts/emails/ (git-ignored) for a look by a human."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relance.contracts.kinds import EmailKind
from relance.rendering.custom import sample_context
from relance.rendering.email import render_email
from tests.api.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "emails"
WIDTHS = (375, 800)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: run `make setup` as root, or `apt-get install chromium` (Debian's package)",
)

# Geometry read in the page: the right edge of every amount cell of the line items (lines
# and totals), the widest element's right edge, and the page's scroll width.
_GEOMETRY = """() => {
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const amounts = [...document.querySelectorAll('table.items td.amount')].filter(visible)
    .map((el) => ({text: el.textContent.trim(), right: el.getBoundingClientRect().right}));
  let widest = 0, widestTag = '';
  for (const el of document.body.querySelectorAll('*')) {
    if (!visible(el) || el.closest('.preheader')) continue;
    const right = el.getBoundingClientRect().right;
    if (right > widest) { widest = right; widestTag = el.tagName + '.' + el.className; }
  }
  return {amounts, widest, widestTag, scrollWidth: document.documentElement.scrollWidth};
}"""

# Each word of the fallback sentence (the text before the link) and the number of line
# boxes it occupies: a word broken across lines has two.
_FALLBACK_WORDS = """() => {
  const out = [];
  for (const p of document.querySelectorAll('p.fallback')) {
    const text = p.firstChild;
    const re = /\\S+/g; let m;
    while ((m = re.exec(text.textContent)) !== null) {
      const range = document.createRange();
      range.setStart(text, m.index); range.setEnd(text, m.index + m[0].length);
      out.push({word: m[0], boxes: range.getClientRects().length});
    }
    out.push({link: getComputedStyle(p.querySelector('a')).wordBreak, sentence: getComputedStyle(p).wordBreak});
  }
  return out;
}"""


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def _lay_out(browser: Any, html: str, width: int, shot: str) -> Any:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    await page.set_content(html, wait_until="load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", list(EmailKind), ids=lambda k: k.value)
async def test_every_kind_lays_out_at_phone_and_desktop_width(browser: Any, kind: EmailKind, width: int) -> None:
    ctx = sample_context(kind)
    html = render_email(kind, ctx, "en", attachments=["invoice-INV-2026-0042.pdf"]).html
    page = await _lay_out(browser, html, width, f"{kind.value}-en-{width}")
    try:
        geo = await page.evaluate(_GEOMETRY)
    finally:
        await page.close()
    if kind in (EmailKind.invoice_finalized, EmailKind.invoice_reminder, EmailKind.credit_note_created):
        assert 'class="items' in html
    assert geo["scrollWidth"] <= width, geo
    assert geo["widest"] <= width + 0.5, f"{geo['widestTag']} reaches {geo['widest']} px in a {width} px viewport"
    if 'class="items' in html:
        amounts = geo["amounts"]
        # The lines and at least the total, all flush with one right edge.
        assert len(amounts) >= 2, amounts
        rights = {round(a["right"]) for a in amounts}
        assert len(rights) == 1, f"amounts end at different x: {amounts}"


@pytest.mark.parametrize("locale", ["de", "en", "fr"])
async def test_only_the_fallback_url_breaks_anywhere_on_a_phone(browser: Any, locale: str) -> None:
    kind = EmailKind.invoice_finalized
    ctx = sample_context(kind)
    # A long, space-free URL: it must wrap, and only it may.
    long_url = "https://pay.northwind.example/i/in_sample?token=" + "a1b2c3d4" * 12
    ctx = ctx.model_copy(update={"links": ctx.links.model_copy(update={"pay_url": long_url})})
    html = render_email(kind, ctx, locale).html
    page = await _lay_out(browser, html, 375, f"fallback-{locale}-375")
    try:
        words = await page.evaluate(_FALLBACK_WORDS)
        link_right = await page.evaluate(
            "() => Math.max(...[...document.querySelector('p.fallback a').getClientRects()].map((r) => r.right))"
        )
    finally:
        await page.close()
    broken = [w["word"] for w in words if "word" in w and w["boxes"] != 1]
    assert broken == [], f"words split across lines: {broken}"
    styles = [w for w in words if "link" in w]
    assert styles == [{"link": "break-all", "sentence": "normal"}]
    assert len([w for w in words if "word" in w]) >= 8
    assert link_right <= 375


# The figure of the summary box and its label, and each line amount and its description.
_SIDES = """() => {
  const box = (el) => el.getBoundingClientRect();
  const row = document.querySelector('table.summary tr.highlight');
  const line = document.querySelector('table.items td.amount').parentElement;
  return {
    direction: getComputedStyle(document.querySelector('td.content')).direction,
    label: box(row.querySelector('th')), value: box(row.querySelector('td')),
    desc: box(line.querySelector('td.desc')), amount: box(line.querySelector('td.amount')),
    valueAlign: getComputedStyle(row.querySelector('td')).textAlign,
  };
}"""


@pytest.mark.parametrize(("locale", "rtl"), [("ar", True), ("he", True), ("en", False)])
async def test_right_to_left_email_is_mirrored(browser: Any, locale: str, rtl: bool) -> None:
    kind = EmailKind.invoice_finalized
    html = render_email(kind, sample_context(kind), locale).html
    page = await _lay_out(browser, html, 800, f"{kind.value}-{locale}-800")
    try:
        sides = await page.evaluate(_SIDES)
    finally:
        await page.close()
    assert sides["direction"] == ("rtl" if rtl else "ltr")
    if rtl:
        # The total on the left of its label, each amount on the left of its line.
        assert sides["value"]["right"] <= sides["label"]["left"] + 1
        assert sides["amount"]["right"] <= sides["desc"]["left"] + 1
        assert sides["valueAlign"] == "left"
    else:
        assert sides["value"]["left"] >= sides["label"]["right"] - 1
        assert sides["amount"]["left"] >= sides["desc"]["right"] - 1
