"""`relance preview`: what an email of a kind looks like, with the account's settings and
active template, on sample data; written as files (HTML, text, PDFs)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from relance.contracts.kinds import DocumentKind, EmailKind
from relance.rendering.i18n import choose_locale, match_locale, shipped_tags
from relance.services.templates import active_template
from relance.storage.settings_store import load_settings

DOCUMENTS = {
    EmailKind.invoice_finalized: (DocumentKind.invoice,),
    EmailKind.invoice_reminder: (DocumentKind.invoice,),
    EmailKind.receipt: (DocumentKind.invoice, DocumentKind.receipt),
    EmailKind.credit_note_created: (DocumentKind.credit_note,),
}


def write_preview(session: Session, kind: EmailKind, locale: str, out: Path) -> list[Path]:
    from relance.rendering.custom import render_custom, sample_context
    from relance.rendering.email import render_email
    from relance.rendering.pdf import DocumentContext, render_document_pdf

    # BCP 47 (pt-BR) or with an underscore (pt_BR), as everywhere else; a regional tag
    # (fr-BE) previews its catalog's words with that region's formats.
    if match_locale(locale) is None:
        raise ValueError(f"locale {locale!r} is not shipped; one of: {', '.join(shipped_tags())}")
    wanted = choose_locale([locale]).tag
    settings, _ = load_settings(session)
    ctx = sample_context(kind).model_copy(update={"branding": settings.branding, "timezone": settings.timezone})
    _, custom = active_template(session, kind)
    documents = DOCUMENTS.get(kind, ()) if settings.attach_pdf else ()
    names = [f"{d.value}-sample.pdf" for d in documents]
    content = render_custom(kind, custom, ctx, wanted) if custom else render_email(kind, ctx, wanted, attachments=names)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{kind.value}.{wanted}"
    files = [out / f"{stem}.html", out / f"{stem}.txt"]
    files[0].write_text(content.html)
    files[1].write_text(f"Subject: {content.subject}\n\n{content.text}")
    for doc, name in zip(documents, names, strict=True):
        doc_ctx = DocumentContext(
            branding=ctx.branding,
            customer=ctx.customer,
            invoice=ctx.invoice,
            credit_note=ctx.credit_note,
            timezone=ctx.timezone,
        )
        path = out / f"{stem}.{name}"
        path.write_bytes(render_document_pdf(doc, doc_ctx, wanted))
        files.append(path)
    return files
