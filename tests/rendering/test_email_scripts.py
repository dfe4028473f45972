"""CJK and right-to-left emails survive the trip into an .eml: the subject is RFC 2047
encoded (ASCII on the wire) and decodes back to the same text, the text part is UTF-8
and reads back unchanged, and a name with a line break cannot add a header."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.transports.outbox import OutboxTransport
from relance.contracts.kinds import EmailKind
from relance.rendering.custom import sample_context
from relance.rendering.email import render_email
from tests.activities.test_transports import eml_files, make_email, parse


@pytest.mark.parametrize(
    ("locale", "business"),
    [("ja", "株式会社ノースウィンド"), ("ar", "شركة الشمال"), ("he", "חברת צפון"), ("zh-Hant-TW", "北風工作室")],
)
async def test_subject_and_text_round_trip_through_the_outbox(tmp_path: Path, locale: str, business: str) -> None:
    ctx = sample_context(EmailKind.invoice_finalized)
    ctx.branding = ctx.branding.model_copy(update={"business_name": business})
    ctx.customer = ctx.customer.model_copy(update={"name": business + "\r\nBcc: evil@attacker.example"})
    rendered = render_email(EmailKind.invoice_finalized, ctx, locale)
    email = make_email(subject=rendered.subject, html=rendered.html, text=rendered.text, attachments=[], cc=[])
    await OutboxTransport(tmp_path).send(email)
    [path] = eml_files(tmp_path)
    raw = path.read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"Bcc:" not in head and b"evil@attacker" not in head
    msg = parse(raw)
    assert msg["Subject"] == rendered.subject
    assert business in msg["Subject"]
    text = msg.get_body(("plain",))
    assert text.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == rendered.text
    assert business in text.get_content()
    assert msg.get_body(("html",)).get_content().count(business) >= 1
