"""Hostile input at every door: each one refused with an error naming the field, or
neutralised; nothing crashes, nothing is started, nothing wrong is sent.

Complements test_custom_templates (the sandbox itself), test_pdf (the locked fetcher on
raw HTML), test_transports and test_addresses (header checks in each transport); here
the same payloads go through the API, the CLI, the settings service, and a whole
lifecycle to a real SMTP server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from activities.emails import CUSTOMER_WAIT
from relance.contracts.addresses import InvalidAddress, normalize_address
from relance.contracts.events import CustomerEvent, InvalidEvent, InvoiceEvent, parse_event
from relance.rendering.formatting import format_money
from relance.services.account import SettingsError, patch_settings, set_recipients, set_sender_domain
from relance.storage.database import get_engine, session_scope
from relance.storage.settings_store import load_settings
from tests.api.test_api import WHSEC, app_for, http_for, started
from tests.support.events import customer, event, invoice, parse_one, stripe_fixtures
from tests.support.harness import Harness
from tests.support.mail import body_text

CVE_6923 = "=?utf-8?q?a=0D=0ABcc:x@evil.test?="
CRLF = "Acme\r\nBcc: x@evil.test"
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
RELANCE = str(Path(sys.executable).parent / "relance")
DAY = timedelta(days=1)


# ---- addresses ----------------------------------------------------------------------


def test_rfc_5321_length_limits() -> None:
    assert normalize_address("a" * 64 + "@example.com") == "a" * 64 + "@example.com"
    with pytest.raises(InvalidAddress, match="too long before the @"):
        normalize_address("a" * 65 + "@example.com")
    long_domain = ".".join(["b" * 63] * 3) + ".com"  # 195 characters
    with pytest.raises(InvalidAddress, match="too long"):
        normalize_address("a" * 60 + "@" + long_domain)  # 256 in all
    assert normalize_address("a@Bücher.example") == "a@xn--bcher-kva.example"  # IDN: punycode, no SMTPUTF8


# ---- events: currencies, amounts, addresses ------------------------------------------


def invoice_event(**fields: Any) -> dict:
    return event("invoice.finalized", invoice("in_hostile", **fields))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: invoice_event(currency="xyz"), "data.object.currency"),
        (lambda: invoice_event(currency="€ur"), "data.object.currency"),
        (
            lambda: event(
                "invoice.finalized", dict(invoice("in_h"), lines={"data": [{"amount": 1, "currency": "zzz"}]})
            ),
            "data.object.lines.data[0].currency",
        ),
        (
            lambda: event("credit_note.created", dict(stripe_fixtures()["credit_note"], currency="abc")),
            "data.object.currency",
        ),
        (lambda: event("refund.created", dict(stripe_fixtures()["refund"], currency="qqq")), "data.object.currency"),
        (lambda: event("charge.refunded", dict(stripe_fixtures()["charge"], currency="xxy")), "data.object.currency"),
    ],
)
def test_unknown_currencies_are_refused_naming_the_field(build, field: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(build())
    assert err.value.field == field
    assert "ISO 4217" in err.value.message


def test_currency_codes_are_normalized() -> None:
    assert parse_one(invoice_event(currency="KWD"), InvoiceEvent).invoice.currency == "kwd"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (123456, "kwd", "en", "KWD123.456"),  # three decimals
        (123456, "bhd", "fr", "123,456\u00a0BHD"),
        (123456, "jpy", "en", "¥123,456"),  # none
        (123456, "jpy", "fr", "123\u202f456\u00a0JPY"),
        (0, "eur", "en", "€0.00"),
        (-2500, "eur", "en", "-€25.00"),  # a discount line, a credit
        (-2500, "eur", "fr", "-25,00\u00a0€"),
    ],
)
def test_zero_negative_and_odd_decimal_amounts(amount: int, currency: str, locale: str, shown: str) -> None:
    assert format_money(amount, currency, locale) == shown


def test_zero_total_invoice_with_a_discount_line_renders_email_and_pdf() -> None:
    import io

    from pypdf import PdfReader

    from relance.contracts.kinds import DocumentKind, EmailKind
    from relance.rendering.email import render_email
    from relance.rendering.pdf import render_document_pdf
    from tests.rendering.test_pdf import make_ctx

    ctx = make_ctx(n_lines=2, currency="kwd", amount_due=0, amount_remaining=0, subtotal=0, tax=0, total=0)
    assert ctx.invoice is not None
    ctx.invoice.lines[0].amount, ctx.invoice.lines[1].amount = 41150, -41150
    ctx.invoice.lines[1].description = "Loyalty discount"
    pdf = render_document_pdf(DocumentKind.invoice, ctx, "en")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "KWD41.150" in text and "-KWD41.150" in text and "KWD0.000" in text
    from relance.contracts.email_context import EmailContext

    email_ctx = EmailContext(branding=ctx.branding, customer=ctx.customer, invoice=ctx.invoice, timezone=ctx.timezone)
    out = render_email(EmailKind.invoice_finalized, email_ctx, "en")
    assert "KWD0.000" in out.text and "-KWD41.150" in out.text


@pytest.mark.parametrize(
    "address",
    [
        "ada@customer.test\r\nBcc: x@evil.test",
        CVE_6923 + "@customer.test",
        "ada@customer.test\nBcc: x@evil.test",
        "a" * 65 + "@customer.test",
    ],
)
def test_an_invoice_customer_email_that_would_inject_is_refused(address: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(invoice_event(email=address))
    assert err.value.field == "data.object.customer_email"


def test_recipient_lists_are_capped_at_sendgrids_1000() -> None:
    many = [f"r{i}@customer.test" for i in range(1000)]
    parsed = parse_one(event("customer.updated", customer(invoice_emails=many)), CustomerEvent)
    assert len(parsed.customer.invoice_emails or []) == 1000
    too_many: list[tuple[dict[str, Any], str]] = [
        (dict(invoice_emails=many + ["one@more.test"]), "data.object.invoice_emails"),
        (dict(invoice_emails=many[:600], cc_emails=[f"c{i}@x.test" for i in range(401)]), "data.object.cc_emails"),
    ]
    for lists, field in too_many:
        with pytest.raises(InvalidEvent) as err:
            parse_event(event("customer.updated", customer(**lists)))
        assert err.value.field == field and "at most 1000" in err.value.message


# ---- settings: names that end up in headers ------------------------------------------


@pytest.fixture
def engine(sqlite_url: str):
    return get_engine(sqlite_url)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"sender": {"from_name": CRLF}}, "sender.from_name"),
        ({"sender": {"from_name": CVE_6923}}, "sender.from_name"),
        ({"sender": {"from_name": "Acme\u2028Bcc: x@evil.test"}}, "sender.from_name"),
        ({"branding": {"business_name": CRLF}}, "branding.business_name"),
        ({"branding": {"business_name": CVE_6923}}, "branding.business_name"),
        ({"sender": {"reply_to": "help@acme.test\r\nBcc: x@evil.test"}}, "sender.reply_to"),
        ({"sender": {"reply_to": CVE_6923 + "@acme.test"}}, "sender.reply_to"),
        ({"branding": {"support_email": "a" * 65 + "@acme.test"}}, "branding.support_email"),
    ],
)
def test_header_injection_in_settings_is_refused_and_nothing_saved(engine, patch: dict, field: str) -> None:
    with session_scope(engine) as session:
        before = load_settings(session)
        with pytest.raises(SettingsError) as err:
            patch_settings(session, patch)
    assert err.value.field == field
    with session_scope(engine) as session:
        assert load_settings(session) == before


def test_header_injection_through_the_sender_domain_is_refused(engine) -> None:
    with session_scope(engine) as session, pytest.raises(SettingsError) as err:
        set_sender_domain(session, "acme.example", "billing@acme.example", from_name=CVE_6923)
    assert err.value.field == "sender.from_name"


def test_recipients_service_caps_to_plus_cc(engine) -> None:
    with session_scope(engine) as session:
        set_recipients(session, "cus_many", to=[f"t{i}@x.test" for i in range(600)])
    with session_scope(engine) as session, pytest.raises(SettingsError) as err:
        set_recipients(session, "cus_many", cc=[f"c{i}@x.test" for i in range(401)])
    assert err.value.field == "cc_emails" and "1001 recipients" in err.value.message


# ---- the HTTP API: malformed JSON and wrong types at every entry point -----------------


def stripe_signed(payload: bytes) -> dict[str, str]:
    t = int(time.time())
    sig = hmac.new(WHSEC.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


def hostile_invoice(**fields: Any) -> bytes:
    return json.dumps(event("invoice.finalized", invoice("in_hostile_api", **fields))).encode()


def with_object(**fields: Any) -> bytes:
    ev = event("invoice.finalized", invoice("in_hostile_api"))
    ev["data"]["object"].update(fields)
    return json.dumps(ev).encode()


# (label, method, path, body, expected error.field or None when the body is not JSON at all)
REQUESTS: list[tuple[str, str, str, bytes, str | None]] = [
    ("events-not-json", "POST", "/v1/events", b"{not json", None),
    ("events-not-utf8", "POST", "/v1/events", b'{"id": "\xff\xfe"}', None),
    ("events-deep-nesting", "POST", "/v1/events", DEEP_JSON, None),
    ("events-empty-body", "POST", "/v1/events", b"", None),
    ("events-null", "POST", "/v1/events", b"null", "event"),
    ("events-empty-list", "POST", "/v1/events", b"[]", "event"),
    ("events-list-of-numbers", "POST", "/v1/events", b"[1, 2]", "[0].event"),
    ("events-amount-string", "POST", "/v1/events", with_object(amount_due="lots"), "data.object.amount_due"),
    ("events-amount-float", "POST", "/v1/events", with_object(amount_due=12.5), "data.object.amount_due"),
    ("events-amount-huge", "POST", "/v1/events", with_object(amount_due=10**30), "data.object.amount_due"),
    ("events-lines-not-list", "POST", "/v1/events", with_object(lines={"data": "x"}), "data.object.lines.data"),
    ("events-unknown-currency", "POST", "/v1/events", hostile_invoice(currency="xyz"), "data.object.currency"),
    (
        "events-injected-email",
        "POST",
        "/v1/events",
        hostile_invoice(email="a@b.test\r\nBcc: x@evil.test"),
        "data.object.customer_email",
    ),
    ("events-id-object", "POST", "/v1/events", with_object(id={"$gt": ""}), "data.object.id"),
    ("settings-not-json", "PATCH", "/v1/settings", b"{not json", None),
    ("settings-deep-nesting", "PATCH", "/v1/settings", DEEP_JSON, None),
    ("settings-list", "PATCH", "/v1/settings", b"[]", None),
    ("settings-send-hour-text", "PATCH", "/v1/settings", b'{"send_hour": "nine"}', "send_hour"),
    ("settings-reminders-text", "PATCH", "/v1/settings", b'{"reminders": "weekly"}', "reminders"),
    ("settings-unknown-field", "PATCH", "/v1/settings", b'{"bcc": "x@evil.test"}', "bcc"),
    (
        "settings-from-name-crlf",
        "PATCH",
        "/v1/settings",
        json.dumps({"sender": {"from_name": CRLF}}).encode(),
        "sender.from_name",
    ),
    (
        "settings-business-name-encoded-word",
        "PATCH",
        "/v1/settings",
        json.dumps({"branding": {"business_name": CVE_6923}}).encode(),
        "branding.business_name",
    ),
    (
        "settings-reply-to-crlf",
        "PATCH",
        "/v1/settings",
        json.dumps({"sender": {"reply_to": "h@acme.test\r\nBcc: x@evil.test"}}).encode(),
        "sender.reply_to",
    ),
    (
        "settings-logo-url",
        "PATCH",
        "/v1/settings",
        b'{"branding": {"logo_data_uri": "file:///etc/passwd"}}',
        "branding.logo_data_uri",
    ),
    ("customer-not-json", "PUT", "/v1/customers/cus_hostile", b"{not json", None),
    (
        "customer-list-as-string",
        "PUT",
        "/v1/customers/cus_hostile",
        b'{"invoice_emails": "a@b.test"}',
        "invoice_emails",
    ),
    (
        "customer-injected-email",
        "PUT",
        "/v1/customers/cus_hostile",
        json.dumps({"email": "a@b.test\r\nBcc: x@evil.test"}).encode(),
        "email",
    ),
    (
        "customer-encoded-word-cc",
        "PUT",
        "/v1/customers/cus_hostile",
        json.dumps({"cc_emails": [CVE_6923 + "@x.test"]}).encode(),
        "cc_emails",
    ),
    (
        "customer-1001-recipients",
        "PUT",
        "/v1/customers/cus_hostile",
        json.dumps(
            {"invoice_emails": [f"t{i}@x.test" for i in range(600)], "cc_emails": [f"c{i}@x.test" for i in range(401)]}
        ).encode(),
        "cc_emails",
    ),
    (
        "customer-long-local-part",
        "PUT",
        "/v1/customers/cus_hostile",
        json.dumps({"email": "a" * 65 + "@x.test"}).encode(),
        "email",
    ),
    ("template-not-json", "PUT", "/v1/templates/invoice_finalized", b"{not json", None),
    ("template-wrong-types", "PUT", "/v1/templates/invoice_finalized", b'{"subject": 5, "html": ["x"]}', "subject"),
    ("template-unknown-kind", "PUT", "/v1/templates/bcc_everyone", b'{"subject": "s", "html": "h"}', "path.kind"),
    ("preview-locale-number", "POST", "/v1/templates/invoice_finalized/preview", b'{"locale": 5}', "locale"),
]


async def test_malformed_requests_are_400_naming_the_field_and_start_nothing(harness: Harness) -> None:
    h = harness
    async with http_for(app_for(h)) as http:
        before = await http.get("/v1/settings")
        for label, method, path, body, field in REQUESTS:
            r = await http.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (label, r.status_code, r.text)
            error = r.json()["error"]
            if field is None:
                assert error["type"] in {"invalid_json", "invalid_request"}, (label, r.text)
            else:
                assert error.get("field") == field, (label, r.text)
        # The Stripe receiver: a valid signature over bodies that are not usable events.
        for body, field in [
            (b"{not json", None),
            (DEEP_JSON, None),
            (b'{"id": "\xff"}', None),
            (b"[]", "event"),
            (with_object(amount_due="lots"), "data.object.amount_due"),
            (hostile_invoice(currency="xyz"), "data.object.currency"),
        ]:
            r = await http.post("/v1/webhooks/stripe", content=body, headers=stripe_signed(body))
            assert r.status_code == 400, (body[:40], r.text)
            assert r.json()["error"].get("field") == field, (body[:40], r.text)
        after = await http.get("/v1/settings")
        template = await http.get("/v1/templates/invoice_finalized")
    assert after.json() == before.json()  # no refused patch saved anything
    assert template.json()["custom"] is False
    for wf in ("invoice-in_hostile_api", "customer-cus_hostile"):
        assert not await started(h, wf), wf


# ---- the template API: the sandbox escapes and bombs over HTTP --------------------------

TEMPLATE_ATTACKS = {
    "cve-2024-56326-set": "{% set f = '{0.__class__.__init__.__globals__}'.format %}{{ f(customer) }}",
    "cve-2024-56326-self": "{{ ''.format.__self__ }}",
    "cve-2025-27516-attr-format": "{{ ('{0.__class__}'|attr('format'))(customer) }}",
    "attr-format-bare": "{{ ''|attr('format') }}",
    "mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "init-globals": "{{ customer.__class__.__init__.__globals__ }}",
    "cycler-globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner-globals": "{{ joiner.__init__.__globals__ }}",
    "namespace-globals": "{{ namespace.__init__.__globals__ }}",
    "huge-string": "{{ 'a' * 10**9 }}",
    "huge-range": "{% for i in range(10**9) %}{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "deep-nesting": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "include-file": "{% include '/etc/passwd' %}",
}


@pytest.mark.parametrize("source", list(TEMPLATE_ATTACKS.values()), ids=list(TEMPLATE_ATTACKS))
async def test_template_api_refuses_sandbox_escapes_and_stores_nothing(harness: Harness, source: str) -> None:
    async with http_for(app_for(harness)) as http:
        for part in ("html", "subject"):
            template = {"subject": "Invoice", "html": "<p>Hello</p>", part: source}
            put = await http.put("/v1/templates/invoice_finalized", json=template)
            assert put.status_code == 400, (part, put.text)
            error = put.json()["error"]
            assert error["type"] == "invalid_template" and error["field"].split(":")[0] == part, put.text
            assert "<class" not in put.text and "root:" not in put.text
            preview = await http.post("/v1/templates/invoice_finalized/preview", json={"template": template})
            assert preview.status_code == 400 and preview.json()["error"]["field"].split(":")[0] == part
        current = await http.get("/v1/templates/invoice_finalized")
    assert current.json()["custom"] is False and current.json()["version"] == 0


# ---- relance send: the CLI door ----------------------------------------------------------


def test_relance_send_refuses_hostile_files_without_a_traceback(tmp_path: Path) -> None:
    """Validated before connecting: Temporal is pointed at a closed port, and nothing may
    reach it. Each file is refused with exit code 2 and a message naming the problem."""
    env = dict(os.environ, RELANCE_STATE_DIR=str(tmp_path / "state"), RELANCE_TEMPORAL_ADDRESS="127.0.0.1:9")
    files = {
        "not-utf8.json": (b'{"id": "\xff\xfe"}', "not UTF-8"),
        "deep.json": (DEEP_JSON, "nested too deeply"),
        "empty.json": (b"", "invalid JSON"),
        "list-of-numbers.json": (b"[1]", "[0].event"),
        "huge-amount.json": (with_object(amount_due=10**30), "data.object.amount_due"),
        "currency.json": (hostile_invoice(currency="xyz"), "data.object.currency"),
        "injected-email.json": (hostile_invoice(email="a@b.test\r\nBcc: x@evil.test"), "data.object.customer_email"),
    }
    (tmp_path / "a-directory.json").mkdir()
    cases = [(tmp_path / "a-directory.json", "cannot read")]
    for name, (content, expected) in files.items():
        (tmp_path / name).write_bytes(content)
        cases.append((tmp_path / name, expected))
    for path, expected in cases:
        result = subprocess.run([RELANCE, "send", str(path)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (path.name, result.returncode, result.stderr[-500:])
        assert expected in result.stderr and "Traceback" not in result.stderr, (path.name, result.stderr[-500:])


# ---- a whole lifecycle to a real SMTP server -----------------------------------------

# What a Relance message may carry as headers; anything else would be an injected one.
ALLOWED_HEADERS = {
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "auto-submitted",
    "x-relance-kind",
    "x-relance-email-key",
}


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return [line.split(b":", 1)[0].decode().lower() for line in head if line and line[:1] not in (b" ", b"\t")]


async def test_hostile_customer_data_through_a_lifecycle_to_smtp(
    time_env, config, sqlite_url, spy_server, secret_file: Path
) -> None:
    """Names, invoice number, descriptions and footer carrying CR/LF, RFC 2047 encoded
    words and HTML that fetches files and URLs, through events, the workflow, Jinja2,
    WeasyPrint and SMTP. The messages arrive with only Relance's headers, only to the
    customer, and PDFs that embed and fetched nothing."""
    from activities.transports.smtp import SmtpTransport
    from tests.conftest import running_harness
    from tests.rendering.test_pdf import attachments_of, everything_in, hostile
    from tests.support.smtp_sink import SmtpSink

    url, hits = spy_server
    evil_html = " ".join(hostile(url, secret_file))
    with SmtpSink() as sink:
        async with running_harness(time_env, config, sqlite_url, SmtpTransport(sink.host, sink.port)) as h:
            h.save_settings(
                reminders=[],
                branding={
                    "business_name": "Acme",
                    "footer": evil_html,
                    "brand_color": f"red;background:url({url}/brand.png)",
                },
            )
            now = await h.now()
            cust = customer("cus_evil", email="ada@customer.test", name=f"{CRLF} {CVE_6923}")
            obj = invoice(
                "in_evil1",
                "cus_evil",
                due=now + 30 * DAY,
                number=CVE_6923,
                lines=2,
                customer_name=CRLF,
                description=evil_html,
                footer=evil_html,
            )
            obj["lines"]["data"][0]["description"] = evil_html
            paid = dict(obj, status="paid", amount_paid=obj["amount_due"], amount_remaining=0)
            await h.send(
                event("customer.created", cust, created=now),
                event("invoice.finalized", obj, created=now),
                event("invoice.paid", paid, created=now + timedelta(hours=1)),
            )
            assert [(e.kind, e.status) for e in h.log()] == [("invoice_finalized", "sent"), ("receipt", "sent")]

            # Settings written around the service (straight into the database): the
            # transport's own check still refuses the header, and the log says why.
            h.save_settings(reminders=[], sender={"from_name": CVE_6923})
            await h.send(event("invoice.finalized", invoice("in_evil2", "cus_evil", due=now + 30 * DAY), created=now))
            [refused] = [e for e in h.log() if e.invoice_id == "in_evil2"]
            assert refused.status == "failed" and "unsafe value for header From" in (refused.error or "")

    assert len(sink.messages) == 2
    first = sink.messages[0].message
    # Neutralised, not dropped: the subject is one line with the encoded word broken up,
    # the bodies show the hostile text as text.
    assert first["Subject"] == "New invoice = ?utf-8?q?a=0D=0ABcc:x@evil.test?= from Acme"
    assert "Bcc: x@evil.test" in body_text(first, "plain")
    assert "&lt;link rel=" in body_text(first, "html")
    for received in sink.messages:
        assert received.rcpt_tos == ["ada@customer.test"]
        names = header_names(received.data)
        assert set(names) <= ALLOWED_HEADERS, names
        msg = received.message
        assert msg["Bcc"] is None and msg["Cc"] is None and not msg.defects
        assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"] and "=?" not in msg["Subject"]
        for part in msg.iter_attachments():
            pdf = part.get_payload(decode=True)
            assert isinstance(pdf, bytes)
            assert attachments_of(pdf) == {}
            blob = everything_in(pdf)
            assert b"TOP-SECRET" not in blob and b"root:" not in blob
        assert "TOP-SECRET" not in body_text(msg, "html")
    assert sum(1 for m in sink.messages for _ in m.message.iter_attachments()) == 3  # invoice; invoice + receipt
    assert hits == []


# ---- a customer Relance never heard of -----------------------------------------------


async def test_invoice_for_an_unknown_customer_goes_to_its_customer_email(harness: Harness) -> None:
    h = harness
    h.save_settings(reminders=[])
    now = await h.now()
    await h.send(
        event(
            "invoice.finalized",
            invoice("in_orphan1", "cus_never_seen", due=now + 30 * DAY, email="Solo@Bücher.example"),
            created=now,
        )
    )
    await h.send(
        event(
            "invoice.finalized", invoice("in_orphan2", "cus_never_seen2", due=now + 30 * DAY, email=None), created=now
        ),
        settle_all=False,
    )
    # in_orphan2 waits for a customer event that may come late, then gives up (one step:
    # its workflow is busy until then).
    await h.advance(CUSTOMER_WAIT + timedelta(minutes=10), step=CUSTOMER_WAIT + timedelta(minutes=10))
    by_invoice = {e.invoice_id: e for e in h.log()}
    sent = by_invoice["in_orphan1"]
    assert sent.status == "sent" and sent.to == ["Solo@xn--bcher-kva.example"]  # IDN as punycode
    [msg] = h.outbox_messages()
    assert msg["To"] == "Solo@xn--bcher-kva.example"
    assert "Ada Lovelace" in body_text(msg, "plain")  # the invoice's customer_name
    # No address anywhere: logged as failed with the reason, nothing sent, nothing crashed.
    orphan = by_invoice["in_orphan2"]
    assert orphan.status == "failed" and orphan.error == "the customer has no email address"


# ---- validators run inside the workflow sandbox too ------------------------------------

_COLD_DECODE = r"""
import builtins, io, json, sys
from relance.contracts.models import CreditNoteSignal, CustomerSignal, InvoiceSignal  # imported as the worker does
def refused(*args, **kwargs):
    raise RuntimeError("open() inside the workflow sandbox")
