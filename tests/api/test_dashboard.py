"""The ops dashboard (/dashboard) over httpx's ASGI transport, against the harness: a real
worker on the time-skipping server, SQLite and the outbox. No browser here (see
test_dashboard_browser.py): these check what the server does with each request."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from markupsafe import escape
from pydantic import SecretStr
from sqlmodel import Session

from relance.api import create_app
from relance.api.dashboard.pages import EMAIL_CSP
from relance.api.dashboard.sessions import SESSION_COOKIE
from relance.contracts.kinds import EmailKind
from relance.services.sender_domain import required_records
from relance.storage.customers import get_customer
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings
from relance.storage.tables import CustomerRecord
from relance.storage.templates_store import current_versions
from tests.support.dns_server import LoopbackDNS
from tests.support.events import customer, event, invoice
from tests.support.harness import Harness

KEY = "rk_test_" + "d" * 32
DAY = timedelta(days=1)
BASE = "http://relance.test"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def dashboard_app(h: Harness, **config: Any):
    values = {"api_key": SecretStr(KEY), **config}
    return create_app(h.config.model_copy(update=values), h.engine, h.client, apply_wait=10.0)


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def log_in(http: httpx.AsyncClient, key: str = KEY, next_url: str | None = None) -> httpx.Response:
    form = await http.get("/dashboard/login", params={"next": next_url} if next_url else None)
    assert form.status_code == 200
    return await http.post(
        "/dashboard/login", data={"csrf_token": csrf_of(form.text), "api_key": key, "next": next_url or ""}
    )


@dataclass
class Dash:
    h: Harness
    http: httpx.AsyncClient

    async def page(self, path: str, status: int = 200) -> str:
        r = await self.http.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[:500])
        return r.text

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, from_page: str | None = None, files: Any = None
    ) -> httpx.Response:
        """POST a form as the browser would: with the CSRF token of the page it is on."""
        token = csrf_of(await self.page(from_page or "/dashboard/settings"))
        return await self.http.post(path, data={"csrf_token": token, **(data or {})}, files=files)


@pytest.fixture
async def dash(harness: Harness) -> AsyncIterator[Dash]:
    async with client_for(dashboard_app(harness)) as http:
        r = await log_in(http)
        assert r.status_code == 303
        yield Dash(harness, http)


async def open_invoice(h: Harness, inv_id: str, cus_id: str) -> dict:
    now = await h.now()
    obj = invoice(inv_id, cus_id, due=now + 10 * DAY)
    await h.send(event("customer.created", customer(cus_id)), event("invoice.finalized", obj, created=now))
    return obj


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def first_group(pattern: str, text: str, flags: int = 0) -> str:
    """Group 1 of the pattern's first match in the text, which must have one."""
    found = re.search(pattern, text, flags)
    assert found is not None, pattern
    return found.group(1)


def stored_customer(session: Session, customer_id: str) -> CustomerRecord:
    """The customer the database holds, which must be there."""
    record = get_customer(session, customer_id)
    assert record is not None, customer_id
    return record


# ---- login, session, CSRF ----------------------------------------------------------------------------


PAGES = [
    "/dashboard",
    "/dashboard/",
    "/dashboard/customers",
    "/dashboard/customers/cus_x",
    "/dashboard/settings",
    "/dashboard/settings/templates/receipt",
    "/dashboard/emails",
    "/dashboard/emails.csv",
    "/dashboard/emails/e1",
    "/dashboard/emails/e1/html",
    "/dashboard/emails/e1/attachments/0",
]
POSTS = [
    "/dashboard/customers/cus_x/recipients",
    "/dashboard/invoices/in_x/send_reminder",
    "/dashboard/settings",
    "/dashboard/settings/logo",
    "/dashboard/settings/domain",
    "/dashboard/settings/domain/verify",
    "/dashboard/settings/test-email",
    "/dashboard/emails/e1/resend",
    "/dashboard/settings/templates/receipt",
    "/dashboard/settings/templates/receipt/preview",
    "/dashboard/logout",
]


