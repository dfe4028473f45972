"""The `relance` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from relance.platform.config import get_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Relance: billing emails and dunning on Temporal.")


def _finish(code: int = 0) -> None:
    # The Temporal SDK can abort at interpreter exit (sdk-python#300, rc 134): flush and
    # leave without running finalizers, so a success stays a success.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        _finish(130)
    except ValueError as exc:
        from relance.platform.config import SettingError
        from relance.platform.temporal_client import TLSSettingsError

        if not isinstance(exc, (TLSSettingsError, SettingError)):
            raise
        _fail(str(exc), 2)
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        from relance.platform.temporal_client import connect_error_hint

        config = get_config()
        hint = connect_error_hint(config, exc)
        _fail(hint + (" (is `make run` running?)" if hint.startswith("cannot reach") else ""), 1)


def _fail(message: str, code: int = 2) -> None:
    from relance.platform.logs import json_active

    if json_active():  # a log pipeline reading stderr gets the reason as one of its lines
        logging.getLogger("relance.cli").error(message)
    else:
        typer.echo(f"error: {message}", err=True)
    _finish(code)


# Long-running services log what they do by default; one-shot commands only problems.
_SERVICES = frozenset({"worker", "api", "dev"})


@app.callback()
def _setup(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """RELANCE_LOG_FORMAT (text | json) and RELANCE_LOG_LEVEL, on stderr for every command."""
    from pydantic import ValidationError

    from relance.platform.logs import configure_from

    try:
        config = get_config()
    except ValidationError as exc:
        _fail("; ".join(f"RELANCE_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()))
    default = logging.INFO if verbose or ctx.invoked_subcommand in _SERVICES else logging.WARNING
    configure_from(config, default_level=default)


@app.command()
def dev() -> None:
    """Run the embedded stack: Temporal dev server, worker, local outbox (what `make run` starts)."""
    from relance.dev import DevServerError, run_dev

    try:
        _run(run_dev(get_config()))
    except DevServerError as exc:
        _fail(str(exc), 1)
    _finish(0)


@app.command()
def worker() -> None:
    """Run a worker against the Temporal server from the settings (RELANCE_TEMPORAL_ADDRESS...)."""
    from relance.platform.config import SettingError
    from relance.platform.metrics import serve_metrics

    try:
        serve_metrics(get_config())  # a taken metrics port stops the worker before its imports
    except SettingError as exc:
        _fail(str(exc), 2)
    from worker.main import run_worker

    async def go() -> None:
        # SIGTERM is how containers and process managers stop a worker: shut down cleanly
        # (running activities finish, the PDF processes go with it), as on Ctrl-C.
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await run_worker(get_config(), stop)

    _run(go())
    _finish(0)


@app.command()
def api() -> None:
    """Run the HTTP API (RELANCE_API_HOST:RELANCE_API_PORT, default 127.0.0.1:8000)."""
    from relance.api.server import serve

    async def go() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await serve(get_config(), stop)

    try:
        _run(go())
    except OSError as exc:
        _fail(f"cannot serve the API: {exc}", 1)
    _finish(0)


def _read_json(path: Path) -> Any:
    try:
        # Bytes: json detects UTF-8/16/32 itself, whatever the terminal's locale.
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    except OSError as exc:  # a directory, no permission...
        _fail(f"{path}: cannot read it: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        _fail(f"{path}: invalid JSON: {exc}")
    except UnicodeDecodeError:
        _fail(f"{path}: invalid JSON: not UTF-8 text")
    except RecursionError:
        _fail(f"{path}: invalid JSON: nested too deeply")


@app.command()
def send(file: Path = typer.Argument(..., help="A JSON file: one event or a list of events.")) -> None:
    """Hand events to Relance (validated first; nothing is sent if any is invalid)."""
    from relance.client import RelanceClient
    from relance.contracts.events import InvalidEvent, parse_events

    payload = _read_json(file)
    try:
        parse_events(payload)
    except InvalidEvent as exc:
        _fail(f"invalid event: {exc}")

    async def go() -> None:
        client = await RelanceClient.connect(get_config())
        for accepted in await client.send(payload):
            typer.echo(f"accepted {accepted.event_id} ({accepted.type}) -> {accepted.workflow_id}")

    _run(go())
    _finish(0)


@app.command()
def remind(
    invoice_id: str, request_id: str | None = typer.Option(None, help="Makes a retried request send once.")
) -> None:
    """Send a reminder for an open invoice now."""
    from relance.client import RelanceClient
    from relance.rules.manual_reminders import refusal
    from relance.storage.database import get_engine, session_scope
    from relance.storage.invoices import load_invoice_state

    config = get_config()
    with session_scope(get_engine(config.resolved_database_url(), auto_migrate=config.db_auto_migrate)) as session:
        state = load_invoice_state(session, invoice_id)
    if (refused := refusal(state, invoice_id)) is not None:
        _fail(f"{refused.message}: no reminder")
    assert state is not None

    async def go() -> None:
        client = await RelanceClient.connect(config)
        rid = await client.send_reminder_now(invoice_id, state.customer_id, request_id)
        typer.echo(f"reminder requested ({rid})")

    _run(go())
    _finish(0)


@app.command()
def simulate(file: Path, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Run a scenario on the time-skipping server and list every email that would go out."""
    from pydantic import ValidationError

    from relance.contracts.events import InvalidEvent
    from relance.simulate import Scenario, run_scenario, to_json, to_table

    raw = _read_json(file)
    try:
        scenario = Scenario.model_validate(raw)
        emails = _run(run_scenario(scenario))
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"invalid scenario: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    except (InvalidEvent, ValueError) as exc:
        _fail(f"invalid scenario: {exc}")
    typer.echo(to_json(emails) if as_json else to_table(emails))
    _finish(0)


