"""The `relance` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from relance.config import Config, get_config

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
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        config = get_config()
        _fail(f"cannot reach Temporal at {config.temporal_address} (is `make run` running?)", 1)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    _finish(code)


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def dev() -> None:
    """Run the embedded stack: Temporal dev server, worker, local outbox (what `make run` starts)."""
    from relance.dev import DevServerError, run_dev

    logging.getLogger().setLevel(logging.INFO)
    try:
        _run(run_dev(get_config()))
    except DevServerError as exc:
        _fail(str(exc), 1)
    _finish(0)


@app.command()
def worker() -> None:
    """Run a worker against the Temporal server from the settings (RELANCE_TEMPORAL_ADDRESS...)."""
    from worker.main import run_worker

    logging.getLogger().setLevel(logging.INFO)
    _run(run_worker(get_config()))
    _finish(0)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    except json.JSONDecodeError as exc:
        _fail(f"{path}: invalid JSON: {exc}")


@app.command()
def send(file: Path = typer.Argument(..., help="A JSON file: one event or a list of events.")) -> None:
    """Hand events to Relance (validated first; nothing is sent if any is invalid)."""
    from relance.client import RelanceClient
    from relance.events import InvalidEvent, parse_events

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
def remind(invoice_id: str, request_id: Optional[str] = typer.Option(None, help="Makes a retried request send once.")) -> None:
    """Send a reminder for an open invoice now."""
    from relance.client import RelanceClient
    from relance.storage.database import get_engine, session_scope
    from relance.storage.invoices import load_invoice_state

    config = get_config()
    with session_scope(get_engine(config.resolved_database_url())) as session:
        state = load_invoice_state(session, invoice_id)
    if state is None:
        _fail(f"unknown invoice {invoice_id}")
    if state.status != "open":
        _fail(f"invoice {invoice_id} is {state.status}: no reminder")

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

    from relance.events import InvalidEvent
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
def email_log_cmd(customer: str = typer.Option(..., "--customer", help="Customer id"),
                  days: int = typer.Option(30), as_json: bool = typer.Option(False, "--json")) -> None:
    """The emails of one customer, newest first."""
    from relance.storage import email_log
    from relance.storage.database import get_engine, session_scope

    config = get_config()
    with session_scope(get_engine(config.resolved_database_url())) as session:
        entries = email_log.customer_emails(session, customer, days=days, limit=500)
    rows = [
        {"time": e.created_at.isoformat(), "kind": e.kind, "invoice": e.invoice_id, "status": e.status,
         "to": e.to, "cc": e.cc, "subject": e.subject, "provider_message_id": e.provider_message_id,
         "error": e.error}
        for e in entries
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif not rows:
        typer.echo(f"no emails for {customer} in the last {days} days")
    else:
        for r in rows:
            typer.echo(f"{r['time'][:19]}  {r['status']:<8} {r['kind']:<24} {r['invoice'] or '-':<28} "
                       f"{', '.join(r['to'])}  {r['subject'] or ''}{'  ! ' + r['error'] if r['error'] else ''}")
    _finish(0)


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        _finish(exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1))
    _finish(0)