async def test_every_page_needs_a_session_and_the_login_refuses_a_wrong_key(harness: Harness) -> None:
    h = harness
    async with client_for(dashboard_app(h)) as http:
        for path in PAGES:
            r = await http.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/dashboard/login"), path
        r = await http.get("/dashboard/customers/cus_x?offset=50")
        assert r.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fcustomers%2Fcus_x%3Foffset%3D50"
        for path in POSTS:
            r = await http.post(path, data={"to": "x@acme.fr", "csrf_token": "whatever"})
            assert (r.status_code, r.headers["location"]) == (303, "/dashboard/login"), path
        with session_scope(h.engine) as s:
            assert get_customer(s, "cus_x") is None  # nothing was done

        # The login form itself: its own double-submit token; a wrong key is refused.
        form = await http.get("/dashboard/login")
        assert "HttpOnly" in form.headers["set-cookie"] and "SameSite=strict" in form.headers["set-cookie"]
        r = await http.post("/dashboard/login", data={"api_key": KEY})  # no token
        assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
        r = await log_in(http, key="rk_wrong")
        assert r.status_code == 401 and "That key is not valid" in r.text
        assert SESSION_COOKIE not in http.cookies
        assert (await http.get("/dashboard/customers")).status_code == 303

        # The right key: a session, and back to the page asked for (never another site).
        r = await log_in(http, next_url="/dashboard/settings")
        assert (r.status_code, r.headers["location"]) == (303, "/dashboard/settings")
        assert (await http.get("/dashboard/settings")).status_code == 200
    async with client_for(dashboard_app(h)) as http:
        r = await log_in(http, next_url="//evil.example/dashboard/")
        assert r.headers["location"] == "/dashboard/customers"

    # No key configured: nobody gets in, whatever they type.
    async with client_for(dashboard_app(h, api_key=None)) as http:
        for key in ("", KEY):
            r = await log_in(http, key=key)
            assert r.status_code == 401 and SESSION_COOKIE not in http.cookies


async def test_session_cookie_flags_logout_and_the_cookie_is_no_api_key(harness: Harness) -> None:
    async with client_for(dashboard_app(harness)) as http:
        r = await log_in(http)
        [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")]
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
        assert "httponly" in attributes
        assert attributes["samesite"].lower() == "samesite=strict"
        assert attributes["path"] == "Path=/dashboard"
        assert "secure" not in attributes  # plain http here; see below for https
        token = http.cookies[SESSION_COOKIE]
        assert KEY not in token and KEY[8:] not in token

        # The session is not an API credential, and a tampered token is no session.
        assert (await http.get("/v1/settings", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        sid, expires, mac = token.split(".")
        forged = f"{sid}.{int(expires) + 86400}.{mac}"
        async with client_for(dashboard_app(harness)) as forger:
            forger.cookies.set(SESSION_COOKIE, forged, domain="relance.test", path="/dashboard")
            assert (await forger.get("/dashboard/customers")).status_code == 303
            forger.cookies.set(SESSION_COOKIE, token, domain="relance.test", path="/dashboard")
            assert (await forger.get("/dashboard/customers")).status_code == 200  # the genuine one works

        # Logging out ends the session even for someone who kept the cookie.
        page = await http.get("/dashboard/customers")
        assert (
            page.headers["cache-control"] == "no-store"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
        r = await http.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
        assert (r.status_code, r.headers["location"]) == (303, "/dashboard/login")
        http.cookies.set(SESSION_COOKIE, token, domain="relance.test", path="/dashboard")
        assert (await http.get("/dashboard/customers")).status_code == 303

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dashboard_app(harness)), base_url="https://relance.test"
    ) as https:
        r = await log_in(https)
        assert "Secure" in next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))


async def test_a_post_without_its_csrf_token_is_refused_with_403(dash: Dash) -> None:
    d = dash
    page = await d.page("/dashboard/customers")
    token = csrf_of(page)
    other_session_token = ""
    async with client_for(dashboard_app(d.h)) as other:
        await log_in(other)
        other_session_token = csrf_of((await other.get("/dashboard/customers")).text)
    assert other_session_token != token  # bound to the session
    for bad in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": other_session_token}):
        r = await d.http.post("/dashboard/customers/cus_csrf/recipients", data={"to": "a@acme.fr", **bad})
        assert r.status_code == 403, bad
        assert "did not come from the dashboard" in r.text
        r = await d.http.post("/dashboard/settings", data={"send_hour": "5", **bad})
        assert r.status_code == 403
        r = await d.http.post(
            "/dashboard/settings/templates/receipt/preview",
            data={"subject": "x", "html": "y"},
            headers={"X-CSRF-Token": bad.get("csrf_token", "")} if bad else {},
        )
        assert r.status_code == 403
    with session_scope(d.h.engine) as s:
        assert get_customer(s, "cus_csrf") is None
        assert load_settings(s)[1] == 0
    # Multipart forms too.
    r = await d.http.post("/dashboard/settings/logo", files={"logo": ("logo.png", PNG, "image/png")})
    assert r.status_code == 403
    r = await d.http.post(
        "/dashboard/settings/logo", data={"csrf_token": token}, files={"logo": ("logo.png", PNG, "image/png")}
    )
    assert r.status_code == 303


# ---- customers ---------------------------------------------------------------------------------------


