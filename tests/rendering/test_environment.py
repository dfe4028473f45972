"""One environment factory for emails and PDFs: the same money and date filters reach
email templates, PDF templates and owners' custom templates."""

from __future__ import annotations

from datetime import UTC, datetime

from relance.rendering import email, pdf
from relance.rendering.custom.sandbox import SHARED_FILTERS, sandbox_for

SOURCE = "{{ 123450|money('eur') }} {{ due|date }}"
DUE = datetime(2026, 3, 15, 23, 30, tzinfo=UTC)  # already the 16th in Paris


def test_emails_pdfs_and_custom_templates_format_alike() -> None:
    variables = {"due": DUE, "timezone": "Europe/Paris"}
    envs = [email.email_environment("fr"), email.text_environment("fr"), pdf.environment("fr")]
    outputs = {env.from_string(SOURCE).render(variables) for env in envs}
    assert outputs == {"1\u202f234,50\u00a0€ 16 mars 2026"}
    # The sandbox wraps each shared filter in its size guards; the filter underneath is
    # the email one, bound to the same locale (`bdi` is the isolation filter of both).
    sandbox = sandbox_for("fr", True)
    assert set(SHARED_FILTERS) <= set(email.email_filters("fr")) | {"bdi"}
    assert all(name in sandbox.filters for name in SHARED_FILTERS)


def test_each_renderer_keeps_its_own_filters_and_escaping() -> None:
    html, text, document = email.email_environment("en"), email.text_environment("en"), pdf.environment("en")
    assert "month_year" in html.filters and "card_brand" in text.filters and "nowrap" not in html.filters
    assert "nowrap" in document.filters and "css_page_counter" in document.filters
    assert html.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    # Subjects and text parts print as is; an .html template loaded there still escapes.
    assert callable(text.autoescape) and not text.autoescape("receipt.txt") and text.autoescape("receipt.html")
    assert document.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
