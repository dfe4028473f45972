"""The seller and the tax rates, as an account sets them up, on the PDF its customers
get: seller settings through PATCH /v1/settings, tax rates through events arriving out
of order, then a finalized invoice naming its rate by id only. The real stack: the
harness's worker, the API app, SQLite, the outbox."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from pypdf import PdfReader

from tests.api.test_api import Api, api  # noqa: F401  (the fixture)
from tests.support.documents import SELLER_FR, tax_rate, two_rate_invoice
from tests.support.events import customer, event


def pdf_text(pdf: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " "))


async def test_seller_settings_and_tax_rate_events_reach_the_invoice_pdf(api: Api) -> None:  # noqa: F811
    a = api
    r = await a.http.patch("/v1/settings", json={"seller": SELLER_FR, "default_locale": "en"})
    assert r.status_code == 200, r.text
    seller = r.json()["settings"]["seller"]
    assert seller["tax_ids"] == [
        {"type": "eu_vat", "value": "FR12345678901", "country": None},
        {"type": "fr_siren", "value": "123 456 789", "country": None},
    ]
    assert seller["legal_mentions"] is None  # the presets of the seller's country
    for patch, field in [
        ({"seller": {"country": "France"}}, "seller.country"),
        ({"seller": {"legal_mentions": ["nope"]}}, "seller.legal_mentions.0"),
        ({"seller": {"tax_ids": [{"type": "eu_vat"}]}}, "seller.tax_ids.0.value"),
        ({"seller": {"vat": "x"}}, "seller.vat"),
    ]:
        r = await a.http.patch("/v1/settings", json=patch)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (patch, r.text)

    now = await a.h.now()
    # tax_rate.updated arrives first; the older tax_rate.created and a duplicate change nothing.
    updated = event("tax_rate.updated", tax_rate("txr_api20", 20, "VAT"), created=now)
    created = event("tax_rate.created", tax_rate("txr_api20", 19.6, "TVA"), created=now - timedelta(days=30))
    for ev in (updated, created, updated):
        r = await a.post_events(ev)
        assert r.status_code == 202, r.text
        assert r.json()["events"][0]["workflow_id"] == "tax-rate-txr_api20"
    await a.h.settle()

    obj = two_rate_invoice("in_api_facts", due_date=int((now + timedelta(days=30)).timestamp()))
    for entry in [obj["total_taxes"][0], *(t for item in obj["lines"]["data"] for t in item["taxes"])]:
        if entry["tax_rate_details"]["tax_rate"] == "txr_fr20":
            entry["tax_rate_details"]["tax_rate"] = "txr_api20"
    obj["account_country"] = None  # the seller settings say who and where
    r = await a.post_events([event("customer.created", customer("cus_facts")), event("invoice.finalized", obj)])
    assert r.status_code == 202, r.text
    await a.h.settle()

    [msg] = a.h.outbox_messages()
    [pdf] = [p.get_payload(decode=True) for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    text = pdf_text(pdf)
    for expected in [
        "Acme SAS",
        "VAT number FR12345678901",
        "SIREN 123 456 789",
        "RCS Paris 123 456 789",
        "VAT number DE123456789",
        "VAT 20% €102.50 €20.50",  # the rate as its newest event describes it
        "≈ 5.5% €200.00 €11.00",  # never described: derived and marked
        "≈ rate worked out from the tax and taxable amounts",
        "Late payment penalties",  # France's presets
        "Total €334.00",
    ]:
        assert expected in text, (expected, text)
    assert "19.6" not in text and "TVA 20" not in text