async def test_customer_einvoice_profile_edit(dash: Dash) -> None:
    d, h = dash, dash.h
    h.save_settings(einvoice={"profile": "en16931"})
    await h.send(event("customer.created", customer("cus_fx")))
    page = await d.page("/dashboard/customers/cus_fx")
    assert 'id="einvoice"' in page and "The account&#39;s (en16931)" in page
    r = await d.post(
        "/dashboard/customers/cus_fx/einvoice",
        {"einvoice_profile": "xrechnung", "buyer_reference": " 04011000-12345-34 "},
        from_page="/dashboard/customers/cus_fx",
    )
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard/customers/cus_fx?notice=einvoice")
    with session_scope(h.engine) as s:
        rec = stored_customer(s, "cus_fx")
        assert (rec.einvoice_profile, rec.buyer_reference) == ("xrechnung", "04011000-12345-34")
    page = await d.page("/dashboard/customers/cus_fx?notice=einvoice")
    assert '<option value="xrechnung" selected>' in page and "E-invoice profile saved" in page
    assert 'value="04011000-12345-34"' in page
    r = await d.post(
        "/dashboard/customers/cus_fx/einvoice", {"einvoice_profile": "default"}, from_page="/dashboard/customers/cus_fx"
    )
    r = await d.post(
        "/dashboard/customers/cus_fx/einvoice", {"einvoice_profile": "pdf"}, from_page="/dashboard/customers/cus_fx"
    )
    assert r.status_code == 400 and "E-invoice: one of default" in text_of(r.text)
    with session_scope(h.engine) as s:
        assert stored_customer(s, "cus_fx").einvoice_profile is None


async def test_customers_list_search_and_recipients_edit(dash: Dash) -> None:
    d, h = dash, dash.h
    await h.send(
        event("customer.created", customer("cus_srch1", email="grace@navy.test", name="Grace Hopper")),
        event("customer.created", customer("cus_srch2", email="alan@bletchley.test")),
    )
    listing = await d.page("/dashboard/customers")
    assert "cus_srch1" in listing and "cus_srch2" in listing
    for q, present, absent in (
        ("grace", "cus_srch1", "cus_srch2"),
        ("bletchley", "cus_srch2", "cus_srch1"),
        ("CUS_SRCH2", "cus_srch2", "cus_srch1"),
        ("%", None, "cus_srch1"),
    ):
        r = await d.http.get("/dashboard/customers", params={"q": q})
        if present:
            assert present in r.text, q
        assert absent not in r.text, q

    page = await d.page("/dashboard/customers/cus_srch2")
    r = await d.post(
        "/dashboard/customers/cus_srch2/recipients",
        {"to": "AP@Bletchley.test\nap@bletchley.test, boss@bletchley.test", "cc": "cfo@bletchley.test"},
        from_page="/dashboard/customers/cus_srch2",
    )
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard/customers/cus_srch2?notice=recipients")
    with session_scope(h.engine) as s:
        rec = stored_customer(s, "cus_srch2")
        assert (rec.invoice_emails, rec.cc_emails) == (
            ["AP@bletchley.test", "boss@bletchley.test"],
            ["cfo@bletchley.test"],
        )
    page = await d.page("/dashboard/customers/cus_srch2?notice=recipients")
    assert "Recipients saved" in page and "cfo@bletchley.test</textarea>" in page

    # An invalid address is named, what was typed is kept, and nothing is saved.
    r = await d.post(
        "/dashboard/customers/cus_srch2/recipients",
        {"to": "ap@bletchley.test", "cc": "cfo@bletchley.test\nnot-an-address"},
        from_page="/dashboard/customers/cus_srch2",
    )
    assert r.status_code == 400
    assert "CC: " in text_of(r.text) and "not-an-address" in text_of(r.text)
    assert 'aria-invalid="true">cfo@bletchley.test\nnot-an-address</textarea>' in r.text
    with session_scope(h.engine) as s:
        assert stored_customer(s, "cus_srch2").cc_emails == ["cfo@bletchley.test"]

    # The next email uses the new lists.
    now = await h.now()
    await h.send(event("invoice.finalized", invoice("in_srch2", "cus_srch2", due=now + 10 * DAY), created=now))
    [sent] = h.sent("invoice_finalized")
    assert (sent.to, sent.cc) == (["AP@bletchley.test", "boss@bletchley.test"], ["cfo@bletchley.test"])

    assert (await d.http.get("/dashboard/customers/cus_nobody")).status_code == 404