@app.command("log")
def email_log_cmd(
    customer: str = typer.Option(..., "--customer", help="Customer id"),
    days: int | None = typer.Option(None, help="Days back (default: RELANCE_LOG_RETENTION_DAYS)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The emails of one customer, newest first."""
    from relance.storage import email_log
    from relance.storage.database import get_engine, session_scope

    config = get_config()
    days = days if days is not None else config.log_retention_days
    with session_scope(get_engine(config.resolved_database_url(), auto_migrate=config.db_auto_migrate)) as session:
        entries = email_log.customer_emails(session, customer, days=days, limit=500)
    rows = [
        {
            "time": e.created_at.isoformat(),
            "kind": e.kind,
            "invoice": e.invoice_id,
            "status": e.status,
            "to": e.to,
            "cc": e.cc,
            "subject": e.subject,
            "provider_message_id": e.provider_message_id,
            "error": e.error,
        }
        for e in entries
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        typer.echo(f"no emails for {customer} in the last {days} days")
    else:
        for r in rows:
            typer.echo(
                f"{r['time'][:19]}  {r['status']:<8} {r['kind']:<24} {r['invoice'] or '-':<28} "
                f"{', '.join(r['to'])}  {r['subject'] or ''}{'  ! ' + r['error'] if r['error'] else ''}"
            )
    _finish(0)


# ---- settings, sender domain, recipients -------------------------------------------

settings_app = typer.Typer(no_args_is_help=True, help="The account's settings (stored in the database).")
domain_app = typer.Typer(no_args_is_help=True, help="A custom sender domain, verified by DNS.")
app.add_typer(settings_app, name="settings")
app.add_typer(domain_app, name="domain")


def _session():
    from relance.storage.database import get_engine, session_scope

    config = get_config()
    return session_scope(get_engine(config.resolved_database_url(), auto_migrate=config.db_auto_migrate))


def _parse_assignment(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        _fail(f"expected KEY=VALUE, got {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string: timezone=Europe/Paris
    return key.strip().split("."), value


@settings_app.command("show")
def settings_show() -> None:
    """Print the settings as JSON."""
    from relance.storage.settings_store import load_settings

    with _session() as session:
        current, version = load_settings(session)
    data = current.model_dump(mode="json")
    if data["branding"].get("logo_data_uri"):
        data["branding"]["logo_data_uri"] = data["branding"]["logo_data_uri"][:40] + "..."
    typer.echo(json.dumps({"version": version, **data}, indent=2, ensure_ascii=False))
    _print_advice(current)
    _finish(0)


def _print_advice(current) -> None:
    """On stderr, so the JSON on stdout stays clean."""
    from relance.rules.settings_advice import advise

    for advice in advise(current):
        typer.echo(f"note: {advice.field}: {advice.message}", err=True)


@settings_app.command("set")
def settings_set(
    assignments: list[str] = typer.Argument(
        ...,
        help="KEY=VALUE, VALUE as JSON or a bare string: "
        "reminders='[-3,0,7]' emails.receipt=false "
        "timezone=Europe/Paris branding.business_name='Acme'",
    ),
) -> None:
    """Change settings; all or nothing, errors name the field."""
    from relance.services.account import SettingsError, patch_settings

    patch: dict[str, Any] = {}
    for item in assignments:
        path, value = _parse_assignment(item)
        node = patch
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    try:
        with _session() as session:
            saved = patch_settings(session, patch)
    except SettingsError as exc:
        _fail(str(exc))
    typer.echo("settings saved")
    _print_advice(saved)
    _finish(0)


@settings_app.command("presets")
def settings_presets() -> None:
    """Reminder schedule presets (days from the due date)."""
    from relance.contracts.account import REMINDER_PRESETS

    for name, days in REMINDER_PRESETS.items():
        typer.echo(f"{name:<12} reminders='{json.dumps(days)}'")
    _finish(0)


@settings_app.command("logo")
def settings_logo(file: Path | None = typer.Argument(None, help="PNG, JPEG or GIF; omit to remove the logo.")) -> None:
    """Upload the logo shown in every email and PDF (embedded, never fetched)."""
    from relance.services.account import SettingsError, set_logo

    try:
        with _session() as session:
            set_logo(session, file.read_bytes() if file else None)
    except (SettingsError, OSError) as exc:
        _fail(str(exc))
    typer.echo("logo saved" if file else "logo removed")
    _finish(0)


def _print_records(records) -> None:
    typer.echo("Add these DNS records, then run `relance domain verify`:")
    for r in records:
        need = "required" if r.required else "recommended"
        typer.echo(f"  {r.type:<5} {r.name:<45} {r.value}   ({r.purpose}, {need})")


@domain_app.command("set")
def domain_set(
    domain: str,
    from_email: str = typer.Option(..., "--from", help="The From address, at DOMAIN."),
    from_name: str | None = typer.Option(None),
    spf_include: str | None = typer.Option(None),
    dkim_target: str | None = typer.Option(None),
) -> None:
    """Send from DOMAIN once verified (until then, from the default sender)."""
    from relance.services.account import SettingsError, set_sender_domain

    try:
        with _session() as session:
            _, records = set_sender_domain(
                session, domain, from_email, from_name=from_name, spf_include=spf_include, dkim_target=dkim_target
            )
    except SettingsError as exc:
        _fail(str(exc))
    _print_records(records)
    _finish(0)


@domain_app.command("records")
def domain_records() -> None:
    """The DNS records to add for the custom domain."""
    from relance.services.account import sender_records
    from relance.storage.settings_store import load_settings

    with _session() as session:
        current, _ = load_settings(session)
    records = sender_records(current)
    if not records:
        _fail("no custom domain is set (relance domain set ...)")
    _print_records(records)
    typer.echo(f"verified: {'yes' if current.sender.domain_verified else 'no'}")
    _finish(0)


@domain_app.command("verify")
def domain_verify() -> None:
    """Check the DNS records; billing emails use the domain only once this succeeds."""
    from relance.services.account import SettingsError, verify_sender_domain
    from relance.services.sender_domain import resolver_for

    config = get_config()
    resolver = resolver_for(config.dns_nameserver, config.dns_port) if config.dns_nameserver else None
    try:
        with _session() as session:
            result = verify_sender_domain(session, resolver)
    except SettingsError as exc:
        _fail(str(exc))
    for check in result.checks:
        mark = "ok " if check.ok else "!! "
        typer.echo(f"{mark} {check.record.type:<5} {check.record.name:<45} {check.error or ''}")
    typer.echo(f"{result.domain}: {'verified' if result.verified else 'NOT verified'}")
    _finish(0 if result.verified else 1)


@app.command()
def recipients(
    customer_id: str,
    to: list[str] | None = typer.Option(None, "--to", help="Replaces the account email; repeat for several."),
    cc: list[str] | None = typer.Option(None, "--cc", help="Copied on every billing email."),
    clear_to: bool = typer.Option(False, "--clear-to"),
    clear_cc: bool = typer.Option(False, "--clear-cc"),
) -> None:
    """Set a customer's To and CC lists for all billing emails."""
    from relance.services.account import SettingsError, set_recipients

    try:
        with _session() as session:
            rec = set_recipients(session, customer_id, to=[] if clear_to else to, cc=[] if clear_cc else cc)
            to_list, cc_list = list(rec.invoice_emails), list(rec.cc_emails)
    except SettingsError as exc:
        _fail(str(exc))
    typer.echo(f"{customer_id}: to={to_list or '(account email)'} cc={cc_list or '-'}")
    _finish(0)


# ---- templates and preview -----------------------------------------------------------

template_app = typer.Typer(no_args_is_help=True, help="Custom email templates (sandboxed Jinja2).")
app.add_typer(template_app, name="template")


def _kind(value: str):
    from relance.contracts.kinds import EmailKind

    try:
        return EmailKind(value)
    except ValueError:
        _fail(f"unknown kind {value!r}; one of: {', '.join(k.value for k in EmailKind)}")


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
        with _session() as session:
            version = save_template(session, _kind(kind), template)
    except TemplateProblem as exc:
        _fail(f"template refused: {exc}")
    typer.echo(f"{kind}: version {version} saved")
    _finish(0)


@template_app.command("reset")
def template_reset(kind: str) -> None:
    """Back to Relance's own template for KIND (for invoices finalized from now on)."""
    from relance.services.templates import reset_template

    with _session() as session:
        version = reset_template(session, _kind(kind))
    typer.echo(f"{kind}: version {version} is Relance's default")
    _finish(0)


@template_app.command("show")
def template_show(kind: str) -> None:
    """The active template of KIND."""
    from relance.services.templates import active_template

    with _session() as session:
        version, template = active_template(session, _kind(kind))
    if template is None:
        typer.echo(f"{kind}: Relance's default template (version {version})")
    else:
        typer.echo(json.dumps({"version": version, **template.model_dump()}, indent=2, ensure_ascii=False))
    _finish(0)


@app.command()
def preview(
    kind: str,
    locale: str = typer.Option("en", "--locale"),
    out: Path | None = typer.Option(None, "--out", help="Folder (default .relance/preview)."),
) -> None:
    """Write KIND's email (HTML, text) and its PDFs for a sample invoice to files."""
    from relance.services.preview import write_preview

    try:
        with _session() as session:
            files = write_preview(session, _kind(kind), locale, out or get_config().state_dir / "preview")
    except ValueError as exc:
        _fail(str(exc))
    for f in files:
        typer.echo(str(f))
    _finish(0)


# ---- database schema -------------------------------------------------------------------

db_app = typer.Typer(no_args_is_help=True, help="The application database's schema (Alembic migrations).")
app.add_typer(db_app, name="db")


def _db_target() -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    url = get_config().resolved_database_url()
    return url, make_url(url).render_as_string(hide_password=True)


def _migrate(step: Any, revision: str) -> None:
    """Run `migrate.upgrade` or `migrate.downgrade` and say where the schema went."""
    from relance.storage.migrate import SchemaError

    url, shown = _db_target()
    try:
        before, after = step(url, revision)
    except SchemaError as exc:
        _fail(str(exc), 1)
    typer.echo(f"{shown}: {before.describe()} -> {after.describe()}")
    _finish(0)


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Option("heads", "--revision", help="Target revision (default: the newest)."),
) -> None:
    """Migrate the database (a deploy step; serialised with any process starting at the same time)."""
    from relance.storage import migrate

    _migrate(migrate.upgrade, revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Revision to go back to, e.g. 0001 (or -1).")) -> None:
    """Undo revisions (a rollback; take a backup first: docs/database.md)."""
    from relance.storage import migrate

    _migrate(migrate.downgrade, revision)


@db_app.command("current")
def db_current() -> None:
    """The database's revision; exits 1 when it is not the newest this Relance has."""
    from relance.storage import migrate

    url, shown = _db_target()
    state = migrate.current(url)
    typer.echo(f"{shown}: {state.describe()}")
    _finish(0 if state.at_head else 1)


@db_app.command("history")
def db_history() -> None:
    """The revisions this Relance ships, oldest first."""
    from relance.storage import migrate

    for revision, down, message, is_head in migrate.history():
        typer.echo(f"{down or '<base>'} -> {revision}{' (head)' if is_head else ''}, {message}")
    _finish(0)


def main() -> None:
    try:
        app()
    except Exception as exc:
        from relance.storage.migrate import SchemaError

        if isinstance(exc, SchemaError):  # e.g. RELANCE_DB_AUTO_MIGRATE=false and not upgraded
            _fail(str(exc), 1)
        raise
    except SystemExit as exc:
        _finish(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    _finish(0)
