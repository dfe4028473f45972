"""The `relance` command: one module per command group, registered here on the Typer
app of `relance.cli.app`, in the order `relance --help` lists them."""

from __future__ import annotations

from relance.cli import db, events, services, settings, templates
from relance.cli.app import app
from relance.cli.common import fail, finish

__all__ = ["app", "main"]

app.command()(services.dev)
app.command()(services.worker)
app.command()(services.api)
app.command()(events.send)
app.command()(events.remind)
app.command()(events.resend)
app.command("test-email")(events.test_email)
app.command()(events.simulate)
app.command("log")(events.email_log_cmd)
app.command()(settings.recipients)
app.command()(templates.preview)
app.add_typer(settings.settings_app, name="settings")
app.add_typer(settings.domain_app, name="domain")
app.add_typer(templates.template_app, name="template")
app.add_typer(db.db_app, name="db")


def main() -> None:
    try:
        app()
    except Exception as exc:
        from relance.storage.migrate import SchemaError

        if isinstance(exc, SchemaError):  # e.g. RELANCE_DB_AUTO_MIGRATE=false and not upgraded
            fail(str(exc), 1)
        raise
    except SystemExit as exc:
        finish(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    finish(0)