async def test_customer_page_email_log_email_view_and_temporal_links(dash: Dash) -> None:
    d, h = dash, dash.h
    obj = await open_invoice(h, "in_dash1", "cus_dash1")
    page = await d.page("/dashboard/customers/cus_dash1")
    text = text_of(page)
    assert "ada@customer.test" in text and obj["number"] in text
    link = "http://localhost:8233/namespaces/default/workflows/invoice-in_dash1"
    assert h.config.temporal_ui_url == "http://localhost:8233"
    assert f'href="{link}"' in page
    assert 'action="/dashboard/invoices/in_dash1/send_reminder"' in page  # open: the button is there
    [entry] = h.sent("invoice_finalized")
    assert f'href="/dashboard/emails/{entry.id}"' in page

    # The email as sent: headers, text, PDF, and the HTML in a sandboxed frame served
    # under a CSP that lets nothing but inline styles and data: images through.
    view = await d.page(f"/dashboard/emails/{entry.id}")
    assert f'sandbox="" referrerpolicy="no-referrer"\n          src="/dashboard/emails/{entry.id}/html"' in view
    assert entry.subject is not None and entry.subject in text_of(view) and obj["number"] in text_of(view)
    assert f'href="{link}"' in view
    r = await d.http.get(f"/dashboard/emails/{entry.id}/html")
    assert r.status_code == 200 and "<html" in r.text.lower()
    csp = r.headers["content-security-policy"]
    assert csp == EMAIL_CSP
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert f'/dashboard/emails/{entry.id}/attachments/0"' in view
    pdf = await d.http.get(f"/dashboard/emails/{entry.id}/attachments/0")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert (await d.http.get(f"/dashboard/emails/{entry.id}/attachments/9")).status_code == 404
    assert (await d.http.get("/dashboard/emails/nope")).status_code == 404


async def test_send_reminder_button_sends_once_and_shows_the_409_of_a_paid_invoice(dash: Dash) -> None:
    d, h = dash, dash.h
    obj = await open_invoice(h, "in_rem1", "cus_rem1")
    page = await d.page("/dashboard/customers/cus_rem1")
    form = first_group(r'action="/dashboard/invoices/in_rem1/send_reminder">(.*?)</form>', page, re.DOTALL)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert fields["customer_id"] == "cus_rem1" and fields["request_id"]
    for _ in range(2):  # a double click: the same request id, one reminder
        r = await d.http.post("/dashboard/invoices/in_rem1/send_reminder", data=fields)
        assert (r.status_code, r.headers["location"]) == (303, "/dashboard/customers/cus_rem1?notice=reminder")
    await h.settle()
    assert len(h.sent("invoice_reminder")) == 1
    assert "Reminder requested" in await d.page(r.headers["location"])

    # Paid meanwhile: the page still has the button, the answer is the API's 409, shown.
    paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
    await h.send(event("invoice.paid", paid, created=await h.now()))
    fields["request_id"] = "dashboard-another"
    r = await d.http.post("/dashboard/invoices/in_rem1/send_reminder", data=fields)
    assert r.status_code == 409
    assert "Reminder not sent: invoice 'in_rem1' is paid" in text_of(r.text)
    assert 'action="/dashboard/invoices/in_rem1/send_reminder"' not in r.text  # no button on a paid invoice
    r = await d.http.post(
        "/dashboard/invoices/in_unknown/send_reminder",
        data={"csrf_token": fields["csrf_token"], "customer_id": "cus_rem1"},
    )
    assert r.status_code == 409 and "unknown to Relance" in text_of(r.text)
    await h.settle()
    assert len(h.sent("invoice_reminder")) == 1
    # Charged automatically, no attempt failed yet: no button (the API would answer 409).
    now = await h.now()
    await h.send(
        event(
            "invoice.finalized",
            invoice("in_rem_auto", "cus_rem1", collection_method="charge_automatically", due=now + 10 * DAY),
            created=now,
        )
    )
    page = await d.page("/dashboard/customers/cus_rem1")
    assert "in_rem_auto" in page and 'action="/dashboard/invoices/in_rem_auto/send_reminder"' not in page


# ---- settings ----------------------------------------------------------------------------------------


def settings_form(page: str) -> dict[str, Any]:
    """The settings form's fields as the browser would submit them unchanged."""
    form = page.split('id="settings-form"', 1)[1].split("</form>", 1)[0]
    data: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = first_group(r'type="([^"]+)"', tag)
        if not name or (kind in ("checkbox", "radio") and "checked" not in tag):
            continue
        data[name.group(1)] = html.unescape(value.group(1)) if value else "on"
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.DOTALL):
        data[name] = html.unescape(body).replace("\n", "\r\n")  # as browsers send line breaks
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.DOTALL):
        data[name] = first_group(r'<option value="([^"]*)" selected', body)
    return data


