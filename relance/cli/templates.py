"""Custom email templates (`relance template`) and `relance preview`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from relance.cli.common import db_session, email_kind, fail, finish
from relance.platform.config import get_config

template_app = typer.Typer(no_args_is_help=True, help="Custom email templates (sandboxed Jinja2).")


@template_app.command("set")
def template_set(
    kind: str,
    html_file: Path = typer.Option(..., "--html"),
    subject: str = typer.Option(...),
    text_file: Path | None = typer.Option(None, "--text"),
) -> None:
    """Upload a template for KIND; it applies to invoices finalized from now on."""
    from relance.rendering.custom import CustomTemplate
    from relance.services.templates import TemplateProblem, save_template

    template = CustomTemplate(
        subject=subject, html=html_file.read_text(), text=text_file.read_text() if text_file else None
    )
    try:
        with db_session() as session:
            version = save_template(session, email_kind(kind), template)
    except TemplateProblem as exc:
        fail(f"template refused: {exc}")
    typer.echo(f"{kind}: version {version} saved")
    finish(0)


@template_app.command("reset")
def template_reset(kind: str) -> None:
    """Back to Relance's own template for KIND (for invoices finalized from now on)."""
    from relance.services.templates import reset_template

    with db_session() as session:
        version = reset_template(session, email_kind(kind))
    typer.echo(f"{kind}: version {version} is Relance's default")
    finish(0)


@template_app.command("show")
def template_show(kind: str) -> None:
    """The active template of KIND."""
    from relance.services.templates import active_template

    with db_session() as session:
        version, template = active_template(session, email_kind(kind))
    if template is None:
        typer.echo(f"{kind}: Relance's default template (version {version})")
    else:
        typer.echo(json.dumps({"version": version, **template.model_dump()}, indent=2, ensure_ascii=False))
    finish(0)


def preview(
    kind: str,
    locale: str = typer.Option("en", "--locale"),
    out: Path | None = typer.Option(None, "--out", help="Folder (default .relance/preview)."),
) -> None:
    """Write KIND's email (HTML, text) and its PDFs for a sample invoice to files."""
    from relance.services.preview import write_preview

    try:
        with db_session() as session:
            files = write_preview(session, email_kind(kind), locale, out or get_config().state_dir / "preview")
    except ValueError as exc:
        fail(str(exc))
    for f in files:
        typer.echo(str(f))
    finish(0)
