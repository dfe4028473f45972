"""Templates over the API: upload (validated, versioned), read back, reset, preview."""

from __future__ import annotations

from tests.api.test_api import app_for, http_for
from tests.support.harness import Harness

GOOD = {"subject": "Invoice {{ invoice.number }}", "html": "<p>{{ invoice.amount_due|money(invoice.currency) }}</p>"}


async def test_template_routes(harness: Harness) -> None:
    async with http_for(app_for(harness)) as http:
        r = await http.get("/v1/templates/invoice_finalized")
        assert r.status_code == 200 and r.json()["custom"] is False
        r = await http.put("/v1/templates/invoice_finalized", json=GOOD)
        assert r.status_code == 200 and r.json()["version"] == 1
        got = (await http.get("/v1/templates/invoice_finalized")).json()
        assert got["custom"] and got["template"]["subject"] == GOOD["subject"]
        bad = await http.put("/v1/templates/invoice_finalized", json={"subject": "ok", "html": "<p>\n{% if %}</p>"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "html:2"
        escape = await http.put("/v1/templates/receipt", json={"subject": "x", "html": "{{ ''.__class__ }}"})
        assert escape.status_code == 400
        preview = await http.post("/v1/templates/invoice_finalized/preview", json={"locale": "fr"})
        assert preview.status_code == 200 and "1\u202f234,50\u00a0€" in preview.json()["html"]
        default_preview = await http.post("/v1/templates/receipt/preview", json={"locale": "de"})
        assert default_preview.status_code == 200 and default_preview.json()["subject"]
        reset = await http.put(
            "/v1/templates/invoice_finalized", content="null", headers={"Content-Type": "application/json"}
        )
        assert reset.status_code == 200 and reset.json() == {
            "kind": "invoice_finalized",
            "version": 2,
            "custom": False,
            "template": None,
        }
        assert (await http.get("/v1/templates/fax_sent")).status_code == 400
        async with http_for(app_for(harness), key="wrong") as anon:
            assert (await anon.get("/v1/templates/receipt")).status_code == 401