async def test_settings_form_saves_and_validates(dash: Dash) -> None:
    d, h = dash, dash.h
    page = await d.page("/dashboard/settings")
    for preset in ("before", "on_due_date", "after", "balanced"):
        assert f'value="{preset}"' in page
    # The defaults leave the card and trial emails without a link: said at the top.
    assert 'id="advice"' in page and "<code>links.update_payment_url</code>" in page
    data = settings_form(page)
    assert data["emails.receipt"] == "on" and data["reminders_preset"] == "balanced" and data["send_hour"] == "9"
    # Languages are offered by their own names, never as codes.
    select = page.split('id="f-default_locale"')[1].split("</select>")[0]
    for name in ("Deutsch", "Português (Brasil)", "日本語", "English"):
        assert f">{name}</option>" in select
    assert ">pt_BR</option>" not in select and ">ja</option>" not in select

    # Saved as is, the form changes nothing, whatever was there (values set elsewhere
    # included: a schedule that is no preset, a language tag without a catalog).
    h.save_settings(
        reminders=[-5, 2],
        remind_subscription_invoices=False,
        default_locale="fr-CA",
        send_hour=6,
        send_minute=7,
        timezone="America/New_York",
        emails={"card_expiring": False},
        card_expiring_days_before_month_end=5,
        branding={
            "business_name": "Ünïcode <Ltd>",
            "brand_color": "#123",
            "support_phone": "+1 555",
            "address_lines": ["a", "b"],
            "footer": "Thanks\nBye",
        },
        sender={"from_name": "Acme Billing", "reply_to": "ar@acme.fr"},
        links={"pay_url": "https://pay.acme.fr/{invoice_id}"},
        einvoice={"profile": "xrechnung", "attach_xml": True},
    )
    with session_scope(h.engine) as s:
        before, version = load_settings(s)
    data = settings_form(await d.page("/dashboard/settings"))
    assert data["reminders_preset"] == "custom" and data["reminders"] == "-5, 2" and data["send_minute"] == "7"
    r = await d.http.post("/dashboard/settings", data=data)
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard/settings?notice=settings")
    with session_scope(h.engine) as s:
        after, saved_version = load_settings(s)
    assert after == before and saved_version == version + 1
    version = saved_version

    data.pop("emails.receipt")
    data.update(
        {
            "reminders_preset": "after",
            "send_hour": "7",
            "send_minute": "30",
            "timezone": "Europe/Paris",
            "branding.business_name": "Acme & Co",
            "branding.address_lines": "1 rue X\n\n75001 Paris",
            "branding.support_email": "help@acme.fr",
            "default_locale": "fr",
        }
    )
    data.pop("attach_pdf")
    data["remind_subscription_invoices"] = "on"
    r = await d.http.post("/dashboard/settings", data=data)
    assert r.status_code == 303
    with session_scope(h.engine) as s:
        saved, new_version = load_settings(s)
    assert new_version == version + 1
    assert saved.emails[EmailKind.receipt] is False and saved.emails[EmailKind.invoice_finalized] is True
    assert (saved.reminders, saved.send_hour, saved.send_minute, saved.timezone, saved.attach_pdf) == (
        [1, 3, 7, 14, 30],
        7,
        30,
        "Europe/Paris",
        False,
    )
    assert before.remind_subscription_invoices is False and saved.remind_subscription_invoices is True
    assert saved.branding.business_name == "Acme & Co" and saved.branding.address_lines == ["1 rue X", "75001 Paris"]
    assert saved.default_locale == "fr" and saved.links == before.links
    page = await d.page("/dashboard/settings?notice=settings")
    assert "Settings saved." in page and 'value="Acme &amp; Co"' in page
    assert "<code>links.update_payment_url</code>" in page  # still unset
    assert settings_form(page)["reminders_preset"] == "after"

    # Refused, naming the field next to its input, keeping what was typed, saving nothing.
    refused = [
        ({"reminders_preset": "custom", "reminders": "-3, 0, 0"}, "reminders", "duplicate"),
        ({"reminders_preset": "custom", "reminders": "-3, soon"}, "reminders", "whole numbers"),
        ({"send_hour": "24"}, "send_hour", "less than or equal to 23"),
        ({"send_minute": "60"}, "send_minute", "less than or equal to 59"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"branding.support_email": "nope"}, "branding.support_email", "nope"),
        ({"trial_ending_days_before": "x"}, "trial_ending_days_before", "whole number"),
    ]
    for change, field, message in refused:
        r = await d.http.post("/dashboard/settings", data={**data, **change})
        assert r.status_code == 400, change
        body = text_of(r.text)
        assert f"Not saved. {field}:" in body and message in body, (change, body[:400])
        assert re.search(rf'id="f-{re.escape(field)}"[^>]*aria-invalid="true"', r.text), field
        for value in change.values():
            assert html.escape(value) in r.text
    with session_scope(h.engine) as s:
        assert load_settings(s)[1] == new_version

    # A custom schedule.
    r = await d.http.post("/dashboard/settings", data={**data, "reminders_preset": "custom", "reminders": "7 -2, 0"})
    assert r.status_code == 303
    with session_scope(h.engine) as s:
        assert load_settings(s)[0].reminders == [-2, 0, 7]


