"""Commands about events and what they cause: `send`, `remind`, `simulate`, `log`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from relance.cli.common import fail, finish, read_json, run
from relance.platform.config import get_config


def send(file: Path = typer.Argument(..., help="A JSON file: one event or a list of events.")) -> None:
    """Hand events to Relance (validated first; nothing is sent if any is invalid)."""
    from relance.client import RelanceClient
    from relance.contracts.events import InvalidEvent, parse_events

    payload = read_json(file)
    try:
        parse_events(payload)
    except InvalidEvent as exc:
        fail(f"invalid event: {exc}")

    async def go() -> None:
        client = await RelanceClient.connect(get_config())
        for accepted in await client.send(payload):
            typer.echo(f"accepted {accepted.event_id} ({accepted.type}) -> {accepted.workflow_id}")

    run(go())
    finish(0)


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
        fail(f"{refused.message}: no reminder")
    assert state is not None

    async def go() -> None:
        client = await RelanceClient.connect(config)
        rid = await client.send_reminder_now(invoice_id, state.customer_id, request_id)
        typer.echo(f"reminder requested ({rid})")

    run(go())
    finish(0)


def simulate(file: Path, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Run a scenario on the time-skipping server and list every email that would go out."""
    from pydantic import ValidationError

    from relance.contracts.events import InvalidEvent
    from relance.simulate import Scenario, describe_stop, run_scenario, to_json, to_table

    raw = read_json(file)
    try:
        scenario = Scenario.model_validate(raw)
        result = run(run_scenario(scenario))
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid scenario: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    except (InvalidEvent, ValueError) as exc:
        fail(f"invalid scenario: {exc}")
    if as_json:
        typer.echo(to_json(result))
        typer.echo(describe_stop(result.stopped), err=True)  # stdout stays the list of emails
    else:
        typer.echo(to_table(result))
    finish(0)


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
    rows: list[dict[str, Any]] = [
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
    finish(0)
