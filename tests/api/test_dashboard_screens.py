"""Every dashboard page on a phone (375 px) and a desktop (1280 px), and with JavaScript
turned off, in Debian's Chromium against the real server (the `served` fixture of
test_dashboard_browser.py).

Screenshots: test-artifacts/dashboard/<page>-<width>.png and <page>-nojs.png (git-ignored)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings
from tests.api.test_dashboard import KEY
from tests.api.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, pytestmark, served
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

__all__ = ["pytestmark", "served"]  # the skip mark and the fixture, used by name

NAV = ["Customers", "Emails", "Recovery", "Settings", "Templates", "Log out"]
DAY = timedelta(days=1)

# Measured in the page: what overflows the viewport, where each nav link and form field
# sits, and whether each table's wrapper scrolls inside its card.
_GEOMETRY = """() => {
  const vw = document.documentElement.clientWidth;
  const shown = (el) => {
    const s = getComputedStyle(el), r = el.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0;
  };
  const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right}; };
  const at = (el) => el.id || el.name || el.textContent.trim().slice(0, 30);
  return {
    viewport: vw,
    pageWidth: document.documentElement.scrollWidth,
    nav: [...document.querySelectorAll('header.top nav a, header.top form button')].map((el) => ({
      text: el.textContent.trim(), shown: shown(el), ...box(el),
      // What a tap in the middle of the link reaches: the link itself, nothing on top of it.
      hit: (() => { const r = el.getBoundingClientRect();
                    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                    return !!top && (top === el || el.contains(top)); })(),
    })),
    fields: [...document.querySelectorAll(
        'main input:not([type=hidden]), main select, main textarea, main button, main iframe')]
      .filter((el) => shown(el) && !el.closest('.table-wrap'))
      .map((el) => ({at: at(el), ...box(el)})),
    tables: [...document.querySelectorAll('table')].map((t) => {
      const wrap = t.closest('.table-wrap'), card = t.closest('.card');
      if (!wrap) return {wrapped: false};
      const before = wrap.scrollLeft;
      wrap.scrollLeft = 80;
      const scrolled = wrap.scrollLeft > before;
      wrap.scrollLeft = before;
      return {
        wrapped: true, overflowX: getComputedStyle(wrap).overflowX, scrollWidth: wrap.scrollWidth,
        clientWidth: wrap.clientWidth, scrolled, wrap: box(wrap), card: card ? box(card) : null,
      };
    }),
  };
}"""


async def _scenario(h: Harness) -> dict[str, str]:
    """A customer with an invoice and its email: something on every page."""
    now = await h.now()
    await h.send(
        event("customer.created", customer("cus_narrow", email="accounts.payable.department@long-customer-name.test")),
        event("invoice.finalized", invoice("in_narrow", "cus_narrow", due=now + 10 * DAY, number="NARROW-0001")),
    )
    [sent] = h.sent("invoice_finalized")
    return {
        "customers": "/dashboard/customers",
        "customer": "/dashboard/customers/cus_narrow",
        "emails": "/dashboard/emails",
        "email": f"/dashboard/emails/{sent.id}",
        "invoice": "/dashboard/invoices/in_narrow",
        "recovery": "/dashboard/recovery",
        "settings": "/dashboard/settings",
        "templates": "/dashboard/settings/templates",
        "template-editor": "/dashboard/settings/templates/invoice_reminder?locale=de",
    }


async def _screenshot(page: Any, name: str) -> None:
    """The whole page. Chromium paints no iframe that starts below the viewport into a
    full-page capture, so the viewport grows to the page for it."""
    size = page.viewport_size
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    await page.wait_for_timeout(150)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    await page.set_viewport_size(size)


async def _submit(page: Any, url: str | None, values: dict[str, str], form: str = "main form") -> None:
    """Fill a form's fields (on the page at `url`, or the current one) and press its submit button."""
    if url:
        await page.goto(url)
    for selector, value in values.items():
        field = page.locator(selector)
        if await field.evaluate("(el) => el.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    await page.click(f"{form} button[type=submit]")


async def _log_in(page: Any, base: str) -> None:
    await page.goto(f"{base}/dashboard/login")
    await page.fill("#api_key", KEY)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/dashboard/customers")


def _check_layout(g: dict[str, Any], where: str, logged_in: bool = True) -> None:
    vw = g["viewport"]
    assert g["pageWidth"] <= vw, f"{where}: the page scrolls sideways ({g['pageWidth']}px)"
    if logged_in:
        assert [n["text"] for n in g["nav"]] == NAV, where
        for n in g["nav"]:
            assert n["shown"] and n["hit"], f"{where}: the {n['text']!r} link is hidden or covered"
            assert 0 <= n["left"] and n["right"] <= vw, f"{where}: {n['text']!r} is off screen"
    for f in g["fields"]:
        assert 0 <= f["left"] and f["right"] <= vw + 0.5, f"{where}: the field {f['at']!r} sticks out ({f})"
    for t in g["tables"]:
        assert t["wrapped"], f"{where}: a table outside a scrolling wrapper"
        assert t["overflowX"] in ("auto", "scroll"), where
        assert t["card"]["left"] <= t["wrap"]["left"] and t["wrap"]["right"] <= t["card"]["right"], (
            f"{where}: a table wrapper sticks out of its card"
        )
        if t["scrollWidth"] > t["clientWidth"]:
            assert t["scrolled"], f"{where}: a wide table's wrapper does not scroll"


async def test_every_page_fits_a_phone_and_a_desktop(served: str, harness: Harness) -> None:
    from playwright.async_api import async_playwright

    base = served
    pages = await _scenario(harness)
    with_tables = {"customers", "customer", "emails", "invoice", "recovery", "settings", "templates"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for width in (375, 1280):
                context = await browser.new_context(viewport={"width": width, "height": 800})
                page = await context.new_page()
                page.set_default_timeout(10_000)
                await page.goto(f"{base}/dashboard/login")
                await _screenshot(page, f"login-{width}")
                _check_layout(await page.evaluate(_GEOMETRY), f"login at {width}px", logged_in=False)
                await _log_in(page, base)
                for name, path in pages.items():
                    await page.goto(base + path)
                    await page.wait_for_load_state("networkidle")
                    await _screenshot(page, f"{name}-{width}")
                    g = await page.evaluate(_GEOMETRY)
                    where = f"{path} at {width}px"
                    _check_layout(g, where)
                    assert bool(g["tables"]) == (name in with_tables), where
                    if width == 375 and name in ("customer", "emails"):
                        # The invoice and email tables are wider than a phone: they scroll, the page does not.
                        assert all(t["scrollWidth"] > t["clientWidth"] and t["scrolled"] for t in g["tables"]), g
                # On a phone every nav link can be tapped, and gets there.
                if width == 375:
                    for text in NAV[:-1]:
                        await page.click(f"header.top nav a:text-is('{text}')")
                        assert await page.locator("h1").first.text_content() == text
                    await page.click("header.top button:text-is('Log out')")
                    await page.wait_for_url(f"{base}/dashboard/login")
                await context.close()
        finally:
            await browser.close()


async def test_every_page_works_with_javascript_off(served: str, harness: Harness) -> None:
    from playwright.async_api import async_playwright, expect

    h, base = harness, served
    pages = await _scenario(h)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800})
            page = await context.new_page()
            page.set_default_timeout(10_000)
            await page.goto(f"{base}/dashboard/settings")
            await expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
            await page.fill("#api_key", KEY)
            await page.click("button[type=submit]")
            await expect(page).to_have_url(f"{base}/dashboard/settings")

            # Navigation: plain links.
            for text in NAV[:-1]:
                await page.click(f"header.top nav a:text-is('{text}')")
                await expect(page.locator("h1").first).to_have_text(text)

            # The email log's filter and recovery's: GET forms.
            await _submit(
                page, base + pages["emails"], {"#f-status": "sent", "#f-customer": "cus_narrow"}, "form.filters"
            )
            await expect(page).to_have_url(re.compile(r"status=sent&.*customer=cus_narrow"))
            await expect(page.locator("tbody tr")).to_have_count(1)
            await _submit(page, None, {"#f-status": "failed"}, "form.filters")
            await expect(page.locator("main")).to_contain_text("No emails match these filters")
            await _screenshot(page, "emails-nojs")
            await _submit(page, base + pages["recovery"], {"#currency": "usd"})
            await expect(page).to_have_url(re.compile(r"/dashboard/recovery\?.*currency=usd"))
            await expect(page.locator("#currency")).to_have_value("usd")
            await _screenshot(page, "recovery-nojs")

            # POST forms, each with its CSRF token: settings, a test send, a resend, the customer's.
            notice = page.locator(".flash.notice")
            await _submit(page, base + pages["settings"], {"#f-send_hour": "7"}, "#settings-form")
            await expect(notice).to_have_text("Settings saved.")
            with session_scope(h.engine) as s:
                assert load_settings(s)[0].send_hour == 7
            test_send = {"#test-to": "ops@relance.test", "#test-kind": "receipt", "#test-locale": "fr"}
            await _submit(page, None, test_send, "#test-email")
            await expect(notice).to_contain_text("Test email requested")
            await _screenshot(page, "settings-nojs")
            await _submit(page, base + pages["email"], {"#resend-to": "second@customer.test"}, "#resend")
            await expect(notice).to_contain_text("Resend requested")
            await _screenshot(page, "email-nojs")
            await _submit(page, base + pages["customer"], {"#cc": "cfo@customer.test"}, "#recipients")
            await expect(notice).to_contain_text("Recipients saved")
            await page.click("#invoice-in_narrow button[type=submit]")
            await expect(notice).to_contain_text("Reminder requested")

            # The template editor: kind and locale from a GET form; Preview asks the server.
            await _submit(page, base + pages["templates"], {"#c-kind": "receipt", "#c-locale": "fr"})
            await expect(page).to_have_url(f"{base}/dashboard/settings/templates/receipt?locale=fr")
            await expect(page.locator("#t-subject")).to_have_value(re.compile("Votre reçu"))
            await _submit(page, None, {"#c-locale": "de"}, "form.chooser")
            await expect(page.locator("#t-subject")).to_have_value(re.compile("Ihre Quittung"))
            # No script ran: the live preview would have rendered on load.
            await expect(page.locator("#preview-status")).to_have_text("Press Preview to see it on sample data.")
            await page.click("#preview-button")
            await expect(page.locator("#preview-status")).to_have_text("Up to date")
            await expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text("Camille Martin")
            await _screenshot(page, "template-editor-nojs")

            # Logging out: a form.
            await page.click("header.top button:text-is('Log out')")
            await expect(page).to_have_url(f"{base}/dashboard/login")
            await page.goto(base + pages["customers"])
            await expect(page).to_have_url(re.compile(r"/dashboard/login"))
        finally:
            await browser.close()