async def test_seller_settings_on_the_form(dash: Dash) -> None:
    """The seller on invoices: legal name, address, tax ids one per line, registration
    lines, and the legal mentions either by country preset or exactly as ticked."""
    d, h = dash, dash.h
    data = settings_form(await d.page("/dashboard/settings"))
    assert data["seller.legal_mentions_mode"] == "country" and "seller.legal_mentions.fr_late_payment" not in data
    data.update(
        {
            "seller.legal_name": "Acme SAS",
            "seller.country": "fr",
            "seller.address.line1": "1 rue de la Paix",
            "seller.address.postal_code": "75002",
            "seller.address.city": "Paris",
            "seller.tax_ids": "eu_vat FR12345678901\r\n\r\nfr_siren 123 456 789",
            "seller.registration": "RCS Paris 123 456 789\r\nSAS au capital de 10 000 €",
            "seller.late_payment_rate": "12,5",
            "seller.contact_name": "Service facturation",
            "seller.contact_phone": "+33 1 23 45 67 89",
            "seller.contact_email": "facturation@acme.test",
            "seller.iban": "FR76 3000 6000 0112 3456 7890 189",
            "seller.bic": "BNPAFRPP",
        }
    )
    r = await d.http.post("/dashboard/settings", data=data)
    assert r.status_code == 303, r.text[:500]
    with session_scope(h.engine) as s:
        seller = load_settings(s)[0].seller
    assert (seller.legal_name, seller.country, seller.late_payment_rate) == ("Acme SAS", "FR", Decimal("12.5"))
    assert (seller.contact_name, seller.contact_phone, seller.contact_email) == (
        "Service facturation",
        "+33 1 23 45 67 89",
        "facturation@acme.test",
    )
    assert (seller.iban, seller.bic) == ("FR7630006000011234567890189", "BNPAFRPP")
    assert seller.address is not None and (seller.address.city, seller.address.country) == ("Paris", "FR")
    assert [(t.type, t.value) for t in seller.tax_ids] == [("eu_vat", "FR12345678901"), ("fr_siren", "123 456 789")]
    assert seller.registration == ["RCS Paris 123 456 789", "SAS au capital de 10 000 €"]
    assert seller.legal_mentions is None and seller.mentions() == ["fr_late_payment", "fr_recovery_indemnity"]
    # The page shows France's presets ticked; choosing exactly the ones ticked.
    data = settings_form(await d.page("/dashboard/settings"))
    assert data["seller.legal_mentions.fr_late_payment"] == "on" and data["seller.tax_ids"].startswith("eu_vat FR")
    data.pop("seller.legal_mentions.fr_recovery_indemnity")
    data.update({"seller.legal_mentions_mode": "custom", "seller.legal_mentions.fr_vat_franchise": "on"})
    assert (await d.http.post("/dashboard/settings", data=data)).status_code == 303
    with session_scope(h.engine) as s:
        assert load_settings(s)[0].seller.legal_mentions == ["fr_late_payment", "fr_vat_franchise"]
    r = await d.http.post("/dashboard/settings", data={**data, "seller.tax_ids": "FR12345678901"})
    assert r.status_code == 400 and "Not saved. seller.tax_ids:" in text_of(r.text)


