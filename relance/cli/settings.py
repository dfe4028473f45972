"""The account: `relance settings`, `relance domain` (a custom sender domain) and
`relance recipients` (a customer's To and CC)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from relance.cli.common import db_session, fail, finish
from relance.platform.config import get_config

if TYPE_CHECKING:
    from relance.contracts.account import AccountSettings
    from relance.services.sender_domain import DnsRecord

settings_app = typer.Typer(no_args_is_help=True, help="The account's settings (stored in the database).")
domain_app = typer.Typer(no_args_is_help=True, help="A custom sender domain, verified by DNS.")


def _parse_assignment(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        fail(f"expected KEY=VALUE, got {item!r}")
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

    with db_session() as session:
        current, version = load_settings(session)
    data = current.model_dump(mode="json")
    if data["branding"].get("logo_data_uri"):
        data["branding"]["logo_data_uri"] = data["branding"]["logo_data_uri"][:40] + "..."
    typer.echo(json.dumps({"version": version, **data}, indent=2, ensure_ascii=False))
    _print_advice(current)
    finish(0)


def _print_advice(current: AccountSettings) -> None:
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
        "timezone=Europe/Paris branding.business_name='Acme' "
        'seller.legal_name=\'Acme SAS\' seller.tax_ids=\'[{"type": "eu_vat", "value": "FR12345678901"}]\'',
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
        with db_session() as session:
            saved = patch_settings(session, patch)
    except SettingsError as exc:
        fail(str(exc))
    typer.echo("settings saved")
    _print_advice(saved)
    finish(0)


@settings_app.command("presets")
def settings_presets() -> None:
    """Reminder schedule presets (days from the due date), and the legal mentions each
    seller country gets unless seller.legal_mentions lists them."""
    from relance.contracts.account import LEGAL_MENTION_PRESETS, REMINDER_PRESETS

    for name, days in REMINDER_PRESETS.items():
        typer.echo(f"{name:<12} reminders='{json.dumps(days)}'")
    for country, codes in LEGAL_MENTION_PRESETS.items():
        typer.echo(f"seller.country={country}  seller.legal_mentions='{json.dumps(codes)}'")
    finish(0)


@settings_app.command("logo")
def settings_logo(file: Path | None = typer.Argument(None, help="PNG, JPEG or GIF; omit to remove the logo.")) -> None:
    """Upload the logo shown in every email and PDF (embedded, never fetched)."""
    from relance.services.account import SettingsError, set_logo

    try:
        with db_session() as session:
            set_logo(session, file.read_bytes() if file else None)
    except (SettingsError, OSError) as exc:
        fail(str(exc))
    typer.echo("logo saved" if file else "logo removed")
    finish(0)


def _print_records(records: list[DnsRecord]) -> None:
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
        with db_session() as session:
            _, records = set_sender_domain(
                session, domain, from_email, from_name=from_name, spf_include=spf_include, dkim_target=dkim_target
            )
    except SettingsError as exc:
        fail(str(exc))
    _print_records(records)
    finish(0)


@domain_app.command("records")
def domain_records() -> None:
    """The DNS records to add for the custom domain."""
    from relance.services.account import sender_records
    from relance.storage.settings_store import load_settings

    with db_session() as session:
        current, _ = load_settings(session)
    records = sender_records(current)
    if not records:
        fail("no custom domain is set (relance domain set ...)")
    _print_records(records)
    typer.echo(f"verified: {'yes' if current.sender.domain_verified else 'no'}")
    finish(0)


@domain_app.command("verify")
def domain_verify() -> None:
    """Check the DNS records; billing emails use the domain only once this succeeds."""
    from relance.services.account import SettingsError, verify_sender_domain
    from relance.services.sender_domain import resolver_for

    config = get_config()
    resolver = resolver_for(config.dns_nameserver, config.dns_port) if config.dns_nameserver else None
    try:
        with db_session() as session:
            result = verify_sender_domain(session, resolver)
    except SettingsError as exc:
        fail(str(exc))
    for check in result.checks:
        mark = "ok " if check.ok else "!! "
        typer.echo(f"{mark} {check.record.type:<5} {check.record.name:<45} {check.error or ''}")
    typer.echo(f"{result.domain}: {'verified' if result.verified else 'NOT verified'}")
    finish(0 if result.verified else 1)


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
        with db_session() as session:
            rec = set_recipients(session, customer_id, to=[] if clear_to else to, cc=[] if clear_cc else cc)
            to_list, cc_list = list(rec.invoice_emails), list(rec.cc_emails)
    except SettingsError as exc:
        fail(str(exc))
    typer.echo(f"{customer_id}: to={to_list or '(account email)'} cc={cc_list or '-'}")
    finish(0)