builtins.open = io.open = refused  # what the sandbox does to a workflow's code
signals = json.loads(sys.stdin.read())
InvoiceSignal.model_validate(signals["invoice"])
CustomerSignal.model_validate(signals["customer"])
CreditNoteSignal.model_validate(signals["credit_note"])
print("decoded")
"""


def test_event_validators_decode_with_no_file_access_in_a_cold_process() -> None:
    """Temporal decodes a signal inside the workflow sandbox, re-validating the models,
    and *drops the signal* if that fails. A validator that reads a data file on first
    use (as Babel's currency list does) passes every in-process test, where the data is
    already loaded, and loses every invoice event under `relance dev`."""
    inv = invoice("in_cold", currency="kwd", email="Jean@Bücher.example")
    inv["lines"]["data"][0]["currency"] = "bhd"
    signals = {
        "invoice": {
            "event_id": "evt_1",
            "type": "invoice.finalized",
            "created": "2026-01-01T00:00:00Z",
            "invoice": inv,
        },
        "customer": {
            "event_id": "evt_2",
            "type": "customer.updated",
            "created": "2026-01-01T00:00:00Z",
            "customer": customer(
                "cus_cold", email="ada@bücher.example", timezone="Europe/Paris", cc_emails=["a@b.example"]
            ),
        },
        "credit_note": {
            "event_id": "evt_3",
            "type": "credit_note.created",
            "created": "2026-01-01T00:00:00Z",
            "credit_note": dict(stripe_fixtures()["credit_note"], currency="jpy"),
        },
    }
    result = subprocess.run(
        [sys.executable, "-c", _COLD_DECODE],
        input=json.dumps(signals),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0 and "decoded" in result.stdout, result.stderr[-2000:]


def test_checks_added_at_the_door_do_not_stop_older_payloads_from_decoding() -> None:
    """The new refusals apply where events come in (parse_event). A signal, activity
    input or carried state written by an earlier release is decoded again by Temporal,
    with the same models: it must still decode, or the signal is dropped and the
    history no longer replays."""
    from relance.contracts.models import CustomerSignal, InvoiceSignal

    old_invoice = invoice("in_old", currency="xyz", email="a" * 65 + "@x.test", amount=10**16)
    decoded = InvoiceSignal.model_validate(
        {"event_id": "evt_old", "type": "invoice.finalized", "created": "2026-01-01T00:00:00Z", "invoice": old_invoice}
    )
    assert decoded.invoice.currency == "xyz" and decoded.invoice.amount_due == 10**16
    many = [f"t{i}@x.test" for i in range(1001)]
    old_customer = customer("cus_old", email="b" * 65 + "@x.test", invoice_emails=many)
    assert (
        len(
            CustomerSignal.model_validate(
                {
                    "event_id": "evt_oldc",
                    "type": "customer.updated",
                    "created": "2026-01-01T00:00:00Z",
                    "customer": old_customer,
                }
            ).customer.invoice_emails
            or []
        )
        == 1001
    )
    # The same objects coming in today are refused, naming the field.
    for ev, field in [
        (event("invoice.finalized", old_invoice), "data.object.customer_email"),
        (event("customer.updated", old_customer), "data.object.email"),
    ]:
        with pytest.raises(InvalidEvent) as err:
            parse_event(ev)
        assert err.value.field == field


# ---- WeasyPrint: fonts, backgrounds, redirects ----------------------------------------


def test_fonts_backgrounds_and_redirects_fetch_nothing(spy_server, secret_file: Path) -> None:
    """What test_pdf does not spell out: @font-face sources, background images, list
    markers and a URL that would redirect to a local file. The spy server records any
    request at all, so a redirect is never even started."""
    from relance.rendering.pdf import html_to_pdf
    from tests.rendering.test_pdf import attachments_of, everything_in, pages_text

    url, hits = spy_server
    css = (
        f"@font-face {{ font-family: Evil; src: url({url}/font.woff2) format('woff2'), url(file://{secret_file}); }}"
        f"body {{ font-family: Evil, sans-serif; background: url({url}/redirect-to-file?to=file:///etc/passwd); }}"
        f"li {{ list-style-image: url(file://{secret_file}); }}"
        f"p::after {{ content: url({url}/after.png); }}"
    )
    html = (
        f"<html><head><style>{css}</style></head><body><p>Kept</p><ul><li>item</li></ul>"
        f'<div style="background-image: url(file:///etc/passwd)">x</div>'
        f'<object data="file://{secret_file}"></object><embed src="{url}/embed"></body></html>'
    )
    pdf = html_to_pdf(html, extra_css=(css,))
    assert "Kept" in pages_text(pdf)[0]
    assert attachments_of(pdf) == {}
    blob = everything_in(pdf)
    assert b"TOP-SECRET" not in blob and b"root:" not in blob
    assert hits == []
