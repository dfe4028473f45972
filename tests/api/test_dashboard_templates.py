"""The template pages: the list, the editor starting from Relance's own template in the
locale chosen (a GET form, so no JavaScript is needed), and its server-rendered preview."""

from __future__ import annotations

import html
import re

from relance.contracts.kinds import EmailKind
from relance.rendering.custom import render_custom, sample_context
from relance.rendering.custom.starter import default_template
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings
from relance.storage.templates_store import current_versions
from tests.api.test_dashboard import Dash, csrf_of, dash, text_of

__all__ = ["dash"]  # the fixture, used by name


def _field(page: str, name: str) -> str:
    if name == "subject":
        found = re.search(r'id="t-subject" name="subject" value="([^"]*)"', page)
    else:
        found = re.search(rf'id="t-{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert found, f"no {name} field"
    return html.unescape(found.group(1))


async def test_the_editor_starts_from_relances_template_in_the_locale_chosen(dash: Dash) -> None:
    d = dash
    listing = await d.page("/dashboard/settings/templates")
    assert 'href="/dashboard/settings/templates" class="active"' in listing
    assert all(f"/dashboard/settings/templates/{k.value}?locale=" in listing for k in EmailKind)

    # The GET form: kind and locale in, the editor out.
    r = await d.http.get("/dashboard/settings/templates", params={"kind": "receipt", "locale": "fr"})
    assert (r.status_code, r.headers["location"]) == (303, "/dashboard/settings/templates/receipt?locale=fr")
    page = await d.page(r.headers["location"])
    assert "Relance's default template is in use; the editor starts from it, in Français" in text_of(page)
    assert '<option value="fr" lang="fr" selected>' in page
    assert '<input type="hidden" name="locale" value="fr">' in page
    shown = {part: _field(page, part) for part in ("subject", "html", "text")}
    assert shown == default_template(EmailKind.receipt, "fr").model_dump()
    assert "Votre reçu" in shown["subject"] and "Nous avons bien reçu votre paiement" in shown["html"]

    # Another locale reloads it; an unknown one falls back to the account's (English).
    page = await d.page("/dashboard/settings/templates/receipt?locale=de")
    assert _field(page, "html") == default_template(EmailKind.receipt, "de").html
    page = await d.page("/dashboard/settings/templates/receipt?locale=xx-nope")
    assert _field(page, "subject") == default_template(EmailKind.receipt, "en").subject

    # Saved as it is, the starter is a valid custom template.
    token = csrf_of(page)
    starter = default_template(EmailKind.receipt, "fr")
    r = await d.http.post(
        "/dashboard/settings/templates/receipt",
        data={"csrf_token": token, "action": "save", "locale": "fr", **starter.model_dump()},
    )
    assert r.status_code == 303, text_of(r.text)
    with session_scope(d.h.engine) as s:
        assert current_versions(s)["receipt"] == 1
    # Then the editor shows the custom one, unless asked to start from Relance's again.
    page = await d.page("/dashboard/settings/templates/receipt?locale=de")
    assert "Custom template, version 1" in page and _field(page, "html") == starter.html
    r = await d.http.get(
        "/dashboard/settings/templates", params={"kind": "receipt", "locale": "de", "start": "default"}
    )
    page = await d.page(r.headers["location"])
    assert _field(page, "html") == default_template(EmailKind.receipt, "de").html
    assert "saving it replaces yours" in page


async def test_the_preview_button_works_without_javascript(dash: Dash) -> None:
    d = dash
    page = await d.page("/dashboard/settings/templates/invoice_finalized?locale=fr")
    token = csrf_of(page)
    starter = default_template(EmailKind.invoice_finalized, "fr")
    r = await d.http.post(
        "/dashboard/settings/templates/invoice_finalized",
        data={"csrf_token": token, "action": "preview", "locale": "fr", **starter.model_dump()},
    )
    assert r.status_code == 200
    with session_scope(d.h.engine) as s:
        branding = load_settings(s)[0].branding
    ctx = sample_context(EmailKind.invoice_finalized).model_copy(update={"branding": branding})
    expected = render_custom(EmailKind.invoice_finalized, starter, ctx, "fr")
    assert expected.subject.startswith("Nouvelle facture INV-2026-0042")
    assert f'<div id="preview-subject">{html.escape(expected.subject, quote=False)}</div>' in r.text
    srcdoc = re.search(r'id="preview-frame"[^>]*srcdoc="([^"]*)"', r.text)
    assert srcdoc and "Camille Martin" in html.unescape(srcdoc.group(1))
    with session_scope(d.h.engine) as s:
        assert "invoice_finalized" not in current_versions(s)  # a preview saves nothing

    r = await d.http.post(
        "/dashboard/settings/templates/invoice_finalized",
        data={"csrf_token": token, "action": "preview", "subject": "x", "html": "<p>{{ invoice.number }</p>"},
    )
    assert r.status_code == 400 and "html, line 1" in text_of(r.text)
