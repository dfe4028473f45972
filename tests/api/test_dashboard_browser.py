"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright's
Python driver, against the API served by uvicorn (relance.api.server.serve) on a free
loopback port, wired to the harness (a real worker on the time-skipping server).

Screenshots go to test-artifacts/dashboard/ (git-ignored) for a look by a human.
Chromium comes from `make setup` (system-deps installs Debian's `chromium` when root);
never `playwright install`, which downloads its own and fails offline."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from relance.api.server import bind_socket, serve
from relance.storage.database import session_scope
from tests.api.test_dashboard import KEY, stored_customer
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DAY = timedelta(days=1)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: run `make setup` as root, or `apt-get install chromium` (Debian's package)",
)


@pytest.fixture
async def served(harness: Harness) -> AsyncIterator[str]:
    """The real server (serve()) on 127.0.0.1:<free port>, in this event loop."""
    h = harness
    config = h.config.model_copy(
        update={"api_key": SecretStr(KEY), "database_url": h.engine.url.render_as_string(hide_password=False)}
    )
    sock = bind_socket("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop, relance_client=h.client, sock=sock))
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(200):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(server, 15)


async def test_dashboard_in_chromium(served: str, harness: Harness) -> None:
    from playwright.async_api import async_playwright, expect

    h, base = harness, served
    started = time.monotonic()
    now = await h.now()
    await h.send(
        event("customer.created", customer("cus_web1", email="ada@customer.test")),
        event("invoice.finalized", invoice("in_web1", "cus_web1", due=now + 10 * DAY, number="WEB-0001"), created=now),
    )
    [sent] = h.sent("invoice_finalized")
    assert sent.subject is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(10_000)
            # CSP violations and script errors show up on the console: there must be none.
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status == 404 else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))

            # Log in: asked for the key, then back to the page we wanted.
            await page.goto(f"{base}/dashboard/customers/cus_web1")
            await expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
            await page.screenshot(path=str(ARTIFACTS / "01-login.png"))
            await page.fill("#api_key", "rk_wrong")
            await page.click("button[type=submit]")
            await expect(page.locator(".flash.error")).to_contain_text("That key is not valid")
            await page.fill("#api_key", KEY)
            await page.click("button[type=submit]")
            await expect(page).to_have_url(f"{base}/dashboard/customers/cus_web1")
            cookies = {c["name"]: c for c in await context.cookies()}
            assert cookies["relance_session"]["httpOnly"] and cookies["relance_session"]["sameSite"] == "Strict"
            assert await page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts

            # The customer: details, its invoice with the Temporal link, its email log.
            await expect(page.locator("h1")).to_have_text("Ada Lovelace")
            temporal = page.locator("#invoice-in_web1 a", has_text="Temporal")
            await expect(temporal).to_have_attribute(
                "href", "http://localhost:8233/namespaces/default/workflows/invoice-in_web1"
            )
            await expect(page.locator("#emails")).to_contain_text(sent.subject)
            await page.screenshot(path=str(ARTIFACTS / "02-customer.png"), full_page=True)

            # The email as sent, in its sandboxed frame.
            await page.click(f"a[href='/dashboard/emails/{sent.id}']")
            await expect(page.locator("h1")).to_have_text(sent.subject)
            frame = page.frame_locator("iframe.email")
            await expect(frame.locator("body")).to_contain_text("WEB-0001")
            await expect(page.locator("iframe.email")).to_have_attribute("sandbox", "")
            await expect(page.locator("a", has_text=".pdf")).to_have_count(1)
            await page.screenshot(path=str(ARTIFACTS / "03-email.png"), full_page=True)

            # Edit the CC list: a wrong address is named, a right one is saved.
            await page.goto(f"{base}/dashboard/customers/cus_web1")
            await page.fill("#cc", "cfo@customer.test\nnot-an-address")
            await page.click("#recipients button[type=submit]")
            await expect(page.locator("#recipients .flash.error")).to_contain_text("not-an-address")
            await page.screenshot(path=str(ARTIFACTS / "04-recipients-error.png"))
            await page.fill("#cc", "cfo@customer.test")
            await page.click("#recipients button[type=submit]")
            await expect(page.locator(".flash.notice")).to_contain_text("Recipients saved")
            await expect(page.locator("#cc")).to_have_value("cfo@customer.test")
            with session_scope(h.engine) as s:
                assert stored_customer(s, "cus_web1").cc_emails == ["cfo@customer.test"]

            # Settings: change the send hour, save.
            await page.click("header nav a:has-text('Settings')")
            await expect(page.locator("h1")).to_have_text("Settings")
            await page.select_option("#f-send_hour", "8")
            await page.click("#settings-form button[type=submit]")
            await expect(page.locator(".flash.notice")).to_have_text("Settings saved.")
            await expect(page.locator("#f-send_hour")).to_have_value("8")
            await page.screenshot(path=str(ARTIFACTS / "05-settings.png"), full_page=True)

            # The template editor's live preview: rendered as typed, errors with their line.
            await page.click("#templates a[href$='/invoice_finalized']")
            preview = page.frame_locator("#preview-frame")
            await expect(page.locator("#preview-status")).to_have_text("Up to date")
            await expect(preview.locator("body")).to_contain_text("Camille Martin")
            await page.fill("#t-subject", "Your bill {{ invoice.number }} is ready")
            await expect(page.locator("#preview-subject")).to_have_text("Your bill INV-2026-0042 is ready")
            await page.fill(
                "#t-html",
                "<h1>Hi {{ customer.name }}</h1>\n<p>Due: {{ invoice.amount_due|money(invoice.currency) }}</p>",
            )
            await expect(preview.locator("h1")).to_have_text("Hi Camille Martin")
            await expect(preview.locator("p")).to_have_text("Due: €1,234.50")
            await page.screenshot(path=str(ARTIFACTS / "06-template-preview.png"), full_page=True)
            await page.fill("#t-html", "<h1>Hi</h1>\n{% if %}")
            await expect(page.locator("#preview-status")).to_contain_text("html, line 2")
            await page.screenshot(path=str(ARTIFACTS / "07-template-error.png"))

            # Logging out ends it.
            await page.click("header button:has-text('Log out')")
            await expect(page).to_have_url(f"{base}/dashboard/login")
            await page.goto(f"{base}/dashboard/settings")
            await expect(page).to_have_url(re.compile(r"/dashboard/login"))
        finally:
            await browser.close()

    # The refusals the test provoked log "Failed to load resource" (401, 400); nothing else may.
    assert [m for m in problems if not re.fullmatch(r"Failed to load resource: .* status of 40[01] .*", m)] == []
    assert time.monotonic() - started < 60