async def test_logo_upload_and_sender_domain_with_its_verification(dash: Dash) -> None:
    d, h = dash, dash.h
    r = await d.post("/dashboard/settings/logo", {"action": "upload"}, files={"logo": ("logo.png", PNG, "image/png")})
    assert r.status_code == 303
    with session_scope(h.engine) as s:
        uri = load_settings(s)[0].branding.logo_data_uri
        assert uri is not None and uri.startswith("data:image/png;base64,")
    assert '<img class="logo-preview" src="data:image/png;base64,' in await d.page("/dashboard/settings")
    r = await d.post(
        "/dashboard/settings/logo", {"action": "upload"}, files={"logo": ("logo.svg", b"<svg/>", "image/svg+xml")}
    )
    assert r.status_code == 400 and "a PNG, JPEG or GIF image is required" in r.text
    r = await d.post(
        "/dashboard/settings/logo",
        {"action": "upload"},
        files={"logo": ("big.png", PNG + b"\x00" * 50_000, "image/png")},
    )
    assert r.status_code == 400 and "at most 40000" in r.text
    r = await d.post("/dashboard/settings/logo", {"action": "remove"})
    assert r.status_code == 303
    with session_scope(h.engine) as s:
        assert load_settings(s)[0].branding.logo_data_uri is None

    r = await d.post("/dashboard/settings/domain", {"domain": "acme-billing.fr", "from_email": "billing@elsewhere.fr"})
    assert r.status_code == 400 and "sender.from_email: must be an address at acme-billing.fr" in text_of(r.text)
    r = await d.post(
        "/dashboard/settings/domain",
        {"domain": "Acme-Billing.FR", "from_email": "factures@acme-billing.fr", "spf_include": "sendgrid.net"},
    )
    assert r.status_code == 303
    with session_scope(h.engine) as s:
        sender = load_settings(s)[0].sender
    assert sender.verification_token is not None
    records = required_records("acme-billing.fr", sender.verification_token, spf_include="sendgrid.net")
    page = await d.page("/dashboard/settings")
    for rec in records:
        assert f"<code>{html.escape(rec.name)}</code>" in page and html.escape(rec.value) in page

    zone = {
        r.name: [(r.type, f'"{r.value}"' if r.type == "TXT" else r.value)] for r in records if r.purpose == "ownership"
    }
    with LoopbackDNS(zone) as dns:
        app = dashboard_app(h, dns_nameserver=dns.host, dns_port=dns.port)
        async with client_for(app) as http:
            await log_in(http)
            other = Dash(h, http)
            r = await other.post("/dashboard/settings/domain/verify")
            assert r.status_code == 200
            body = text_of(r.text)
            assert "acme-billing.fr: not verified yet" in body  # the SPF record is missing
            assert body.count("found") >= 1 and "not found" in body
            zone_spf = [rec for rec in records if rec.purpose == "spf"][0]
            dns.set_records(zone_spf.name, [("TXT", f'"{zone_spf.value}"')])
            r = await other.post("/dashboard/settings/domain/verify")
            assert "acme-billing.fr: verified" in text_of(r.text)
    with session_scope(h.engine) as s:
        assert load_settings(s)[0].sender.domain_verified


# ---- templates ---------------------------------------------------------------------------------------


async def test_template_save_shows_the_line_of_a_problem_and_preview_renders(dash: Dash) -> None:
    d, h = dash, dash.h
    page = await d.page("/dashboard/settings/templates/invoice_finalized")
    assert "Relance's default template is in use" in page
    token = csrf_of(page)
    good_html = "<p>Hello {{ customer.name or 'there' }}</p>\n<p>{{ invoice.amount_due|money(invoice.currency) }}</p>"
    bad_html = "<p>Hello</p>\n<p>fine</p>\n<p>{{ invoice.number }</p>"

    r = await d.http.post(
        "/dashboard/settings/templates/invoice_finalized",
        data={
            "csrf_token": token,
            "action": "save",
            "subject": "Invoice {{ invoice.number }}",
            "html": bad_html,
            "text": "",
        },
    )
    assert r.status_code == 400
    assert "Not saved. html, line 3:" in text_of(r.text)
    assert re.search(r'id="t-html"[^>]*aria-invalid="true">', r.text)
    assert html.escape(bad_html) in r.text  # what was typed is kept
    with session_scope(h.engine) as s:
        assert "invoice_finalized" not in current_versions(s)

    # Preview: the template as typed, on sample data, through the sandbox.
    preview = "/dashboard/settings/templates/invoice_finalized/preview"
    r = await d.http.post(
        preview,
        data={"subject": "Invoice {{ invoice.number }}", "html": good_html, "text": ""},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] == "Invoice INV-2026-0042"
    assert "Hello Camille Martin" in body["html"] and "€1,234.50" in body["html"]
    assert "Hello Camille Martin" in body["text"]
    r = await d.http.post(preview, data={"subject": "x", "html": bad_html}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and r.json()["error"]["line"] == 3 and r.json()["error"]["part"] == "html"

    r = await d.http.post(
        "/dashboard/settings/templates/invoice_finalized",
        data={
            "csrf_token": token,
            "action": "save",
            "subject": "Invoice {{ invoice.number }}",
            "html": good_html,
            "text": "",
        },
    )
    assert (r.status_code, r.headers["location"]) == (
        303,
        "/dashboard/settings/templates/invoice_finalized?notice=template_saved",
    )
    page = await d.page(r.headers["location"])
    assert "Template saved." in page and "Custom template, version 1" in page
    assert str(escape(good_html)) in page
    r = await d.http.post(
        "/dashboard/settings/templates/invoice_finalized", data={"csrf_token": token, "action": "reset"}
    )
    assert r.status_code == 303
    with session_scope(h.engine) as s:
        assert current_versions(s)["invoice_finalized"] == 2
    assert (await d.http.get("/dashboard/settings/templates/nope")).status_code == 404


async def test_the_log_window_follows_the_retention_setting(harness: Harness) -> None:
    """RELANCE_LOG_RETENTION_DAYS decides how far back the API, the dashboard and the CLI
    look, so they show what the purge keeps."""
    import uuid

    from relance.storage import email_log
    from relance.storage.tables import utcnow

    def entry(days_ago: int, subject: str) -> None:
        with session_scope(harness.engine) as s:
            e = email_log.new_entry(
                s,
                key=f"k-{uuid.uuid4().hex}",
                kind="receipt",
                customer_id="cus_window",
                invoice_id=None,
                scheduled_at=utcnow(),
                status=email_log.SENT,
            )
            e.created_at, e.subject = utcnow() - timedelta(days=days_ago), subject

    entry(10, "Ten days ago")
    entry(45, "Forty-five days ago")
    entry(100, "A hundred days ago")
    for days, seen in ((30, ["Ten days ago"]), (60, ["Ten days ago", "Forty-five days ago"])):
        async with client_for(dashboard_app(harness, log_retention_days=days)) as http:
            api = await http.get("/v1/customers/cus_window/emails", headers={"Authorization": f"Bearer {KEY}"})
            assert api.status_code == 200, api.text
            assert [e["subject"] for e in api.json()["data"]] == seen
            assert (await log_in(http)).status_code == 303
            page = (await http.get("/dashboard/customers/cus_window")).text
            assert f"Emails of the last {days} days" in page
            for subject in ("Ten days ago", "Forty-five days ago", "A hundred days ago"):
                assert (subject in page) == (subject in seen), subject


# ---- issue 17 §5: the login page's key hint, the customer's sending language --------------------


async def test_the_login_page_says_where_relance_dev_put_the_key_it_generated(harness: Harness, tmp_path) -> None:
    from relance.dev import with_dev_api_key

    h = harness
    generated = with_dev_api_key(h.config.model_copy(update={"state_dir": tmp_path, "api_key": None}))
    key_file = (tmp_path / "api-key").resolve()
    assert generated.api_key is not None and key_file.read_text().strip() == generated.api_key.get_secret_value()
    async with client_for(create_app(generated, h.engine, h.client)) as http:
        page = (await http.get("/dashboard/login")).text
        assert 'id="key-file"' in page and f"<code>{escape(str(key_file))}</code>" in page
        assert "relance dev" in text_of(page)
        # The hint stays on the form shown again after a wrong key, and the key itself logs in.
        r = await http.post("/dashboard/login", data={"csrf_token": csrf_of(page), "api_key": "rk_wrong"})
        assert r.status_code == 401 and str(key_file) in r.text
        assert (await log_in(http, key=key_file.read_text().strip())).status_code == 303

    # RELANCE_API_KEY set: that key is used, and the file (left by an earlier run) is not mentioned.
    configured = with_dev_api_key(h.config.model_copy(update={"state_dir": tmp_path, "api_key": SecretStr(KEY)}))
    assert configured.api_key is not None and configured.api_key.get_secret_value() == KEY
    async with client_for(create_app(configured, h.engine, h.client)) as http:
        page = (await http.get("/dashboard/login")).text
        assert 'id="key-file"' not in page and str(key_file) not in page


async def test_the_customer_page_names_the_language_their_emails_go_out_in(dash: Dash) -> None:
    from relance.services.account import patch_settings

    d, h = dash, dash.h
    await h.send(
        event("customer.created", customer("cus_lang_fr", locales=["fr-CA"])),
        event("customer.created", customer("cus_lang_xx", locales=["tlh"])),
        event("customer.created", customer("cus_lang_none")),
        event("customer.created", customer("cus_lang_mix", locales=["tlh", "pt-BR"])),
    )

    def language(page: str) -> str:
        found = re.search(r'<dd id="sending-language">(.*?)</dd>', page, re.S)
        assert found, "the customer page does not say which language the emails are in"
        return text_of(found.group(1)).strip()

    assert language(await d.page("/dashboard/customers/cus_lang_fr")) == "Français (Canada)"
    assert language(await d.page("/dashboard/customers/cus_lang_xx")) == "English (tlh is not supported)"
    assert language(await d.page("/dashboard/customers/cus_lang_mix")) == "Português (Brasil)"
    assert language(await d.page("/dashboard/customers/cus_lang_none")) == "English"
    page = await d.page("/dashboard/customers/cus_lang_fr")
    assert 'lang="fr-CA"' in page
    # The customer's own preferences are named too, never shown as codes alone.
    assert ">Français (Canada)</span>" in page.split('id="preferred-languages"')[1].split("</dd>")[0]

    # No usable preference: the account's default language, named in its own language.
    with session_scope(h.engine) as s:
        patch_settings(s, {"default_locale": "de"})
    assert language(await d.page("/dashboard/customers/cus_lang_none")) == "Deutsch"
    assert language(await d.page("/dashboard/customers/cus_lang_xx")) == "Deutsch (tlh is not supported)"
